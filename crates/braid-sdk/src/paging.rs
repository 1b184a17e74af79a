use std::collections::HashSet;

use braid_core::Error;

/// Remembers the page tokens of one pagination and refuses a repeat, so an
/// API that hands back the same cursor twice ends the read with an error
/// instead of looping forever.
#[derive(Debug, Default)]
pub struct PageTokenGuard {
    stream: String,
    seen: HashSet<String>,
}

impl PageTokenGuard {
    /// A guard for one pagination of `stream`.
    pub fn new(stream: impl Into<String>) -> Self {
        Self {
            stream: stream.into(),
            seen: HashSet::new(),
        }
    }

    /// Records `token`; errors if it was seen before.
    pub fn check(&mut self, token: &str) -> Result<(), Error> {
        if self.seen.insert(token.to_owned()) {
            Ok(())
        } else {
            let shown: String = token.chars().take(80).collect();
            Err(Error::data(
                &self.stream,
                format!("the API returned the same page token twice ({shown}); stopping instead of looping"),
            ))
        }
    }

    /// Forgets every token (when a new, different pagination starts).
    pub fn reset(&mut self) {
        self.seen.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_token_is_an_error() {
        let mut g = PageTokenGuard::new("contacts");
        g.check("a").unwrap();
        g.check("b").unwrap();
        let e = g.check("a").unwrap_err();
        assert!(e.to_string().contains("same page token twice"), "{e}");
        g.reset();
        g.check("a").unwrap();
    }
}

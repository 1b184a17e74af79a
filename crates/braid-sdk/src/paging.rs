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

/// The `rel="next"` target of an RFC 8288 `Link` header (Shopify, GitHub,
/// many REST APIs): `<https://…?page_info=abc>; rel="next", <…>; rel="previous"`.
pub fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|part| {
            let (target, params) = part.trim().split_once(';')?;
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            let is_next = params.split(';').any(|p| {
                p.trim()
                    .strip_prefix("rel=")
                    .map(|r| r.trim_matches('"').split_whitespace().any(|r| r == "next"))
                    .unwrap_or(false)
            });
            is_next.then(|| target.to_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_is_found_among_others() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            reqwest::header::LINK,
            "<https://s.myshopify.com/admin/api/2024-10/orders.json?page_info=p1&limit=50>; rel=\"previous\", <https://s.myshopify.com/admin/api/2024-10/orders.json?page_info=n2&limit=50>; rel=\"next\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://s.myshopify.com/admin/api/2024-10/orders.json?page_info=n2&limit=50")
        );
        h.insert(
            reqwest::header::LINK,
            "<https://x/a?page=1>; rel=\"prev\"".parse().unwrap(),
        );
        assert_eq!(next_link(&h), None);
    }

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

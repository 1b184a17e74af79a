//! `${VAR}` / `${VAR:-default}` expansion inside string values.

/// A string after expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expanded {
    /// The text with every reference replaced and every `$${` unescaped.
    pub value: String,
    /// Whether any `${...}` reference was expanded (the value is then a secret).
    pub interpolated: bool,
}

/// Why a reference could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExpandError {
    /// Character offset of the `${` in the original string.
    pub offset: usize,
    /// What went wrong, naming the variable where there is one.
    pub message: String,
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Expands `${NAME}` and `${NAME:-default}` in `raw` with `env`; `$${` is a literal `${`.
///
/// `${NAME:-default}` uses `default` when `NAME` is unset or empty. The default
/// is taken literally up to the first `}`. Every bad or missing reference in
/// the string is reported.
pub(crate) fn expand(
    raw: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Expanded, Vec<ExpandError>> {
    if !raw.contains("${") {
        return Ok(Expanded {
            value: raw.to_owned(),
            interpolated: false,
        });
    }
    let mut out = String::with_capacity(raw.len());
    let mut errors = Vec::new();
    let mut interpolated = false;
    let mut rest = raw;
    // Characters consumed so far, for error offsets.
    let mut consumed = 0usize;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        consumed += rest[..pos].chars().count();
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
            consumed += 3;
            continue;
        }
        let Some(body_and_rest) = tail.strip_prefix("${") else {
            out.push('$');
            rest = &tail[1..];
            consumed += 1;
            continue;
        };
        let Some(close) = body_and_rest.find('}') else {
            errors.push(ExpandError {
                offset: consumed,
                message: "unterminated \"${\": expected ${NAME} or ${NAME:-default} (write $${ for a literal ${)".to_owned(),
            });
            rest = "";
            break;
        };
        let body = &body_and_rest[..close];
        let (name, default) = match body.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (body, None),
        };
        if !is_name(name) {
            errors.push(ExpandError {
                offset: consumed,
                message: format!(
                    "invalid variable reference \"${{{name}...}}\": expected ${{NAME}} or ${{NAME:-default}} with NAME of letters, digits and _ (write $${{ for a literal ${{)"
                ),
            });
        } else {
            interpolated = true;
            match (env(name), default) {
                (Some(v), Some(d)) if v.is_empty() => out.push_str(d),
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => errors.push(ExpandError {
                    offset: consumed,
                    message: format!(
                        "environment variable {name} is not set (write ${{{name}:-default}} to give a default)"
                    ),
                }),
            }
        }
        let used = 2 + close + 1;
        consumed += tail[..used].chars().count();
        rest = &tail[used..];
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(Expanded {
            value: out,
            interpolated,
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db.local".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_set_default_and_empty() {
        let e = expand("https://${HOST}:${PORT:-5432}/${EMPTY:-x}", &env).unwrap();
        assert_eq!(e.value, "https://db.local:5432/x");
        assert!(e.interpolated);
    }

    #[test]
    fn escape_and_lone_dollars_stay_literal() {
        let e = expand("cost $5, $${HOST} and $$x", &env).unwrap();
        assert_eq!(e.value, "cost $5, ${HOST} and $$x");
        assert!(!e.interpolated);
    }

    #[test]
    fn reports_every_missing_variable_with_offsets() {
        let errs = expand("é${A}-${HOST}-${B}", &env).unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].offset, 1);
        assert!(errs[0]
            .message
            .contains("environment variable A is not set"));
        assert_eq!(errs[1].offset, 14);
        assert!(errs[1].message.contains("variable B"));
    }

    #[test]
    fn rejects_bad_names_and_unterminated() {
        let errs = expand("${1X}", &env).unwrap_err();
        assert!(errs[0].message.contains("invalid variable reference"));
        let errs = expand("abc ${HOST", &env).unwrap_err();
        assert_eq!(errs[0].offset, 4);
        assert!(errs[0].message.contains("unterminated"));
    }
}

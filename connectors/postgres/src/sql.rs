//! Identifiers and the statements a read sends.

/// `ident` quoted for SQL (`"` doubled).
pub fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Splits `table` or `schema.table` (parts optionally `"quoted"`) into
/// `(schema, table)`; unquoted parts are folded to lower case as PostgreSQL does.
pub fn parse_table_name(s: &str) -> Result<(Option<String>, String), String> {
    let mut parts = Vec::new();
    let mut chars = s.trim().chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    Some('"') => break,
                    Some(c) => part.push(c),
                    None => return Err(format!("unterminated quoted name in {s:?}")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                part.extend(c.to_lowercase());
                chars.next();
            }
            part = part.trim().to_owned();
        }
        if part.is_empty() {
            return Err(format!("empty name in {s:?}"));
        }
        parts.push(part);
        match chars.next() {
            None => break,
            Some('.') => continue,
            Some(c) => return Err(format!("unexpected {c:?} after a quoted name in {s:?}")),
        }
    }
    match parts.len() {
        1 => Ok((None, parts.pop().unwrap_or_default())),
        2 => {
            let t = parts.pop().unwrap_or_default();
            Ok((parts.pop(), t))
        }
        _ => Err(format!(
            "expected table or schema.table, got {s:?} (a database cannot be named here)"
        )),
    }
}

/// A stream name the warehouse accepts: letters, digits, `_` and `-`.
pub fn stream_name(schema: &str, table: &str, default_schema: &str) -> String {
    let raw = if schema == default_schema {
        table.to_owned()
    } else {
        format!("{schema}_{table}")
    };
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_parse_like_postgres() {
        assert_eq!(parse_table_name("Items").unwrap(), (None, "items".into()));
        assert_eq!(
            parse_table_name("pos.Transactions").unwrap(),
            (Some("pos".into()), "transactions".into())
        );
        assert_eq!(
            parse_table_name(r#""Sales"."Order ""X"" Items""#).unwrap(),
            (Some("Sales".into()), r#"Order "X" Items"#.into())
        );
        assert!(parse_table_name("a.b.c").is_err());
        assert!(parse_table_name("a.").is_err());
        assert!(parse_table_name("\"a").is_err());
    }

    #[test]
    fn identifiers_are_quoted_and_streams_named_safely() {
        assert_eq!(quote_ident(r#"we"ird"#), r#""we""ird""#);
        assert_eq!(stream_name("public", "items", "public"), "items");
        assert_eq!(
            stream_name("loyalty", "Order Items", "public"),
            "loyalty_Order_Items"
        );
    }
}

//! Enough SOQL for replication queries:
//! `SELECT f, … FROM X [WHERE SystemModstamp >= dt [AND …]] [ORDER BY SystemModstamp, Id] [LIMIT n]`.
//! Errors carry Salesforce's code and its `ERROR at Row:1:Column:n` text.

use super::data::{fields, SObject};

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The object.
    pub object: SObject,
    /// Selected field positions in the object's definitions.
    pub fields: Vec<usize>,
    /// Inclusive `SystemModstamp` range, epoch ms.
    pub lo: i64,
    /// Inclusive upper bound.
    pub hi: i64,
    /// `IsDeleted = …` if filtered.
    pub is_deleted: Option<bool>,
    /// `LIMIT`.
    pub limit: Option<u64>,
}

/// A query Salesforce refuses: its error code and message.
#[derive(Debug, Clone, PartialEq)]
pub struct SoqlError {
    /// `MALFORMED_QUERY`, `INVALID_FIELD` or `INVALID_TYPE`.
    pub code: &'static str,
    /// The message, with the query and a caret where Salesforce puts them.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Comma,
    Op(&'static str),
    Str,
}

fn tokenize(q: &str) -> Result<Vec<(Tok, usize)>, usize> {
    let b = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b',' {
            out.push((Tok::Comma, i));
            i += 1;
        } else if c == b'\'' {
            let start = i;
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            if i >= b.len() {
                return Err(start);
            }
            i += 1;
            out.push((Tok::Str, start));
        } else if matches!(c, b'<' | b'>' | b'=' | b'!') {
            let two = q.get(i..i + 2).unwrap_or("");
            let op = match two {
                ">=" => ">=",
                "<=" => "<=",
                "!=" => "!=",
                "<>" => "!=",
                _ => match c {
                    b'<' => "<",
                    b'>' => ">",
                    b'=' => "=",
                    _ => return Err(i),
                },
            };
            out.push((Tok::Op(op), i));
            i += if op.len() == 2 || two == "<>" { 2 } else { 1 };
        } else if c.is_ascii_alphanumeric() || c == b'_' {
            let start = i;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric()
                    || matches!(b[i], b'_' | b'.' | b':' | b'-' | b'+'))
            {
                // `+`/`-` belong to a datetime literal's offset only.
                if matches!(b[i], b'+' | b'-') && !b[start].is_ascii_digit() {
                    break;
                }
                i += 1;
            }
            out.push((Tok::Word(q[start..i].to_owned()), start));
        } else {
            return Err(i);
        }
    }
    Ok(out)
}

fn err(q: &str, at: usize, code: &'static str, msg: String) -> SoqlError {
    SoqlError {
        code,
        message: format!(
            "\n{q}\n{}^\nERROR at Row:1:Column:{}\n{msg}",
            " ".repeat(at),
            at + 1
        ),
    }
}

/// Parses a SOQL datetime literal (`2024-01-01T00:00:00Z`, `.000Z`, `+00:00`, `+0000`).
pub fn parse_datetime(s: &str) -> Option<i64> {
    let fixed = if let Some(body) = s.strip_suffix('Z') {
        format!("{body}+00:00")
    } else {
        s.to_owned()
    };
    for f in ["%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%z"] {
        if let Ok(t) = chrono::DateTime::parse_from_str(&fixed, f) {
            return Some(t.timestamp_millis());
        }
    }
    None
}

/// Parses `q`.
pub fn parse(q: &str) -> Result<Query, SoqlError> {
    parse_with(q, &|_| None)
}

/// Parses `q`, accepting (and leaving out of [`Query::fields`]) the field
/// `added(object)` names: one added to the org after the sandbox's field
/// list was written, which the page writer emits on every record.
pub fn parse_with(q: &str, added: &dyn Fn(SObject) -> Option<String>) -> Result<Query, SoqlError> {
    let toks = tokenize(q).map_err(|at| {
        err(
            q,
            at,
            "MALFORMED_QUERY",
            format!(
                "unexpected token: '{}'",
                &q[at..].chars().next().unwrap_or(' ')
            ),
        )
    })?;
    let mut pos = 0;
    let end = q.len();
    let at = |pos: usize| toks.get(pos).map_or(end, |t| t.1);
    let word = |pos: usize| match toks.get(pos) {
        Some((Tok::Word(w), _)) => Some(w.as_str()),
        _ => None,
    };
    let kw = |pos: usize, k: &str| word(pos).is_some_and(|w| w.eq_ignore_ascii_case(k));
    let unexpected = |pos: usize| {
        let what = match toks.get(pos) {
            Some((Tok::Word(w), _)) => w.clone(),
            Some((Tok::Comma, _)) => ",".into(),
            Some((Tok::Op(o), _)) => (*o).into(),
            Some((Tok::Str, s)) => q[*s..]
                .split('\'')
                .nth(1)
                .map(|v| format!("'{v}'"))
                .unwrap_or_default(),
            None => "<EOF>".into(),
        };
        err(
            q,
            at(pos),
            "MALFORMED_QUERY",
            format!("unexpected token: '{what}'"),
        )
    };
    if !kw(pos, "SELECT") {
        return Err(unexpected(pos));
    }
    pos += 1;
    let mut names = Vec::new();
    loop {
        match word(pos) {
            Some(w) if !w.eq_ignore_ascii_case("FROM") => names.push((w.to_owned(), at(pos))),
            _ => return Err(unexpected(pos)),
        }
        pos += 1;
        if matches!(toks.get(pos), Some((Tok::Comma, _))) {
            pos += 1;
        } else {
            break;
        }
    }
    if !kw(pos, "FROM") {
        return Err(unexpected(pos));
    }
    pos += 1;
    let Some(obj_name) = word(pos) else {
        return Err(unexpected(pos));
    };
    let Some(object) = SObject::parse(obj_name) else {
        return Err(err(q, at(pos), "INVALID_TYPE", format!(
            "sObject type '{obj_name}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."
        )));
    };
    pos += 1;
    let defs = fields(object);
    let find = |name: &str, at: usize| {
        defs.iter()
            .position(|d| d.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| err(q, at, "INVALID_FIELD", format!(
                "No such column '{name}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
                object.name()
            )))
    };
    let mut query = Query {
        object,
        fields: Vec::new(),
        lo: i64::MIN,
        hi: i64::MAX,
        is_deleted: None,
        limit: None,
    };
    let added = added(object);
    for (name, at) in &names {
        if added
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case(name))
        {
            continue;
        }
        let i = find(name, *at)?;
        if query.fields.contains(&i) {
            return Err(err(
                q,
                *at,
                "MALFORMED_QUERY",
                format!("duplicate field selected: {name}"),
            ));
        }
        query.fields.push(i);
    }
    if kw(pos, "WHERE") {
        pos += 1;
        loop {
            let Some(field) = word(pos) else {
                return Err(unexpected(pos));
            };
            let field_at = at(pos);
            let fi = find(field, field_at)?;
            pos += 1;
            let Some((Tok::Op(op), _)) = toks.get(pos) else {
                return Err(unexpected(pos));
            };
            let op = *op;
            pos += 1;
            let Some(value) = word(pos) else {
                return Err(unexpected(pos));
            };
            let value_at = at(pos);
            pos += 1;
            match defs[fi].name {
                "SystemModstamp" => {
                    let ms = parse_datetime(value).ok_or_else(|| {
                        err(q, value_at, "INVALID_FIELD", "value of filter criterion for field 'SystemModstamp' must be of type dateTime and should not be enclosed in quotes".to_string())
                    })?;
                    match op {
                        ">=" => query.lo = query.lo.max(ms),
                        ">" => query.lo = query.lo.max(ms + 1),
                        "<=" => query.hi = query.hi.min(ms),
                        "<" => query.hi = query.hi.min(ms - 1),
                        "=" => {
                            query.lo = query.lo.max(ms);
                            query.hi = query.hi.min(ms);
                        }
                        _ => {
                            return Err(err(
                                q,
                                value_at,
                                "MALFORMED_QUERY",
                                format!("the sandbox does not filter SystemModstamp with {op}"),
                            ))
                        }
                    }
                }
                "IsDeleted" if op == "=" => {
                    query.is_deleted = Some(match value.to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(unexpected(pos - 1)),
                    })
                }
                other => {
                    return Err(err(
                        q,
                        field_at,
                        "MALFORMED_QUERY",
                        format!(
                            "the sandbox filters on SystemModstamp and IsDeleted only, not {other}"
                        ),
                    ))
                }
            }
            if kw(pos, "AND") {
                pos += 1;
            } else {
                break;
            }
        }
    }
    if kw(pos, "ORDER") {
        pos += 1;
        if !kw(pos, "BY") {
            return Err(unexpected(pos));
        }
        pos += 1;
        let mut order = Vec::new();
        loop {
            let Some(w) = word(pos) else {
                return Err(unexpected(pos));
            };
            let fi = find(w, at(pos))?;
            order.push((defs[fi].name, at(pos)));
            pos += 1;
            if kw(pos, "ASC") {
                pos += 1;
            } else if kw(pos, "DESC") {
                return Err(err(
                    q,
                    at(pos),
                    "MALFORMED_QUERY",
                    "the sandbox sorts ascending only".into(),
                ));
            }
            if matches!(toks.get(pos), Some((Tok::Comma, _))) {
                pos += 1;
            } else {
                break;
            }
        }
        let allowed = ["SystemModstamp", "Id"];
        for (k, (name, a)) in order.iter().enumerate() {
            if allowed.get(k) != Some(name) {
                return Err(err(
                    q,
                    *a,
                    "MALFORMED_QUERY",
                    "the sandbox orders by SystemModstamp, Id only".into(),
                ));
            }
        }
    }
    if kw(pos, "LIMIT") {
        pos += 1;
        let n = word(pos).and_then(|w| w.parse::<u64>().ok());
        let Some(n) = n else {
            return Err(unexpected(pos));
        };
        query.limit = Some(n);
        pos += 1;
    }
    if pos < toks.len() {
        return Err(unexpected(pos));
    }
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication_queries_parse() {
        let q = parse("SELECT Id, email ,SystemModstamp FROM contact WHERE SystemModstamp >= 2024-01-01T00:00:05.000Z AND SystemModstamp < 2024-01-02T00:00:00+00:00 ORDER BY SystemModstamp ASC, Id LIMIT 10").unwrap();
        assert_eq!(q.object, SObject::Contact);
        assert_eq!(q.fields.len(), 3);
        assert_eq!(q.lo, 1_704_067_205_000);
        assert_eq!(q.hi, 1_704_153_599_999);
        assert_eq!(q.limit, Some(10));
        assert_eq!(
            parse_datetime("2024-01-01T00:00:00.000+0000"),
            Some(1_704_067_200_000)
        );
    }

    #[test]
    fn bad_queries_get_salesforce_codes() {
        let e = parse("SELECT Id, Foo FROM Contact").unwrap_err();
        assert_eq!(e.code, "INVALID_FIELD");
        assert!(e.message.contains("Row:1:Column:12"), "{}", e.message);
        assert!(e
            .message
            .contains("No such column 'Foo' on entity 'Contact'"));
        assert_eq!(
            parse("SELECT Id FROM Widget").unwrap_err().code,
            "INVALID_TYPE"
        );
        assert_eq!(
            parse("SELECT FROM Contact").unwrap_err().code,
            "MALFORMED_QUERY"
        );
        assert_eq!(
            parse("SELECT Id FROM Contact LIMIT").unwrap_err().code,
            "MALFORMED_QUERY"
        );
        assert_eq!(
            parse("SELECT Id FROM Contact WHERE SystemModstamp >= '2024-01-01'")
                .unwrap_err()
                .code,
            "MALFORMED_QUERY"
        );
    }
}

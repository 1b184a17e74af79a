//! The subset of the Google Ads Query Language the emulation understands:
//!
//! ```text
//! SELECT field[, field…] FROM resource
//!   [WHERE condition [AND condition…]]
//!   [ORDER BY field [ASC|DESC][, …]] [LIMIT n] [PARAMETERS name = value[, …]]
//! ```
//!
//! Conditions: `field = | != | > | >= | < | <= value`, `field IN (v, …)`,
//! `field NOT IN (v, …)`, `field BETWEEN v AND v`, `field DURING
//! LAST_7_DAYS|LAST_14_DAYS|LAST_30_DAYS|TODAY|YESTERDAY`, `field IS NULL`,
//! `field IS NOT NULL`. Values are single- or double-quoted strings,
//! numbers, or bare enum names. Keywords are case-insensitive, as in GAQL.

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Selected fields, in order.
    pub select: Vec<String>,
    /// The resource after `FROM`.
    pub from: String,
    /// `WHERE` conditions, all of which must hold.
    pub filters: Vec<Condition>,
    /// `ORDER BY` (field, descending).
    pub order_by: Vec<(String, bool)>,
    /// `LIMIT`.
    pub limit: Option<u64>,
}

/// One `WHERE` condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The field on the left.
    pub field: String,
    /// The operator.
    pub op: Op,
}

/// An operator with its operand(s).
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `=`, `!=`, `>`, `>=`, `<`, `<=` with a value.
    Cmp(&'static str, String),
    /// `IN (…)`.
    In(Vec<String>),
    /// `NOT IN (…)`.
    NotIn(Vec<String>),
    /// `BETWEEN a AND b` (inclusive).
    Between(String, String),
    /// `DURING <date range literal>`.
    During(String),
    /// `IS NULL` (`true`) or `IS NOT NULL` (`false`).
    IsNull(bool),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Sym(&'static str),
}

fn tokens(q: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = q.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("a string literal is not closed".into()),
                    Some('\\') => {
                        if let Some(n) = chars.get(i + 1) {
                            s.push(*n);
                        }
                        i += 2;
                    }
                    Some(x) if *x == c => {
                        i += 1;
                        break;
                    }
                    Some(x) => {
                        s.push(*x);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(s));
        } else if c == ',' || c == '(' || c == ')' || c == '=' {
            out.push(Tok::Sym(match c {
                ',' => ",",
                '(' => "(",
                ')' => ")",
                _ => "=",
            }));
            i += 1;
        } else if c == '!' || c == '<' || c == '>' {
            let two = chars.get(i + 1) == Some(&'=');
            out.push(Tok::Sym(match (c, two) {
                ('!', true) => "!=",
                ('<', true) => "<=",
                ('>', true) => ">=",
                ('<', false) => "<",
                ('>', false) => ">",
                _ => return Err(format!("unexpected character {c:?}")),
            }));
            i += if two { 2 } else { 1 };
        } else if c.is_alphanumeric() || c == '_' || c == '.' || c == '-' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '-' | '~'))
            {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect()));
        } else {
            return Err(format!("unexpected character {c:?}"));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
    }

    fn eat_keyword(&mut self, k: &str) -> bool {
        let yes = self.keyword(k);
        if yes {
            self.at += 1;
        }
        yes
    }

    fn expect_keyword(&mut self, k: &str) -> Result<(), String> {
        if self.eat_keyword(k) {
            Ok(())
        } else {
            Err(format!("expected {k} at {}", self.here()))
        }
    }

    fn sym(&mut self, s: &str) -> bool {
        let yes = matches!(self.peek(), Some(Tok::Sym(x)) if *x == s);
        if yes {
            self.at += 1;
        }
        yes
    }

    fn here(&self) -> String {
        match self.peek() {
            None => "the end of the query".into(),
            Some(Tok::Word(w)) => format!("'{w}'"),
            Some(Tok::Str(s)) => format!("'{s}'"),
            Some(Tok::Sym(s)) => format!("'{s}'"),
        }
    }

    fn field(&mut self) -> Result<String, String> {
        match self.peek().cloned() {
            Some(Tok::Word(w)) if !is_reserved(&w) => {
                self.at += 1;
                Ok(w)
            }
            _ => Err(format!("expected a field name at {}", self.here())),
        }
    }

    fn value(&mut self) -> Result<String, String> {
        match self.peek().cloned() {
            Some(Tok::Str(s)) => {
                self.at += 1;
                Ok(s)
            }
            Some(Tok::Word(w)) => {
                self.at += 1;
                Ok(w)
            }
            _ => Err(format!("expected a value at {}", self.here())),
        }
    }

    fn list(&mut self) -> Result<Vec<String>, String> {
        if !self.sym("(") {
            return Err(format!("expected ( at {}", self.here()));
        }
        let mut v = vec![self.value()?];
        while self.sym(",") {
            v.push(self.value()?);
        }
        if !self.sym(")") {
            return Err(format!("expected ) at {}", self.here()));
        }
        Ok(v)
    }

    fn condition(&mut self) -> Result<Condition, String> {
        let field = self.field()?;
        let op = if self.eat_keyword("IN") {
            Op::In(self.list()?)
        } else if self.eat_keyword("NOT") {
            self.expect_keyword("IN")?;
            Op::NotIn(self.list()?)
        } else if self.eat_keyword("BETWEEN") {
            let a = self.value()?;
            self.expect_keyword("AND")?;
            Op::Between(a, self.value()?)
        } else if self.eat_keyword("DURING") {
            Op::During(self.value()?.to_ascii_uppercase())
        } else if self.eat_keyword("IS") {
            let not = self.eat_keyword("NOT");
            self.expect_keyword("NULL")?;
            Op::IsNull(!not)
        } else {
            let op = match self.peek() {
                Some(Tok::Sym(s)) if ["=", "!=", "<", "<=", ">", ">="].contains(s) => *s,
                _ => return Err(format!("expected an operator at {}", self.here())),
            };
            self.at += 1;
            Op::Cmp(op, self.value()?)
        };
        Ok(Condition { field, op })
    }
}

fn is_reserved(w: &str) -> bool {
    [
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "ORDER",
        "BY",
        "LIMIT",
        "PARAMETERS",
    ]
    .iter()
    .any(|k| w.eq_ignore_ascii_case(k))
}

/// Parses `q`; the error says where it stopped making sense.
pub fn parse(q: &str) -> Result<Query, String> {
    let mut p = Parser {
        toks: tokens(q)?,
        at: 0,
    };
    p.expect_keyword("SELECT")?;
    let mut select = vec![p.field()?];
    while p.sym(",") {
        select.push(p.field()?);
    }
    p.expect_keyword("FROM")?;
    let from = p.field()?;
    let mut filters = Vec::new();
    if p.eat_keyword("WHERE") {
        filters.push(p.condition()?);
        while p.eat_keyword("AND") {
            filters.push(p.condition()?);
        }
    }
    let mut order_by = Vec::new();
    if p.eat_keyword("ORDER") {
        p.expect_keyword("BY")?;
        loop {
            let f = p.field()?;
            let desc = if p.eat_keyword("DESC") {
                true
            } else {
                p.eat_keyword("ASC");
                false
            };
            order_by.push((f, desc));
            if !p.sym(",") {
                break;
            }
        }
    }
    let mut limit = None;
    if p.eat_keyword("LIMIT") {
        let v = p.value()?;
        limit = Some(
            v.parse::<u64>()
                .map_err(|_| format!("LIMIT must be a number, got '{v}'"))?,
        );
    }
    if p.eat_keyword("PARAMETERS") {
        loop {
            p.field()?;
            if !p.sym("=") {
                return Err(format!("expected = at {}", p.here()));
            }
            p.value()?;
            if !p.sym(",") {
                break;
            }
        }
    }
    if p.peek().is_some() {
        return Err(format!("unexpected input at {}", p.here()));
    }
    Ok(Query {
        select,
        from,
        filters,
        order_by,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metrics_query_parses() {
        let q = parse(
            "SELECT campaign.id, segments.date, metrics.cost_micros FROM campaign \
             WHERE segments.date BETWEEN '2026-11-01' AND '2026-11-30' AND campaign.status != 'REMOVED' \
             AND campaign.id IN (1, 2) ORDER BY segments.date DESC, campaign.id LIMIT 10 \
             PARAMETERS include_drafts = true",
        )
        .unwrap();
        assert_eq!(
            q.select,
            ["campaign.id", "segments.date", "metrics.cost_micros"]
        );
        assert_eq!(q.from, "campaign");
        assert_eq!(
            q.filters[0].op,
            Op::Between("2026-11-01".into(), "2026-11-30".into())
        );
        assert_eq!(q.filters[1].op, Op::Cmp("!=", "REMOVED".into()));
        assert_eq!(q.filters[2].op, Op::In(vec!["1".into(), "2".into()]));
        assert_eq!(
            q.order_by,
            vec![
                ("segments.date".into(), true),
                ("campaign.id".into(), false)
            ]
        );
        assert_eq!(q.limit, Some(10));
        let d =
            parse("select click_view.gclid from click_view where segments.date during YESTERDAY")
                .unwrap();
        assert_eq!(d.filters[0].op, Op::During("YESTERDAY".into()));
    }

    #[test]
    fn broken_queries_say_where() {
        assert!(parse("SELECT FROM campaign").unwrap_err().contains("FROM"));
        assert!(parse("SELECT campaign.id campaign").is_err());
        assert!(parse("SELECT campaign.id FROM campaign WHERE campaign.id ~ 3").is_err());
        assert!(parse("SELECT campaign.id FROM campaign WHERE segments.date = '2026").is_err());
        assert!(parse("SELECT campaign.id FROM campaign LIMIT ten")
            .unwrap_err()
            .contains("LIMIT"));
    }
}

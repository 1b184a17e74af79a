//! Small expressions for derived columns.
//!
//! ```text
//! expr   := term ('||' term)*              -- '||' concatenates (null if a side is null)
//! term   := column | 'text' | "text" | number | func '(' expr (',' expr)* ')'
//! func   := lower | upper | trim | concat | coalesce | nullif | replace | substr | lit
//! ```
//!
//! `concat` skips nulls and joins with nothing; `coalesce` takes the first
//! non-null (empty strings count as null); `nullif(a, b)` is null where
//! `a = b`; `replace(s, from, to)`; `substr(s, start, len)` counts characters
//! from 1. Values are evaluated as text column-wise over Arrow arrays and the
//! result is then converted to the target column's type like any source value.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_cast::display::{ArrayFormatter, FormatOptions};

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A source column.
    Column(String),
    /// A literal.
    Lit(String),
    /// A function call.
    Call(String, Vec<Expr>),
}

const FUNCS: &[(&str, usize, usize)] = &[
    ("lower", 1, 1),
    ("upper", 1, 1),
    ("trim", 1, 1),
    ("concat", 1, 64),
    ("coalesce", 1, 64),
    ("nullif", 2, 2),
    ("replace", 3, 3),
    ("substr", 2, 3),
    ("lit", 1, 1),
];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    LParen,
    RParen,
    Comma,
    Concat,
}

fn lex(s: &str) -> Result<Vec<(usize, Tok)>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            ' ' | '\t' | '\n' => i += 1,
            '(' => {
                out.push((start, Tok::LParen));
                i += 1
            }
            ')' => {
                out.push((start, Tok::RParen));
                i += 1
            }
            ',' => {
                out.push((start, Tok::Comma));
                i += 1
            }
            '|' if chars.get(i + 1) == Some(&'|') => {
                out.push((start, Tok::Concat));
                i += 2
            }
            '\'' | '"' => {
                let q = c;
                i += 1;
                let mut text = String::new();
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(format!(
                                "unterminated string starting at character {}",
                                start + 1
                            ))
                        }
                        Some(ch) if *ch == q => {
                            if chars.get(i + 1) == Some(&q) {
                                text.push(q);
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some(ch) => {
                            text.push(*ch);
                            i += 1
                        }
                    }
                }
                out.push((start, Tok::Str(text)));
            }
            c if c.is_ascii_digit() || c == '-' => {
                let mut t = String::from(c);
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    t.push(chars[i]);
                    i += 1;
                }
                out.push((start, Tok::Num(t)));
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut t = String::new();
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
                {
                    t.push(chars[i]);
                    i += 1;
                }
                out.push((start, Tok::Ident(t)));
            }
            other => return Err(format!("unexpected {other:?} at character {}", start + 1)),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }
    fn at(&self) -> String {
        match self.toks.get(self.pos) {
            Some((i, _)) => format!("at character {}", i + 1),
            None => "at the end".into(),
        }
    }
    fn expr(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.term()?];
        while self.peek() == Some(&Tok::Concat) {
            self.pos += 1;
            parts.push(self.term()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Call("||".into(), parts)
        })
    }
    fn term(&mut self) -> Result<Expr, String> {
        let at = self.at();
        let Some((_, tok)) = self.toks.get(self.pos).cloned() else {
            return Err(format!("expected a column, a literal or a function {at}"));
        };
        self.pos += 1;
        match tok {
            Tok::Str(s) | Tok::Num(s) => Ok(Expr::Lit(s)),
            Tok::Ident(name) => {
                if self.peek() != Some(&Tok::LParen) {
                    return Ok(Expr::Column(name));
                }
                self.pos += 1;
                let lower = name.to_lowercase();
                let Some((_, min, max)) = FUNCS.iter().find(|(f, _, _)| *f == lower) else {
                    let names: Vec<&str> = FUNCS.iter().map(|f| f.0).collect();
                    return Err(format!(
                        "unknown function {name:?} {at}, expected one of {}",
                        names.join(", ")
                    ));
                };
                let mut args = Vec::new();
                if self.peek() != Some(&Tok::RParen) {
                    loop {
                        args.push(self.expr()?);
                        match self.peek() {
                            Some(Tok::Comma) => self.pos += 1,
                            Some(Tok::RParen) => break,
                            _ => return Err(format!("expected ',' or ')' {}", self.at())),
                        }
                    }
                }
                self.pos += 1;
                if args.len() < *min || args.len() > *max {
                    return Err(format!(
                        "{lower} takes {}{} argument(s), found {}",
                        min,
                        if max > min {
                            format!("..{max}")
                        } else {
                            String::new()
                        },
                        args.len()
                    ));
                }
                Ok(Expr::Call(lower, args))
            }
            _ => Err(format!("expected a column, a literal or a function {at}")),
        }
    }
}

impl Expr {
    /// Parses `text`; the error says what was expected and where.
    pub fn parse(text: &str) -> Result<Expr, String> {
        let mut p = Parser {
            toks: lex(text)?,
            pos: 0,
        };
        let e = p.expr()?;
        if p.pos != p.toks.len() {
            return Err(format!("unexpected text {}", p.at()));
        }
        Ok(e)
    }

    /// The source columns it reads.
    pub fn columns(&self) -> Vec<String> {
        match self {
            Expr::Column(c) => vec![c.clone()],
            Expr::Lit(_) => vec![],
            Expr::Call(_, args) => args.iter().flat_map(Expr::columns).collect(),
        }
    }

    /// Evaluates over `batch`; a column the batch lacks is null throughout.
    pub fn eval(&self, batch: &RecordBatch) -> Result<ArrayRef, String> {
        let values = self.eval_rows(batch)?;
        Ok(Arc::new(StringArray::from(values)))
    }

    fn eval_rows(&self, batch: &RecordBatch) -> Result<Vec<Option<String>>, String> {
        let n = batch.num_rows();
        Ok(match self {
            Expr::Column(c) => match batch.column_by_name(c) {
                Some(a) => to_strings(a)?,
                None => vec![None; n],
            },
            Expr::Lit(s) => vec![Some(s.clone()); n],
            Expr::Call(f, args) => {
                let a: Vec<Vec<Option<String>>> = args
                    .iter()
                    .map(|e| e.eval_rows(batch))
                    .collect::<Result<_, _>>()?;
                (0..n)
                    .map(|i| {
                        let arg = |k: usize| a[k][i].as_deref();
                        match f.as_str() {
                            "lower" => arg(0).map(str::to_lowercase),
                            "upper" => arg(0).map(str::to_uppercase),
                            "trim" => arg(0).map(|s| s.trim().to_owned()),
                            "lit" => arg(0).map(str::to_owned),
                            "concat" => Some((0..a.len()).filter_map(arg).collect::<String>()),
                            "||" => (0..a.len())
                                .map(arg)
                                .collect::<Option<Vec<&str>>>()
                                .map(|v| v.concat()),
                            "coalesce" => (0..a.len())
                                .filter_map(arg)
                                .find(|s| !s.is_empty())
                                .map(str::to_owned),
                            "nullif" => match (arg(0), arg(1)) {
                                (Some(x), Some(y)) if x == y => None,
                                (x, _) => x.map(str::to_owned),
                            },
                            "replace" => match (arg(0), arg(1), arg(2)) {
                                (Some(s), Some(from), Some(to)) if !from.is_empty() => {
                                    Some(s.replace(from, to))
                                }
                                (s, _, _) => s.map(str::to_owned),
                            },
                            "substr" => {
                                let start: usize =
                                    arg(1).and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
                                let len: Option<usize> = if a.len() > 2 {
                                    arg(2).and_then(|s| s.parse().ok())
                                } else {
                                    None
                                };
                                arg(0).map(|s| {
                                    let it = s.chars().skip(start - 1);
                                    match len {
                                        Some(l) => it.take(l).collect(),
                                        None => it.collect(),
                                    }
                                })
                            }
                            _ => None,
                        }
                    })
                    .collect()
            }
        })
    }
}

/// Every value of `array` as text (nulls as `None`), formatted as Arrow displays it.
pub fn to_strings(array: &ArrayRef) -> Result<Vec<Option<String>>, String> {
    let options = FormatOptions::default();
    let f = ArrayFormatter::try_new(array.as_ref(), &options).map_err(|e| e.to_string())?;
    Ok((0..array.len())
        .map(|i| array.is_valid(i).then(|| f.value(i).to_string()))
        .collect())
}

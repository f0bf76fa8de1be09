//! The ConnectWise `conditions` query language and `orderBy`, evaluated against JSON records.
//!
//! Grammar (keywords are case-insensitive):
//! ```text
//! expr    := and (OR and)*
//! and     := unary (AND unary)*
//! unary   := NOT unary | '(' expr ')' | compare
//! compare := path op value
//!          | path [NOT] IN '(' value (',' value)* ')'
//!          | path [NOT] (LIKE | CONTAINS) value
//! op      := = | != | <> | < | <= | > | >=
//! value   := "string" | number | true | false | null | [datetime]
//! path    := name ('/' name)*
//! ```
//! String comparisons are case-insensitive (SQL Server's default collation). A path that
//! crosses an array matches when any element matches. A one-segment path that is absent from
//! the record falls back to `_info/<name>` (so `lastUpdated>[...]` works as on the real API).

use std::cmp::Ordering;
use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

/// A parse error with the character position it refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionError {
    pub pos: usize,
    pub message: String,
}

impl fmt::Display for ConditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at position {})", self.message, self.pos)
    }
}

impl std::error::Error for ConditionError {}

fn err<T>(pos: usize, message: impl Into<String>) -> Result<T, ConditionError> {
    Err(ConditionError {
        pos,
        message: message.into(),
    })
}

/// A literal on the right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    Date(DateTime<Utc>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    Like,
}

/// A parsed `conditions` expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp {
        path: Vec<String>,
        op: Op,
        value: Lit,
    },
    In {
        path: Vec<String>,
        values: Vec<Lit>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Comma,
    Op(Op),
    Word(String),
    Str(String),
    Num(f64),
    Date(DateTime<Utc>),
}

fn tokenize(input: &str) -> Result<Vec<(usize, Tok)>, ConditionError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push((start, Tok::LParen));
                i += 1;
            }
            ')' => {
                out.push((start, Tok::RParen));
                i += 1;
            }
            ',' => {
                out.push((start, Tok::Comma));
                i += 1;
            }
            '=' => {
                out.push((start, Tok::Op(Op::Eq)));
                i += 1;
            }
            '!' => {
                if chars.get(i + 1) == Some(&'=') {
                    out.push((start, Tok::Op(Op::Ne)));
                    i += 2;
                } else {
                    return err(start, "expected '=' after '!'");
                }
            }
            '<' => match chars.get(i + 1) {
                Some('=') => {
                    out.push((start, Tok::Op(Op::Le)));
                    i += 2;
                }
                Some('>') => {
                    out.push((start, Tok::Op(Op::Ne)));
                    i += 2;
                }
                _ => {
                    out.push((start, Tok::Op(Op::Lt)));
                    i += 1;
                }
            },
            '>' => {
                if chars.get(i + 1) == Some(&'=') {
                    out.push((start, Tok::Op(Op::Ge)));
                    i += 2;
                } else {
                    out.push((start, Tok::Op(Op::Gt)));
                    i += 1;
                }
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return err(start, "unterminated string literal"),
                        Some('\\') => match chars.get(i + 1) {
                            Some(&e @ ('"' | '\\')) => {
                                s.push(e);
                                i += 2;
                            }
                            Some(other) => {
                                return err(i, format!("invalid escape sequence '\\{other}'"));
                            }
                            None => return err(start, "unterminated string literal"),
                        },
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push((start, Tok::Str(s)));
            }
            '\'' => {
                return err(
                    start,
                    "string values must be enclosed in double quotes, not single quotes",
                );
            }
            '[' => {
                let Some(len) = chars[i + 1..].iter().position(|&ch| ch == ']') else {
                    return err(start, "unterminated datetime literal, expected ']'");
                };
                let text: String = chars[i + 1..i + 1 + len].iter().collect();
                let Some(dt) = parse_datetime(text.trim()) else {
                    return err(start, format!("invalid datetime literal [{text}]"));
                };
                out.push((start, Tok::Date(dt)));
                i += len + 2;
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '.')
                    && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit())) =>
            {
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_digit()
                        || chars[i] == '.'
                        || chars[i] == 'e'
                        || chars[i] == 'E')
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let Ok(n) = text.parse::<f64>() else {
                    return err(start, format!("invalid number '{text}'"));
                };
                out.push((start, Tok::Num(n)));
            }
            c if c.is_alphabetic() || c == '_' => {
                while i < chars.len()
                    && (chars[i].is_alphanumeric()
                        || chars[i] == '_'
                        || chars[i] == '/'
                        || chars[i] == '.')
                {
                    i += 1;
                }
                out.push((start, Tok::Word(chars[start..i].iter().collect())));
            }
            other => return err(start, format!("unexpected character '{other}'")),
        }
    }
    Ok(out)
}

/// Parses an RFC 3339 instant, or a date/datetime without offset (taken as UTC).
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(text, fmt) {
            return Some(n.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    i: usize,
    end: usize,
}

fn is_kw(tok: Option<&Tok>, kw: &str) -> bool {
    matches!(tok, Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|(_, t)| t)
    }
    fn pos(&self) -> usize {
        self.toks.get(self.i).map_or(self.end, |(p, _)| *p)
    }
    fn describe(&self) -> String {
        match self.peek() {
            None => "end of input".into(),
            Some(Tok::Word(w)) => format!("'{w}'"),
            Some(Tok::Str(s)) => format!("string \"{s}\""),
            Some(Tok::Num(n)) => format!("number {n}"),
            Some(Tok::Date(d)) => format!("datetime [{}]", d.to_rfc3339()),
            Some(Tok::LParen) => "'('".into(),
            Some(Tok::RParen) => "')'".into(),
            Some(Tok::Comma) => "','".into(),
            Some(Tok::Op(_)) => "an operator".into(),
        }
    }

    fn or(&mut self) -> Result<Expr, ConditionError> {
        let mut left = self.and()?;
        while is_kw(self.peek(), "or") {
            self.i += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ConditionError> {
        let mut left = self.unary()?;
        while is_kw(self.peek(), "and") {
            self.i += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ConditionError> {
        if is_kw(self.peek(), "not") {
            self.i += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            let open = self.pos();
            self.i += 1;
            let e = self.or()?;
            if self.peek() != Some(&Tok::RParen) {
                return err(
                    self.pos(),
                    format!(
                        "expected ')' to close '(' at position {open}, found {}",
                        self.describe()
                    ),
                );
            }
            self.i += 1;
            return Ok(e);
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Expr, ConditionError> {
        let path = match self.peek() {
            Some(Tok::Word(w))
                if !["and", "or", "not", "in", "like", "contains"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                let w = w.clone();
                let pos = self.pos();
                let segs: Vec<String> = w.split('/').map(str::to_owned).collect();
                if segs.iter().any(String::is_empty) {
                    return err(pos, format!("invalid field path '{w}'"));
                }
                self.i += 1;
                segs
            }
            _ => {
                return err(
                    self.pos(),
                    format!("expected a field name, found {}", self.describe()),
                );
            }
        };
        let field = path.join("/");
        let mut negated = false;
        if is_kw(self.peek(), "not") {
            negated = true;
            self.i += 1;
        }
        let expr = match self.peek().cloned() {
            Some(Tok::Op(op)) if !negated => {
                self.i += 1;
                let value = self.value(&field)?;
                Expr::Cmp { path, op, value }
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("like") => {
                self.i += 1;
                let value = self.value(&field)?;
                Expr::Cmp {
                    path,
                    op: Op::Like,
                    value,
                }
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("contains") => {
                self.i += 1;
                let value = self.value(&field)?;
                Expr::Cmp {
                    path,
                    op: Op::Contains,
                    value,
                }
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("in") => {
                self.i += 1;
                if self.peek() != Some(&Tok::LParen) {
                    return err(
                        self.pos(),
                        format!("expected '(' after IN, found {}", self.describe()),
                    );
                }
                self.i += 1;
                let mut values = vec![self.value(&field)?];
                loop {
                    match self.peek() {
                        Some(Tok::Comma) => {
                            self.i += 1;
                            values.push(self.value(&field)?);
                        }
                        Some(Tok::RParen) => {
                            self.i += 1;
                            break;
                        }
                        _ => {
                            return err(
                                self.pos(),
                                format!(
                                    "expected ',' or ')' in IN list, found {}",
                                    self.describe()
                                ),
                            );
                        }
                    }
                }
                Expr::In { path, values }
            }
            _ => {
                return err(
                    self.pos(),
                    format!(
                        "expected an operator after '{field}', found {}",
                        self.describe()
                    ),
                );
            }
        };
        Ok(if negated {
            Expr::Not(Box::new(expr))
        } else {
            expr
        })
    }

    fn value(&mut self, field: &str) -> Result<Lit, ConditionError> {
        let lit = match self.peek() {
            Some(Tok::Str(s)) => Lit::Str(s.clone()),
            Some(Tok::Num(n)) => Lit::Num(*n),
            Some(Tok::Date(d)) => Lit::Date(*d),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => Lit::Bool(true),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => Lit::Bool(false),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => Lit::Null,
            Some(Tok::Word(w)) => {
                return err(
                    self.pos(),
                    format!(
                        "invalid value '{w}' for '{field}': strings must be enclosed in double quotes"
                    ),
                );
            }
            _ => {
                return err(
                    self.pos(),
                    format!("expected a value for '{field}', found {}", self.describe()),
                );
            }
        };
        self.i += 1;
        Ok(lit)
    }
}

/// Parses a `conditions` string.
pub fn parse(input: &str) -> Result<Expr, ConditionError> {
    let toks = tokenize(input)?;
    if toks.is_empty() {
        return err(0, "empty conditions");
    }
    let mut p = Parser {
        toks,
        i: 0,
        end: input.chars().count(),
    };
    let e = p.or()?;
    if p.i < p.toks.len() {
        return err(
            p.pos(),
            format!("unexpected {} after a complete condition", p.describe()),
        );
    }
    Ok(e)
}

/// Case-insensitive object member lookup (exact match first).
pub fn get_field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn collect<'a>(v: &'a Value, path: &[String], out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => {
            for item in items {
                collect(item, path, out);
            }
        }
        _ => match path.split_first() {
            None => out.push(v),
            Some((head, rest)) => {
                if let Some(child) = get_field(v, head) {
                    collect(child, rest, out);
                }
            }
        },
    }
}

/// Every value a field path reaches (arrays along the way are flattened); empty if absent.
pub fn resolve<'a>(record: &'a Value, path: &[String]) -> Vec<&'a Value> {
    let mut out = Vec::new();
    collect(record, path, &mut out);
    if out.is_empty()
        && path.len() == 1
        && let Some(info) = get_field(record, "_info")
    {
        collect(info, path, &mut out);
    }
    out
}

fn value_as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn cmp_ci(a: &str, b: &str) -> Ordering {
    a.to_lowercase().cmp(&b.to_lowercase())
}

fn compare_lit(field: &Value, lit: &Lit) -> Option<Ordering> {
    match lit {
        Lit::Null => None,
        Lit::Num(n) => {
            let f = match field {
                Value::Number(x) => x.as_f64()?,
                Value::String(s) => s.trim().parse::<f64>().ok()?,
                _ => return None,
            };
            f.partial_cmp(n)
        }
        Lit::Bool(b) => match field {
            Value::Bool(x) => Some(x.cmp(b)),
            Value::String(s) => s.parse::<bool>().ok().map(|x| x.cmp(b)),
            _ => None,
        },
        Lit::Date(d) => {
            let s = field.as_str()?;
            parse_datetime(s).map(|x| x.cmp(d))
        }
        Lit::Str(s) => match field {
            Value::Number(x) => {
                let f = x.as_f64()?;
                let n = s.trim().parse::<f64>().ok()?;
                f.partial_cmp(&n)
            }
            other => value_as_string(other).map(|f| cmp_ci(&f, s)),
        },
    }
}

/// SQL LIKE with `%` (any run) and `_` (one character), case-insensitive.
pub fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    // dp[j] = pattern[..i] matches text[..j]
    let mut dp = vec![false; t.len() + 1];
    dp[0] = true;
    for &pc in &p {
        let mut next = vec![false; t.len() + 1];
        if pc == '%' {
            let mut any = false;
            for j in 0..=t.len() {
                any |= dp[j];
                next[j] = any;
            }
        } else {
            for j in 1..=t.len() {
                next[j] = dp[j - 1] && (pc == '_' || pc == t[j - 1]);
            }
        }
        dp = next;
    }
    dp[t.len()]
}

fn lit_text(lit: &Lit) -> String {
    match lit {
        Lit::Str(s) => s.clone(),
        Lit::Num(n) => n.to_string(),
        Lit::Bool(b) => b.to_string(),
        Lit::Null => String::new(),
        Lit::Date(d) => d.to_rfc3339(),
    }
}

fn matches_one(field: &Value, op: Op, lit: &Lit) -> bool {
    if field.is_null() || matches!(lit, Lit::Null) {
        let both_null = field.is_null() && matches!(lit, Lit::Null);
        return match op {
            Op::Eq => both_null,
            Op::Ne => !both_null,
            _ => false,
        };
    }
    match op {
        Op::Contains => value_as_string(field)
            .is_some_and(|f| f.to_lowercase().contains(&lit_text(lit).to_lowercase())),
        Op::Like => value_as_string(field).is_some_and(|f| like(&f, &lit_text(lit))),
        _ => {
            let Some(ord) = compare_lit(field, lit) else {
                return op == Op::Ne;
            };
            match op {
                Op::Eq => ord == Ordering::Equal,
                Op::Ne => ord != Ordering::Equal,
                Op::Lt => ord == Ordering::Less,
                Op::Le => ord != Ordering::Greater,
                Op::Gt => ord == Ordering::Greater,
                Op::Ge => ord != Ordering::Less,
                Op::Contains | Op::Like => false,
            }
        }
    }
}

static NULL: Value = Value::Null;

/// The values a path reaches, or `null` when it reaches none.
fn reached_or_null<'a>(record: &'a Value, path: &[String]) -> Vec<&'a Value> {
    let mut values = resolve(record, path);
    if values.is_empty() {
        values.push(&NULL);
    }
    values
}

fn matches_cmp(record: &Value, path: &[String], op: Op, lit: &Lit) -> bool {
    let values = reached_or_null(record, path);
    if op == Op::Ne {
        // `!=` holds when no reached value equals the literal.
        !values.iter().any(|v| matches_one(v, Op::Eq, lit))
    } else {
        values.iter().any(|v| matches_one(v, op, lit))
    }
}

impl Expr {
    /// Whether a record satisfies the expression.
    pub fn matches(&self, record: &Value) -> bool {
        match self {
            Expr::And(a, b) => a.matches(record) && b.matches(record),
            Expr::Or(a, b) => a.matches(record) || b.matches(record),
            Expr::Not(e) => !e.matches(record),
            Expr::Cmp { path, op, value } => matches_cmp(record, path, *op, value),
            // The path is resolved once, not once per literal (a 100-id list over 10,000
            // records would otherwise resolve it a million times).
            Expr::In { path, values } => {
                let reached = reached_or_null(record, path);
                values
                    .iter()
                    .any(|lit| reached.iter().any(|v| matches_one(v, Op::Eq, lit)))
            }
        }
    }
}

/// One `orderBy` key: a field path and whether it sorts descending.
pub type OrderKey = (Vec<String>, bool);

/// Parses `orderBy`: `field [asc|desc] (, field [asc|desc])*`.
pub fn parse_order_by(input: &str) -> Result<Vec<OrderKey>, ConditionError> {
    let mut keys = Vec::new();
    let mut offset = 0;
    for part in input.split(',') {
        let words: Vec<&str> = part.split_whitespace().collect();
        let desc = match words.as_slice() {
            [_] => false,
            [_, d] if d.eq_ignore_ascii_case("asc") => false,
            [_, d] if d.eq_ignore_ascii_case("desc") => true,
            [] => return err(offset, "empty orderBy clause"),
            _ => {
                return err(
                    offset,
                    format!(
                        "invalid orderBy clause '{}': expected 'field asc|desc'",
                        part.trim()
                    ),
                );
            }
        };
        let segs: Vec<String> = words[0].split('/').map(str::to_owned).collect();
        if segs
            .iter()
            .any(|s| s.is_empty() || !s.chars().all(|c| c.is_alphanumeric() || c == '_'))
        {
            return err(offset, format!("invalid orderBy field '{}'", words[0]));
        }
        keys.push((segs, desc));
        offset += part.chars().count() + 1;
    }
    Ok(keys)
}

fn rank(v: Option<&Value>) -> u8 {
    match v {
        None | Some(Value::Null) => 0,
        Some(Value::Bool(_)) => 1,
        Some(Value::Number(_)) => 2,
        Some(Value::String(_)) => 3,
        Some(_) => 4,
    }
}

/// Total order over JSON values used by `orderBy`: null < bool < number < string (case-insensitive).
pub fn compare_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => cmp_ci(x, y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Sorts records by the keys, then by `id` ascending.
pub fn sort_records(records: &mut [Value], keys: &[OrderKey]) {
    let id_path = vec!["id".to_owned()];
    records.sort_by(|a, b| {
        for (path, desc) in keys {
            let ord = compare_values(
                resolve(a, path).first().copied(),
                resolve(b, path).first().copied(),
            );
            let ord = if *desc { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        compare_values(
            resolve(a, &id_path).first().copied(),
            resolve(b, &id_path).first().copied(),
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(cond: &str, v: &Value) -> bool {
        parse(cond).expect("parses").matches(v)
    }

    fn company() -> Value {
        json!({
            "id": 5,
            "identifier": "Acme",
            "name": "Acme \"Quoted\" Corp\\East",
            "status": {"id": 1, "name": "Active"},
            "types": [{"id": 3, "name": "Customer"}, {"id": 4, "name": "Acronis"}],
            "deletedFlag": false,
            "cancelledDate": null,
            "quantity": 7.5,
            "_info": {"lastUpdated": "2024-03-01T12:00:00Z"}
        })
    }

    #[test]
    fn equality_is_case_insensitive_and_nested() {
        let c = company();
        assert!(m("identifier=\"ACME\"", &c));
        assert!(m("status/name = \"active\"", &c));
        assert!(m("status/id=1", &c));
        assert!(!m("status/id=2", &c));
        assert!(m("STATUS/ID != 2", &c));
        assert!(m("types/id=4", &c));
        assert!(!m("types/id=9", &c));
        assert!(m("types/name != \"Vendor\"", &c));
    }

    #[test]
    fn quoting_and_escapes() {
        let c = company();
        assert!(m(r#"name="Acme \"Quoted\" Corp\\East""#, &c));
        assert!(m(r#"name contains "\"quoted\"""#, &c));
        let e = parse(r#"name="unterminated"#).unwrap_err();
        assert!(e.message.contains("unterminated"), "{e}");
        let e = parse(r#"name="bad \n escape""#).unwrap_err();
        assert!(e.message.contains("escape"), "{e}");
        let e = parse("name='single'").unwrap_err();
        assert!(e.message.contains("double quotes"), "{e}");
        let e = parse("name=Acme").unwrap_err();
        assert_eq!(e.pos, 5);
    }

    #[test]
    fn numbers_booleans_and_null() {
        let c = company();
        assert!(m("quantity>7", &c));
        assert!(m("quantity<=7.5", &c));
        assert!(!m("quantity<7.5", &c));
        assert!(m("quantity>=-1", &c));
        assert!(m("deletedFlag=false", &c));
        assert!(m("deletedFlag = FALSE", &c));
        assert!(m("cancelledDate=null", &c));
        assert!(m("missingField=null", &c));
        assert!(!m("identifier=null", &c));
        assert!(m("identifier!=null", &c));
    }

    #[test]
    fn datetimes_compare_as_instants() {
        let c = company();
        assert!(m("_info/lastUpdated>[2024-01-01T00:00:00Z]", &c));
        assert!(!m("lastUpdated > [2024-03-01T11:00:00-02:00]", &c));
        assert!(!m("lastUpdated>[2024-03-01T07:00:00-05:00]", &c));
        assert!(m("lastUpdated>=[2024-03-01T07:00:00-05:00]", &c));
        assert!(m("lastUpdated<[2024-03-02]", &c));
        assert!(parse("lastUpdated>[yesterday]").is_err());
        assert!(parse("lastUpdated>[2024-01-01").is_err());
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let c = company();
        // false AND false OR true == (false AND false) OR true
        assert!(m("id=1 and id=2 or id=5", &c));
        // true OR false AND false == true OR (false AND false)
        assert!(m("id=5 OR id=1 AND id=2", &c));
        assert!(!m("(id=5 or id=1) and id=2", &c));
        assert!(m("not (id=1) and id=5", &c));
        assert_eq!(
            parse("a=1 or b=2 and c=3").expect("parses"),
            Expr::Or(
                Box::new(parse("a=1").expect("parses")),
                Box::new(parse("b=2 and c=3").expect("parses"))
            )
        );
    }

    #[test]
    fn in_and_not_in() {
        let c = company();
        assert!(m("status/id IN (1,42,43)", &c));
        assert!(m("status/id in (2, 1)", &c));
        assert!(!m("status/id not in (1,2)", &c));
        assert!(m("identifier in (\"x\", \"acme\")", &c));
        assert!(m("status/id NOT IN (7)", &c));
        assert!(parse("id in 1,2").is_err());
        assert!(parse("id in (1 2)").is_err());
    }

    #[test]
    fn like_and_contains() {
        let c = company();
        assert!(m("identifier like \"ac%\"", &c));
        assert!(m("identifier LIKE \"%ME\"", &c));
        assert!(m("identifier like \"a_me\"", &c));
        assert!(!m("identifier like \"a_e\"", &c));
        assert!(m("identifier not like \"x%\"", &c));
        assert!(m("name contains \"corp\"", &c));
        assert!(!m("name not contains \"corp\"", &c));
        assert!(like("ACR-BACKUP-01", "acr-%-01"));
        assert!(like("", "%"));
        assert!(!like("abc", ""));
    }

    #[test]
    fn syntax_errors_point_at_the_problem() {
        let e = parse("id=1 and").unwrap_err();
        assert_eq!(e.pos, 8);
        assert!(e.message.contains("field name"), "{e}");
        let e = parse("(id=1").unwrap_err();
        assert!(e.message.contains("')'"), "{e}");
        let e = parse("id 5").unwrap_err();
        assert!(e.message.contains("operator"), "{e}");
        let e = parse("id=1 id=2").unwrap_err();
        assert_eq!(e.pos, 5);
        assert!(parse("id = ").is_err());
        assert!(parse("").is_err());
        assert!(parse("id ! 3").is_err());
    }

    #[test]
    fn order_by_sorts_with_id_tiebreak() {
        let mut rows = vec![
            json!({"id": 3, "name": "b"}),
            json!({"id": 1, "name": "B"}),
            json!({"id": 2, "name": "a"}),
        ];
        sort_records(&mut rows, &parse_order_by("name desc").expect("parses"));
        let ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().expect("id")).collect();
        assert_eq!(ids, vec![1, 3, 2]);
        sort_records(
            &mut rows,
            &parse_order_by("name asc, id desc").expect("parses"),
        );
        let ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().expect("id")).collect();
        assert_eq!(ids, vec![2, 3, 1]);
        assert!(parse_order_by("name sideways").is_err());
    }
}

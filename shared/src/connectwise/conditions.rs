//! A builder for ConnectWise's `conditions` query language.
//!
//! Strings go in double quotes (with `"` and `\` escaped), numbers and booleans bare,
//! datetimes in square brackets (`lastUpdated>[2024-01-01T00:00:00Z]`), clauses joined by
//! `AND`, alternatives grouped in parentheses.

use chrono::{DateTime, SecondsFormat, Utc};

/// A literal on the right of a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Int(i64),
    Bool(bool),
    Date(DateTime<Utc>),
    Null,
}

impl From<&str> for Literal {
    fn from(v: &str) -> Self {
        Self::Str(v.to_owned())
    }
}
impl From<String> for Literal {
    fn from(v: String) -> Self {
        Self::Str(v)
    }
}
impl From<&String> for Literal {
    fn from(v: &String) -> Self {
        Self::Str(v.clone())
    }
}
impl From<i64> for Literal {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}
impl From<i32> for Literal {
    fn from(v: i32) -> Self {
        Self::Int(v.into())
    }
}
impl From<bool> for Literal {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}
impl From<DateTime<Utc>> for Literal {
    fn from(v: DateTime<Utc>) -> Self {
        Self::Date(v)
    }
}

impl Literal {
    fn render(&self) -> String {
        match self {
            Self::Str(s) => quote(s),
            Self::Int(n) => n.to_string(),
            Self::Bool(b) => b.to_string(),
            Self::Date(d) => format!("[{}]", d.to_rfc3339_opts(SecondsFormat::Secs, true)),
            Self::Null => "null".into(),
        }
    }
}

/// A string in double quotes with `\` and `"` escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Clauses joined by `AND`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conditions {
    clauses: Vec<String>,
}

impl Conditions {
    pub fn new() -> Self {
        Self::default()
    }

    fn push(mut self, field: &str, op: &str, value: impl Into<Literal>) -> Self {
        debug_assert!(valid_field(field), "bad field path {field}");
        self.clauses
            .push(format!("{field}{op}{}", value.into().render()));
        self
    }

    pub fn eq(self, field: &str, value: impl Into<Literal>) -> Self {
        self.push(field, "=", value)
    }
    pub fn ne(self, field: &str, value: impl Into<Literal>) -> Self {
        self.push(field, "!=", value)
    }
    pub fn gt(self, field: &str, value: impl Into<Literal>) -> Self {
        self.push(field, ">", value)
    }
    pub fn ge(self, field: &str, value: impl Into<Literal>) -> Self {
        self.push(field, ">=", value)
    }
    pub fn lt(self, field: &str, value: impl Into<Literal>) -> Self {
        self.push(field, "<", value)
    }
    pub fn le(self, field: &str, value: impl Into<Literal>) -> Self {
        self.push(field, "<=", value)
    }
    /// `field contains "text"`.
    pub fn contains(self, field: &str, text: &str) -> Self {
        self.push(field, " contains ", text)
    }
    /// `field like "pattern"`, `%` being the wildcard.
    pub fn like(self, field: &str, pattern: &str) -> Self {
        self.push(field, " like ", pattern)
    }
    /// `field in (a, b, ...)`; an empty list matches nothing.
    pub fn is_in<L: Into<Literal>>(
        mut self,
        field: &str,
        values: impl IntoIterator<Item = L>,
    ) -> Self {
        debug_assert!(valid_field(field), "bad field path {field}");
        let list: Vec<String> = values.into_iter().map(|v| v.into().render()).collect();
        if list.is_empty() {
            // ConnectWise rejects `in ()`; `id<0` matches no record.
            self.clauses.push("id<0".into());
        } else {
            self.clauses
                .push(format!("{field} in ({})", list.join(",")));
        }
        self
    }
    /// `(a OR b OR ...)`, each alternative being its own set of `AND`ed clauses.
    pub fn any_of(mut self, alternatives: impl IntoIterator<Item = Conditions>) -> Self {
        let parts: Vec<String> = alternatives
            .into_iter()
            .filter(|c| !c.is_empty())
            .map(|c| format!("({})", c.render()))
            .collect();
        if !parts.is_empty() {
            self.clauses.push(format!("({})", parts.join(" OR ")));
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    pub fn render(&self) -> String {
        self.clauses.join(" AND ")
    }
}

fn valid_field(field: &str) -> bool {
    !field.is_empty()
        && field
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '/' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn renders_each_literal_kind() {
        let when = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        let c = Conditions::new()
            .eq("company/id", 12)
            .eq("name", "Acme \"Best\" C:\\Dir")
            .eq("inactiveFlag", false)
            .gt("lastUpdated", when)
            .eq("cancelledDate", Literal::Null);
        assert_eq!(
            c.render(),
            r#"company/id=12 AND name="Acme \"Best\" C:\\Dir" AND inactiveFlag=false AND lastUpdated>[2024-01-02T03:04:05Z] AND cancelledDate=null"#
        );
    }

    #[test]
    fn renders_operators_lists_and_groups() {
        let c = Conditions::new()
            .contains("name", "acro")
            .like("identifier", "ACR-%")
            .is_in("status/id", [1, 42])
            .any_of([
                Conditions::new().eq("a", 1),
                Conditions::new().eq("b", "x").ne("c", 2),
            ]);
        assert_eq!(
            c.render(),
            r#"name contains "acro" AND identifier like "ACR-%" AND status/id in (1,42) AND ((a=1) OR (b="x" AND c!=2))"#
        );
    }

    #[test]
    fn empty_in_list_matches_nothing() {
        let c = Conditions::new().is_in::<i64>("id", []);
        assert_eq!(c.render(), "id<0");
    }
}

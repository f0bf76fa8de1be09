//! Which Acronis connection (partner tenant and data centre) a stored record belongs to.
//! Records stored before there were several name none: they are the connection `default`.

/// The connection the flat keys name, and the one a deployment with a single connection
/// has always used.
pub const DEFAULT_CONNECTION: &str = "default";

/// A connection's name: `[a-z][a-z0-9-]{0,31}`, so it is safe in store keys, cursor names,
/// file names and URLs as it is.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct ConnectionName(String);

/// Why a name is not a connection's name.
#[derive(Debug, thiserror::Error)]
#[error(
    "{0:?} is not a connection name: 1 to 32 lowercase letters, digits or '-', starting with a letter"
)]
pub struct BadConnectionName(pub String);

impl ConnectionName {
    pub fn parse(name: &str) -> Result<Self, BadConnectionName> {
        let mut chars = name.chars();
        let good = name.len() <= 32
            && chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if good {
            Ok(Self(name.to_owned()))
        } else {
            Err(BadConnectionName(name.to_owned()))
        }
    }

    /// `default`.
    pub fn default_name() -> Self {
        Self(DEFAULT_CONNECTION.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_default(&self) -> bool {
        self.0 == DEFAULT_CONNECTION
    }

    /// Names as a message lists them: `a, b`, or `none` (one wording for every message
    /// that tells which connections there are).
    pub fn listed<'a>(names: impl IntoIterator<Item = &'a ConnectionName>) -> String {
        let names: Vec<&str> = names.into_iter().map(Self::as_str).collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    }
}

impl Default for ConnectionName {
    fn default() -> Self {
        Self::default_name()
    }
}

impl TryFrom<String> for ConnectionName {
    type Error = BadConnectionName;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ConnectionName> for String {
    fn from(n: ConnectionName) -> Self {
        n.0
    }
}

impl std::borrow::Borrow<str> for ConnectionName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ConnectionName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ConnectionName {
    type Err = BadConnectionName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// `serde(default)` of a record's connection: `default` for what an earlier version stored.
pub fn is_default(name: &ConnectionName) -> bool {
    name.is_default()
}

/// The ConnectWise company field a [`NewCustomerRule`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompanyField {
    /// Any of the company's types (`types[].name`).
    Type,
    /// `market.name`.
    Market,
    /// `territory.name`.
    Territory,
    /// `country.name`, the country of the company's main site.
    Country,
}

impl CompanyField {
    /// Where ConnectWise lists the values of this field (each with a `name`).
    pub fn list_path(self) -> &'static str {
        match self {
            Self::Type => "company/companies/types",
            Self::Market => "company/marketDescriptions",
            Self::Territory => "system/locations",
            Self::Country => "company/countries",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Type => "type",
            Self::Market => "market",
            Self::Territory => "territory",
            Self::Country => "country",
        }
    }
}

/// Which connection a new customer's tenant is created in (`provisioning.new_customers`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct NewCustomerRule {
    /// Without `by`: every new customer's connection (none: `default`, or the only one).
    /// With `by`: the connection of a company whose field matches no value (none: the
    /// company is not provisioned and a person is told).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<ConnectionName>,
    /// The company field that chooses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<CompanyField>,
    /// With `by`: the field's value, as ConnectWise names it (case and spaces aside) →
    /// connection.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub values: std::collections::BTreeMap<String, ConnectionName>,
}

/// What a rule reads of a company.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompanyFields {
    pub types: Vec<String>,
    pub market: Option<String>,
    pub territory: Option<String>,
    pub country: Option<String>,
}

/// Why a new customer has no connection: a person decides.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoConnection {
    #[error(
        "its {field} ({value}) matches no value of provisioning.new_customers and it names no connection for the others"
    )]
    NoMatch { field: &'static str, value: String },
    #[error(
        "several Acronis connections ({known}) and none named default: set provisioning.new_customers.connection"
    )]
    Ambiguous { known: String },
    #[error("provisioning.new_customers names connection {0}, which the secret does not have")]
    Unknown(ConnectionName),
}

/// ConnectWise's name and the rule's, case and spaces aside.
fn same_value(a: &str, b: &str) -> bool {
    let words = |s: &str| -> Vec<String> { s.split_whitespace().map(str::to_lowercase).collect() };
    words(a) == words(b)
}

impl NewCustomerRule {
    /// The connection a new customer with `fields` goes to, among the `known` ones.
    pub fn connection_for(
        &self,
        fields: &CompanyFields,
        known: &[ConnectionName],
    ) -> Result<ConnectionName, NoConnection> {
        let chosen = match self.by {
            Some(by) => {
                let values: Vec<&str> = match by {
                    CompanyField::Type => fields.types.iter().map(String::as_str).collect(),
                    CompanyField::Market => fields.market.as_deref().into_iter().collect(),
                    CompanyField::Territory => fields.territory.as_deref().into_iter().collect(),
                    CompanyField::Country => fields.country.as_deref().into_iter().collect(),
                };
                let hit = self
                    .values
                    .iter()
                    .find(|(value, _)| values.iter().any(|v| same_value(v, value)));
                match (hit, &self.connection) {
                    (Some((_, c)), _) => c.clone(),
                    (None, Some(c)) => c.clone(),
                    (None, None) => {
                        return Err(NoConnection::NoMatch {
                            field: by.name(),
                            value: if values.is_empty() {
                                "none".into()
                            } else {
                                values.join(", ")
                            },
                        });
                    }
                }
            }
            None => match &self.connection {
                Some(c) => c.clone(),
                None => sole_or_default(known).ok_or_else(|| NoConnection::Ambiguous {
                    known: known
                        .iter()
                        .map(ConnectionName::as_str)
                        .collect::<Vec<_>>()
                        .join(", "),
                })?,
            },
        };
        if known.contains(&chosen) {
            Ok(chosen)
        } else {
            Err(NoConnection::Unknown(chosen))
        }
    }
}

impl NewCustomerRule {
    /// What is wrong with the rule given the secret's connections (`known`) and the names
    /// ConnectWise lists for its field (`listed`, when it has one): a connection the secret
    /// does not have, a value ConnectWise does not have.
    pub fn problems(&self, known: &[ConnectionName], listed: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for c in self.connection.iter().chain(self.values.values()) {
            if !known.contains(c) {
                out.push(format!("the secret has no connection {c}"));
            }
        }
        if let Some(by) = self.by {
            for value in self.values.keys() {
                if !listed.iter().any(|l| same_value(l, value)) {
                    out.push(format!("ConnectWise has no {} named {value:?}", by.name()));
                }
            }
        } else if !self.values.is_empty() {
            out.push("values are given but no field to read them from (set by)".into());
        }
        out.sort();
        out.dedup();
        out
    }
}

/// `default`, or the only connection.
pub fn sole_or_default(known: &[ConnectionName]) -> Option<ConnectionName> {
    known
        .iter()
        .find(|c| c.is_default())
        .or_else(|| (known.len() == 1).then(|| &known[0]))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> ConnectionName {
        ConnectionName::parse(s).unwrap()
    }

    fn fields(types: &[&str], country: Option<&str>) -> CompanyFields {
        CompanyFields {
            types: types.iter().map(|t| t.to_string()).collect(),
            country: country.map(str::to_owned),
            ..Default::default()
        }
    }

    #[test]
    fn rules_as_a_table() {
        let eu_us = [name("eu"), name("us")];
        let default_us = [name("default"), name("us")];
        let eu = [name("eu")];
        let us = [name("us")];
        let default_rule = NewCustomerRule::default();
        let by_country = NewCustomerRule {
            by: Some(CompanyField::Country),
            values: [
                ("United States".to_string(), name("us")),
                ("Germany".into(), name("eu")),
            ]
            .into(),
            ..Default::default()
        };
        let by_type_else_eu = NewCustomerRule {
            connection: Some(name("eu")),
            by: Some(CompanyField::Type),
            values: [("Reseller".to_string(), name("us"))].into(),
        };
        type Case<'a> = (
            &'a str,
            &'a NewCustomerRule,
            CompanyFields,
            &'a [ConnectionName],
            Result<&'a str, &'a str>,
        );
        let cases: Vec<Case> = vec![
            (
                "default rule, a default connection",
                &default_rule,
                fields(&[], None),
                &default_us,
                Ok("default"),
            ),
            (
                "default rule, one connection",
                &default_rule,
                fields(&[], None),
                &eu,
                Ok("eu"),
            ),
            (
                "default rule, several without default",
                &default_rule,
                fields(&[], None),
                &eu_us,
                Err("several"),
            ),
            (
                "by country",
                &by_country,
                fields(&[], Some("united  states")),
                &eu_us,
                Ok("us"),
            ),
            (
                "by country, another",
                &by_country,
                fields(&[], Some("Germany")),
                &eu_us,
                Ok("eu"),
            ),
            (
                "by country, no match, no fallback",
                &by_country,
                fields(&[], Some("France")),
                &eu_us,
                Err("country (France) matches no value"),
            ),
            (
                "by country, no country",
                &by_country,
                fields(&[], None),
                &eu_us,
                Err("country (none)"),
            ),
            (
                "by type, any of its types",
                &by_type_else_eu,
                fields(&["Client", "reseller"], None),
                &eu_us,
                Ok("us"),
            ),
            (
                "by type, fallback",
                &by_type_else_eu,
                fields(&["Client"], None),
                &eu_us,
                Ok("eu"),
            ),
            (
                "a connection the secret lost",
                &by_type_else_eu,
                fields(&["Client"], None),
                &us,
                Err("does not have"),
            ),
        ];
        for (case, rule, f, known, want) in cases {
            let got = rule.connection_for(&f, known);
            match (got, want) {
                (Ok(c), Ok(w)) => assert_eq!(c.as_str(), w, "{case}"),
                (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{case}: {e}"),
                (got, want) => panic!("{case}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn a_rule_naming_what_the_accounts_do_not_have_says_so() {
        let rule = NewCustomerRule {
            connection: Some(name("eu")),
            by: Some(CompanyField::Country),
            values: [
                ("united states".to_string(), name("us")),
                ("Atlantis".to_string(), name("ap")),
            ]
            .into(),
        };
        let listed = ["United States".to_string(), "Germany".to_string()];
        assert_eq!(
            rule.problems(&[name("eu"), name("us")], &listed),
            [
                "ConnectWise has no country named \"Atlantis\"",
                "the secret has no connection ap",
            ]
        );
        let fine = NewCustomerRule {
            values: [("United States".to_string(), name("us"))].into(),
            ..rule
        };
        assert!(fine.problems(&[name("eu"), name("us")], &listed).is_empty());
    }

    #[test]
    fn an_earlier_record_has_the_default_connection() {
        #[derive(serde::Deserialize, serde::Serialize)]
        struct R {
            #[serde(default, skip_serializing_if = "is_default")]
            connection: ConnectionName,
        }
        let r: R = serde_json::from_str("{}").unwrap();
        assert!(r.connection.is_default());
        assert_eq!(serde_json::to_string(&r).unwrap(), "{}");
        let us: R = serde_json::from_str(r#"{"connection":"us"}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&us).unwrap(),
            r#"{"connection":"us"}"#
        );
        assert!(serde_json::from_str::<R>(r#"{"connection":"U S"}"#).is_err());
    }
}

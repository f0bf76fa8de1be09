//! Which existing tenant belongs to which company, pure: the proposals `acw companies match`
//! shows and applies (each pair then goes through the checks of a mapping by hand).
//!
//! Only unmapped companies and unmapped customer tenants take part. Evidence is tried in
//! order, strongest first, each tier over what earlier tiers left:
//! 1. the same name (trimmed, case ignored);
//! 2. the same normalised name ([`normalise`]: punctuation, `&`/`and` and legal suffixes
//!    such as `Inc.` or `GmbH` ignored);
//! 3. the tenant's `customer_id` is the company's identifier or id (what this integration
//!    and others write there);
//! 4. the tenant's contact email has the domain of one of the company's contacts (public
//!    mail domains such as gmail.com are no evidence).
//!
//! A key that one company and one tenant share is a proposal. A key shared by more than one
//! company or tenant is ambiguous: those companies and tenants are shown, not proposed, and
//! left out of the weaker tiers (a weaker tier must not pick one of them blindly).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// What the matching knows of a company.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompanySide {
    pub id: i64,
    pub name: String,
    pub identifier: Option<String>,
    /// Domains of its contacts' email addresses (lower case).
    pub email_domains: BTreeSet<String>,
}

/// What the matching knows of a tenant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantSide {
    pub id: String,
    pub name: String,
    pub customer_id: Option<String>,
    /// Domain of its contact's email address (lower case).
    pub email_domain: Option<String>,
}

/// Why a pair is proposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    ExactName,
    NormalisedName,
    CustomerId,
    EmailDomain,
}

impl Evidence {
    pub fn describe(self) -> &'static str {
        match self {
            Self::ExactName => "same name",
            Self::NormalisedName => "same name, normalised",
            Self::CustomerId => "tenant customer_id is the company's identifier",
            Self::EmailDomain => "contact email domain",
        }
    }
}

/// A company and the tenant proposed for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Proposal {
    pub company_id: i64,
    pub company_name: String,
    pub tenant_id: String,
    pub tenant_name: String,
    pub evidence: Evidence,
}

/// Companies and tenants that share a key with more than one other side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ambiguous {
    pub evidence: Evidence,
    pub key: String,
    pub companies: Vec<(i64, String)>,
    pub tenants: Vec<(String, String)>,
}

/// The whole proposal: what `--dry-run` prints and the real run applies.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MatchPlan {
    pub proposals: Vec<Proposal>,
    pub ambiguous: Vec<Ambiguous>,
    pub unmatched_companies: Vec<(i64, String)>,
    pub unmatched_tenants: Vec<(String, String)>,
}

/// Legal-form words left out of a normalised name.
const LEGAL_SUFFIXES: &[&str] = &[
    "inc",
    "incorporated",
    "llc",
    "ltd",
    "limited",
    "corp",
    "corporation",
    "co",
    "company",
    "gmbh",
    "ag",
    "sa",
    "sas",
    "sarl",
    "bv",
    "nv",
    "plc",
    "pty",
    "pte",
    "srl",
    "spa",
    "oy",
    "ab",
    "as",
    "kg",
    "llp",
    "lp",
];

/// Mail domains anyone can have: no evidence of belonging together.
const PUBLIC_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "icloud.com",
    "me.com",
    "aol.com",
    "gmx.com",
    "gmx.net",
    "web.de",
    "proton.me",
    "protonmail.com",
];

/// A name with case, punctuation, `&`/`and` and legal-form words ignored:
/// `"Northwind Traders, Inc."` and `"northwind traders"` are the same.
pub fn normalise(name: &str) -> String {
    let spaced: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    spaced
        .split_whitespace()
        .filter(|w| *w != "and" && !LEGAL_SUFFIXES.contains(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The domain of an email address, lower case; `None` for a public mail domain.
pub fn email_domain(email: &str) -> Option<String> {
    let domain = email.rsplit_once('@')?.1.trim().to_lowercase();
    (!domain.is_empty() && !PUBLIC_MAIL_DOMAINS.contains(&domain.as_str())).then_some(domain)
}

fn company_keys(c: &CompanySide, evidence: Evidence) -> Vec<String> {
    match evidence {
        Evidence::ExactName => vec![c.name.trim().to_lowercase()],
        Evidence::NormalisedName => vec![normalise(&c.name)],
        Evidence::CustomerId => {
            let mut keys = vec![c.id.to_string()];
            keys.extend(c.identifier.iter().map(|i| i.trim().to_lowercase()));
            keys
        }
        Evidence::EmailDomain => c.email_domains.iter().cloned().collect(),
    }
    .into_iter()
    .filter(|k| !k.is_empty())
    .collect()
}

fn tenant_key(t: &TenantSide, evidence: Evidence) -> Option<String> {
    match evidence {
        Evidence::ExactName => Some(t.name.trim().to_lowercase()),
        Evidence::NormalisedName => Some(normalise(&t.name)),
        Evidence::CustomerId => t.customer_id.as_ref().map(|c| c.trim().to_lowercase()),
        Evidence::EmailDomain => t.email_domain.clone(),
    }
    .filter(|k| !k.is_empty())
}

/// Proposes company ↔ tenant pairs (see the module's documentation).
pub fn propose(companies: &[CompanySide], tenants: &[TenantSide]) -> MatchPlan {
    let mut plan = MatchPlan::default();
    // Still open to a weaker tier, by position.
    let mut open_companies: BTreeSet<usize> = (0..companies.len()).collect();
    let mut open_tenants: BTreeSet<usize> = (0..tenants.len()).collect();
    for evidence in [
        Evidence::ExactName,
        Evidence::NormalisedName,
        Evidence::CustomerId,
        Evidence::EmailDomain,
    ] {
        let mut by_key: BTreeMap<String, (BTreeSet<usize>, BTreeSet<usize>)> = BTreeMap::new();
        for &i in &open_companies {
            for k in company_keys(&companies[i], evidence) {
                by_key.entry(k).or_default().0.insert(i);
            }
        }
        for &j in &open_tenants {
            if let Some(k) = tenant_key(&tenants[j], evidence) {
                by_key.entry(k).or_default().1.insert(j);
            }
        }
        let mut taken_companies = BTreeSet::new();
        let mut taken_tenants = BTreeSet::new();
        for (key, (cs, ts)) in by_key {
            if cs.is_empty() || ts.is_empty() {
                continue;
            }
            // A side already settled under another key of this tier is not reused.
            let cs: Vec<usize> = cs.difference(&taken_companies).copied().collect();
            let ts: Vec<usize> = ts.difference(&taken_tenants).copied().collect();
            if cs.is_empty() || ts.is_empty() {
                continue;
            }
            if let ([c], [t]) = (cs.as_slice(), ts.as_slice()) {
                plan.proposals.push(Proposal {
                    company_id: companies[*c].id,
                    company_name: companies[*c].name.clone(),
                    tenant_id: tenants[*t].id.clone(),
                    tenant_name: tenants[*t].name.clone(),
                    evidence,
                });
            } else {
                plan.ambiguous.push(Ambiguous {
                    evidence,
                    key,
                    companies: cs
                        .iter()
                        .map(|c| (companies[*c].id, companies[*c].name.clone()))
                        .collect(),
                    tenants: ts
                        .iter()
                        .map(|t| (tenants[*t].id.clone(), tenants[*t].name.clone()))
                        .collect(),
                });
            }
            taken_companies.extend(cs);
            taken_tenants.extend(ts);
        }
        open_companies.retain(|c| !taken_companies.contains(c));
        open_tenants.retain(|t| !taken_tenants.contains(t));
    }
    plan.proposals.sort_by_key(|p| p.company_id);
    plan.unmatched_companies = open_companies
        .iter()
        .map(|&c| (companies[c].id, companies[c].name.clone()))
        .collect();
    plan.unmatched_companies.sort();
    plan.unmatched_tenants = open_tenants
        .iter()
        .map(|&t| (tenants[t].id.clone(), tenants[t].name.clone()))
        .collect();
    plan.unmatched_tenants.sort();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn company(id: i64, name: &str) -> CompanySide {
        CompanySide {
            id,
            name: name.into(),
            identifier: Some(format!("C{id}")),
            email_domains: BTreeSet::new(),
        }
    }

    fn tenant(id: &str, name: &str) -> TenantSide {
        TenantSide {
            id: id.into(),
            name: name.into(),
            customer_id: None,
            email_domain: None,
        }
    }

    #[test]
    fn names_are_normalised_for_case_punctuation_and_legal_form() {
        assert_eq!(normalise("Northwind Traders, Inc."), "northwind traders");
        assert_eq!(normalise("  NORTHWIND   traders LLC "), "northwind traders");
        assert_eq!(normalise("Fabrikam & Co. GmbH"), "fabrikam");
        assert_eq!(normalise("Fabrikam and Company"), "fabrikam");
        assert_eq!(
            email_domain("Pat@Contoso.example"),
            Some("contoso.example".into())
        );
        assert_eq!(email_domain("someone@gmail.com"), None);
        assert_eq!(email_domain("no-at-sign"), None);
    }

    #[test]
    fn each_tier_over_what_the_stronger_ones_left() {
        let mut by_domain = company(5, "Proseware");
        by_domain.email_domains.insert("proseware.example".into());
        let companies = vec![
            company(1, "Contoso"),
            company(2, "Northwind Traders, Inc."),
            company(3, "Tailspin"),
            company(4, "Adatum"),
            by_domain,
            company(6, "Nobody Like Us"),
        ];
        let mut by_id = tenant("t4", "Adatum Backup");
        by_id.customer_id = Some("c4".into());
        let mut by_mail = tenant("t5", "PW Holding");
        by_mail.email_domain = Some("proseware.example".into());
        let tenants = vec![
            tenant("t1", "contoso"),
            tenant("t2", "Northwind Traders"),
            by_id,
            by_mail,
            tenant("t9", "Orphan Tenant"),
        ];
        let plan = propose(&companies, &tenants);
        let pairs: Vec<(i64, &str, Evidence)> = plan
            .proposals
            .iter()
            .map(|p| (p.company_id, p.tenant_id.as_str(), p.evidence))
            .collect();
        assert_eq!(
            pairs,
            vec![
                (1, "t1", Evidence::ExactName),
                (2, "t2", Evidence::NormalisedName),
                (4, "t4", Evidence::CustomerId),
                (5, "t5", Evidence::EmailDomain),
            ]
        );
        assert_eq!(
            plan.unmatched_companies,
            vec![(3, "Tailspin".into()), (6, "Nobody Like Us".into())]
        );
        assert_eq!(
            plan.unmatched_tenants,
            vec![("t9".into(), "Orphan Tenant".into())]
        );
        assert!(plan.ambiguous.is_empty());
    }

    #[test]
    fn a_shared_name_is_ambiguous_and_not_matched_by_weaker_evidence() {
        let mut by_id = tenant("t2", "Fabrikam AG");
        // Weaker evidence that would single out company 2: not used for an ambiguous side.
        by_id.customer_id = Some("C2".into());
        let plan = propose(
            &[company(1, "Fabrikam"), company(2, "Fabrikam LLC")],
            &[tenant("t1", "fabrikam gmbh"), by_id],
        );
        assert!(plan.proposals.is_empty(), "{plan:?}");
        assert_eq!(plan.ambiguous.len(), 1);
        assert_eq!(plan.ambiguous[0].evidence, Evidence::NormalisedName);
        assert_eq!(plan.ambiguous[0].companies.len(), 2);
        assert_eq!(plan.ambiguous[0].tenants.len(), 2);
        assert!(plan.unmatched_companies.is_empty());
        assert!(plan.unmatched_tenants.is_empty());
    }
}

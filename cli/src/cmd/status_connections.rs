//! `acw status`'s connections: per Acronis connection, its mapped companies and open alert
//! tickets, and the failures the latest run of each function recorded against it
//! (`connection {name}: …`), so a data centre that is down shows at a glance.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use shared::store::{AlertTicket, CompanyMapping, RunRecord};

/// One connection's line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionRow {
    pub connection: String,
    pub mapped_companies: usize,
    pub open_alert_tickets: usize,
    /// `function: reason` of each latest run that failed on it (empty: healthy).
    pub failing: Vec<String>,
}

/// The rows of every connection that has a company, a ticket or a failure in the latest
/// runs (`default` always), by name.
pub fn rows(
    mappings: &[CompanyMapping],
    tickets: &[AlertTicket],
    latest_runs: &[RunRecord],
) -> Vec<ConnectionRow> {
    let mut by_name: BTreeMap<String, ConnectionRow> = BTreeMap::new();
    fn row<'a>(
        by_name: &'a mut BTreeMap<String, ConnectionRow>,
        name: &str,
    ) -> &'a mut ConnectionRow {
        by_name
            .entry(name.to_owned())
            .or_insert_with(|| ConnectionRow {
                connection: name.to_owned(),
                mapped_companies: 0,
                open_alert_tickets: 0,
                failing: Vec::new(),
            })
    }
    row(&mut by_name, shared::secrets::DEFAULT_CONNECTION);
    for m in mappings {
        row(&mut by_name, m.connection.as_str()).mapped_companies += 1;
    }
    for t in tickets {
        row(&mut by_name, t.connection.as_str()).open_alert_tickets += 1;
    }
    for run in latest_runs {
        for f in &run.failures {
            if let Some(name) = f.subject.strip_prefix("connection ") {
                row(&mut by_name, name)
                    .failing
                    .push(format!("{}: {}", run.function, f.reason));
            }
        }
    }
    by_name.into_values().collect()
}

/// The connections as a table (with its line break), when there are several or one fails.
pub fn table(rows: &[ConnectionRow]) -> String {
    if rows.len() < 2 && rows.iter().all(|r| r.failing.is_empty()) {
        return String::new();
    }
    let t = crate::output::table(
        &["connection", "companies", "open alert tickets", "state"],
        rows.iter().map(|r| {
            vec![
                r.connection.clone(),
                r.mapped_companies.to_string(),
                r.open_alert_tickets.to_string(),
                if r.failing.is_empty() {
                    "healthy".to_owned()
                } else {
                    format!("FAILING: {}", r.failing.join("; "))
                },
            ]
        }),
    );
    format!("{t}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::store::Failure;

    #[test]
    fn each_connection_counts_its_own_and_a_failing_one_says_why() {
        let us = shared::secrets::ConnectionName::parse("us").unwrap();
        let mapping = |id, connection: &shared::secrets::ConnectionName| CompanyMapping {
            connection: connection.clone(),
            ..shared::testing::auto_mapping(id, "t")
        };
        let mappings = [
            mapping(1, &Default::default()),
            mapping(2, &us),
            mapping(3, &us),
        ];
        let mut run = RunRecord::start("alert-poller");
        run.failures.push(Failure {
            subject: "connection us".into(),
            reason: "alert poll failed: 503".into(),
            transient: true,
        });
        run.failures.push(Failure {
            subject: "company 9".into(),
            reason: "other".into(),
            transient: true,
        });
        let rows = rows(&mappings, &[], &[run]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].connection, "default");
        assert_eq!(rows[0].mapped_companies, 1);
        assert!(rows[0].failing.is_empty());
        assert_eq!(rows[1].connection, "us");
        assert_eq!(rows[1].mapped_companies, 2);
        assert_eq!(rows[1].failing, ["alert-poller: alert poll failed: 503"]);
    }
}

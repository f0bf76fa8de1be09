//! The month's two Acronis connections: the stack's simulator (`default`) and a second data
//! centre (`us`: another API client and partner tenant, a US storage only). The month's
//! companies are spread over both by the new-customer rule (by country: the United States
//! → `us`, any other → `default`), each connection maps the same offering items to ConnectWise
//! products of its own, and the second data centre has an outage of its own (an hour, only
//! that simulator down) with alerts around it.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::Result;
use secrecy::SecretString;
use serde_json::json;
use shared::acronis::{AcronisClient, Connections};
use shared::domain::connection::{CompanyField, ConnectionName, NewCustomerRule};
use shared::http::Transport;
use shared::secrets::AcronisCredentials;
use simulators::acronis::{AcronisSim, AcronisSimConfig, RaiseAlert};
use simulators::oracle::ConnectionRule;

use super::{Plan, Sims, tenant_of};
use crate::LocalStack;

/// The second connection's name.
pub const US: &str = "us";
pub const DEFAULT: &str = shared::domain::connection::DEFAULT_CONNECTION;
/// The country whose companies go to `us`, and the one every other company has.
pub const US_COUNTRY: &str = "United States";
pub const OTHER_COUNTRY: &str = "Germany";

/// ConnectWise products: servers and workstations of each connection (one offering item
/// each, another product per connection).
pub const SERVERS: i64 = 500;
pub const WORKSTATIONS: i64 = 501;
pub const SERVERS_US: i64 = 510;
pub const WORKSTATIONS_US: i64 = 511;

/// Whether the month's company `i` is in the United States (so in `us`): alternate blocks
/// of twelve, so that each connection has every kind and variant of the scenario.
pub fn in_us(i: i64) -> bool {
    (i / 12) % 2 == 1
}

/// A connection's (offering item, ConnectWise product) pairs.
pub fn products(connection: &str) -> [(&'static str, i64); 2] {
    if connection == US {
        [
            ("pw_base_servers", SERVERS_US),
            ("pw_base_workstations", WORKSTATIONS_US),
        ]
    } else {
        [
            ("pw_base_servers", SERVERS),
            ("pw_base_workstations", WORKSTATIONS),
        ]
    }
}

/// `provisioning.new_customers`: by country, the United States → `us`, any other →
/// `default`.
pub fn new_customers() -> NewCustomerRule {
    NewCustomerRule {
        connection: Some(ConnectionName::default_name()),
        by: Some(CompanyField::Country),
        values: [(US_COUNTRY.to_owned(), us())].into(),
    }
}

/// The same rule, as the oracle reads it from the companies' records.
pub fn oracle_rule() -> ConnectionRule {
    ConnectionRule {
        field: "country".into(),
        values: [(US_COUNTRY.to_owned(), US.to_owned())].into(),
        otherwise: DEFAULT.to_owned(),
    }
}

/// The oracle's products, per connection.
pub fn oracle_products() -> BTreeMap<String, BTreeMap<i64, String>> {
    [DEFAULT, US]
        .into_iter()
        .map(|c| {
            let products = products(c)
                .into_iter()
                .map(|(item, product)| (product, item.to_owned()))
                .collect();
            (c.to_owned(), products)
        })
        .collect()
}

pub fn us() -> ConnectionName {
    ConnectionName::parse(US).expect("a connection name")
}

/// The second data centre's simulator, on a free port, and its client (connection `us`).
pub async fn start_us(transport: Transport) -> Result<(AcronisSim, AcronisClient)> {
    let config = AcronisSimConfig::second_data_centre();
    let sim =
        simulators::acronis::start(SocketAddr::from(([127, 0, 0, 1], 0)), config.clone()).await?;
    let client = AcronisClient::new(
        &AcronisCredentials {
            name: us(),
            datacenter_url: sim.url(),
            client_id: config.client_id,
            client_secret: SecretString::from(config.client_secret),
        },
        transport,
    )?;
    Ok((sim, client))
}

/// Both connections' clients, as the functions hold them.
pub fn connections(default: &AcronisClient, us: &AcronisClient) -> Connections {
    Connections::of(default.clone(), [us.clone()])
}

/// The second data centre's outage: 4 cycles (an hour) half way through the faulted days,
/// between ConnectWise's (a third of the way) and the first data centre's (two thirds).
pub fn us_outage(cycle: i64, fault_free_from: i64) -> bool {
    us_outage_from(fault_free_from).is_some_and(|from| (from..from + 4).contains(&cycle))
}

/// The first cycle of the second data centre's outage (none in a month too short).
fn us_outage_from(fault_free_from: i64) -> Option<i64> {
    (fault_free_from >= 6).then_some(fault_free_from / 2)
}

/// The second data centre's alerts around its outage, on two of its companies that have a
/// tenant mapped: the first raised two cycles before it goes down and cleared as it goes
/// down (its ticket, made before, is closed once the data centre is back: the alert is gone
/// from the listing and looked up in its own connection), the second raised as it goes down
/// (its ticket is made once the data centre is back, from the connection's own cursor). As
/// the other windows' changes, these happen whether or not the data centre is down.
pub(super) async fn outage_alerts(
    s: &LocalStack,
    sims: &Sims,
    plans: &[Plan],
    cycle: i64,
    fault_free_from: i64,
    alerted: &mut Vec<(i64, String)>,
) -> Result<()> {
    let Some(from) = us_outage_from(fault_free_from) else {
        return Ok(());
    };
    let raise = |(id, tenant): &(i64, String)| {
        sims.us.raise_alert(RaiseAlert {
            id: Some(format!("DC-{id}")),
            tenant: tenant.clone(),
            kind: "BackupFailed".into(),
            category: None,
            severity: None,
            details: json!({"resourceId": format!("dc-{id}"), "resourceName": format!("dc-{id}"),
                            "resourceType": "machine", "planName": "Daily"}),
        })
    };
    if cycle == from - 2 {
        for p in plans.iter().filter(|p| p.kind == 0 && p.us) {
            if let Some(t) = tenant_of(&sims.us.state(), &p.name())
                && s.store.mapping_by_tenant(&t).await?.is_some()
            {
                alerted.push((p.id, t));
            }
            if alerted.len() == 2 {
                break;
            }
        }
        if let Some(first) = alerted.first() {
            raise(first)?;
        }
    } else if cycle == from {
        if let Some((id, _)) = alerted.first() {
            sims.us.clear_alert(&format!("DC-{id}")).ok();
        }
        if let Some(second) = alerted.get(1) {
            raise(second)?;
        }
    }
    Ok(())
}

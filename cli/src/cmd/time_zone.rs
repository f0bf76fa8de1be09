//! The MSP's time zone as `acw setup` proposes it: ConnectWise names zones the Windows way
//! ("Eastern Standard Time"); CLDR's Windows → IANA table (`windowsZones`, its world-wide
//! default, territory `001`) turns that into an IANA name, through ICU4X (`icu_time`,
//! Unicode's own implementation of CLDR, which ships each CLDR release's table).

use icu_time::zone::WindowsParser;
use icu_time::zone::iana::IanaParserExtended;
use serde::Serialize;
use shared::domain::calendar::Zone;

/// The IANA zone CLDR gives for a Windows zone name, if it knows the name (and this
/// version's time-zone database knows the zone).
pub fn iana_of_windows(windows: &str) -> Option<Zone> {
    let zone = WindowsParser::new().parse(windows.trim(), None)?;
    let name = IanaParserExtended::new()
        .iter()
        .find(|z| z.time_zone == zone)?
        .canonical;
    name.parse().ok()
}

/// What `acw setup` proposes for `billing.time_zone`, and from what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proposal {
    pub zone: Zone,
    /// ConnectWise's own name of the zone, when it gave one.
    pub windows: Option<String>,
    /// Where the proposal comes from, in words.
    pub from: String,
}

/// The proposal from what ConnectWise gave: My Company's time zone (`/system/myCompany/other`
/// → its time zone setup), else the `serverTimeZone` of `/system/info`; UTC when neither is
/// given or CLDR does not know the name.
pub fn propose(my_company: Option<&str>, server: Option<&str>) -> Proposal {
    let given = [
        (my_company, "My Company's time zone"),
        (server, "the server time zone of system/info"),
    ]
    .into_iter()
    .find_map(|(name, from)| {
        name.map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| (n, from))
    });
    match given {
        None => Proposal {
            zone: Zone::UTC,
            windows: None,
            from: "ConnectWise gives no time zone: UTC".into(),
        },
        Some((name, from)) => match iana_of_windows(name) {
            Some(zone) => Proposal {
                zone,
                windows: Some(name.to_owned()),
                from: format!("{from} {name:?} (CLDR's Windows → IANA table)"),
            },
            None => Proposal {
                zone: Zone::UTC,
                windows: Some(name.to_owned()),
                from: format!("{from} {name:?} is not in CLDR's Windows zone table: UTC"),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_names_become_cldrs_iana_zones() {
        for (windows, iana) in [
            ("Eastern Standard Time", "America/New_York"),
            ("Central Standard Time", "America/Chicago"),
            ("Pacific Standard Time", "America/Los_Angeles"),
            ("US Mountain Standard Time", "America/Phoenix"),
            ("GMT Standard Time", "Europe/London"),
            ("W. Europe Standard Time", "Europe/Berlin"),
            ("AUS Eastern Standard Time", "Australia/Sydney"),
            ("Tokyo Standard Time", "Asia/Tokyo"),
            ("India Standard Time", "Asia/Kolkata"),
            ("UTC", "Etc/UTC"),
        ] {
            assert_eq!(
                iana_of_windows(windows).map(Zone::name),
                Some(iana),
                "{windows}"
            );
        }
        assert_eq!(iana_of_windows("Mars Standard Time"), None);
        assert_eq!(
            iana_of_windows("America/New_York"),
            None,
            "not a Windows name"
        );
    }

    #[test]
    fn my_companys_zone_first_then_the_servers_then_utc() {
        let p = propose(Some("Tokyo Standard Time"), Some("Eastern Standard Time"));
        assert_eq!(p.zone.name(), "Asia/Tokyo");
        assert!(p.from.starts_with("My Company's"), "{}", p.from);
        let p = propose(None, Some("Eastern Standard Time"));
        assert_eq!(p.zone.name(), "America/New_York");
        assert!(p.from.contains("system/info"), "{}", p.from);
        let p = propose(Some(" "), None);
        assert_eq!((p.zone, p.windows), (Zone::UTC, None));
        let p = propose(Some("Atlantis Standard Time"), None);
        assert_eq!(p.zone, Zone::UTC);
        assert!(p.from.contains("not in CLDR"), "{}", p.from);
    }
}

//! One module per command group, each with its command-line arguments and a `run` that
//! dispatches them.

pub mod alerts;
pub mod args;
pub mod attention;
pub mod billing;
pub mod companies;
pub mod config;
pub mod connections;
pub mod dlq;
pub mod doctor;
pub mod jobs;
pub mod products;
pub mod provisioning;
pub mod sections;
pub mod setup;
pub mod status;
pub mod status_connections;
pub mod sync;
pub mod tenants;
pub mod time_zone;
pub mod usage;

/// The command line as a whole (`crate::Cli`, made of each module's arguments).
#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use crate::Cli;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn json_is_global_and_ids_are_numbers() {
        let cli = Cli::try_parse_from(["acw", "companies", "map", "1", "2", "--json"]).unwrap();
        assert!(cli.json);
        assert!(Cli::try_parse_from(["acw", "companies", "map", "abc"]).is_err());
        assert!(Cli::try_parse_from(["acw", "companies", "list", "--mapping", "some"]).is_err());
        assert!(
            Cli::try_parse_from([
                "acw", "alerts", "map", "x", "--status", "New", "--type", "y"
            ])
            .is_ok()
        );
        assert!(
            Cli::try_parse_from(["acw", "alerts", "map", "x", "--type", "y"]).is_err(),
            "a status is required"
        );
        assert!(
            Cli::try_parse_from(["acw", "alerts", "map", "x", "--remove", "--status", "New"])
                .is_err()
        );
    }
}

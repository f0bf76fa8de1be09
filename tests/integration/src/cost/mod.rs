//! The cost model of `make bench-cost`, free of any client: list prices (`prices`), the units
//! AWS bills requests in (`units`), what the template declares (`template`) and a month's
//! bill from measured days (`bill`). The measuring is `crate::meter` and the bench binary.

pub mod bill;
pub mod dynamodb;
pub mod prices;
pub mod template;
pub mod units;

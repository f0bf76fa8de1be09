//! ConnectWise Manage: client, `conditions` builder, records and errors.

pub mod client;
pub mod conditions;
pub mod error;
pub mod models;

pub use client::{ConnectWiseClient, ListQuery};
pub use conditions::{Conditions, Literal};
pub use error::{CwError, FieldError};

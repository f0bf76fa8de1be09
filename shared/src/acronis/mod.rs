//! Acronis Cyber Cloud: client, records and errors.

pub mod client;
pub mod connections;
pub mod error;
pub mod models;

pub use client::{AcronisClient, AlertQuery, OfferingItemsWrite};
pub use connections::{Connections, UnknownConnection};
pub use error::AcronisError;

//! Acronis Cyber Cloud: client, records and errors.

pub mod client;
pub mod error;
pub mod models;

pub use client::{AcronisClient, AlertQuery, OfferingItemsWrite};
pub use error::AcronisError;

//! The rows of the table, one module per group: each measures relance and its baseline in the
//! same run and pushes its rows.

pub mod append;
pub mod audit;
pub mod batch;
pub mod catchup;
pub mod import;
pub mod postgres;
pub mod queries;
pub mod replicated;
pub mod web;

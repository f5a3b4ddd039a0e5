pub mod api;
pub mod config;
pub mod domain;
pub mod queue;
pub mod retry;
pub mod startup;
pub mod store;
pub mod telemetry;

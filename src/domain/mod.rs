//! Pure types and rules. Nothing here knows of actix, Redis or PostgreSQL.

pub mod actor;
pub mod audit;
pub mod channel;
pub mod check;
pub mod condition;
pub mod config;
pub mod feed;
pub mod fields;
pub mod folding;
pub mod health;
pub mod manifest;
pub mod monitor;
pub mod notification;
pub mod observation;
pub mod overload;
pub mod partitions;
pub mod probe;
pub mod result;
pub mod rollup;
pub mod schedule;
pub mod status;
pub mod token;
pub mod uptime;
pub mod version;

pub use config::{FieldError, MonitorChanges, MonitorConfig};
pub use fields::{
    ExpectedStatuses, HttpMethod, IntervalSeconds, InvalidValue, MonitorName, MonitorUrl, Tag,
    Tags, Threshold, TimeoutMs,
};
pub use monitor::{ApplyError, Monitor, MonitorEvent, RecordedEvent, StatusChange};
pub use partitions::partition_of;
pub use result::ProbeResult;
pub use status::Status;

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod concurrency;
mod event_log;
mod health;
mod helpers;
mod jobs_stream;
mod monitors;
mod pagination;
mod pipeline;
mod postgres_outage;
mod probe;
mod recovery;
mod results;
mod startup;
mod target;
mod validation;

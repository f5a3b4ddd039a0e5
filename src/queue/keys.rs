//! Every Redis key and consumer-group name, in one place. All keys start with
//! the configured prefix.

use crate::config::KeyPrefix;

/// The consumer group of the workers on the jobs stream.
pub const WORKERS_GROUP: &str = "workers";

#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &KeyPrefix) -> Self {
        Self {
            prefix: prefix.as_str().to_owned(),
        }
    }

    /// The stream of probe jobs.
    pub fn jobs(&self) -> String {
        format!("{}:jobs", self.prefix)
    }
}

//! Every Redis key and consumer-group name, in one place. All keys start with
//! the configured prefix.

use crate::config::KeyPrefix;

/// The consumer group of the workers on the jobs stream.
pub const WORKERS_GROUP: &str = "workers";
/// The consumer group of the folders on the results streams.
pub const FOLDERS_GROUP: &str = "folders";
/// The stream field that holds a results entry's results, as a JSON array.
pub const RESULTS_FIELD: &str = "results";
/// The field of results entries written before results were batched: one
/// result, as JSON.
pub const SINGLE_RESULT_FIELD: &str = "result";
/// At most this many results share a results stream entry.
pub const RESULTS_PER_ENTRY: usize = 64;

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

    /// The results stream of one partition.
    pub fn results(&self, partition: u16) -> String {
        format!("{}:results:{partition}", self.prefix)
    }

    /// Every partition's results stream, in partition order.
    pub fn all_results(&self, partitions: u16) -> Vec<String> {
        (0..partitions).map(|p| self.results(p)).collect()
    }

    /// The capped stream of status transitions, for the live feed.
    pub fn transitions(&self) -> String {
        format!("{}:transitions", self.prefix)
    }

    /// The hash of each monitor's skipped ticks (see `skips`).
    pub fn skipped(&self) -> String {
        format!("{}:skipped", self.prefix)
    }

    /// The hash of how far scheduling got in each partition (see `progress`).
    pub fn scheduled(&self) -> String {
        format!("{}:scheduled", self.prefix)
    }

    /// The live instances of a role, scored by heartbeat expiry.
    pub fn members(&self, role: &str) -> String {
        format!("{}:members:{role}", self.prefix)
    }

    /// The lease on one partition for one role.
    pub fn lease(&self, role: &str, partition: u16) -> String {
        format!("{}:lease:{role}:{partition}", self.prefix)
    }
}

//! What a probe asks for: the check, and how long it may take. Pure: the
//! probers live in `crate::probe`.

use serde::{Deserialize, Serialize};

use super::check::Check;
use super::config::MonitorConfig;
use super::fields::TimeoutMs;

/// Everything needed to run one probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeSpec {
    pub check: Check,
    pub timeout: TimeoutMs,
}

impl From<&MonitorConfig> for ProbeSpec {
    fn from(config: &MonitorConfig) -> Self {
        Self {
            check: config.check.clone(),
            timeout: config.timeout_ms,
        }
    }
}

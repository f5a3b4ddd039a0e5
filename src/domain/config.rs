//! A monitor's whole configuration, and the rules that tie its fields together.

use serde::{Deserialize, Serialize};

use super::check::{Check, CheckFields, RequestBody, RequestHeaders};
use super::condition::Conditions;
use super::fields::{
    ExpectedStatuses, HttpMethod, IntervalSeconds, MonitorName, MonitorUrl, Tags, Threshold,
    TimeoutMs,
};
use super::version::{ExpectedVersion, VersionSource};

/// A refused configuration: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A valid monitor configuration: every field valid on its own, the check
/// valid for its kind, and the timeout no longer than the interval. In the
/// event log it is written flat, as the API's writable fields
/// (`ConfigRecord`), so events read the same whatever the check's kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ConfigRecord", into = "ConfigRecord")]
pub struct MonitorConfig {
    pub name: MonitorName,
    pub check: Check,
    pub interval_seconds: IntervalSeconds,
    pub timeout_ms: TimeoutMs,
    pub failure_threshold: Threshold,
    pub recovery_threshold: Threshold,
    pub tags: Tags,
}

/// A configuration as the event log stores it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigRecord {
    name: MonitorName,
    url: MonitorUrl,
    /// HTTP checks only.
    method: Option<HttpMethod>,
    interval_seconds: IntervalSeconds,
    timeout_ms: TimeoutMs,
    expected_status: Option<ExpectedStatuses>,
    failure_threshold: Threshold,
    recovery_threshold: Threshold,
    tags: Tags,
    // Absent in events recorded before these existed.
    #[serde(default, skip_serializing_if = "RequestHeaders::is_empty")]
    headers: RequestHeaders,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<RequestBody>,
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    conditions: Conditions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expected_version: Option<ExpectedVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version_source: Option<VersionSource>,
}

impl TryFrom<ConfigRecord> for MonitorConfig {
    type Error = FieldError;
    fn try_from(record: ConfigRecord) -> Result<Self, Self::Error> {
        Ok(Self {
            name: record.name,
            check: Check::parse(CheckFields {
                url: record.url,
                method: record.method,
                expected_status: record.expected_status,
                headers: record.headers,
                body: record.body,
                conditions: record.conditions,
                expected_version: record.expected_version,
                version_source: record.version_source,
            })?,
            interval_seconds: record.interval_seconds,
            timeout_ms: record.timeout_ms,
            failure_threshold: record.failure_threshold,
            recovery_threshold: record.recovery_threshold,
            tags: record.tags,
        })
    }
}

impl From<MonitorConfig> for ConfigRecord {
    fn from(config: MonitorConfig) -> Self {
        let check = config.check.fields();
        Self {
            name: config.name,
            url: check.url,
            method: check.method,
            interval_seconds: config.interval_seconds,
            timeout_ms: config.timeout_ms,
            expected_status: check.expected_status,
            failure_threshold: config.failure_threshold,
            recovery_threshold: config.recovery_threshold,
            tags: config.tags,
            headers: check.headers,
            body: check.body,
            conditions: check.conditions,
            expected_version: check.expected_version,
            version_source: check.version_source,
        }
    }
}

/// The fields a client supplied, each already valid on its own. Used for both
/// registration (absent fields take defaults) and updates (absent fields stay).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonitorChanges {
    pub name: Option<MonitorName>,
    pub url: Option<MonitorUrl>,
    pub method: Option<HttpMethod>,
    pub interval_seconds: Option<IntervalSeconds>,
    pub timeout_ms: Option<TimeoutMs>,
    /// `Some(None)` sets "any 2xx" explicitly.
    pub expected_status: Option<Option<ExpectedStatuses>>,
    pub failure_threshold: Option<Threshold>,
    pub recovery_threshold: Option<Threshold>,
    pub tags: Option<Tags>,
    pub headers: Option<RequestHeaders>,
    /// `Some(None)` removes the body.
    pub body: Option<Option<RequestBody>>,
    pub conditions: Option<Conditions>,
    /// `Some(None)` stops expecting a version.
    pub expected_version: Option<Option<ExpectedVersion>>,
    pub version_source: Option<Option<VersionSource>>,
}

impl MonitorChanges {
    /// The check's fields: `current` (an update's) with these laid over it.
    fn check_fields(&self, current: Option<CheckFields>) -> Result<CheckFields, FieldError> {
        let url = match (&self.url, &current) {
            (Some(url), _) => url.clone(),
            (None, Some(current)) => current.url.clone(),
            (None, None) => return Err(FieldError::new("url", "is required")),
        };
        let current = current.as_ref();
        Ok(CheckFields {
            url,
            method: self.method.or_else(|| current.and_then(|c| c.method)),
            expected_status: match &self.expected_status {
                Some(expected) => expected.clone(),
                None => current.and_then(|c| c.expected_status.clone()),
            },
            headers: match &self.headers {
                Some(headers) => headers.clone(),
                None => current.map(|c| c.headers.clone()).unwrap_or_default(),
            },
            body: match &self.body {
                Some(body) => body.clone(),
                None => current.and_then(|c| c.body.clone()),
            },
            conditions: match &self.conditions {
                Some(conditions) => conditions.clone(),
                None => current.map(|c| c.conditions.clone()).unwrap_or_default(),
            },
            expected_version: match &self.expected_version {
                Some(expected) => expected.clone(),
                None => current.and_then(|c| c.expected_version.clone()),
            },
            version_source: match &self.version_source {
                Some(source) => source.clone(),
                None => current.and_then(|c| c.version_source.clone()),
            },
        })
    }
}

impl MonitorConfig {
    /// A new configuration from what a client sent, defaults for the rest.
    pub fn from_changes(changes: MonitorChanges) -> Result<Self, FieldError> {
        let name = changes
            .name
            .clone()
            .ok_or_else(|| FieldError::new("name", "is required"))?;
        let check = Check::parse(changes.check_fields(None)?)?;
        let interval_seconds = changes.interval_seconds.unwrap_or(IntervalSeconds::DEFAULT);
        let config = Self {
            name,
            check,
            interval_seconds,
            timeout_ms: changes
                .timeout_ms
                .unwrap_or_else(|| TimeoutMs::default_for(interval_seconds)),
            failure_threshold: changes
                .failure_threshold
                .unwrap_or(Threshold::DEFAULT_FAILURE),
            recovery_threshold: changes
                .recovery_threshold
                .unwrap_or(Threshold::DEFAULT_RECOVERY),
            tags: changes.tags.unwrap_or_default(),
        };
        config.check_timeout_fits_interval()?;
        Ok(config)
    }

    /// This configuration with `changes` laid over it.
    ///
    /// When only the interval shrinks below the current timeout, the timeout
    /// follows it down (as the default does); a timeout the client sent in the
    /// same change is never altered, it is refused instead.
    pub fn with_changes(&self, changes: MonitorChanges) -> Result<Self, FieldError> {
        let check = Check::parse(changes.check_fields(Some(self.check.fields()))?)?;
        let interval_seconds = changes.interval_seconds.unwrap_or(self.interval_seconds);
        let timeout_ms = changes
            .timeout_ms
            .unwrap_or_else(|| self.timeout_ms.capped_to(interval_seconds));
        let config = Self {
            name: changes.name.unwrap_or_else(|| self.name.clone()),
            check,
            interval_seconds,
            timeout_ms,
            failure_threshold: changes.failure_threshold.unwrap_or(self.failure_threshold),
            recovery_threshold: changes
                .recovery_threshold
                .unwrap_or(self.recovery_threshold),
            tags: changes.tags.unwrap_or_else(|| self.tags.clone()),
        };
        config.check_timeout_fits_interval()?;
        Ok(config)
    }

    /// Names of the fields whose values differ between `self` and `other`,
    /// in the contract's order.
    pub fn changed_fields(&self, other: &Self) -> Vec<&'static str> {
        let (check, other_check) = (self.check.fields(), other.check.fields());
        let checks = [
            ("name", self.name != other.name),
            ("url", check.url != other_check.url),
            ("method", check.method != other_check.method),
            (
                "interval_seconds",
                self.interval_seconds != other.interval_seconds,
            ),
            ("timeout_ms", self.timeout_ms != other.timeout_ms),
            (
                "expected_status",
                check.expected_status != other_check.expected_status,
            ),
            (
                "failure_threshold",
                self.failure_threshold != other.failure_threshold,
            ),
            (
                "recovery_threshold",
                self.recovery_threshold != other.recovery_threshold,
            ),
            ("tags", self.tags != other.tags),
            ("headers", check.headers != other_check.headers),
            ("body", check.body != other_check.body),
            ("conditions", check.conditions != other_check.conditions),
            (
                "expected_version",
                check.expected_version != other_check.expected_version,
            ),
            (
                "version_source",
                check.version_source != other_check.version_source,
            ),
        ];
        checks
            .into_iter()
            .filter_map(|(field, differs)| differs.then_some(field))
            .collect()
    }

    fn check_timeout_fits_interval(&self) -> Result<(), FieldError> {
        if u64::from(self.timeout_ms.get()) > self.interval_seconds.as_millis() {
            return Err(FieldError::new(
                "timeout_ms",
                format!(
                    "must not exceed the interval ({} ms), got {}",
                    self.interval_seconds.as_millis(),
                    self.timeout_ms.get()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn changes(name: &str, url: &str) -> MonitorChanges {
        MonitorChanges {
            name: Some(MonitorName::parse(name).unwrap()),
            url: Some(MonitorUrl::parse(url).unwrap()),
            ..MonitorChanges::default()
        }
    }

    #[test]
    fn registration_fills_the_contract_defaults() {
        let config = MonitorConfig::from_changes(changes("api", "http://a.example")).unwrap();
        let check = config.check.fields();
        assert_eq!(check.method, Some(HttpMethod::Get));
        assert_eq!(config.interval_seconds.get(), 60);
        assert_eq!(config.timeout_ms.get(), 5000);
        assert_eq!(check.expected_status, None);
        assert_eq!(config.failure_threshold.get(), 3);
        assert_eq!(config.recovery_threshold.get(), 1);
        assert_eq!(config.tags, Tags::default());
    }

    #[test]
    fn registration_requires_name_then_url() {
        let missing_both = MonitorConfig::from_changes(MonitorChanges::default()).unwrap_err();
        assert_eq!(missing_both.field, "name");
        let mut no_url = changes("api", "http://a.example");
        no_url.url = None;
        assert_eq!(
            MonitorConfig::from_changes(no_url).unwrap_err().field,
            "url"
        );
    }

    #[test]
    fn default_timeout_is_capped_to_a_short_interval() {
        let mut input = changes("api", "http://a.example");
        input.interval_seconds = Some(IntervalSeconds::parse(2).unwrap());
        let config = MonitorConfig::from_changes(input).unwrap();
        assert_eq!(config.timeout_ms.get(), 2000);
    }

    #[test]
    fn an_explicit_timeout_longer_than_the_interval_is_refused() {
        let mut input = changes("api", "http://a.example");
        input.interval_seconds = Some(IntervalSeconds::parse(1).unwrap());
        input.timeout_ms = Some(TimeoutMs::parse(1500).unwrap());
        assert_eq!(
            MonitorConfig::from_changes(input).unwrap_err().field,
            "timeout_ms"
        );
    }

    #[test]
    fn updates_keep_absent_fields_and_report_what_changed() {
        let config = MonitorConfig::from_changes(changes("api", "http://a.example")).unwrap();
        let update = MonitorChanges {
            failure_threshold: Some(Threshold::parse(5).unwrap()),
            expected_status: Some(Some(ExpectedStatuses::parse(&[204]).unwrap())),
            ..MonitorChanges::default()
        };
        let updated = config.with_changes(update).unwrap();
        assert_eq!(updated.name, config.name);
        assert_eq!(updated.failure_threshold.get(), 5);
        assert_eq!(
            config.changed_fields(&updated),
            vec!["expected_status", "failure_threshold"]
        );
        let cleared = updated
            .with_changes(MonitorChanges {
                expected_status: Some(None),
                ..MonitorChanges::default()
            })
            .unwrap();
        assert_eq!(cleared.check.fields().expected_status, None);
    }

    #[test]
    fn shrinking_the_interval_pulls_an_implicit_timeout_down() {
        let config = MonitorConfig::from_changes(changes("api", "http://a.example")).unwrap();
        let shorter = config
            .with_changes(MonitorChanges {
                interval_seconds: Some(IntervalSeconds::parse(3).unwrap()),
                ..MonitorChanges::default()
            })
            .unwrap();
        assert_eq!(shorter.timeout_ms.get(), 3000);

        let conflicting = config.with_changes(MonitorChanges {
            interval_seconds: Some(IntervalSeconds::parse(3).unwrap()),
            timeout_ms: Some(TimeoutMs::parse(4000).unwrap()),
            ..MonitorChanges::default()
        });
        assert_eq!(conflicting.unwrap_err().field, "timeout_ms");
    }

    #[test]
    fn configs_round_trip_through_json() {
        let config = MonitorConfig::from_changes(changes("api", "http://a.example")).unwrap();
        let json = serde_json::to_value(&config).unwrap();
        let back: MonitorConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, config);
    }
}

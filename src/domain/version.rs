//! Version drift: the version a monitor expects, where a probe reads the
//! version a service reports, and the rule that turns results into
//! `version_drift_detected` / `version_drift_resolved`, once per change.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::condition::{Evidence, Placeholder, parse_placeholder, read_text};
use super::fields::InvalidValue;

/// Longest version kept (expected or observed).
pub const MAX_VERSION_CHARS: usize = 128;

/// The version a service should report: 1–128 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExpectedVersion(String);

impl ExpectedVersion {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let chars = raw.chars().count();
        if chars == 0 || chars > MAX_VERSION_CHARS {
            return Err(InvalidValue(format!(
                "must be 1 to {MAX_VERSION_CHARS} characters, got {chars}"
            )));
        }
        if raw.chars().any(char::is_control) {
            return Err(InvalidValue("must not contain control characters".into()));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ExpectedVersion {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ExpectedVersion> for String {
    fn from(value: ExpectedVersion) -> Self {
        value.0
    }
}

/// Where a probe reads the reported version: a placeholder of the condition
/// grammar that yields a value (`[BODY].version` unless told otherwise).
#[derive(Debug, Clone)]
pub struct VersionSource {
    text: String,
    placeholder: Placeholder,
}

impl VersionSource {
    pub const DEFAULT: &str = "[BODY].version";

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let text = raw.trim();
        let placeholder = parse_placeholder(text)?;
        match placeholder {
            Placeholder::Body | Placeholder::BodyPath(_) | Placeholder::Header(_) => Ok(Self {
                text: text.to_owned(),
                placeholder,
            }),
            _ => Err(InvalidValue(format!(
                "`{text}` reports no version: use [BODY], [BODY].path or [HEADER].name"
            ))),
        }
    }

    /// `[BODY].version`, built once.
    pub fn default_source() -> &'static Self {
        static DEFAULT: std::sync::LazyLock<VersionSource> =
            std::sync::LazyLock::new(|| VersionSource {
                text: VersionSource::DEFAULT.to_owned(),
                placeholder: Placeholder::BodyPath(vec![super::condition::PathStep::Key(
                    "version".to_owned(),
                )]),
            });
        &DEFAULT
    }

    pub fn needs_body(&self) -> bool {
        matches!(
            self.placeholder,
            Placeholder::Body | Placeholder::BodyPath(_)
        )
    }

    /// The version the answer reports, trimmed and bounded; none when the
    /// placeholder has no value.
    pub fn read(&self, seen: &Evidence<'_>) -> Option<String> {
        let text = read_text(&self.placeholder, seen)?;
        let text = text.trim();
        (!text.is_empty()).then(|| text.chars().take(MAX_VERSION_CHARS).collect())
    }
}

impl PartialEq for VersionSource {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for VersionSource {}

impl fmt::Display for VersionSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for VersionSource {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for VersionSource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(|e| serde::de::Error::custom(e.0))
    }
}

/// A change of a monitor's drift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriftChange {
    /// The observed version differs from the expected one, newly.
    Detected { expected: String, observed: String },
    /// The observed version matches again (or nothing is expected any more).
    Resolved { expected: String, observed: String },
}

/// What one result means for a monitor that is `drifting` (or not): a change,
/// only when the drift starts or ends. A result that reports no version
/// tells nothing.
pub fn drift_change(
    expected: Option<&str>,
    drifting: bool,
    observed: Option<&str>,
) -> Option<DriftChange> {
    let observed = observed?;
    let (expected, differs) = match expected {
        Some(expected) => (expected, observed != expected),
        // Nothing expected any more: a drift in hand ends.
        None => ("", false),
    };
    match (drifting, differs) {
        (false, true) => Some(DriftChange::Detected {
            expected: expected.to_owned(),
            observed: observed.to_owned(),
        }),
        (true, false) => Some(DriftChange::Resolved {
            expected: expected.to_owned(),
            observed: observed.to_owned(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_is_detected_once_and_resolved_once_across_many_results() {
        let expected = Some("2.0.0");
        let observed = ["2.0.0", "1.9.0", "1.9.0", "1.9.1", "2.0.0", "2.0.0"];
        let mut drifting = false;
        let mut changes = Vec::new();
        for seen in observed {
            if let Some(change) = drift_change(expected, drifting, Some(seen)) {
                drifting = matches!(change, DriftChange::Detected { .. });
                changes.push(change);
            }
        }
        assert_eq!(
            changes,
            [
                DriftChange::Detected {
                    expected: "2.0.0".into(),
                    observed: "1.9.0".into()
                },
                DriftChange::Resolved {
                    expected: "2.0.0".into(),
                    observed: "2.0.0".into()
                },
            ]
        );
    }

    #[test]
    fn no_version_tells_nothing_and_no_expectation_ends_a_drift() {
        assert_eq!(drift_change(Some("2"), false, None), None);
        assert_eq!(drift_change(Some("2"), true, None), None);
        assert_eq!(drift_change(None, false, Some("1")), None);
        assert!(matches!(
            drift_change(None, true, Some("1")),
            Some(DriftChange::Resolved { .. })
        ));
    }

    #[test]
    fn a_version_source_is_a_placeholder_that_reports_text() {
        assert!(VersionSource::parse("[BODY].build.version").is_ok());
        assert!(VersionSource::parse("[HEADER].x-version").is_ok());
        assert!(VersionSource::parse("[STATUS]").is_err());
        assert!(VersionSource::parse("version").is_err());
        assert_eq!(
            VersionSource::default_source(),
            &VersionSource::parse("[BODY].version").unwrap()
        );
        let headers = vec![("x-version".to_owned(), " 3.1 ".to_owned())];
        let seen = Evidence {
            body: Some(r#"{"version": "2.0.0", "n": 7}"#),
            headers: &headers,
            ..Evidence::default()
        };
        assert_eq!(
            VersionSource::default_source().read(&seen).as_deref(),
            Some("2.0.0")
        );
        assert_eq!(
            VersionSource::parse("[HEADER].X-Version")
                .unwrap()
                .read(&seen)
                .as_deref(),
            Some("3.1")
        );
        assert_eq!(
            VersionSource::parse("[BODY].n")
                .unwrap()
                .read(&seen)
                .as_deref(),
            Some("7")
        );
        assert_eq!(
            VersionSource::parse("[BODY].missing").unwrap().read(&seen),
            None
        );
        assert!(ExpectedVersion::parse("").is_err());
        assert!(ExpectedVersion::parse(&"v".repeat(129)).is_err());
    }

    #[test]
    fn only_a_body_source_needs_the_body_read() {
        assert!(VersionSource::default_source().needs_body());
        assert!(VersionSource::parse("[BODY]").unwrap().needs_body());
        assert!(
            !VersionSource::parse("[HEADER].x-version")
                .unwrap()
                .needs_body()
        );
    }

    #[test]
    fn a_version_source_is_known_by_its_trimmed_text() {
        let source = VersionSource::parse("  [HEADER].x-version ").unwrap();
        assert_eq!(source.to_string(), "[HEADER].x-version");
        assert_eq!(source, VersionSource::parse("[HEADER].x-version").unwrap());
        assert_ne!(source, *VersionSource::default_source());
    }

    #[test]
    fn an_expected_version_is_kept_as_given_up_to_its_limit() {
        let longest = "v".repeat(MAX_VERSION_CHARS);
        assert_eq!(ExpectedVersion::parse(&longest).unwrap().as_str(), longest);
        assert!(
            ExpectedVersion::parse("2.0\u{7}").is_err(),
            "a control character"
        );
        let json = serde_json::to_string(&ExpectedVersion::parse("2.0.0").unwrap()).unwrap();
        assert_eq!(json, r#""2.0.0""#);
        let back: ExpectedVersion = serde_json::from_str(&json).unwrap();
        assert_eq!(back.as_str(), "2.0.0");
        assert!(serde_json::from_str::<ExpectedVersion>(r#""""#).is_err());
    }
}

//! Newtypes for every writable monitor field. Each can only be built valid:
//! `parse` is the one way in, and deserialisation goes through it too.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Whether `name` is an HTTP header name: one or more token characters.
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// Why a single value was refused; the caller attaches the field name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

impl InvalidValue {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// A monitor's display name: 1–100 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MonitorName(String);

impl MonitorName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        let chars = trimmed.chars().count();
        if chars == 0 {
            return Err(InvalidValue::new("must not be empty"));
        }
        if chars > Self::MAX_CHARS {
            return Err(InvalidValue::new(format!(
                "must be at most {} characters, got {chars}",
                Self::MAX_CHARS
            )));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(InvalidValue::new("must not contain control characters"));
        }
        Ok(Self(trimmed.to_owned()))
    }
}

impl AsRef<str> for MonitorName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MonitorName {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<MonitorName> for String {
    fn from(value: MonitorName) -> Self {
        value.0
    }
}

/// The probed address: an absolute URL with a host, kept parsed so that a
/// probe does not parse it again. Which schemes are checked, and how, is the
/// check's business (`domain::check`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MonitorUrl(url::Url);

impl MonitorUrl {
    pub const MAX_LEN: usize = 2048;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if raw.len() > Self::MAX_LEN {
            return Err(InvalidValue::new(format!(
                "must be at most {} characters",
                Self::MAX_LEN
            )));
        }
        let parsed = url::Url::parse(raw)
            .map_err(|e| InvalidValue::new(format!("is not an absolute URL: {e}")))?;
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(InvalidValue::new("must have a host"));
        }
        // The normalised form (lower-case host, default path) is what gets probed.
        if parsed.as_str().len() > Self::MAX_LEN {
            return Err(InvalidValue::new(format!(
                "must be at most {} characters",
                Self::MAX_LEN
            )));
        }
        Ok(Self(parsed))
    }

    pub fn as_url(&self) -> &url::Url {
        &self.0
    }
}

impl AsRef<str> for MonitorUrl {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl TryFrom<String> for MonitorUrl {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<MonitorUrl> for String {
    fn from(value: MonitorUrl) -> Self {
        value.0.into()
    }
}

/// The HTTP method a probe uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum HttpMethod {
    #[default]
    Get,
    Head,
    Post,
}

impl HttpMethod {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        match raw {
            "GET" => Ok(Self::Get),
            "HEAD" => Ok(Self::Head),
            "POST" => Ok(Self::Post),
            other => Err(InvalidValue::new(format!(
                "must be GET, HEAD or POST, got `{other}`"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
        }
    }
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for HttpMethod {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<HttpMethod> for String {
    fn from(value: HttpMethod) -> Self {
        value.as_str().to_owned()
    }
}

/// Declares a newtype over an integer that only holds values in `MIN..=MAX`.
macro_rules! bounded_integer {
    ($(#[$doc:meta])* $name:ident, $inner:ty, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "i64", into = "i64")]
        pub struct $name($inner);

        impl $name {
            pub const MIN: $inner = $min;
            pub const MAX: $inner = $max;

            pub fn parse(raw: i64) -> Result<Self, InvalidValue> {
                if raw < i64::from(Self::MIN) || raw > i64::from(Self::MAX) {
                    return Err(InvalidValue::new(format!(
                        "must be between {} and {}, got {raw}",
                        Self::MIN,
                        Self::MAX
                    )));
                }
                <$inner>::try_from(raw)
                    .map(Self)
                    .map_err(|_| InvalidValue::new(format!("{raw} is out of range")))
            }

            pub fn get(self) -> $inner {
                self.0
            }
        }

        impl TryFrom<i64> for $name {
            type Error = InvalidValue;
            fn try_from(value: i64) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }

        impl From<$name> for i64 {
            fn from(value: $name) -> Self {
                i64::from(value.0)
            }
        }
    };
}

bounded_integer!(
    /// Seconds between two probes of a monitor.
    IntervalSeconds, u32, 1, 86_400
);
bounded_integer!(
    /// How long one probe may take, in milliseconds. That it fits inside the
    /// interval is a rule of the whole configuration, see `MonitorConfig`.
    TimeoutMs, u32, 100, 60_000
);
bounded_integer!(
    /// How many consecutive results of one kind it takes to change status.
    Threshold, u8, 1, 100
);

impl IntervalSeconds {
    pub const DEFAULT: Self = Self(60);

    pub fn as_millis(self) -> u64 {
        u64::from(self.0) * 1000
    }
}

impl TimeoutMs {
    pub const DEFAULT: Self = Self(5_000);

    /// The default timeout, shortened to fit an interval shorter than it.
    pub fn default_for(interval: IntervalSeconds) -> Self {
        Self::DEFAULT.capped_to(interval)
    }

    /// This timeout, shortened to the interval if it is longer. The result is
    /// still in range: the shortest interval is longer than the shortest timeout.
    pub fn capped_to(self, interval: IntervalSeconds) -> Self {
        let cap = u32::try_from(interval.as_millis()).unwrap_or(u32::MAX);
        Self(self.0.min(cap))
    }
}

impl Threshold {
    pub const DEFAULT_FAILURE: Self = Self(3);
    pub const DEFAULT_RECOVERY: Self = Self(1);
}

/// HTTP statuses that count as up, instead of "any 2xx".
/// Kept sorted and free of duplicates so equal sets compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<i64>", into = "Vec<i64>")]
pub struct ExpectedStatuses(Vec<u16>);

impl ExpectedStatuses {
    pub fn parse(raw: &[i64]) -> Result<Self, InvalidValue> {
        if raw.is_empty() {
            return Err(InvalidValue::new(
                "must list at least one status, or be null for any 2xx",
            ));
        }
        let mut codes = raw
            .iter()
            .map(|&code| {
                u16::try_from(code)
                    .ok()
                    .filter(|c| (100..=599).contains(c))
                    .ok_or_else(|| {
                        InvalidValue::new(format!(
                            "each status must be between 100 and 599, got {code}"
                        ))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        codes.sort_unstable();
        codes.dedup();
        Ok(Self(codes))
    }

    pub fn codes(&self) -> &[u16] {
        &self.0
    }

    pub fn contains(&self, status: u16) -> bool {
        self.0.binary_search(&status).is_ok()
    }
}

impl TryFrom<Vec<i64>> for ExpectedStatuses {
    type Error = InvalidValue;
    fn try_from(value: Vec<i64>) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ExpectedStatuses> for Vec<i64> {
    fn from(value: ExpectedStatuses) -> Self {
        value.0.into_iter().map(i64::from).collect()
    }
}

/// One label used to group and filter monitors: 1–64 chars of `[a-z0-9_.:-]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Tag(String);

impl Tag {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if raw.is_empty() || raw.len() > Self::MAX_CHARS {
            return Err(InvalidValue::new(format!(
                "each tag must be 1 to {} characters",
                Self::MAX_CHARS
            )));
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '.' | ':' | '-'))
        {
            return Err(InvalidValue::new(format!(
                "tag `{raw}` has `{bad}`; allowed are a-z, 0-9, _ . : -"
            )));
        }
        Ok(Self(raw.to_owned()))
    }
}

impl AsRef<str> for Tag {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Tag {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Tag> for String {
    fn from(value: Tag) -> Self {
        value.0
    }
}

/// A monitor's tags: at most 20, duplicates dropped, first occurrence kept.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Tags(Vec<Tag>);

impl Tags {
    pub const MAX_COUNT: usize = 20;

    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, InvalidValue> {
        let mut tags: Vec<Tag> = Vec::with_capacity(raw.len());
        for item in raw {
            let tag = Tag::parse(item.as_ref())?;
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        if tags.len() > Self::MAX_COUNT {
            return Err(InvalidValue::new(format!(
                "at most {} tags, got {}",
                Self::MAX_COUNT,
                tags.len()
            )));
        }
        Ok(Self(tags))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Tag> {
        self.0.iter()
    }

    pub fn contains(&self, tag: &Tag) -> bool {
        self.0.contains(tag)
    }
}

impl TryFrom<Vec<String>> for Tags {
    type Error = InvalidValue;
    fn try_from(value: Vec<String>) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Tags> for Vec<String> {
    fn from(value: Tags) -> Self {
        value.0.into_iter().map(String::from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(MonitorName::parse("  api  ").unwrap().as_ref(), "api");
        assert!(MonitorName::parse("   ").is_err());
        assert!(MonitorName::parse("").is_err());
        assert!(MonitorName::parse(&"é".repeat(100)).is_ok());
        assert!(MonitorName::parse(&"é".repeat(101)).is_err());
        assert!(MonitorName::parse("a\u{0}b").is_err());
    }

    #[test]
    fn urls_must_be_absolute_with_a_host() {
        for ok in [
            "http://example.com",
            "https://example.com:8443/health?x=1",
            "http://127.0.0.1:9/",
        ] {
            assert!(MonitorUrl::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "example.com",
            "/health",
            "file:///etc/passwd",
            "http://",
            "mailto:a@b.c",
        ] {
            assert!(MonitorUrl::parse(bad).is_err(), "{bad}");
        }
        let long = format!("http://example.com/{}", "a".repeat(2048));
        assert!(MonitorUrl::parse(&long).is_err());
    }

    #[test]
    fn a_url_may_be_2048_characters_as_given_and_as_normalised() {
        let at_most = format!(
            "http://example.com/{}",
            "a".repeat(MonitorUrl::MAX_LEN - 19)
        );
        assert_eq!(at_most.len(), MonitorUrl::MAX_LEN);
        assert_eq!(MonitorUrl::parse(&at_most).unwrap().as_ref(), at_most);
        // Normalising adds the path: one character over.
        let grows = format!(
            "http://example.com?{}",
            "a".repeat(MonitorUrl::MAX_LEN - 19)
        );
        assert_eq!(grows.len(), MonitorUrl::MAX_LEN);
        assert_eq!(
            MonitorUrl::parse(&grows).unwrap_err().0,
            "must be at most 2048 characters"
        );
        // Too long as given, though it normalises to `http://example.com/b`.
        let shrinks = format!("http://example.com/{}b", "a/../".repeat(410));
        assert!(shrinks.len() > MonitorUrl::MAX_LEN);
        assert!(MonitorUrl::parse(&shrinks).is_err());
    }

    #[test]
    fn method_is_get_head_or_post_exactly() {
        assert_eq!(HttpMethod::parse("GET").unwrap(), HttpMethod::Get);
        assert_eq!(HttpMethod::parse("HEAD").unwrap(), HttpMethod::Head);
        assert_eq!(HttpMethod::parse("POST").unwrap(), HttpMethod::Post);
        assert_eq!(HttpMethod::Head.to_string(), "HEAD");
        for bad in ["get", "post", "", "DELETE", "PUT"] {
            assert!(HttpMethod::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bounded_integers_hold_their_ranges() {
        assert!(IntervalSeconds::parse(0).is_err());
        assert!(IntervalSeconds::parse(1).is_ok());
        assert!(IntervalSeconds::parse(86_400).is_ok());
        assert!(IntervalSeconds::parse(86_401).is_err());
        assert!(TimeoutMs::parse(99).is_err());
        assert!(TimeoutMs::parse(100).is_ok());
        assert!(TimeoutMs::parse(60_000).is_ok());
        assert!(TimeoutMs::parse(60_001).is_err());
        assert!(Threshold::parse(0).is_err());
        assert!(Threshold::parse(100).is_ok());
        assert!(Threshold::parse(101).is_err());
        assert!(Threshold::parse(i64::MIN).is_err());
    }

    #[test]
    fn default_timeout_is_capped_to_short_intervals() {
        let one_second = IntervalSeconds::parse(1).unwrap();
        assert_eq!(TimeoutMs::default_for(one_second).get(), 1000);
        assert_eq!(TimeoutMs::default_for(IntervalSeconds::DEFAULT).get(), 5000);
    }

    #[test]
    fn expected_statuses_are_sorted_unique_and_in_range() {
        let parsed = ExpectedStatuses::parse(&[301, 200, 200]).unwrap();
        assert_eq!(parsed.codes(), &[200, 301]);
        assert!(parsed.contains(301));
        assert!(!parsed.contains(204));
        assert!(ExpectedStatuses::parse(&[]).is_err());
        assert!(ExpectedStatuses::parse(&[99]).is_err());
        assert!(ExpectedStatuses::parse(&[600]).is_err());
    }

    #[test]
    fn tags_follow_the_alphabet_and_count_rules() {
        assert!(Tags::parse(&["prod", "team:payments", "eu-west.1_a"]).is_ok());
        for bad in ["Prod", "", "with space", "ünï", &"a".repeat(65)] {
            assert!(Tags::parse(&[bad]).is_err(), "{bad}");
        }
        let twenty: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
        assert!(Tags::parse(&twenty).is_ok());
        let twenty_one: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(Tags::parse(&twenty_one).is_err());
        let duplicated = Tags::parse(&["b", "a", "b"]).unwrap();
        assert!(duplicated.contains(&Tag::parse("a").unwrap()));
        assert!(!duplicated.contains(&Tag::parse("c").unwrap()));
        assert_eq!(Vec::<String>::from(duplicated), vec!["b", "a"]);
    }

    #[test]
    fn tags_read_from_json_by_the_same_rules() {
        let read: Tags = serde_json::from_str(r#"["b", "a", "b"]"#).unwrap();
        assert_eq!(read, Tags::parse(&["b", "a"]).unwrap());
        assert!(serde_json::from_str::<Tags>(r#"["Prod"]"#).is_err());
    }

    proptest! {
        #[test]
        fn any_valid_tag_round_trips(tag in "[a-z0-9_.:-]{1,64}") {
            let parsed = Tag::parse(&tag).unwrap();
            prop_assert_eq!(parsed.as_ref(), tag.as_str());
        }

        #[test]
        fn names_never_exceed_the_limit(raw in "\\PC{0,150}") {
            if let Ok(name) = MonitorName::parse(&raw) {
                let chars = name.as_ref().chars().count();
                prop_assert!((1..=MonitorName::MAX_CHARS).contains(&chars));
                prop_assert_eq!(name.as_ref(), raw.trim());
            }
        }

        #[test]
        fn intervals_accept_exactly_their_range(raw in any::<i64>()) {
            prop_assert_eq!(IntervalSeconds::parse(raw).is_ok(), (1..=86_400).contains(&raw));
        }

        #[test]
        fn parsed_urls_have_a_host_and_stay_bounded(raw in "(https?|ftp)://[a-z0-9.]{0,20}(:[0-9]{1,5})?(/[a-z]{0,10})?") {
            if let Ok(url) = MonitorUrl::parse(&raw) {
                prop_assert!(url.as_url().host_str().is_some_and(|h| !h.is_empty()));
                prop_assert!(url.as_ref().len() <= MonitorUrl::MAX_LEN);
            }
        }
    }
}

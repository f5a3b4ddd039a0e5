//! Conditions on a probe's answer: `PLACEHOLDER OP VALUE`, parsed once at the
//! edge (a monitor holds parsed conditions) and evaluated against what a
//! probe saw. Pure: no I/O, no clocks.
//!
//! Placeholders: `[STATUS]`, `[RESPONSE_TIME]` (ms), `[BODY]`, `[BODY].a.b[0]`,
//! `[HEADER].name`, `[CONNECTED]`, `[CERTIFICATE_EXPIRATION]`. Operators: `==`
//! `!=` `<` `<=` `>` `>=` `contains` `!contains`. Values: integers, decimals,
//! durations (`500ms`, `90s`, `30m`, `72h`, `14d`), `true`/`false`, strings
//! (bare or in double quotes).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::fields::{InvalidValue, is_header_name};

/// Most conditions one monitor may carry.
pub const MAX_CONDITIONS: usize = 20;
/// Longest condition text accepted.
const MAX_LEN: usize = 1024;

/// What a condition reads from a probe's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placeholder {
    Status,
    ResponseTime,
    Body,
    /// A JSON value inside the body.
    BodyPath(Vec<PathStep>),
    /// A response header, by lower-cased name.
    Header(String),
    Connected,
    CertificateExpiration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    NotContains,
}

impl Operator {
    const ALL: [(&'static str, Self); 8] = [
        ("==", Self::Eq),
        ("!=", Self::Ne),
        ("<=", Self::Le),
        (">=", Self::Ge),
        ("<", Self::Lt),
        (">", Self::Gt),
        ("contains", Self::Contains),
        ("!contains", Self::NotContains),
    ];

    fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(text, _)| *text == raw)
            .map(|(_, op)| *op)
    }

    fn is_ordering(self) -> bool {
        matches!(self, Self::Lt | Self::Le | Self::Gt | Self::Ge)
    }
}

/// The value on the right.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Number(f64),
    Duration(Duration),
    Bool(bool),
    Text(String),
}

impl Literal {
    fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if let Some(quoted) = raw.strip_prefix('"') {
            let inner = quoted
                .strip_suffix('"')
                .ok_or_else(|| InvalidValue("a quoted value must end with `\"`".into()))?;
            return Ok(Self::Text(inner.to_owned()));
        }
        if raw.chars().any(char::is_whitespace) {
            return Err(InvalidValue(
                "a value with spaces must be in double quotes".into(),
            ));
        }
        Ok(match raw {
            "true" => Self::Bool(true),
            "false" => Self::Bool(false),
            _ => {
                if let Some(duration) = parse_duration(raw) {
                    Self::Duration(duration)
                } else if let Some(number) = parse_number(raw) {
                    Self::Number(number)
                } else {
                    Self::Text(raw.to_owned())
                }
            }
        })
    }

    fn as_text(&self) -> String {
        match self {
            Self::Number(n) => format_number(*n),
            Self::Duration(d) => format_duration(*d),
            Self::Bool(b) => b.to_string(),
            Self::Text(t) => t.clone(),
        }
    }

    /// The value as a number of the placeholder's unit (durations in ms).
    fn as_number(&self) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            Self::Duration(d) => Some(d.as_secs_f64() * 1000.0),
            _ => None,
        }
    }
}

fn parse_number(raw: &str) -> Option<f64> {
    let looks_numeric = raw
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.'))
        && raw.chars().any(|c| c.is_ascii_digit());
    looks_numeric
        .then(|| raw.parse::<f64>().ok())
        .flatten()
        .filter(|n| n.is_finite())
}

fn parse_duration(raw: &str) -> Option<Duration> {
    let split = raw.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = raw.split_at(split);
    let amount: u64 = digits.parse().ok()?;
    let seconds = match unit {
        "ms" => return Some(Duration::from_millis(amount)),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    amount.checked_mul(seconds).map(Duration::from_secs)
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// `36h`, `2d3h`, `90s`, `250ms`: compact, largest units first.
fn format_duration(d: Duration) -> String {
    let mut seconds = d.as_secs();
    if seconds == 0 {
        return format!("{}ms", d.as_millis());
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if seconds >= size {
            out.push_str(&format!("{}{unit}", seconds / size));
            seconds %= size;
        }
    }
    out
}

/// One parsed condition; it keeps its text, which is how it is stored,
/// compared and shown.
#[derive(Debug, Clone)]
pub struct Condition {
    text: String,
    placeholder: Placeholder,
    operator: Operator,
    value: Literal,
}

impl PartialEq for Condition {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Condition {}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Condition {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(|e| serde::de::Error::custom(e.0))
    }
}

impl Condition {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(InvalidValue("must not be empty".into()));
        }
        if text.len() > MAX_LEN || text.chars().any(char::is_control) {
            return Err(InvalidValue(format!(
                "must be at most {MAX_LEN} characters, without control characters"
            )));
        }
        let (placeholder_text, rest) = text
            .split_once(char::is_whitespace)
            .ok_or_else(|| InvalidValue("must be `PLACEHOLDER OPERATOR VALUE`".into()))?;
        let rest = rest.trim_start();
        let (operator_text, value_text) = rest
            .split_once(char::is_whitespace)
            .map(|(op, value)| (op, value.trim()))
            .ok_or_else(|| InvalidValue("must be `PLACEHOLDER OPERATOR VALUE`".into()))?;
        let placeholder = parse_placeholder(placeholder_text)?;
        let operator = Operator::parse(operator_text).ok_or_else(|| {
            InvalidValue(format!(
                "`{operator_text}` is not an operator (==, !=, <, <=, >, >=, contains, !contains)"
            ))
        })?;
        if value_text.is_empty() {
            return Err(InvalidValue("has no value after the operator".into()));
        }
        let value = Literal::parse(value_text)?;
        check_types(&placeholder, operator, &value, placeholder_text)?;
        Ok(Self {
            text: format!("{placeholder_text} {operator_text} {value_text}"),
            placeholder,
            operator,
            value,
        })
    }

    pub fn placeholder(&self) -> &Placeholder {
        &self.placeholder
    }

    /// Whether evaluating it needs the response body.
    pub fn needs_body(&self) -> bool {
        matches!(
            self.placeholder,
            Placeholder::Body | Placeholder::BodyPath(_)
        )
    }

    /// Whether it holds for what the probe saw; the failure says what was seen.
    pub fn evaluate(&self, seen: &Evidence<'_>) -> Result<(), ConditionFailed> {
        let actual = resolve(&self.placeholder, seen);
        if compare(actual.as_ref(), self.operator, &self.value) {
            return Ok(());
        }
        Err(ConditionFailed {
            condition: self.text.clone(),
            got: actual.map(|a| a.shown()),
        })
    }
}

/// Which placeholders go with which operators and values: caught at parse
/// time, so a monitor never holds a condition that can never hold.
fn check_types(
    placeholder: &Placeholder,
    operator: Operator,
    value: &Literal,
    name: &str,
) -> Result<(), InvalidValue> {
    let numeric_value = value.as_number().is_some();
    let refuse = |what: &str| Err(InvalidValue(format!("{name} {what}")));
    match placeholder {
        Placeholder::Status | Placeholder::ResponseTime | Placeholder::CertificateExpiration => {
            if matches!(operator, Operator::Contains | Operator::NotContains) {
                return refuse("is a number: use ==, !=, <, <=, > or >=");
            }
            if !numeric_value {
                return refuse("must be compared with a number or a duration");
            }
            if *placeholder == Placeholder::Status && matches!(value, Literal::Duration(_)) {
                return refuse("is a status code, not a duration");
            }
        }
        Placeholder::Connected => {
            if !matches!(operator, Operator::Eq | Operator::Ne)
                || !matches!(value, Literal::Bool(_))
            {
                return refuse("must be compared with == or != to true or false");
            }
        }
        Placeholder::Body | Placeholder::BodyPath(_) | Placeholder::Header(_) => {
            if operator.is_ordering() && !numeric_value {
                return refuse("can only be ordered against a number");
            }
        }
    }
    Ok(())
}

pub(super) fn parse_placeholder(raw: &str) -> Result<Placeholder, InvalidValue> {
    let unknown = || {
        InvalidValue(format!(
            "`{raw}` is not a placeholder ([STATUS], [RESPONSE_TIME], [BODY], [BODY].path, \
             [HEADER].name, [CONNECTED], [CERTIFICATE_EXPIRATION])"
        ))
    };
    match raw {
        "[STATUS]" => return Ok(Placeholder::Status),
        "[RESPONSE_TIME]" => return Ok(Placeholder::ResponseTime),
        "[BODY]" => return Ok(Placeholder::Body),
        "[CONNECTED]" => return Ok(Placeholder::Connected),
        "[CERTIFICATE_EXPIRATION]" => return Ok(Placeholder::CertificateExpiration),
        _ => {}
    }
    if let Some(name) = raw.strip_prefix("[HEADER].") {
        return if is_header_name(name) {
            Ok(Placeholder::Header(name.to_ascii_lowercase()))
        } else {
            Err(InvalidValue(format!("`{name}` is not a header name")))
        };
    }
    if let Some(path) = raw.strip_prefix("[BODY]") {
        return parse_path(path).map(Placeholder::BodyPath);
    }
    Err(unknown())
}

/// `.a.b[0].c` or `[0].a`.
fn parse_path(raw: &str) -> Result<Vec<PathStep>, InvalidValue> {
    let bad = || {
        InvalidValue(format!(
            "`[BODY]{raw}` is not a JSON path such as [BODY].a.b[0]"
        ))
    };
    let mut steps = Vec::new();
    let mut rest = raw;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let key = &after[..end];
            if key.is_empty() {
                return Err(bad());
            }
            steps.push(PathStep::Key(key.to_owned()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or_else(bad)?;
            let index = after[..end].parse::<usize>().map_err(|_| bad())?;
            steps.push(PathStep::Index(index));
            rest = &after[end + 1..];
        } else {
            return Err(bad());
        }
    }
    if steps.is_empty() {
        return Err(bad());
    }
    Ok(steps)
}

/// What a probe saw, for conditions to read.
#[derive(Debug, Clone, Default)]
pub struct Evidence<'a> {
    pub status: Option<u16>,
    pub response_time_ms: u32,
    /// The body as text (its first 64 KiB), when it was read.
    pub body: Option<&'a str>,
    /// Response headers, names lower-cased.
    pub headers: &'a [(String, String)],
    pub connected: bool,
    /// Time left on the leaf certificate.
    pub certificate_expires_in: Option<Duration>,
}

/// A value read from the evidence.
#[derive(Debug, Clone, PartialEq)]
enum Actual {
    Number(f64),
    /// Milliseconds.
    Duration(f64),
    Bool(bool),
    Text(String),
}

impl Actual {
    fn as_number(&self) -> Option<f64> {
        match self {
            Self::Number(n) | Self::Duration(n) => Some(*n),
            Self::Text(t) => parse_number(t.trim()),
            Self::Bool(_) => None,
        }
    }

    fn as_text(&self) -> String {
        match self {
            Self::Number(n) => format_number(*n),
            Self::Duration(ms) => format_number(*ms),
            Self::Bool(b) => b.to_string(),
            Self::Text(t) => t.clone(),
        }
    }

    /// How a failure shows it: bounded, durations readable.
    fn shown(&self) -> String {
        let mut text = match self {
            Self::Duration(ms) if *ms >= 1000.0 => {
                format_duration(Duration::from_millis(*ms as u64))
            }
            other => other.as_text(),
        };
        if text.chars().count() > 100 {
            text = text.chars().take(100).collect::<String>() + "…";
        }
        text
    }
}

/// What `placeholder` reads from `seen`, as text.
pub(super) fn read_text(placeholder: &Placeholder, seen: &Evidence<'_>) -> Option<String> {
    resolve(placeholder, seen).map(|actual| actual.as_text())
}

fn resolve(placeholder: &Placeholder, seen: &Evidence<'_>) -> Option<Actual> {
    match placeholder {
        Placeholder::Status => seen.status.map(|s| Actual::Number(f64::from(s))),
        Placeholder::ResponseTime => Some(Actual::Duration(f64::from(seen.response_time_ms))),
        Placeholder::Body => seen.body.map(|b| Actual::Text(b.to_owned())),
        Placeholder::BodyPath(path) => {
            let json: serde_json::Value = serde_json::from_str(seen.body?).ok()?;
            let mut node = &json;
            for step in path {
                node = match step {
                    PathStep::Key(key) => node.get(key)?,
                    PathStep::Index(index) => node.get(index)?,
                };
            }
            Some(match node {
                serde_json::Value::Number(n) => Actual::Number(n.as_f64()?),
                serde_json::Value::Bool(b) => Actual::Bool(*b),
                serde_json::Value::String(s) => Actual::Text(s.clone()),
                other => Actual::Text(other.to_string()),
            })
        }
        Placeholder::Header(name) => seen
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| Actual::Text(v.clone())),
        Placeholder::Connected => Some(Actual::Bool(seen.connected)),
        Placeholder::CertificateExpiration => seen
            .certificate_expires_in
            .map(|d| Actual::Duration(d.as_secs_f64() * 1000.0)),
    }
}

fn compare(actual: Option<&Actual>, operator: Operator, value: &Literal) -> bool {
    let Some(actual) = actual else {
        return false;
    };
    let numbers = actual.as_number().zip(value.as_number());
    match operator {
        Operator::Contains => actual.as_text().contains(&value.as_text()),
        Operator::NotContains => !actual.as_text().contains(&value.as_text()),
        Operator::Eq | Operator::Ne => {
            let equal = match (actual, value, numbers) {
                (_, _, Some((a, b))) => a == b,
                _ => actual.as_text() == value.as_text(),
            };
            equal == (operator == Operator::Eq)
        }
        Operator::Lt | Operator::Le | Operator::Gt | Operator::Ge => {
            let Some((a, b)) = numbers else {
                return false;
            };
            match operator {
                Operator::Lt => a < b,
                Operator::Le => a <= b,
                Operator::Gt => a > b,
                _ => a >= b,
            }
        }
    }
}

/// A condition that did not hold, and what was seen instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionFailed {
    pub condition: String,
    /// `None`: the placeholder had no value (no such path, no such header).
    pub got: Option<String>,
}

impl fmt::Display for ConditionFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.got {
            Some(got) => write!(f, "condition failed: {} (got {got})", self.condition),
            None => write!(f, "condition failed: {} (got nothing)", self.condition),
        }
    }
}

/// A monitor's conditions: at most `MAX_CONDITIONS`, each checked on every
/// result, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Condition>", into = "Vec<Condition>")]
pub struct Conditions(Vec<Condition>);

impl Conditions {
    /// Every condition of `raw`; the error gives the index of the first bad one.
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, (Option<usize>, InvalidValue)> {
        if raw.len() > MAX_CONDITIONS {
            return Err((
                None,
                InvalidValue(format!(
                    "at most {MAX_CONDITIONS} conditions, got {}",
                    raw.len()
                )),
            ));
        }
        raw.iter()
            .enumerate()
            .map(|(i, text)| Condition::parse(text.as_ref()).map_err(|e| (Some(i), e)))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Condition> {
        self.0.iter()
    }

    /// Whether any condition reads the body.
    pub fn need_body(&self) -> bool {
        self.0.iter().any(Condition::needs_body)
    }

    /// Every condition in order; the first that fails.
    pub fn evaluate(&self, seen: &Evidence<'_>) -> Result<(), ConditionFailed> {
        self.0.iter().try_for_each(|c| c.evaluate(seen))
    }
}

impl TryFrom<Vec<Condition>> for Conditions {
    type Error = String;
    fn try_from(value: Vec<Condition>) -> Result<Self, Self::Error> {
        if value.len() > MAX_CONDITIONS {
            return Err(format!("at most {MAX_CONDITIONS} conditions"));
        }
        Ok(Self(value))
    }
}

impl From<Conditions> for Vec<Condition> {
    fn from(value: Conditions) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn evidence<'a>(body: &'a str, headers: &'a [(String, String)]) -> Evidence<'a> {
        Evidence {
            status: Some(200),
            response_time_ms: 250,
            body: Some(body),
            headers,
            connected: true,
            certificate_expires_in: Some(Duration::from_secs(36 * 3600)),
        }
    }

    #[test]
    fn every_placeholder_and_operator_passes_and_fails_as_written() {
        let headers = vec![(
            "content-type".to_owned(),
            "application/json; charset=utf-8".to_owned(),
        )];
        let body = r#"{"status": "UP", "version": "1.4.2", "db": {"pool": [3, 7]}, "ok": true, "load": 0.75}"#;
        let seen = evidence(body, &headers);
        let cases = [
            ("[STATUS] == 200", true),
            ("[STATUS] != 200", false),
            ("[STATUS] < 300", true),
            ("[STATUS] >= 500", false),
            ("[STATUS] < 200", false),
            ("[STATUS] > 200", false),
            ("[STATUS] > 199", true),
            ("[RESPONSE_TIME] <= 300", true),
            ("[RESPONSE_TIME] < 500", true),
            ("[RESPONSE_TIME] <= 250", true),
            ("[RESPONSE_TIME] > 1s", false),
            ("[RESPONSE_TIME] < 300ms", true),
            ("[RESPONSE_TIME] < 200ms", false),
            ("[BODY] contains \"UP\"", true),
            ("[BODY] !contains DOWN", true),
            ("[BODY] contains DOWN", false),
            ("[BODY].status == UP", true),
            ("[BODY].status != UP", false),
            ("[BODY].version == 1.4.2", true),
            ("[BODY].db.pool[1] > 5", true),
            ("[BODY].db.pool[0] >= 5", false),
            ("[BODY].ok == true", true),
            ("[BODY].load < 0.8", true),
            ("[BODY].load == 0.75", true),
            ("[HEADER].Content-Type contains json", true),
            ("[HEADER].content-type == \"text/html\"", false),
            ("[CONNECTED] == true", true),
            ("[CONNECTED] != true", false),
            ("[CONNECTED] == false", false),
            ("[BODY].ok == false", false),
            ("[CERTIFICATE_EXPIRATION] > 24h", true),
            ("[CERTIFICATE_EXPIRATION] > 2d", false),
            ("[CERTIFICATE_EXPIRATION] < 3d", true),
            ("[CERTIFICATE_EXPIRATION] > 90m", true),
            ("[CERTIFICATE_EXPIRATION] > 2160m", false),
        ];
        for (text, holds) in cases {
            let condition = Condition::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(condition.evaluate(&seen).is_ok(), holds, "{text}");
        }
    }

    #[test]
    fn numbers_show_as_written_and_an_exponent_stays_text() {
        assert_eq!(format_number(3.0), "3");
        assert_eq!(format_number(-0.0), "0");
        assert_eq!(format_number(0.75), "0.75");
        assert_eq!(format_number(1e20), "100000000000000000000");
        assert_eq!(parse_number("-1.5"), Some(-1.5));
        // `1e5` could be a commit hash: only digits, signs and dots are numbers.
        assert_eq!(parse_number("1e5"), None);
    }

    #[test]
    fn a_failure_says_what_was_seen_or_that_nothing_was() {
        let seen = evidence(r#"{"status": "DOWN"}"#, &[]);
        let failed = Condition::parse("[BODY].status == UP")
            .unwrap()
            .evaluate(&seen)
            .unwrap_err();
        assert_eq!(
            failed.to_string(),
            "condition failed: [BODY].status == UP (got DOWN)"
        );
        let missing = Condition::parse("[BODY].db.ok == true")
            .unwrap()
            .evaluate(&seen)
            .unwrap_err();
        assert_eq!(
            missing.to_string(),
            "condition failed: [BODY].db.ok == true (got nothing)"
        );
        let header = Condition::parse("[HEADER].x-version == 2")
            .unwrap()
            .evaluate(&seen)
            .unwrap_err();
        assert_eq!(header.got, None);
        let cert = Condition::parse("[CERTIFICATE_EXPIRATION] > 72h")
            .unwrap()
            .evaluate(&seen)
            .unwrap_err();
        assert_eq!(
            cert.to_string(),
            "condition failed: [CERTIFICATE_EXPIRATION] > 72h (got 1d12h)"
        );
        let quick = Condition::parse("[RESPONSE_TIME] < 100")
            .unwrap()
            .evaluate(&seen)
            .unwrap_err();
        assert_eq!(quick.got.as_deref(), Some("250"), "under a second, in ms");
        let priced = evidence(r#"{"price": "1.50"}"#, &[]);
        let same_number = Condition::parse("[BODY].price == 1.5").unwrap();
        assert_eq!(same_number.evaluate(&priced), Ok(()), "compared as numbers");
        let shown = |body: &str| {
            Condition::parse("[BODY] contains zzz")
                .unwrap()
                .evaluate(&evidence(body, &[]))
                .unwrap_err()
                .got
        };
        let hundred = "y".repeat(100);
        assert_eq!(shown(&hundred), Some(hundred.clone()));
        assert_eq!(shown(&format!("{hundred}y")), Some(format!("{hundred}…")));
        let not_json = Evidence {
            body: Some("plain text"),
            ..seen.clone()
        };
        assert!(
            Condition::parse("[BODY].a == 1")
                .unwrap()
                .evaluate(&not_json)
                .is_err()
        );
        let no_body = Evidence { body: None, ..seen };
        assert!(
            Condition::parse("[BODY] contains x")
                .unwrap()
                .evaluate(&no_body)
                .is_err()
        );
    }

    #[test]
    fn junk_is_refused_with_a_reason() {
        for junk in [
            "",
            "[STATUS]",
            "[STATUS] ==",
            "[STATUS] = 200",
            "[STAT] == 200",
            "[STATUS] == ok",
            "[STATUS] contains 2",
            "[STATUS] == 5m",
            "[CONNECTED] == yes",
            "[CONNECTED] < true",
            "[BODY]. == 1",
            "[BODY].a[x] == 1",
            "[BODY].a[1 == 1",
            "[BODY]a == 1",
            "[HEADER]. == x",
            "[HEADER].bad name == x",
            "[BODY] == two words",
            "[BODY] == \"unterminated",
            "[BODY].name > abc",
            "[RESPONSE_TIME] < soon",
        ] {
            assert!(Condition::parse(junk).is_err(), "{junk:?} parsed");
        }
    }

    #[test]
    fn a_monitor_has_at_most_twenty_conditions_and_a_bad_one_is_pointed_at() {
        let twenty = vec!["[STATUS] == 200"; MAX_CONDITIONS];
        let parsed = Conditions::parse(&twenty).unwrap();
        assert_eq!(parsed.iter().count(), MAX_CONDITIONS);
        let too_many = vec!["[STATUS] == 200"; MAX_CONDITIONS + 1];
        assert_eq!(Conditions::parse(&too_many).unwrap_err().0, None);
        let one_bad = ["[STATUS] == 200", "[STATUS] == ok"];
        assert_eq!(Conditions::parse(&one_bad).unwrap_err().0, Some(1));
    }

    #[test]
    fn conditions_hold_together_and_the_first_failure_is_told() {
        let seen = evidence(r#"{"status": "UP"}"#, &[]);
        let none = Conditions::default();
        assert!(none.is_empty() && !none.need_body());
        assert_eq!(none.evaluate(&seen), Ok(()));
        let both = Conditions::parse(&["[STATUS] == 200", "[BODY].status == UP"]).unwrap();
        assert!(!both.is_empty() && both.need_body());
        assert_eq!(both.evaluate(&seen), Ok(()));
        let failing =
            Conditions::parse(&["[STATUS] == 200", "[STATUS] == 201", "[STATUS] == 202"]).unwrap();
        assert!(!failing.need_body());
        assert_eq!(
            failing.evaluate(&seen).unwrap_err().condition,
            "[STATUS] == 201"
        );
        let json = serde_json::to_value(&both).unwrap();
        assert_eq!(
            json,
            serde_json::json!(["[STATUS] == 200", "[BODY].status == UP"])
        );
        assert_eq!(serde_json::from_value::<Conditions>(json).unwrap(), both);
        let twenty = serde_json::json!(vec!["[STATUS] == 200"; MAX_CONDITIONS]);
        assert!(serde_json::from_value::<Conditions>(twenty).is_ok());
        let too_many = serde_json::json!(vec!["[STATUS] == 200"; MAX_CONDITIONS + 1]);
        assert!(serde_json::from_value::<Conditions>(too_many).is_err());
    }

    #[test]
    fn a_condition_is_at_most_its_limit_long_and_known_by_its_text() {
        let quoted = |len: usize| format!("[BODY] contains \"{}\"", "x".repeat(len));
        let room = MAX_LEN - quoted(0).len();
        let at_limit = quoted(room);
        assert_eq!(at_limit.len(), MAX_LEN);
        assert!(Condition::parse(&at_limit).is_ok());
        assert!(Condition::parse(&quoted(room + 1)).is_err());
        assert!(Condition::parse("[BODY] contains \"a\u{7}\"").is_err());
        assert_eq!(
            Condition::parse("[STATUS]  ==  200").unwrap(),
            Condition::parse("[STATUS] == 200").unwrap(),
        );
        assert_ne!(
            Condition::parse("[STATUS] == 200").unwrap(),
            Condition::parse("[STATUS] == 201").unwrap(),
        );
    }

    #[test]
    fn conditions_keep_their_text_and_read_back_from_json() {
        let condition = Condition::parse("  [BODY].status   ==   \"all good\" ").unwrap();
        assert_eq!(condition.to_string(), "[BODY].status == \"all good\"");
        let json = serde_json::to_value(&condition).unwrap();
        assert_eq!(json, "[BODY].status == \"all good\"");
        assert_eq!(
            serde_json::from_value::<Condition>(json).unwrap(),
            condition
        );
        assert!(condition.needs_body());
        assert!(!Condition::parse("[STATUS] == 200").unwrap().needs_body());
        assert_eq!(
            condition.evaluate(&evidence(r#"{"status": "all good"}"#, &[])),
            Ok(())
        );
    }

    proptest! {
        #[test]
        fn no_input_panics_the_parser(raw in "\\PC{0,60}") {
            let _ = Condition::parse(&raw);
        }

        #[test]
        fn near_misses_of_the_grammar_never_panic(
            placeholder in "\\[(STATUS|BODY|HEADER|CONNECTED|RESPONSE_TIME)\\][.\\[\\]a-z0-9]{0,8}",
            operator in "(==|!=|<|<=|>|>=|contains|!contains|=|<>)",
            value in "[\"a-z0-9.:ms -]{0,12}",
        ) {
            let text = format!("{placeholder} {operator} {value}");
            if let Ok(parsed) = Condition::parse(&text) {
                // What parses reads back to itself.
                prop_assert_eq!(Condition::parse(&parsed.to_string()).unwrap(), parsed.clone());
                let _ = parsed.evaluate(&evidence("{\"a\": [1]}", &[]));
            }
        }
    }
}

//! The channel aggregate: where notifications go, which ones a channel
//! wants, and the events that record its changes. Secrets (a webhook's HMAC
//! key, a PagerDuty routing key) live in the configuration but never in an
//! event: the log records only that one is set.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::config::FieldError;
use super::fields::{InvalidValue, MonitorName, Tags};
use super::notification::NotificationKind;

/// Where a channel sends, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Webhook,
    Slack,
    Pagerduty,
    Email,
}

impl ChannelKind {
    pub const ALL: [Self; 4] = [Self::Webhook, Self::Slack, Self::Pagerduty, Self::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Slack => "slack",
            Self::Pagerduty => "pagerduty",
            Self::Email => "email",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == raw)
            .ok_or_else(|| {
                InvalidValue(format!(
                    "must be one of webhook, slack, pagerduty, email, got `{raw}`"
                ))
            })
    }
}

/// An absolute http(s) URL a webhook or Slack channel posts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelUrl(url::Url);

impl ChannelUrl {
    pub const MAX_LEN: usize = 2048;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if raw.len() > Self::MAX_LEN {
            return Err(InvalidValue(format!(
                "must be at most {} characters",
                Self::MAX_LEN
            )));
        }
        let url = url::Url::parse(raw)
            .map_err(|e| InvalidValue(format!("must be an absolute http(s) URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(InvalidValue(
                "must be an absolute http or https URL with a host".into(),
            ));
        }
        Ok(Self(url))
    }

    pub fn as_url(&self) -> &url::Url {
        &self.0
    }
}

impl AsRef<str> for ChannelUrl {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

/// A write-only value: `Debug` never shows it, so it cannot reach a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A webhook's HMAC key: 16–256 characters.
    pub fn hmac_key(raw: &str) -> Result<Self, InvalidValue> {
        Self::parse(raw, 16, 256)
    }

    /// A PagerDuty integration key: 1–256 characters.
    pub fn routing_key(raw: &str) -> Result<Self, InvalidValue> {
        Self::parse(raw, 1, 256)
    }

    fn parse(raw: &str, min: usize, max: usize) -> Result<Self, InvalidValue> {
        let chars = raw.chars().count();
        if !(min..=max).contains(&chars) {
            return Err(InvalidValue(format!(
                "must be {min} to {max} characters, got {chars}"
            )));
        }
        if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(InvalidValue(
                "must not contain spaces or control characters".into(),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// One e-mail recipient, `local@domain`, checked loosely (the SMTP server
/// has the last word): no spaces, one `@` with something on both sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let valid = raw.len() <= 254
            && !raw.chars().any(|c| c.is_whitespace() || c.is_control())
            && raw.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && !domain.is_empty() && !domain.contains('@')
            });
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidValue(format!(
                "`{raw}` is not an e-mail address (name@example.com)"
            )))
        }
    }
}

impl AsRef<str> for EmailAddress {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

/// How often to remind while a monitor stays down: 5–10080 minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemindMinutes(u32);

impl RemindMinutes {
    pub fn parse(raw: i64) -> Result<Self, InvalidValue> {
        u32::try_from(raw)
            .ok()
            .filter(|m| (5..=10_080).contains(m))
            .map(Self)
            .ok_or_else(|| InvalidValue(format!("must be between 5 and 10080, got {raw}")))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// The kinds of notification a channel asks for (`on`).
pub type NotifyOn = BTreeSet<NotificationKind>;

/// What `on` is when not given.
pub fn default_on() -> NotifyOn {
    [NotificationKind::Down, NotificationKind::Up].into()
}

/// Parses `on`: a non-empty subset of down, up, drift, reminder.
pub fn parse_on<S: AsRef<str>>(raw: &[S]) -> Result<NotifyOn, InvalidValue> {
    let mut on = NotifyOn::new();
    for item in raw {
        let kind = NotificationKind::parse(item.as_ref())
            .ok()
            .filter(|k| *k != NotificationKind::Test)
            .ok_or_else(|| {
                InvalidValue(format!(
                    "each entry must be down, up, drift or reminder, got `{}`",
                    item.as_ref()
                ))
            })?;
        on.insert(kind);
    }
    if on.is_empty() {
        return Err(InvalidValue(
            "must name at least one of down, up, drift, reminder".into(),
        ));
    }
    Ok(on)
}

/// Where one channel's notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Webhook {
        url: ChannelUrl,
        secret: Option<Secret>,
    },
    Slack {
        url: ChannelUrl,
    },
    Pagerduty {
        routing_key: Secret,
    },
    Email {
        to: Vec<EmailAddress>,
    },
}

impl Destination {
    pub fn kind(&self) -> ChannelKind {
        match self {
            Self::Webhook { .. } => ChannelKind::Webhook,
            Self::Slack { .. } => ChannelKind::Slack,
            Self::Pagerduty { .. } => ChannelKind::Pagerduty,
            Self::Email { .. } => ChannelKind::Email,
        }
    }

    pub fn url(&self) -> Option<&ChannelUrl> {
        match self {
            Self::Webhook { url, .. } | Self::Slack { url } => Some(url),
            _ => None,
        }
    }

    pub fn secret(&self) -> Option<&Secret> {
        match self {
            Self::Webhook { secret, .. } => secret.as_ref(),
            _ => None,
        }
    }

    pub fn routing_key(&self) -> Option<&Secret> {
        match self {
            Self::Pagerduty { routing_key } => Some(routing_key),
            _ => None,
        }
    }

    pub fn to(&self) -> &[EmailAddress] {
        match self {
            Self::Email { to } => to,
            _ => &[],
        }
    }
}

/// A valid channel configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelConfig {
    pub name: MonitorName,
    pub destination: Destination,
    pub on: NotifyOn,
    /// Only monitors carrying every one of these; empty: every monitor.
    pub match_tags: Tags,
    pub remind_every: Option<RemindMinutes>,
}

/// The fields a create or update gives; `None` leaves a field as it is (or
/// at its default). The double options can clear a value with `null`.
#[derive(Debug, Clone, Default)]
pub struct ChannelChanges {
    pub name: Option<MonitorName>,
    pub kind: Option<ChannelKind>,
    pub url: Option<ChannelUrl>,
    pub secret: Option<Option<Secret>>,
    pub routing_key: Option<Secret>,
    pub to: Option<Vec<EmailAddress>>,
    pub on: Option<NotifyOn>,
    pub match_tags: Option<Tags>,
    pub remind_every: Option<Option<RemindMinutes>>,
}

/// Most addresses one e-mail channel sends to.
pub const MAX_RECIPIENTS: usize = 20;

impl ChannelConfig {
    /// A new channel from a create's fields.
    pub fn from_changes(changes: ChannelChanges) -> Result<Self, FieldError> {
        let name = changes
            .name
            .clone()
            .ok_or_else(|| FieldError::new("name", "is required"))?;
        let kind = changes
            .kind
            .ok_or_else(|| FieldError::new("kind", "is required"))?;
        build(name, kind, None, false, changes)
    }

    /// This configuration with `changes` laid over it. Changing `kind` keeps
    /// only what the kinds share; the new kind's fields must be given.
    pub fn with_changes(&self, changes: ChannelChanges) -> Result<Self, FieldError> {
        let name = changes.name.clone().unwrap_or_else(|| self.name.clone());
        let kind = changes.kind.unwrap_or(self.destination.kind());
        let same_kind = kind == self.destination.kind();
        build(name, kind, Some(self), same_kind, changes)
    }

    /// Names of the fields whose values differ, for the audit trail; a
    /// secret shows up by name only.
    pub fn changed_fields(&self, other: &Self) -> Vec<&'static str> {
        let (a, b) = (&self.destination, &other.destination);
        [
            ("name", self.name != other.name),
            ("kind", a.kind() != b.kind()),
            ("url", a.url() != b.url()),
            ("secret", a.secret() != b.secret()),
            ("routing_key", a.routing_key() != b.routing_key()),
            ("to", a.to() != b.to()),
            ("on", self.on != other.on),
            ("match_tags", self.match_tags != other.match_tags),
            (
                "remind_every_minutes",
                self.remind_every != other.remind_every,
            ),
        ]
        .into_iter()
        .filter_map(|(field, differs)| differs.then_some(field))
        .collect()
    }

    /// Whether a notification of `kind` about a monitor with `tags` goes
    /// to this channel. Tests go to the channel they name, always.
    pub fn wants(&self, kind: NotificationKind, monitor_tags: &[String]) -> bool {
        if kind == NotificationKind::Test {
            return true;
        }
        let kind_wanted = match kind {
            // Asking for a period is asking for reminders of the downs it sees.
            NotificationKind::Reminder => {
                self.remind_every.is_some()
                    && (self.on.contains(&NotificationKind::Reminder)
                        || self.on.contains(&NotificationKind::Down))
            }
            other => self.on.contains(&other),
        };
        kind_wanted
            && self
                .match_tags
                .iter()
                .all(|tag| monitor_tags.iter().any(|t| t == tag.as_ref()))
    }
}

/// Builds a configuration of `kind` from `changes` over `base`; the base's
/// destination fields carry over only when `same_kind`.
fn build(
    name: MonitorName,
    kind: ChannelKind,
    base: Option<&ChannelConfig>,
    same_kind: bool,
    changes: ChannelChanges,
) -> Result<ChannelConfig, FieldError> {
    let old = base.filter(|_| same_kind).map(|c| &c.destination);
    let refuse_foreign = |field: &'static str, given: bool, owners: &str| {
        if given {
            Err(FieldError::new(
                field,
                format!(
                    "is not a field of {} channels (only {owners})",
                    kind.as_str()
                ),
            ))
        } else {
            Ok(())
        }
    };
    let url = || {
        changes
            .url
            .clone()
            .or_else(|| old.and_then(Destination::url).cloned())
            .ok_or_else(|| {
                FieldError::new("url", format!("is required for {} channels", kind.as_str()))
            })
    };
    let destination = match kind {
        ChannelKind::Webhook => {
            refuse_foreign("routing_key", changes.routing_key.is_some(), "pagerduty")?;
            refuse_foreign("to", changes.to.is_some(), "email")?;
            let secret = match &changes.secret {
                Some(given) => given.clone(),
                None => old.and_then(Destination::secret).cloned(),
            };
            Destination::Webhook {
                url: url()?,
                secret,
            }
        }
        ChannelKind::Slack => {
            refuse_foreign("secret", changes.secret.is_some(), "webhook")?;
            refuse_foreign("routing_key", changes.routing_key.is_some(), "pagerduty")?;
            refuse_foreign("to", changes.to.is_some(), "email")?;
            Destination::Slack { url: url()? }
        }
        ChannelKind::Pagerduty => {
            refuse_foreign("url", changes.url.is_some(), "webhook and slack")?;
            refuse_foreign("secret", changes.secret.is_some(), "webhook")?;
            refuse_foreign("to", changes.to.is_some(), "email")?;
            let routing_key = changes
                .routing_key
                .clone()
                .or_else(|| old.and_then(Destination::routing_key).cloned())
                .ok_or_else(|| {
                    FieldError::new("routing_key", "is required for pagerduty channels")
                })?;
            Destination::Pagerduty { routing_key }
        }
        ChannelKind::Email => {
            refuse_foreign("url", changes.url.is_some(), "webhook and slack")?;
            refuse_foreign("secret", changes.secret.is_some(), "webhook")?;
            refuse_foreign("routing_key", changes.routing_key.is_some(), "pagerduty")?;
            let to = changes
                .to
                .clone()
                .or_else(|| old.map(|d| d.to().to_vec()).filter(|to| !to.is_empty()))
                .ok_or_else(|| FieldError::new("to", "is required for email channels"))?;
            if to.is_empty() || to.len() > MAX_RECIPIENTS {
                return Err(FieldError::new(
                    "to",
                    format!(
                        "must hold 1 to {MAX_RECIPIENTS} addresses, got {}",
                        to.len()
                    ),
                ));
            }
            Destination::Email { to }
        }
    };
    Ok(ChannelConfig {
        name,
        destination,
        on: changes
            .on
            .or_else(|| base.map(|c| c.on.clone()))
            .unwrap_or_else(default_on),
        match_tags: changes
            .match_tags
            .or_else(|| base.map(|c| c.match_tags.clone()))
            .unwrap_or_default(),
        remind_every: match changes.remind_every {
            Some(given) => given,
            None => base.and_then(|c| c.remind_every),
        },
    })
}

/// A channel's configuration as the event log records it: everything but
/// the secrets, which it only says are set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelRecord {
    pub name: String,
    pub kind: ChannelKind,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub to: Vec<String>,
    pub on: Vec<String>,
    pub match_tags: Vec<String>,
    pub remind_every_minutes: Option<u32>,
    pub has_secret: bool,
    pub has_routing_key: bool,
}

impl From<&ChannelConfig> for ChannelRecord {
    fn from(config: &ChannelConfig) -> Self {
        let d = &config.destination;
        Self {
            name: config.name.as_ref().to_owned(),
            kind: d.kind(),
            url: d.url().map(|u| u.as_ref().to_owned()),
            to: d.to().iter().map(|a| a.as_ref().to_owned()).collect(),
            on: config.on.iter().map(|k| k.as_str().to_owned()).collect(),
            match_tags: config
                .match_tags
                .iter()
                .map(|t| t.as_ref().to_owned())
                .collect(),
            remind_every_minutes: config.remind_every.map(RemindMinutes::get),
            has_secret: d.secret().is_some(),
            has_routing_key: d.routing_key().is_some(),
        }
    }
}

/// Something that happened to a channel, as stored in the event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum ChannelEvent {
    ChannelCreated {
        config: ChannelRecord,
    },
    ChannelUpdated {
        config: ChannelRecord,
        changed: Vec<String>,
    },
    ChannelDeleted {},
}

impl ChannelEvent {
    pub const SCHEMA_VERSION: i16 = 1;

    pub fn type_name(&self) -> &'static str {
        match self {
            Self::ChannelCreated { .. } => "channel_created",
            Self::ChannelUpdated { .. } => "channel_updated",
            Self::ChannelDeleted {} => "channel_deleted",
        }
    }

    /// The event of an update from `before` to `after`; none when nothing
    /// changed.
    pub fn updated(before: &ChannelConfig, after: &ChannelConfig) -> Option<Self> {
        let changed = before.changed_fields(after);
        (!changed.is_empty()).then(|| Self::ChannelUpdated {
            config: after.into(),
            changed: changed.into_iter().map(str::to_owned).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(url: &str) -> ChannelChanges {
        ChannelChanges {
            name: Some(MonitorName::parse("ops").unwrap()),
            kind: Some(ChannelKind::Webhook),
            url: Some(ChannelUrl::parse(url).unwrap()),
            ..ChannelChanges::default()
        }
    }

    fn tags(raw: &[&str]) -> Vec<String> {
        raw.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn a_new_channel_takes_the_defaults_and_needs_its_kinds_fields() {
        let config = ChannelConfig::from_changes(webhook("http://127.0.0.1:9/hook")).unwrap();
        assert_eq!(config.on, default_on());
        assert!(config.match_tags.iter().next().is_none());
        assert_eq!(config.remind_every, None);

        let no_key = ChannelChanges {
            kind: Some(ChannelKind::Pagerduty),
            url: None,
            ..webhook("http://x")
        };
        assert_eq!(
            ChannelConfig::from_changes(no_key).unwrap_err().field,
            "routing_key"
        );
        let email_with_url = ChannelChanges {
            kind: Some(ChannelKind::Email),
            ..webhook("http://x")
        };
        assert_eq!(
            ChannelConfig::from_changes(email_with_url)
                .unwrap_err()
                .field,
            "url"
        );
        let slack_with_secret = ChannelChanges {
            kind: Some(ChannelKind::Slack),
            secret: Some(Some(Secret::hmac_key("0123456789abcdef").unwrap())),
            ..webhook("http://x")
        };
        assert_eq!(
            ChannelConfig::from_changes(slack_with_secret)
                .unwrap_err()
                .field,
            "secret"
        );
    }

    #[test]
    fn an_update_keeps_the_secret_unless_told_and_names_what_changed() {
        let key = Secret::hmac_key("0123456789abcdef").unwrap();
        let config = ChannelConfig::from_changes(ChannelChanges {
            secret: Some(Some(key.clone())),
            ..webhook("http://127.0.0.1:9/a")
        })
        .unwrap();
        let moved = config
            .with_changes(ChannelChanges {
                url: Some(ChannelUrl::parse("http://127.0.0.1:9/b").unwrap()),
                ..ChannelChanges::default()
            })
            .unwrap();
        assert_eq!(moved.destination.secret(), Some(&key));
        assert_eq!(config.changed_fields(&moved), vec!["url"]);
        let cleared = moved
            .with_changes(ChannelChanges {
                secret: Some(None),
                ..ChannelChanges::default()
            })
            .unwrap();
        assert_eq!(cleared.destination.secret(), None);
        assert_eq!(moved.changed_fields(&cleared), vec!["secret"]);
        assert_eq!(ChannelEvent::updated(&cleared, &cleared), None);
    }

    #[test]
    fn channels_want_the_kinds_they_name_for_monitors_with_every_tag() {
        let mut config = ChannelConfig::from_changes(ChannelChanges {
            match_tags: Some(Tags::parse(&["prod", "api"]).unwrap()),
            ..webhook("http://x")
        })
        .unwrap();
        let both = tags(&["api", "prod", "eu"]);
        assert!(config.wants(NotificationKind::Down, &both));
        assert!(config.wants(NotificationKind::Up, &both));
        assert!(!config.wants(NotificationKind::Drift, &both));
        assert!(!config.wants(NotificationKind::Down, &tags(&["prod"])));
        assert!(
            !config.wants(NotificationKind::Reminder, &both),
            "no period, no reminder"
        );
        assert!(config.wants(NotificationKind::Test, &[]));

        config.remind_every = Some(RemindMinutes::parse(5).unwrap());
        assert!(config.wants(NotificationKind::Reminder, &both));
        config.on = parse_on(&["up"]).unwrap();
        assert!(!config.wants(NotificationKind::Reminder, &both));
        assert!(!config.wants(NotificationKind::Down, &both));
    }

    #[test]
    fn kinds_and_events_go_by_the_contracts_names() {
        let names: Vec<&str> = ChannelKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, ["webhook", "slack", "pagerduty", "email"]);
        for kind in ChannelKind::ALL {
            assert_eq!(ChannelKind::parse(kind.as_str()).unwrap(), kind);
        }
        let config = ChannelConfig::from_changes(webhook("http://127.0.0.1:9/a")).unwrap();
        let created = ChannelEvent::ChannelCreated {
            config: (&config).into(),
        };
        assert_eq!(created.type_name(), "channel_created");
        assert_eq!(
            ChannelEvent::ChannelDeleted {}.type_name(),
            "channel_deleted"
        );
        let renamed = config
            .with_changes(ChannelChanges {
                name: Some(MonitorName::parse("on-call").unwrap()),
                ..ChannelChanges::default()
            })
            .unwrap();
        let updated = ChannelEvent::updated(&config, &renamed).unwrap();
        assert_eq!(updated.type_name(), "channel_updated");
        assert_eq!(
            updated,
            ChannelEvent::ChannelUpdated {
                config: (&renamed).into(),
                changed: vec!["name".to_owned()],
            }
        );
    }

    #[test]
    fn the_record_holds_each_kinds_destination_but_not_its_secrets() {
        let hook = ChannelConfig::from_changes(ChannelChanges {
            remind_every: Some(Some(RemindMinutes::parse(30).unwrap())),
            ..webhook("http://127.0.0.1:9/hook")
        })
        .unwrap();
        let record = ChannelRecord::from(&hook);
        assert_eq!(record.url.as_deref(), Some("http://127.0.0.1:9/hook"));
        assert_eq!(record.remind_every_minutes, Some(30));
        assert!(!record.has_secret && !record.has_routing_key);

        let key = Secret::routing_key("R0UTING").unwrap();
        assert_eq!(key.expose(), "R0UTING");
        let pager = ChannelConfig::from_changes(ChannelChanges {
            kind: Some(ChannelKind::Pagerduty),
            url: None,
            routing_key: Some(key.clone()),
            ..webhook("http://x")
        })
        .unwrap();
        let record = ChannelRecord::from(&pager);
        assert!(record.has_routing_key);
        assert_eq!(record.url, None);
        let renamed = pager
            .with_changes(ChannelChanges {
                name: Some(MonitorName::parse("pager").unwrap()),
                ..ChannelChanges::default()
            })
            .unwrap();
        assert_eq!(renamed.destination.routing_key(), Some(&key));

        let ops = EmailAddress::parse("ops@example.com").unwrap();
        let mail = ChannelConfig::from_changes(ChannelChanges {
            kind: Some(ChannelKind::Email),
            url: None,
            to: Some(vec![ops.clone()]),
            ..webhook("http://x")
        })
        .unwrap();
        assert_eq!(ChannelRecord::from(&mail).to, ["ops@example.com"]);
        assert_eq!(serde_json::to_value(&ops).unwrap(), "ops@example.com");
        let quiet = mail
            .with_changes(ChannelChanges {
                on: Some(parse_on(&["down"]).unwrap()),
                ..ChannelChanges::default()
            })
            .unwrap();
        assert_eq!(quiet.destination.to(), [ops]);
    }

    #[test]
    fn an_email_channel_sends_to_one_to_twenty_addresses() {
        let to = |n: usize| ChannelChanges {
            kind: Some(ChannelKind::Email),
            url: None,
            to: Some(
                (0..n)
                    .map(|i| EmailAddress::parse(&format!("ops{i}@example.com")).unwrap())
                    .collect(),
            ),
            ..webhook("http://x")
        };
        assert!(ChannelConfig::from_changes(to(1)).is_ok());
        assert!(ChannelConfig::from_changes(to(MAX_RECIPIENTS)).is_ok());
        for refused in [0, MAX_RECIPIENTS + 1] {
            let error = ChannelConfig::from_changes(to(refused)).unwrap_err();
            assert_eq!(error.field, "to");
            assert_eq!(
                error.message,
                format!("must hold 1 to 20 addresses, got {refused}")
            );
        }
    }

    #[test]
    fn a_channel_wants_no_monitor_missing_one_of_its_tags() {
        let config = ChannelConfig::from_changes(ChannelChanges {
            match_tags: Some(Tags::parse(&["prod", "api"]).unwrap()),
            ..webhook("http://x")
        })
        .unwrap();
        assert!(!config.wants(NotificationKind::Down, &tags(&["eu", "staging"])));
    }

    #[test]
    fn a_channel_url_is_kept_as_given_up_to_2048_characters() {
        let at_most = format!("http://h/{}", "a".repeat(ChannelUrl::MAX_LEN - 9));
        assert_eq!(at_most.len(), ChannelUrl::MAX_LEN);
        assert_eq!(ChannelUrl::parse(&at_most).unwrap().as_ref(), at_most);
        let longer = format!("{at_most}a");
        assert_eq!(
            ChannelUrl::parse(&longer).unwrap_err().0,
            "must be at most 2048 characters"
        );
    }

    #[test]
    fn field_rules_refuse_what_the_contract_refuses() {
        assert!(Secret::hmac_key("short").is_err());
        assert!(Secret::hmac_key(&"k".repeat(257)).is_err());
        assert!(Secret::routing_key("has space").is_err());
        assert!(EmailAddress::parse("ops@example.com").is_ok());
        for bad in ["ops", "@example.com", "ops@", "a b@c.d", "a@b@c"] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
        assert!(RemindMinutes::parse(4).is_err());
        assert!(RemindMinutes::parse(10_081).is_err());
        assert!(parse_on(&["down", "test"]).is_err());
        assert!(parse_on::<&str>(&[]).is_err());
        assert!(ChannelUrl::parse("ftp://x/y").is_err());
        assert!(ChannelKind::parse("sms").is_err());
        assert_eq!(
            format!("{:?}", Secret::hmac_key("0123456789abcdef").unwrap()),
            "Secret(***)"
        );
    }
}

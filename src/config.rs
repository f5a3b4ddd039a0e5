//! Settings: defaults, then an optional TOML file named by `UPWATCH_CONFIG`,
//! then the environment (which wins). Validated once, into typed values.

use crate::domain::token::TokenSecret;
use crate::probe::tls::TrustedRoots;
use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// A setting that cannot be used; shown to the operator as one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting {setting}: {message}")]
pub struct SettingError {
    pub setting: String,
    pub message: String,
}

impl SettingError {
    fn new(setting: &str, message: impl Into<String>) -> Self {
        Self {
            setting: setting.to_owned(),
            message: message.into(),
        }
    }
}

pub const CONFIG_FILE_VARIABLE: &str = "UPWATCH_CONFIG";

/// The environment variable of a setting's key.
pub fn variable_name(key: &str) -> String {
    format!("UPWATCH_{}", key.to_ascii_uppercase())
}

/// A setting's default: a value, or one worked out at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    Value(&'static str),
    /// Worked out by the setting's parser when nothing is given; described.
    Computed(&'static str),
}

/// One setting as the operator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The TOML key; the variable is `UPWATCH_` + upper case.
    pub key: &'static str,
    pub default: DefaultValue,
    pub description: &'static str,
}

impl Setting {
    pub fn variable(&self) -> String {
        variable_name(self.key)
    }
}

/// A parser: the variable's name (for errors) and its raw value, or `None`
/// for a setting with a computed default that was not given.
type Parse<T> = fn(&str, Option<&str>) -> Result<T, SettingError>;

/// Declares every setting once: the `Settings` field, its key, default,
/// parser and description. The environment, the TOML keys, `Debug` and the
/// README's table (`markdown_table`) all come from this list.
macro_rules! settings {
    ($(
        $(#[$doc:meta])*
        $field:ident: $ty:ty = $key:literal, $default:expr, $parse:expr, $description:literal;
    )*) => {
        #[derive(Clone)]
        pub struct Settings {
            $( $(#[$doc])* pub $field: $ty, )*
        }

        /// Every setting, in the README's order.
        pub const SETTINGS: &[Setting] = &[
            $( Setting { key: $key, default: $default, description: $description }, )*
        ];

        impl Settings {
            /// Parses every setting from `raw` (key → the value given, if any).
            fn parse_each(
                raw: &dyn Fn(&str) -> Result<Option<String>, SettingError>,
            ) -> Result<Self, SettingError> {
                Ok(Self {
                    $( $field: {
                        let parse: Parse<$ty> = $parse;
                        let given = raw($key)?;
                        let value = match (given.as_deref(), $default) {
                            (Some(value), _) => Some(value),
                            (None, DefaultValue::Value(default)) => Some(default),
                            (None, DefaultValue::Computed(_)) => None,
                        };
                        parse(&variable_name($key), value)?
                    }, )*
                })
            }
        }

        impl fmt::Debug for Settings {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct("Settings")
                    $( .field(stringify!($field), &self.$field) )*
                    .finish()
            }
        }
    };
}

settings! {
    database: DatabaseSettings = "database_url",
        DefaultValue::Value("postgres://postgres@127.0.0.1:5432/upwatch"),
        |_, raw| DatabaseSettings::parse(raw.unwrap_or_default()),
        "PostgreSQL; the database is created when missing";
    redis_url: RedisUrl = "redis_url", DefaultValue::Value("redis://127.0.0.1:6379"),
        |_, raw| RedisUrl::parse(raw.unwrap_or_default()),
        "Redis";
    bind: BindAddress = "bind", DefaultValue::Value("127.0.0.1:8080"),
        |_, raw| BindAddress::parse(raw.unwrap_or_default()),
        "where the API listens (`host:port`)";
    key_prefix: KeyPrefix = "key_prefix", DefaultValue::Value("upwatch"),
        |_, raw| KeyPrefix::parse(raw.unwrap_or_default()),
        "every Redis key starts with it";
    roles: Roles = "roles", DefaultValue::Value("all"),
        |variable, raw| Roles::parse(raw.unwrap_or_default()).map_err(|m| SettingError::new(variable, m)),
        "the roles this process runs, comma-separated (same as `--roles`)";
    /// How long start-up keeps retrying PostgreSQL and Redis before giving up.
    startup_timeout: Duration = "startup_timeout_seconds", DefaultValue::Value("30"),
        |variable, raw| number(variable, raw, 0, 3600).map(Duration::from_secs),
        "how long start-up retries PostgreSQL and Redis before exiting 1 (0–3600)";
    db_pool_size: usize = "db_pool_size", DefaultValue::Value("16"),
        |variable, raw| number(variable, raw, 1, 1000),
        "PostgreSQL connections in the pool (1–1000)";
    redis_pool_size: usize = "redis_pool_size", DefaultValue::Value("16"),
        |variable, raw| number(variable, raw, 1, 1000),
        "Redis connections in the pool (1–1000)";
    /// How many probes one worker runs at once.
    worker_concurrency: usize = "worker_concurrency", DefaultValue::Value("512"),
        |variable, raw| number(variable, raw, 1, 100_000),
        "probes one worker runs at once (1–100000)";
    /// Threads a worker runs its probes on.
    worker_threads: usize = "worker_threads", DefaultValue::Computed("one per CPU"),
        |variable, raw| match raw {
            Some(raw) => number(variable, Some(raw), 1, 1024),
            None => Ok(std::thread::available_parallelism().map_or(1, std::num::NonZero::get)),
        },
        "threads the worker runs its probes on (1–1024)";
    /// How many partitions monitors hash into: results streams and leases.
    partitions: u16 = "partitions", DefaultValue::Value("64"),
        |variable, raw| number(variable, raw, 1, 1024),
        "partitions monitors hash into: results streams and scheduler/folder leases (1–1024); keep it equal across a deployment";
    /// How long a job may sit unacknowledged before another worker takes it over.
    reclaim_after: Duration = "reclaim_after_ms", DefaultValue::Value("65000"),
        // The longest job timeout (60 s) plus a margin: a live worker never
        // holds a job that long, so only the jobs of dead workers are taken.
        |variable, raw| number(variable, raw, 100, 3_600_000).map(Duration::from_millis),
        "how long a job may stay unacknowledged before another worker takes it over; at least the longest probe timeout (100–3600000)";
    /// This process's name in the consumer groups and leases: stable across
    /// restarts, so a restarted process first finishes what it had taken and
    /// takes its own leases back at once.
    instance: InstanceName = "instance", DefaultValue::Computed("the host name"),
        |_, raw| match raw {
            Some(raw) => InstanceName::parse(raw),
            None => Ok(InstanceName::from_hostname()),
        },
        "this process's name in the Redis groups and leases; a restarted process of the same name first finishes the jobs it had taken and takes its leases back at once. Processes sharing a key prefix need distinct names";
    /// How many live transitions a WebSocket client may fall behind before it
    /// is dropped.
    feed_buffer: usize = "feed_buffer", DefaultValue::Value("10000"),
        |variable, raw| number(variable, raw, 10, 1_000_000),
        "live transitions a WebSocket client may fall behind before it is closed as too slow (10–1000000)";
    /// How long a scheduler's or folder's partition lease lasts unrenewed.
    lease: Duration = "lease_seconds", DefaultValue::Value("10"),
        |variable, raw| number(variable, raw, 1, 300).map(Duration::from_secs),
        "how long a scheduler's or folder's partition lease lasts unrenewed (1–300)";
    /// How often a scheduler compares its monitors with the projection.
    reconcile_every: Duration = "reconcile_seconds", DefaultValue::Value("60"),
        |variable, raw| number(variable, raw, 1, 86_400).map(Duration::from_secs),
        "how often a scheduler compares the monitors it runs with the projection (by id and version), a safety net for changes it missed (1–86400)";
    /// Whole days of probe results kept; older days are dropped.
    results_retention_days: u16 = "results_retention_days", DefaultValue::Value("30"),
        |variable, raw| number(variable, raw, 1, 3650),
        "whole days of probe results kept (1–3650); the event log is never dropped";
    /// Days hourly roll-ups are kept beyond the results.
    rollup_retention_days: u16 = "rollup_retention_days", DefaultValue::Value("400"),
        |variable, raw| number(variable, raw, 0, 36500),
        "days the hourly roll-ups (uptime, latency history) are kept beyond the results (0–36500)";
    /// Whether badges answer without a token while auth is on.
    public_badges: bool = "public_badges", DefaultValue::Value("false"),
        |variable, raw| match raw {
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            other => Err(SettingError::new(variable, format!("must be true or false, got `{}`", other.unwrap_or_default()))),
        },
        "`true`: `/badge/...` answers without a token while auth is on";
    /// How long a notifier keeps retrying a delivery before marking it failed.
    notify_give_up: Duration = "notify_give_up_hours", DefaultValue::Value("24"),
        |variable, raw| number::<u64>(variable, raw, 1, 720).map(|hours| Duration::from_secs(hours * 3600)),
        "hours a notifier keeps retrying a delivery before marking it `failed` (1–720)";
    /// How many deliveries one notifier sends at once.
    notify_concurrency: usize = "notify_concurrency", DefaultValue::Value("32"),
        |variable, raw| number(variable, raw, 1, 10_000),
        "deliveries one notifier sends at once (1–10000)";
    pagerduty_url: url::Url = "pagerduty_url", DefaultValue::Value(crate::notify::PAGERDUTY_EVENTS_URL),
        |variable, raw| http_url(variable, raw.unwrap_or_default()),
        "where PagerDuty channels send their Events API v2 events";
    smtp_url: Option<SmtpUrl> = "smtp_url", DefaultValue::Computed("none (e-mail deliveries wait, retrying, until it is set)"),
        |variable, raw| raw.map(|raw| SmtpUrl::parse(variable, raw)).transpose(),
        "the SMTP server e-mail channels send through: `smtp://[user:password@]host:port` (plain), `smtps://...` (TLS)";
    tls_ca: TrustedRoots = "tls_ca_file", DefaultValue::Computed("none (the web's roots only)"),
        |variable, raw| match raw {
            Some(path) => TrustedRoots::load(Path::new(path)).map_err(|e| SettingError::new(variable, e)),
            None => Ok(TrustedRoots::default()),
        },
        "a PEM file of CA certificates trusted, beside the web's roots, by every check that speaks TLS (https, tls, grpcs)";
    /// `None`: decided by `bind` (see [`Settings::auth`]).
    auth_setting: Option<AuthMode> = "auth", DefaultValue::Computed("`off` when UPWATCH_BIND is a loopback address, else `tokens`"),
        |variable, raw| raw.map(|raw| AuthMode::parse(variable, raw)).transpose(),
        "`off` or `tokens`: whether API requests need a token (see docs/api.md)";
    bootstrap_token: Option<TokenSecret> = "bootstrap_token", DefaultValue::Computed("none"),
        |variable, raw| raw.map(|raw| TokenSecret::chosen(raw).map_err(|e| SettingError::new(variable, e.0))).transpose(),
        "an admin token (at least 32 characters) created at start, named `bootstrap`, unless it was created before";
    metrics_bind: Option<BindAddress> = "metrics_bind", DefaultValue::Computed("none"),
        |variable, raw| raw.map(|raw| BindAddress::parse_as(variable, raw)).transpose(),
        "where a process without the API role serves `/metrics`, `/healthz` and `/readyz` (`host:port`)";
    monitors_file: Option<std::path::PathBuf> = "monitors_file", DefaultValue::Computed("none"),
        |variable, raw| raw.map(|raw| existing_file(variable, raw)).transpose(),
        "a monitors file (YAML, JSON or TOML; see `upwatch apply`) applied at start";
    smtp_from: String = "smtp_from", DefaultValue::Value("upwatch@localhost"),
        |variable, raw| from_address(variable, raw.unwrap_or_default()),
        "the sender of notification e-mails";
}

fn existing_file(variable: &str, raw: &str) -> Result<std::path::PathBuf, SettingError> {
    let path = std::path::PathBuf::from(raw);
    if !path.is_file() {
        return Err(SettingError::new(
            variable,
            format!("`{raw}` is not a readable file"),
        ));
    }
    Ok(path)
}

fn http_url(variable: &str, raw: &str) -> Result<url::Url, SettingError> {
    url::Url::parse(raw)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some())
        .ok_or_else(|| SettingError::new(variable, format!("must be an http(s) URL, got `{raw}`")))
}

fn from_address(variable: &str, raw: &str) -> Result<String, SettingError> {
    raw.parse::<lettre::message::Mailbox>()
        .map(|_| raw.to_owned())
        .map_err(|e| SettingError::new(variable, format!("not an e-mail address: {e}")))
}

/// Where notification e-mails go out. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl(String);

impl SmtpUrl {
    pub fn parse(variable: &str, raw: &str) -> Result<Self, SettingError> {
        let url = url::Url::parse(raw)
            .map_err(|e| SettingError::new(variable, format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "smtp" | "smtps") || url.host_str().is_none_or(str::is_empty) {
            return Err(SettingError::new(
                variable,
                "must be smtp://host:port or smtps://host:port",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&without_password(&self.0))
    }
}

impl Settings {
    /// Whether the API asks for tokens: as set, else `off` only on loopback.
    pub fn auth(&self) -> AuthMode {
        self.auth_setting.unwrap_or(if self.bind.is_loopback() {
            AuthMode::Off
        } else {
            AuthMode::Tokens
        })
    }

    /// Whether start-up waits for PostgreSQL (and migrates). Every role but
    /// the worker uses it, and so does an HTTP server that checks tokens; a
    /// worker alone does not, so one restarted during an outage probes at once.
    pub fn needs_postgres_at_start(&self) -> bool {
        let only_workers = self.roles.iter().all(|role| role == Role::Worker);
        let checks_tokens = self.metrics_bind.is_some()
            && (self.auth() != AuthMode::Off || self.bootstrap_token.is_some());
        !only_workers || checks_tokens
    }

    /// What the senders need beyond a channel's own fields.
    pub fn notify(&self) -> crate::notify::NotifySettings {
        crate::notify::NotifySettings {
            pagerduty_url: self.pagerduty_url.clone(),
            smtp_url: self.smtp_url.as_ref().map(|u| u.expose().to_owned()),
            smtp_from: self.smtp_from.clone(),
        }
    }
}

/// The README's table of settings: every declared one, then the file's own.
pub fn markdown_table() -> String {
    let mut table = String::from("| variable | default | meaning |\n|---|---|---|\n");
    for setting in SETTINGS {
        let default = match setting.default {
            DefaultValue::Value(value) => format!("`{value}`"),
            DefaultValue::Computed(text) => text.to_owned(),
        };
        table.push_str(&format!(
            "| `{}` | {default} | {} |\n",
            setting.variable(),
            setting.description
        ));
    }
    table.push_str(&format!(
        "| `{CONFIG_FILE_VARIABLE}` | none | path of the optional TOML file |\n"
    ));
    table
}

impl Settings {
    /// Reads the process environment (and the file it may name).
    pub fn from_env(roles_override: Option<&str>) -> Result<Self, SettingError> {
        Self::load(|name| std::env::var(name).ok(), roles_override)
    }

    /// Builds settings from `lookup` (a stand-in for the environment) and the
    /// file it names; `roles_override` is the `--roles` flag, which wins.
    pub fn load(
        lookup: impl Fn(&str) -> Option<String>,
        roles_override: Option<&str>,
    ) -> Result<Self, SettingError> {
        let file = match lookup(CONFIG_FILE_VARIABLE) {
            Some(path) if !path.is_empty() => read_file(Path::new(&path))?,
            _ => toml::Table::new(),
        };
        let raw = |key: &str| -> Result<Option<String>, SettingError> {
            if let Some(value) = lookup(&variable_name(key)) {
                return Ok(Some(value));
            }
            file.get(key).map(|v| file_value(key, v)).transpose()
        };
        let mut settings = Self::parse_each(&raw)?;
        if let Some(flag) = roles_override {
            settings.roles = Roles::parse(flag).map_err(|m| SettingError::new("--roles", m))?;
        }
        Ok(settings)
    }
}

/// A whole number within `min..=max`, in the type it is used as.
fn number<T: TryFrom<u64>>(
    variable: &str,
    raw: Option<&str>,
    min: u64,
    max: u64,
) -> Result<T, SettingError> {
    let raw = raw.unwrap_or_default();
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|v| (min..=max).contains(v))
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| {
            SettingError::new(
                variable,
                format!("must be a whole number from {min} to {max}, got `{raw}`"),
            )
        })
}

fn read_file(path: &Path) -> Result<toml::Table, SettingError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        SettingError::new(
            CONFIG_FILE_VARIABLE,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let reason = e.message().to_owned();
        SettingError::new(
            CONFIG_FILE_VARIABLE,
            format!("{} is not valid TOML: {reason}", path.display()),
        )
    })?;
    let known = |key: &str| SETTINGS.iter().any(|s| s.key == key);
    if let Some(unknown) = table.keys().find(|k| !known(k)) {
        let keys: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
        return Err(SettingError::new(
            CONFIG_FILE_VARIABLE,
            format!(
                "{} has an unknown setting `{unknown}` (known: {})",
                path.display(),
                keys.join(", ")
            ),
        ));
    }
    Ok(table)
}

/// A file value as the string the environment would have given.
fn file_value(key: &str, value: &toml::Value) -> Result<String, SettingError> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Array(items) if key == "roles" => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| SettingError::new(&variable_name(key), "roles must be strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|roles| roles.join(",")),
        other => Err(SettingError::new(
            &variable_name(key),
            format!("expected a string or integer in the file, got {other}"),
        )),
    }
}

/// Where PostgreSQL is. The password never appears in logs or `Debug`.
#[derive(Clone)]
pub struct DatabaseSettings {
    config: tokio_postgres::Config,
}

impl DatabaseSettings {
    const VARIABLE: &str = "UPWATCH_DATABASE_URL";

    pub fn parse(raw: &str) -> Result<Self, SettingError> {
        let mut config = tokio_postgres::Config::from_str(raw).map_err(|e| {
            SettingError::new(
                Self::VARIABLE,
                format!("not a PostgreSQL connection URL: {e}"),
            )
        })?;
        if config.get_hosts().is_empty() {
            return Err(SettingError::new(Self::VARIABLE, "names no host"));
        }
        if config.get_dbname().is_none_or(str::is_empty) {
            return Err(SettingError::new(Self::VARIABLE, "names no database"));
        }
        if config.get_user().is_none_or(str::is_empty) {
            return Err(SettingError::new(Self::VARIABLE, "names no user"));
        }
        if config.get_connect_timeout().is_none() {
            // A server that drops packets must not hang start-up or /readyz.
            config.connect_timeout(Duration::from_secs(5));
        }
        Ok(Self { config })
    }

    pub fn database_name(&self) -> &str {
        self.config.get_dbname().unwrap_or_default()
    }

    /// Connection settings for the application database.
    pub fn connect_config(&self) -> tokio_postgres::Config {
        self.config.clone()
    }

    /// The same server and credentials, on the maintenance database, for
    /// creating the application database when it is missing.
    pub fn maintenance_config(&self) -> tokio_postgres::Config {
        let mut config = self.config.clone();
        config.dbname("postgres");
        config
    }

    /// A copy pointing at another database on the same server (tests use it).
    pub fn with_database(&self, name: &str) -> Self {
        let mut config = self.config.clone();
        config.dbname(name);
        Self { config }
    }
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("hosts", &self.config.get_hosts())
            .field("ports", &self.config.get_ports())
            .field("user", &self.config.get_user())
            .field("dbname", &self.config.get_dbname())
            .finish_non_exhaustive()
    }
}

/// Where Redis is. `Debug` hides any password in the URL.
#[derive(Clone)]
pub struct RedisUrl(String);

impl RedisUrl {
    pub fn parse(raw: &str) -> Result<Self, SettingError> {
        let parsed = url::Url::parse(raw)
            .map_err(|e| SettingError::new("UPWATCH_REDIS_URL", format!("not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "redis" | "rediss" | "unix" | "redis+unix") {
            return Err(SettingError::new(
                "UPWATCH_REDIS_URL",
                format!("scheme must be redis or rediss, got `{}`", parsed.scheme()),
            ));
        }
        redis::Client::open(raw)
            .map_err(|e| SettingError::new("UPWATCH_REDIS_URL", format!("not a Redis URL: {e}")))?;
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&without_password(&self.0))
    }
}

/// A URL with its password, if any, shown as `***`.
fn without_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => raw.to_owned(),
    }
}

/// The address the HTTP server listens on: `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindAddress(String);

impl BindAddress {
    pub fn parse(raw: &str) -> Result<Self, SettingError> {
        Self::parse_as("UPWATCH_BIND", raw)
    }

    pub fn parse_as(variable: &str, raw: &str) -> Result<Self, SettingError> {
        if raw.parse::<SocketAddr>().is_ok() {
            return Ok(Self(raw.to_owned()));
        }
        let valid = raw
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !valid {
            return Err(SettingError::new(
                variable,
                format!("must be host:port, such as 127.0.0.1:8080, got `{raw}`"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether only this machine can reach it (`127.0.0.0/8`, `::1`, `localhost`).
    pub fn is_loopback(&self) -> bool {
        match self.0.parse::<SocketAddr>() {
            Ok(address) => address.ip().is_loopback(),
            Err(_) => self
                .0
                .rsplit_once(':')
                .is_some_and(|(host, _)| host.eq_ignore_ascii_case("localhost")),
        }
    }
}

/// Whether the API asks for tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Anyone who reaches the port may do anything; changes are `anonymous`.
    Off,
    /// Every request but `/healthz` and `/readyz` needs a token of the right scope.
    Tokens,
}

impl AuthMode {
    fn parse(variable: &str, raw: &str) -> Result<Self, SettingError> {
        match raw {
            "off" => Ok(Self::Off),
            "tokens" => Ok(Self::Tokens),
            other => Err(SettingError::new(
                variable,
                format!("must be `off` or `tokens`, got `{other}`"),
            )),
        }
    }
}

/// The string every Redis key starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPrefix(String);

impl KeyPrefix {
    pub fn parse(raw: &str) -> Result<Self, SettingError> {
        let valid = !raw.is_empty()
            && raw.len() <= 64
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
        if !valid {
            return Err(SettingError::new(
                "UPWATCH_KEY_PREFIX",
                format!("must be 1 to 64 characters of A-Z a-z 0-9 _ - . :, got `{raw}`"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// This process's name among the consumers of a stream. Processes sharing a
/// Redis prefix need distinct names; the default is the host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceName(String);

impl InstanceName {
    pub fn parse(raw: &str) -> Result<Self, SettingError> {
        let valid = !raw.is_empty()
            && raw.len() <= 64
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid {
            return Err(SettingError::new(
                "UPWATCH_INSTANCE",
                format!("must be 1 to 64 characters of A-Z a-z 0-9 _ - ., got `{raw}`"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The host name (stable across restarts, distinct per container), or
    /// `upwatch` where it cannot be read.
    pub fn from_hostname() -> Self {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .and_then(|name| Self::parse(name.trim()).ok())
            .unwrap_or_else(|| Self("upwatch".to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The parts of upwatch one process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Api,
    Scheduler,
    Worker,
    Folder,
    Notifier,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Api,
        Role::Scheduler,
        Role::Worker,
        Role::Folder,
        Role::Notifier,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Api => "api",
            Role::Scheduler => "scheduler",
            Role::Worker => "worker",
            Role::Folder => "folder",
            Role::Notifier => "notifier",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles(BTreeSet<Role>);

impl Roles {
    pub fn all() -> Self {
        Self(Role::ALL.into_iter().collect())
    }

    /// Every role's name, for messages.
    fn known() -> String {
        let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        names.join(", ")
    }

    /// A comma-separated list of roles, or `all`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut roles = BTreeSet::new();
        for part in raw.split(',').map(str::trim) {
            match part {
                "all" => roles.extend(Role::ALL),
                "" => {}
                name => {
                    let role = Role::ALL
                        .into_iter()
                        .find(|r| r.as_str() == name)
                        .ok_or_else(|| {
                            format!("unknown role `{name}`; roles are {}", Self::known())
                        })?;
                    roles.insert(role);
                }
            }
        }
        if roles.is_empty() {
            return Err(format!("names no role; use {} or all", Self::known()));
        }
        Ok(Self(roles))
    }

    pub fn contains(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.iter().copied()
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Role::as_str).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, SettingError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::load(|name| map.get(name).cloned(), None)
    }

    #[test]
    fn only_a_lone_worker_starts_without_postgres() {
        let needs = |vars: &[(&str, &str)]| load(vars).unwrap().needs_postgres_at_start();
        assert!(!needs(&[("UPWATCH_ROLES", "worker")]));
        assert!(!needs(&[
            ("UPWATCH_ROLES", "worker"),
            ("UPWATCH_METRICS_BIND", "127.0.0.1:9090"),
        ]));
        assert!(needs(&[("UPWATCH_ROLES", "worker,folder")]));
        assert!(needs(&[("UPWATCH_ROLES", "api")]));
        assert!(needs(&[]));
        // Its metrics server checks tokens, which live in PostgreSQL.
        assert!(needs(&[
            ("UPWATCH_ROLES", "worker"),
            ("UPWATCH_METRICS_BIND", "127.0.0.1:9090"),
            ("UPWATCH_AUTH", "tokens"),
        ]));
        assert!(needs(&[
            ("UPWATCH_ROLES", "worker"),
            ("UPWATCH_METRICS_BIND", "127.0.0.1:9090"),
            (
                "UPWATCH_BOOTSTRAP_TOKEN",
                "a-bootstrap-token-of-32-characters!"
            ),
        ]));
    }

    #[test]
    fn defaults_match_the_contract() {
        let settings = load(&[]).unwrap();
        assert_eq!(settings.database.database_name(), "upwatch");
        assert_eq!(settings.redis_url.expose(), "redis://127.0.0.1:6379");
        assert_eq!(settings.bind.as_str(), "127.0.0.1:8080");
        assert_eq!(settings.key_prefix.as_str(), "upwatch");
        assert_eq!(settings.roles, Roles::all());
        assert_eq!(settings.startup_timeout, Duration::from_secs(30));
        assert_eq!(settings.worker_concurrency, 512);
        let cpus = std::thread::available_parallelism().unwrap().get();
        assert_eq!(settings.worker_threads, cpus);
        assert_eq!(settings.partitions, 64);
        assert_eq!(settings.reclaim_after, Duration::from_millis(65_000));
        assert_eq!(settings.feed_buffer, 10_000);
        assert_eq!(settings.lease, Duration::from_secs(10));
        assert_eq!(settings.results_retention_days, 30);
        assert!(!settings.instance.as_str().is_empty());
    }

    #[test]
    fn pipeline_settings_are_read() {
        let settings = load(&[
            ("UPWATCH_WORKER_CONCURRENCY", "8"),
            ("UPWATCH_WORKER_THREADS", "3"),
            ("UPWATCH_PARTITIONS", "4"),
            ("UPWATCH_RECLAIM_AFTER_MS", "1500"),
            ("UPWATCH_INSTANCE", "worker-7.eu"),
        ])
        .unwrap();
        assert_eq!(settings.worker_concurrency, 8);
        assert_eq!(settings.worker_threads, 3);
        assert_eq!(settings.partitions, 4);
        assert_eq!(settings.reclaim_after, Duration::from_millis(1500));
        assert_eq!(settings.instance.as_str(), "worker-7.eu");
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        let cases = [
            ("UPWATCH_DATABASE_URL", "mysql://x"),
            ("UPWATCH_DATABASE_URL", "postgres://127.0.0.1/"),
            ("UPWATCH_REDIS_URL", "http://127.0.0.1"),
            ("UPWATCH_BIND", "8080"),
            ("UPWATCH_BIND", "localhost:99999"),
            ("UPWATCH_KEY_PREFIX", ""),
            ("UPWATCH_KEY_PREFIX", "has space"),
            ("UPWATCH_ROLES", "api,cooker"),
            ("UPWATCH_ROLES", ""),
            ("UPWATCH_STARTUP_TIMEOUT_SECONDS", "soon"),
            ("UPWATCH_DB_POOL_SIZE", "0"),
            ("UPWATCH_REDIS_POOL_SIZE", "1001"),
            ("UPWATCH_WORKER_CONCURRENCY", "0"),
            ("UPWATCH_WORKER_THREADS", "0"),
            ("UPWATCH_PARTITIONS", "1025"),
            ("UPWATCH_RECLAIM_AFTER_MS", "ten"),
            ("UPWATCH_INSTANCE", "has space"),
            ("UPWATCH_INSTANCE", ""),
            ("UPWATCH_FEED_BUFFER", "5"),
            ("UPWATCH_LEASE_SECONDS", "0"),
            ("UPWATCH_RECONCILE_SECONDS", "86401"),
            ("UPWATCH_RESULTS_RETENTION_DAYS", "0"),
            ("UPWATCH_NOTIFY_GIVE_UP_HOURS", "0"),
            ("UPWATCH_NOTIFY_CONCURRENCY", "0"),
            ("UPWATCH_PAGERDUTY_URL", "ftp://events.example"),
            ("UPWATCH_SMTP_URL", "http://mail.example"),
            ("UPWATCH_SMTP_FROM", "not an address"),
            ("UPWATCH_TLS_CA_FILE", "/nonexistent/ca.pem"),
            ("UPWATCH_AUTH", "on"),
            ("UPWATCH_ROLLUP_RETENTION_DAYS", "-1"),
            ("UPWATCH_PUBLIC_BADGES", "yes"),
            ("UPWATCH_BOOTSTRAP_TOKEN", "too-short"),
            ("UPWATCH_METRICS_BIND", "9090"),
            ("UPWATCH_MONITORS_FILE", "/nonexistent/monitors.yaml"),
        ];
        for setting in SETTINGS {
            let variable = setting.variable();
            assert!(
                cases.iter().any(|(v, _)| *v == variable),
                "no bad value of {variable} is tried"
            );
        }
        for (variable, value) in cases {
            let error = load(&[(variable, value)]).unwrap_err();
            assert_eq!(error.setting, variable, "{value}: {error}");
            assert!(!error.to_string().contains('\n'));
        }
    }

    #[test]
    fn the_roles_flag_wins_over_the_environment() {
        let map: HashMap<&str, &str> = HashMap::from([("UPWATCH_ROLES", "worker")]);
        let settings = Settings::load(
            |name| map.get(name).map(|v| (*v).to_owned()),
            Some("api,folder"),
        )
        .unwrap();
        assert!(settings.roles.contains(Role::Api));
        assert!(!settings.roles.contains(Role::Worker));
        assert_eq!(settings.roles.to_string(), "api,folder");
        let error = Settings::load(|_| None, Some("nope")).unwrap_err();
        assert_eq!(error.setting, "--roles");
    }

    #[test]
    fn the_file_is_read_and_the_environment_wins() {
        let dir = std::env::temp_dir().join(format!("upwatch-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("upwatch.toml");
        std::fs::write(
            &path,
            "bind = \"0.0.0.0:9000\"\nkey_prefix = \"fromfile\"\nroles = [\"api\", \"worker\"]\nstartup_timeout_seconds = 5\n",
        )
        .unwrap();
        let path_str = path.to_string_lossy().into_owned();
        let settings = load(&[
            ("UPWATCH_CONFIG", &path_str),
            ("UPWATCH_KEY_PREFIX", "fromenv"),
        ])
        .unwrap();
        assert_eq!(settings.bind.as_str(), "0.0.0.0:9000");
        assert_eq!(settings.key_prefix.as_str(), "fromenv");
        assert_eq!(settings.roles.to_string(), "api,worker");
        assert_eq!(settings.startup_timeout, Duration::from_secs(5));

        std::fs::write(&path, "bnid = \"0.0.0.0:9000\"\n").unwrap();
        let error = load(&[("UPWATCH_CONFIG", &path_str)]).unwrap_err();
        assert_eq!(error.setting, "UPWATCH_CONFIG");
        assert!(error.message.contains("bnid"));

        std::fs::write(&path, "bind = \n").unwrap();
        assert_eq!(
            load(&[("UPWATCH_CONFIG", &path_str)]).unwrap_err().setting,
            "UPWATCH_CONFIG"
        );
        let missing = load(&[("UPWATCH_CONFIG", "/nonexistent/upwatch.toml")]).unwrap_err();
        assert_eq!(missing.setting, "UPWATCH_CONFIG");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let settings = load(&[
            ("UPWATCH_DATABASE_URL", "postgres://u:hunter2@db/x"),
            ("UPWATCH_REDIS_URL", "redis://:s3cret@cache:6379"),
            ("UPWATCH_SMTP_URL", "smtp://mailer:m41lpw@mail:25"),
        ])
        .unwrap();
        let shown = format!("{settings:?}");
        assert!(!shown.contains("m41lpw"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn the_readme_lists_exactly_the_declared_settings() {
        let readme = include_str!("../README.md");
        let table = markdown_table();
        assert!(
            readme.contains(&table),
            "README.md's settings table differs from the declared settings; it should read:\n{table}"
        );
        let listed = readme
            .lines()
            .filter(|line| line.starts_with("| `UPWATCH_"))
            .count();
        assert_eq!(listed, SETTINGS.len() + 1, "no other settings are listed");
    }
}

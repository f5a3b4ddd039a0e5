//! API tokens: what a token may do (its scope), its name (the actor its
//! changes are recorded under), and the secret a client presents, of which
//! only a hash is ever kept.

use std::fmt;

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::fields::InvalidValue;

/// What a token allows; each scope includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every GET and the live feed.
    Read,
    /// Read, plus every change to monitors and channels.
    Write,
    /// Write, plus tokens.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        match raw {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            "admin" => Ok(Self::Admin),
            other => Err(InvalidValue(format!(
                "must be one of read, write, admin, got `{other}`"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }

    /// Whether a token of this scope may do what `needed` guards.
    pub fn allows(self, needed: Scope) -> bool {
        self >= needed
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token's name: 1–64 characters of `[A-Za-z0-9_.:-]`, never one of the
/// actors the pipeline itself uses, so the log's `actor` is unambiguous.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenName(String);

impl TokenName {
    pub const MAX_CHARS: usize = 64;
    const RESERVED: [&'static str; 2] = ["system", "anonymous"];

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if raw.is_empty() || raw.len() > Self::MAX_CHARS {
            return Err(InvalidValue(format!(
                "must be 1–{} characters, got {}",
                Self::MAX_CHARS,
                raw.chars().count()
            )));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c))
        {
            return Err(InvalidValue(format!(
                "may hold only letters, digits and `_.:-`, got `{raw}`"
            )));
        }
        if Self::RESERVED.contains(&raw.to_ascii_lowercase().as_str()) {
            return Err(InvalidValue(format!(
                "`{raw}` is reserved for the actors upwatch records itself"
            )));
        }
        Ok(Self(raw.to_owned()))
    }
}

impl AsRef<str> for TokenName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TokenName {
    type Error = InvalidValue;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<TokenName> for String {
    fn from(name: TokenName) -> Self {
        name.0
    }
}

/// The SHA-256 of a token's secret: what is stored and compared.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// Compares in constant time, so timing tells nothing of a stored hash.
    pub fn matches(&self, other: &TokenHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

/// A token's secret as a client presents it. Never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl TokenSecret {
    const PREFIX: &'static str = "uw_";
    /// Random bytes in a generated secret.
    pub const RANDOM_BYTES: usize = 32;
    /// The shortest secret accepted from an operator (`UPWATCH_BOOTSTRAP_TOKEN`).
    pub const MIN_CHARS: usize = 32;

    /// A new secret of [`Self::RANDOM_BYTES`] from `random` (the OS's generator).
    pub fn from_random(random: [u8; Self::RANDOM_BYTES]) -> Self {
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random);
        Self(format!("{}{encoded}", Self::PREFIX))
    }

    /// A secret an operator chose: at least [`Self::MIN_CHARS`] printable
    /// characters without spaces.
    pub fn chosen(raw: &str) -> Result<Self, InvalidValue> {
        if raw.chars().count() < Self::MIN_CHARS {
            return Err(InvalidValue(format!(
                "must be at least {} characters",
                Self::MIN_CHARS
            )));
        }
        if !raw.chars().all(|c| c.is_ascii_graphic()) {
            return Err(InvalidValue(
                "may hold only printable ASCII characters without spaces".into(),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A secret as presented in a request: anything; unknown ones fail later.
    pub fn presented(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }

    /// The secret itself, to show its holder once.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(<redacted>)")
    }
}

/// What the event log records of a token: never its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum TokenEvent {
    TokenCreated { name: TokenName, scope: Scope },
    TokenRevoked { name: TokenName },
}

impl TokenEvent {
    pub const SCHEMA_VERSION: i16 = 1;

    pub fn type_name(&self) -> &'static str {
        match self {
            Self::TokenCreated { .. } => "token_created",
            Self::TokenRevoked { .. } => "token_revoked",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_include_the_ones_below() {
        assert!(Scope::Admin.allows(Scope::Write));
        assert!(Scope::Admin.allows(Scope::Read));
        assert!(Scope::Write.allows(Scope::Read));
        assert!(Scope::Write.allows(Scope::Write));
        assert!(!Scope::Write.allows(Scope::Admin));
        assert!(!Scope::Read.allows(Scope::Write));
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Ok(scope));
        }
        assert!(Scope::parse("root").is_err());
    }

    #[test]
    fn names_are_short_plain_and_never_a_pipeline_actor() {
        assert!(TokenName::parse("ci-deploy.prod:1").is_ok());
        assert!(TokenName::parse("").is_err());
        assert!(TokenName::parse(&"a".repeat(65)).is_err());
        assert!(TokenName::parse("has space").is_err());
        assert!(TokenName::parse("system").is_err());
        assert!(TokenName::parse("Anonymous").is_err());
    }

    #[test]
    fn generated_secrets_carry_all_their_randomness_and_hash_stably() {
        let a = TokenSecret::from_random([7; 32]);
        let b = TokenSecret::from_random([8; 32]);
        assert!(a.reveal().starts_with("uw_"));
        assert_eq!(a.reveal().len(), 3 + 43);
        assert_ne!(a.hash(), b.hash());
        assert!(a.hash().matches(&TokenSecret::presented(a.reveal()).hash()));
        assert!(!a.hash().matches(&b.hash()));
    }

    #[test]
    fn chosen_secrets_must_be_long_and_printable() {
        assert!(TokenSecret::chosen(&"x".repeat(32)).is_ok());
        assert!(TokenSecret::chosen(&"x".repeat(31)).is_err());
        assert!(TokenSecret::chosen(&format!("{} x", "x".repeat(32))).is_err());
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let secret = TokenSecret::from_random([9; 32]);
        assert_eq!(format!("{secret:?}"), "TokenSecret(<redacted>)");
        assert_eq!(format!("{:?}", secret.hash()), "TokenHash(..)");
    }

    #[test]
    fn a_name_of_the_longest_length_is_kept_as_given() {
        let longest = "a".repeat(TokenName::MAX_CHARS);
        assert_eq!(TokenName::parse(&longest).unwrap().as_ref(), longest);
    }

    #[test]
    fn names_scopes_and_events_print_and_serialise_as_recorded() {
        let name = TokenName::parse("ci-deploy").unwrap();
        assert_eq!(name.to_string(), "ci-deploy");
        assert_eq!(Scope::Write.to_string(), "write");
        let created = TokenEvent::TokenCreated {
            name: name.clone(),
            scope: Scope::Read,
        };
        let revoked = TokenEvent::TokenRevoked { name };
        assert_eq!(created.type_name(), "token_created");
        assert_eq!(revoked.type_name(), "token_revoked");
        assert_eq!(
            serde_json::to_value(&created).unwrap(),
            serde_json::json!({"type": "token_created", "data": {"name": "ci-deploy", "scope": "read"}})
        );
    }
}

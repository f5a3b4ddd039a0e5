//! Who made a change: every event in the log names its actor, and the kind
//! of thing (aggregate) it happened to.

use std::fmt;

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// An API command while authentication is off.
    Anonymous,
    /// The pipeline itself (a transition the probes caused).
    System,
    /// The holder of the API token with this name.
    Token(String),
}

impl Actor {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Anonymous => "anonymous",
            Self::System => "system",
            Self::Token(name) => name,
        }
    }

    /// The actor an event's `actor` column names.
    pub fn from_stored(raw: &str) -> Self {
        match raw {
            "anonymous" => Self::Anonymous,
            "system" => Self::System,
            name => Self::Token(name.to_owned()),
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of thing the event log records changes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateType {
    Monitor,
    Channel,
    Token,
}

impl AggregateType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Monitor => "monitor",
            Self::Channel => "channel",
            Self::Token => "token",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_read_back_as_stored() {
        for actor in [
            Actor::Anonymous,
            Actor::System,
            Actor::Token("ci-deploy".into()),
        ] {
            assert_eq!(Actor::from_stored(actor.as_str()), actor);
        }
        assert_eq!(Actor::Token("ci-deploy".into()).to_string(), "ci-deploy");
        assert_eq!(Actor::System.to_string(), "system");
    }

    #[test]
    fn aggregate_types_have_the_names_the_log_stores() {
        let names = [
            AggregateType::Monitor,
            AggregateType::Channel,
            AggregateType::Token,
        ]
        .map(AggregateType::as_str);
        assert_eq!(names, ["monitor", "channel", "token"]);
    }
}

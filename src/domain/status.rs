//! A monitor's health as the probes last showed it.

use serde::{Deserialize, Serialize};

use super::fields::InvalidValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Unknown,
    Up,
    Down,
}

impl Status {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        match raw {
            "unknown" => Ok(Self::Unknown),
            "up" => Ok(Self::Up),
            "down" => Ok(Self::Down),
            other => Err(InvalidValue(format!(
                "must be unknown, up or down, got `{other}`"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_their_own_names_only() {
        for status in [Status::Unknown, Status::Up, Status::Down] {
            assert_eq!(Status::parse(status.as_str()).unwrap(), status);
        }
        assert!(Status::parse("UP").is_err());
        assert!(Status::parse("").is_err());
    }
}

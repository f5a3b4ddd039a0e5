//! The checks of jobs read off the stream, parsed once per monitor: a
//! monitor's check comes back with every tick and rarely changes, and
//! parsing it (the URL's host normalisation included) showed in the worker's
//! profile (BENCHMARKS.md). Kind-blind: a check is remembered as the JSON it
//! came in.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use uuid::Uuid;

use crate::domain::check::Check;

/// Monitors remembered; past this the memo starts over, so monitors that
/// come and go cannot grow it without bound.
const CAPACITY: usize = 200_000;

/// A monitor's check, beside the JSON it was parsed from.
type Known = (Box<str>, Check);

static PARSED: LazyLock<Mutex<HashMap<Uuid, Known>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// The check `raw` (JSON) describes, from the memo when it holds this very
/// JSON for this monitor already.
pub fn parse(monitor_id: Uuid, raw: &str) -> Result<Check, String> {
    let Ok(mut parsed) = PARSED.lock() else {
        return serde_json::from_str(raw).map_err(|e| e.to_string());
    };
    if let Some((known, check)) = parsed.get(&monitor_id)
        && known.as_ref() == raw
    {
        return Ok(check.clone());
    }
    let check: Check = serde_json::from_str(raw).map_err(|e| e.to_string())?;
    if parsed.len() >= CAPACITY {
        parsed.clear();
    }
    parsed.insert(monitor_id, (raw.into(), check.clone()));
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::check::HttpCheck;
    use crate::domain::{HttpMethod, MonitorUrl};

    fn json(url: &str) -> String {
        let check = Check::Http(HttpCheck {
            url: MonitorUrl::parse(url).unwrap(),
            method: HttpMethod::Get,
            expected_status: None,
            headers: Default::default(),
            body: None,
            conditions: Default::default(),
            expected_version: None,
            version_source: None,
        });
        serde_json::to_string(&check).unwrap()
    }

    #[test]
    fn a_check_reads_the_same_from_the_memo_and_a_changed_one_is_parsed_again() {
        let monitor = Uuid::new_v4();
        let first = parse(monitor, &json("http://example.com/health")).unwrap();
        assert_eq!(first.url().as_ref(), "http://example.com/health");
        assert_eq!(
            parse(monitor, &json("http://example.com/health")).unwrap(),
            first
        );
        let moved = parse(monitor, &json("https://example.org/ready")).unwrap();
        assert_eq!(moved.url().as_ref(), "https://example.org/ready");
        assert!(parse(monitor, r#"{"kind": "carrier-pigeon"}"#).is_err());
        assert!(parse(Uuid::new_v4(), "not json").is_err());
    }
}

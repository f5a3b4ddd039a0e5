//! The URLs of jobs read off the stream, parsed once per monitor: a
//! monitor's URL comes back with every tick and rarely changes, and parsing
//! it (host normalisation included) was a few percent of a worker's CPU.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use uuid::Uuid;

use crate::domain::{InvalidValue, MonitorUrl};

/// Monitors remembered; past this the memo starts over, so monitors that
/// come and go cannot grow it without bound (about 150 bytes each).
const CAPACITY: usize = 200_000;

static PARSED: LazyLock<Mutex<HashMap<Uuid, MonitorUrl>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// `MonitorUrl::parse(raw)`, from the memo when it holds `raw` for this
/// monitor already (a job carries its URL in the normalised form, so an
/// unchanged URL reads back equal).
pub fn parse(monitor_id: Uuid, raw: &str) -> Result<MonitorUrl, InvalidValue> {
    let Ok(mut parsed) = PARSED.lock() else {
        return MonitorUrl::parse(raw);
    };
    if let Some(url) = parsed.get(&monitor_id)
        && url.as_ref() == raw
    {
        return Ok(url.clone());
    }
    let url = MonitorUrl::parse(raw)?;
    if parsed.len() >= CAPACITY {
        parsed.clear();
    }
    parsed.insert(monitor_id, url.clone());
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_monitor_url_reads_the_same_from_the_memo_and_a_changed_one_is_parsed_again() {
        let monitor = Uuid::new_v4();
        let first = parse(monitor, "http://example.com/health").unwrap();
        assert_eq!(
            first,
            MonitorUrl::parse("http://example.com/health").unwrap()
        );
        assert_eq!(parse(monitor, "http://example.com/health").unwrap(), first);

        let moved = parse(monitor, "https://example.org/ready").unwrap();
        assert_eq!(moved.as_ref(), "https://example.org/ready");
        // A raw form that differs from the normalised one is parsed, not matched.
        let raw = parse(monitor, "HTTP://Example.COM:80/health").unwrap();
        assert_eq!(raw.as_ref(), "http://example.com/health");

        assert!(parse(monitor, "ftp://example.com/").is_err());
        assert!(parse(Uuid::new_v4(), "ftp://example.com/").is_err());
    }
}

//! The URLs of jobs read off the stream, parsed once per worker thread: a
//! monitor's URL comes back with every tick and rarely changes, and parsing
//! it (host normalisation included) was a few percent of a worker's CPU.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::domain::{InvalidValue, MonitorUrl};

/// URLs kept per thread; past this the memo starts over, so a stream of
/// ever-new URLs cannot grow it without bound.
const CAPACITY: usize = 200_000;

thread_local! {
    static PARSED: RefCell<HashMap<String, MonitorUrl>> = RefCell::new(HashMap::new());
}

/// `MonitorUrl::parse(raw)`, from the memo when `raw` was parsed before on
/// this thread.
pub fn parse(raw: String) -> Result<MonitorUrl, InvalidValue> {
    PARSED.with_borrow_mut(|parsed| {
        if let Some(url) = parsed.get(&raw) {
            return Ok(url.clone());
        }
        let url = MonitorUrl::parse(&raw)?;
        if parsed.len() >= CAPACITY {
            parsed.clear();
        }
        parsed.insert(raw, url.clone());
        Ok(url)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_parses_the_same_from_the_memo_and_bad_ones_are_still_refused() {
        let raw = "HTTP://Example.COM:80/health?x=1";
        let first = parse(raw.to_owned()).unwrap();
        let again = parse(raw.to_owned()).unwrap();
        assert_eq!(first, MonitorUrl::parse(raw).unwrap());
        assert_eq!(again, first);
        assert_eq!(again.as_ref(), "http://example.com/health?x=1");

        assert!(parse("ftp://example.com/".to_owned()).is_err());
        assert!(parse("ftp://example.com/".to_owned()).is_err());
    }
}

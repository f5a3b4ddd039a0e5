//! The live feed's rules, apart from any transport: which transitions a
//! client asked for, and how the catch-up from the event log and the live
//! stream join without a gap or a duplicate. The WebSocket session actor only
//! moves these messages; a move to another WebSocket crate leaves this as is.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{Status, StatusChange, Tag};

/// A `status_changed` event as recorded, with what the live feed shows of
/// its monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedTransition {
    /// The event's global sequence number.
    pub seq: i64,
    pub monitor_id: Uuid,
    pub name: String,
    pub tags: Vec<String>,
    pub change: StatusChange,
    pub recorded_at: OffsetDateTime,
}

/// One transition as clients see it (and as the transitions stream holds it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionMessage {
    /// The `status_changed` event's global sequence number.
    pub seq: i64,
    pub monitor_id: Uuid,
    pub name: String,
    pub from: Status,
    pub to: Status,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub reason: String,
    pub latency_ms: i32,
    pub http_status: Option<i32>,
    pub error: Option<String>,
    /// The monitor's tags, for filtering.
    #[serde(default)]
    pub tags: Vec<String>,
}

impl From<&RecordedTransition> for TransitionMessage {
    fn from(t: &RecordedTransition) -> Self {
        Self {
            seq: t.seq,
            monitor_id: t.monitor_id,
            name: t.name.clone(),
            from: t.change.from,
            to: t.change.to,
            at: t.change.checked_at,
            reason: t.change.reason.clone(),
            latency_ms: t.change.latency_ms,
            http_status: t.change.http_status,
            error: t.change.error.clone(),
            tags: t.tags.clone(),
        }
    }
}

/// A drift event as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftMessage {
    /// The drift event's global sequence number.
    pub seq: i64,
    pub monitor_id: Uuid,
    pub name: String,
    pub expected: String,
    pub observed: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The version matches again (`version_drift_resolved`).
    pub resolved: bool,
    /// The monitor's tags, for filtering.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// What the live feed carries (and the transitions stream holds): a
/// transition or a drift change. Stored untagged, so entries written before
/// drift existed read as transitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FeedItem {
    Transition(TransitionMessage),
    Drift(DriftMessage),
}

impl FeedItem {
    pub fn seq(&self) -> i64 {
        match self {
            Self::Transition(t) => t.seq,
            Self::Drift(d) => d.seq,
        }
    }

    pub fn monitor_id(&self) -> Uuid {
        match self {
            Self::Transition(t) => t.monitor_id,
            Self::Drift(d) => d.monitor_id,
        }
    }

    pub fn tags(&self) -> &[String] {
        match self {
            Self::Transition(t) => &t.tags,
            Self::Drift(d) => &d.tags,
        }
    }

    fn into_message(self) -> FeedMessage {
        match self {
            Self::Transition(t) => FeedMessage::Transition(t),
            Self::Drift(d) => FeedMessage::Drift(d),
        }
    }
}

/// A frame sent to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeedMessage {
    Hello { last_seq: i64 },
    Transition(TransitionMessage),
    Drift(DriftMessage),
}

/// Which transitions a client wants: those of any of `monitor_ids` (all when
/// empty) whose monitor carries every one of `tags`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub monitor_ids: Vec<Uuid>,
    pub tags: Vec<Tag>,
}

impl Filter {
    pub fn matches(&self, item: &FeedItem) -> bool {
        let id_ok = self.monitor_ids.is_empty() || self.monitor_ids.contains(&item.monitor_id());
        id_ok
            && self
                .tags
                .iter()
                .all(|tag| item.tags().iter().any(|t| t == tag.as_ref()))
    }
}

/// Why a feed has to end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    #[error("too slow: more than {0} transitions arrived while catching up")]
    CatchUpOverflow(usize),
}

/// A client's position in the feed: catching up (live transitions wait in a
/// bounded buffer) or live. Everything sent has a sequence number above the
/// one sent before, so the catch-up and the live stream never repeat or skip.
#[derive(Debug)]
pub struct FeedState {
    filter: Filter,
    /// The highest sequence number the client has (or asked to start after).
    sent_up_to: i64,
    waiting: Option<VecDeque<FeedItem>>,
    buffer_max: usize,
}

impl FeedState {
    /// A feed that starts catching up; `buffer_max` bounds the live
    /// transitions held meanwhile.
    pub fn new(filter: Filter, buffer_max: usize) -> Self {
        Self {
            filter,
            sent_up_to: 0,
            waiting: Some(VecDeque::new()),
            buffer_max,
        }
    }

    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// The hello, once the log's last sequence number is known: the client
    /// gets what comes after `after_seq` if it asked for a resume, else what
    /// comes after `last_seq`.
    pub fn hello(&mut self, last_seq: i64, after_seq: Option<i64>) -> FeedMessage {
        self.sent_up_to = after_seq.unwrap_or(last_seq);
        FeedMessage::Hello { last_seq }
    }

    /// Where the next catch-up page starts.
    pub fn sent_up_to(&self) -> i64 {
        self.sent_up_to
    }

    /// A page of the log read during catch-up: what of it to send.
    pub fn caught_up(&mut self, page: Vec<FeedItem>) -> Vec<FeedMessage> {
        page.into_iter().filter_map(|t| self.admit(t)).collect()
    }

    /// The catch-up is over: the live transitions that waited, then live.
    pub fn go_live(&mut self) -> Vec<FeedMessage> {
        let waiting = self.waiting.take().unwrap_or_default();
        waiting.into_iter().filter_map(|t| self.admit(t)).collect()
    }

    /// A live transition: sent now, held while catching up, or dropped if the
    /// client already has it or did not ask for it.
    pub fn live(&mut self, transition: FeedItem) -> Result<Option<FeedMessage>, FeedError> {
        match &mut self.waiting {
            Some(waiting) => {
                if !self.filter.matches(&transition) {
                    return Ok(None);
                }
                if waiting.len() >= self.buffer_max {
                    return Err(FeedError::CatchUpOverflow(self.buffer_max));
                }
                waiting.push_back(transition);
                Ok(None)
            }
            None => Ok(self.admit(transition)),
        }
    }

    fn admit(&mut self, item: FeedItem) -> Option<FeedMessage> {
        if item.seq() <= self.sent_up_to || !self.filter.matches(&item) {
            return None;
        }
        self.sent_up_to = item.seq();
        Some(item.into_message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transition(seq: i64, monitor: u128, tags: &[&str]) -> FeedItem {
        FeedItem::Transition(transition_message(seq, monitor, tags))
    }

    fn transition_message(seq: i64, monitor: u128, tags: &[&str]) -> TransitionMessage {
        TransitionMessage {
            seq,
            monitor_id: Uuid::from_u128(monitor),
            name: format!("m{monitor}"),
            from: Status::Up,
            to: Status::Down,
            at: time::macros::datetime!(2026-01-01 00:00 UTC),
            reason: "3 consecutive failed checks".into(),
            latency_ms: 1,
            http_status: Some(503),
            error: Some("status 503".into()),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    fn seqs(messages: &[FeedMessage]) -> Vec<i64> {
        messages
            .iter()
            .filter_map(|m| match m {
                FeedMessage::Transition(t) => Some(t.seq),
                FeedMessage::Drift(d) => Some(d.seq),
                FeedMessage::Hello { .. } => None,
            })
            .collect()
    }

    #[test]
    fn catch_up_and_live_join_without_gap_or_duplicate() {
        let mut feed = FeedState::new(Filter::default(), 100);
        assert_eq!(feed.hello(10, Some(3)), FeedMessage::Hello { last_seq: 10 });
        // Live transitions arrive while the log is being read; some of them
        // are in the log pages too.
        assert_eq!(feed.live(transition(9, 1, &[])), Ok(None));
        assert_eq!(feed.live(transition(12, 1, &[])), Ok(None));
        let first = feed.caught_up(vec![transition(5, 1, &[]), transition(9, 1, &[])]);
        let second = feed.caught_up(vec![transition(11, 2, &[])]);
        let waited = feed.go_live();
        let now = feed.live(transition(12, 1, &[])).unwrap();
        let later = feed.live(transition(13, 2, &[])).unwrap();
        assert_eq!(seqs(&first), [5, 9]);
        assert_eq!(seqs(&second), [11]);
        assert_eq!(seqs(&waited), [12]);
        assert_eq!(now, None, "12 was already sent");
        assert_eq!(later.map(|m| seqs(&[m])), Some(vec![13]));
    }

    #[test]
    fn drift_changes_share_the_feed_and_read_back_from_the_stream() {
        let drift = FeedItem::Drift(DriftMessage {
            seq: 6,
            monitor_id: Uuid::from_u128(1),
            name: "m1".into(),
            expected: "2.0.0".into(),
            observed: "1.9.0".into(),
            at: time::macros::datetime!(2026-01-01 00:00 UTC),
            resolved: false,
            tags: vec!["prod".into()],
        });
        let mut feed = FeedState::new(Filter::default(), 100);
        feed.hello(0, Some(0));
        let sent = feed.caught_up(vec![transition(5, 1, &[]), drift.clone()]);
        assert_eq!(seqs(&sent), [5, 6]);
        let json = serde_json::to_value(&sent[1]).unwrap();
        assert_eq!(json["type"], "drift");
        assert_eq!(
            (&json["expected"], &json["observed"], &json["resolved"]),
            (
                &serde_json::json!("2.0.0"),
                &serde_json::json!("1.9.0"),
                &serde_json::json!(false)
            )
        );
        // As the stream holds them: untagged, older transition entries included.
        for item in [drift, transition(7, 1, &[])] {
            let stored = serde_json::to_string(&item).unwrap();
            assert_eq!(serde_json::from_str::<FeedItem>(&stored).unwrap(), item);
        }
    }

    #[test]
    fn the_next_catch_up_page_starts_after_the_last_item_sent() {
        let only = Filter {
            monitor_ids: vec![Uuid::from_u128(1)],
            ..Filter::default()
        };
        let mut feed = FeedState::new(only.clone(), 100);
        assert_eq!(feed.filter(), &only);
        feed.hello(20, Some(3));
        assert_eq!(feed.sent_up_to(), 3, "a resume starts after its after_seq");
        feed.caught_up(vec![transition(5, 1, &[]), transition(8, 2, &[])]);
        assert_eq!(feed.sent_up_to(), 5, "an item the filter drops is not sent");
    }

    #[test]
    fn without_after_seq_the_feed_starts_after_the_hello() {
        let mut feed = FeedState::new(Filter::default(), 100);
        feed.live(transition(7, 1, &[])).unwrap();
        feed.live(transition(8, 1, &[])).unwrap();
        feed.hello(7, None);
        assert_eq!(seqs(&feed.go_live()), [8]);
    }

    #[test]
    fn filters_select_by_id_and_by_every_tag() {
        let tag = |t: &str| Tag::parse(t).unwrap();
        let cases = [
            (Filter::default(), vec![1, 2, 3]),
            (
                Filter {
                    monitor_ids: vec![Uuid::from_u128(2)],
                    tags: vec![],
                },
                vec![2],
            ),
            (
                Filter {
                    monitor_ids: vec![],
                    tags: vec![tag("prod")],
                },
                vec![1, 3],
            ),
            (
                Filter {
                    monitor_ids: vec![],
                    tags: vec![tag("prod"), tag("eu")],
                },
                vec![3],
            ),
            (
                Filter {
                    monitor_ids: vec![Uuid::from_u128(1), Uuid::from_u128(2)],
                    tags: vec![tag("prod")],
                },
                vec![1],
            ),
        ];
        for (filter, expected) in cases {
            let mut feed = FeedState::new(filter.clone(), 100);
            feed.hello(0, None);
            feed.go_live();
            let sent: Vec<i64> = [
                transition(1, 1, &["prod"]),
                transition(2, 2, &["dev"]),
                transition(3, 3, &["prod", "eu"]),
            ]
            .into_iter()
            .filter_map(|t| feed.live(t).unwrap())
            .map(|m| seqs(&[m])[0])
            .collect();
            assert_eq!(sent, expected, "{filter:?}");
        }
    }

    #[test]
    fn a_client_that_falls_behind_during_catch_up_is_told_why() {
        let mut feed = FeedState::new(Filter::default(), 2);
        feed.live(transition(1, 1, &[])).unwrap();
        feed.live(transition(2, 1, &[])).unwrap();
        assert_eq!(
            feed.live(transition(3, 1, &[])),
            Err(FeedError::CatchUpOverflow(2))
        );
    }

    #[test]
    fn messages_have_the_contract_shape() {
        let hello = serde_json::to_value(FeedMessage::Hello { last_seq: 4 }).unwrap();
        assert_eq!(hello, serde_json::json!({"type": "hello", "last_seq": 4}));
        let json =
            serde_json::to_value(FeedMessage::Transition(transition_message(5, 1, &[]))).unwrap();
        for field in [
            "seq",
            "monitor_id",
            "name",
            "from",
            "to",
            "at",
            "reason",
            "latency_ms",
            "http_status",
            "error",
        ] {
            assert!(json.get(field).is_some(), "{field} missing from {json}");
        }
        assert_eq!(json["type"], "transition");
        assert_eq!(json["to"], "down");
    }
}

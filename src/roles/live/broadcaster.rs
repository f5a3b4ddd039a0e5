//! The broadcaster: one per API process. The `Tail` step reads the
//! transitions stream (every API process sees every transition) and hands
//! each to the actor, which passes it to the sessions whose filters match. A
//! session whose mailbox is full is dropped and told why: a slow client
//! never slows the broadcaster or the others.

use std::collections::HashMap;
use std::sync::Arc;

use actix::dev::SendError;
use actix::{Actor, Addr, Context, Handler, Message, Recipient};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::domain::feed::{FeedItem, Filter};
use crate::queue::keys::Keys;
use crate::queue::transitions;
use crate::queue::{HeldConnection, RedisPool};
use crate::runtime::Shutdown;
use crate::runtime::consumer::{self, Outcome, Step, StepError};

/// Transitions read from Redis per round trip, at most.
const READ_BATCH: usize = 500;
/// Well under the Redis reply timeout (see `queue::pool`).
const READ_BLOCK_MS: usize = 1_000;

/// A live transition for a session.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Push(pub Arc<FeedItem>);

/// Tells a session it fell too far behind and is being dropped.
#[derive(Message)]
#[rtype(result = "()")]
pub struct TooSlow;

struct Subscriber {
    filter: Filter,
    push: Recipient<Push>,
    too_slow: Recipient<TooSlow>,
}

#[derive(Default)]
pub struct Broadcaster {
    sessions: HashMap<Uuid, Subscriber>,
}

impl Actor for Broadcaster {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    pub id: Uuid,
    pub filter: Filter,
    pub push: Recipient<Push>,
    pub too_slow: Recipient<TooSlow>,
}

impl Handler<Subscribe> for Broadcaster {
    type Result = ();

    fn handle(&mut self, subscribe: Subscribe, _: &mut Self::Context) {
        self.sessions.insert(
            subscribe.id,
            Subscriber {
                filter: subscribe.filter,
                push: subscribe.push,
                too_slow: subscribe.too_slow,
            },
        );
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe(pub Uuid);

impl Handler<Unsubscribe> for Broadcaster {
    type Result = ();

    fn handle(&mut self, Unsubscribe(id): Unsubscribe, _: &mut Self::Context) {
        self.sessions.remove(&id);
    }
}

/// Transitions read from the stream, in order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish(pub Vec<FeedItem>);

impl Handler<Publish> for Broadcaster {
    type Result = ();

    fn handle(&mut self, Publish(batch): Publish, _: &mut Self::Context) {
        for transition in batch {
            let transition = Arc::new(transition);
            self.sessions.retain(|id, session| {
                if !session.filter.matches(&transition) {
                    return true;
                }
                match session.push.try_send(Push(transition.clone())) {
                    Ok(()) => true,
                    Err(SendError::Full(_)) => {
                        tracing::warn!(session = %id, "live feed client too slow; dropping it");
                        session.too_slow.do_send(TooSlow);
                        false
                    }
                    Err(SendError::Closed(_)) => false,
                }
            });
        }
    }
}

/// How many sessions are subscribed (for tests and metrics).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountSessions;

impl Handler<CountSessions> for Broadcaster {
    type Result = usize;

    fn handle(&mut self, _: CountSessions, _: &mut Self::Context) -> usize {
        self.sessions.len()
    }
}

/// Tails the transitions stream into the broadcaster until shutdown.
pub fn tail(
    redis: RedisPool,
    keys: Keys,
    broadcaster: Addr<Broadcaster>,
    shutdown: Shutdown,
) -> JoinHandle<()> {
    let tail = Tail {
        redis: HeldConnection::new(redis),
        keys,
        broadcaster,
        after: None,
    };
    actix_web::rt::spawn(consumer::run(tail, shutdown))
}

/// The broadcaster's feed: each step reads the transitions after the last
/// one read (no group: every API process sees every transition).
pub struct Tail {
    redis: HeldConnection,
    keys: Keys,
    broadcaster: Addr<Broadcaster>,
    /// The last entry read; `None` until the first read, which starts at the
    /// newest entry (a new process wants only what comes next).
    after: Option<String>,
}

impl Step for Tail {
    fn name(&self) -> &'static str {
        "transitions tail"
    }

    async fn step(&mut self) -> Result<Outcome, StepError> {
        let (keys, after) = (&self.keys, &self.after);
        let (from, entries) = self
            .redis
            .run(async |connection| {
                let from = match after {
                    Some(id) => id.clone(),
                    None => transitions::newest_id(connection, keys).await?,
                };
                let entries =
                    transitions::read_after(connection, keys, &from, READ_BATCH, READ_BLOCK_MS)
                        .await?;
                Ok((from, entries))
            })
            .await
            .map_err(StepError::queue)?;
        self.after = Some(entries.last().map_or(from, |entry| entry.id.clone()));
        let batch: Vec<FeedItem> = entries
            .into_iter()
            .filter_map(|entry| match entry.payload {
                Ok(transition) => Some(transition),
                Err(reason) => {
                    tracing::error!(entry_id = %entry.id, reason = %reason, "unreadable transition skipped");
                    None
                }
            })
            .collect();
        let count = batch.len();
        if count > 0 {
            self.broadcaster.do_send(Publish(batch));
        }
        Ok(Outcome::worked(count))
    }
}

//! A WebSocket session actor: subscribes to the broadcaster, says hello,
//! catches up from the event log when asked to resume, then forwards live
//! transitions. The rules (filtering, joining catch-up and live) are in
//! `crate::feed`; this actor only moves frames, so replacing
//! actix-web-actors (deprecated upstream) with actix-ws stays a local change.

use std::time::{Duration, Instant};

use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Handler, StreamHandler, WrapFuture,
};
use actix_web_actors::ws;
use uuid::Uuid;

use super::broadcaster::{Broadcaster, Push, Subscribe, TooSlow, Unsubscribe};
use crate::domain::feed::{FeedItem, FeedMessage, FeedState, Filter};
use crate::store::{self, Pool, StoreError, event_log};

/// Pings go out this often; a client that answers none of two is closed.
const PING_EVERY: Duration = Duration::from_secs(10);
const SILENCE_LIMIT: Duration = Duration::from_secs(20);
/// Events read per catch-up page.
const CATCH_UP_PAGE: i64 = 500;

pub struct Session {
    id: Uuid,
    after_seq: Option<i64>,
    feed: FeedState,
    pg: Pool,
    broadcaster: Addr<Broadcaster>,
    last_heard: Instant,
    /// Live transitions waiting (in the mailbox while live, in the feed
    /// while catching up) before the client counts as too slow.
    buffer: usize,
}

impl Session {
    pub fn new(
        filter: Filter,
        after_seq: Option<i64>,
        pg: Pool,
        broadcaster: Addr<Broadcaster>,
        buffer: usize,
    ) -> Self {
        Self {
            id: Uuid::new_v4(),
            after_seq,
            feed: FeedState::new(filter, buffer),
            pg,
            broadcaster,
            last_heard: Instant::now(),
            buffer,
        }
    }

    fn send(ctx: &mut ws::WebsocketContext<Self>, message: &FeedMessage) {
        match serde_json::to_string(message) {
            Ok(text) => ctx.text(text),
            Err(error) => tracing::error!(error = %error, "cannot encode a feed message"),
        }
    }

    fn close(ctx: &mut ws::WebsocketContext<Self>, code: ws::CloseCode, reason: &str) {
        ctx.close(Some(ws::CloseReason {
            code,
            description: Some(reason.to_owned()),
        }));
        ctx.stop();
    }

    /// Reads the next page of missed transitions; when there are none left,
    /// sends what waited and goes live.
    fn catch_up(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let (pg, after, filter) = (
            self.pg.clone(),
            self.feed.sent_up_to(),
            self.feed.filter().clone(),
        );
        let page = async move { read_page(&pg, after, &filter).await };
        ctx.spawn(page.into_actor(self).map(|page, session, ctx| match page {
            Ok(page) if page.is_empty() => {
                for message in session.feed.go_live() {
                    Self::send(ctx, &message);
                }
            }
            Ok(page) => {
                for message in session.feed.caught_up(page) {
                    Self::send(ctx, &message);
                }
                session.catch_up(ctx);
            }
            Err(error) => {
                tracing::warn!(error = %error, "live feed catch-up failed");
                Self::close(
                    ctx,
                    ws::CloseCode::Again,
                    "the event log is unavailable; reconnect with after_seq",
                );
            }
        }));
    }
}

async fn read_page(pg: &Pool, after: i64, filter: &Filter) -> Result<Vec<FeedItem>, StoreError> {
    let client = store::connection(pg, "catching a live feed client up").await?;
    let tags: Vec<&str> = filter.tags.iter().map(AsRef::as_ref).collect();
    event_log::feed_after(&client, after, &filter.monitor_ids, &tags, CATCH_UP_PAGE).await
}

impl Actor for Session {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.buffer);
        // Subscribed before the log is read: nothing committed after the
        // read can be missed, and what both deliver is sent once.
        self.broadcaster.do_send(Subscribe {
            id: self.id,
            filter: self.feed.filter().clone(),
            push: ctx.address().recipient(),
            too_slow: ctx.address().recipient(),
        });
        ctx.run_interval(PING_EVERY, |session, ctx| {
            if session.last_heard.elapsed() > SILENCE_LIMIT {
                Self::close(ctx, ws::CloseCode::Away, "no answer to two pings");
                return;
            }
            ctx.ping(b"");
        });
        let pg = self.pg.clone();
        let latest = async move {
            let client = store::connection(&pg, "greeting a live feed client").await?;
            event_log::latest_seq(&client).await
        };
        ctx.spawn(
            latest
                .into_actor(self)
                .map(|latest, session, ctx| match latest {
                    Ok(last_seq) => {
                        let hello = session.feed.hello(last_seq, session.after_seq);
                        Self::send(ctx, &hello);
                        session.catch_up(ctx);
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "live feed hello failed");
                        Self::close(
                            ctx,
                            ws::CloseCode::Again,
                            "the event log is unavailable; reconnect",
                        );
                    }
                }),
        );
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.broadcaster.do_send(Unsubscribe(self.id));
    }
}

impl Handler<Push> for Session {
    type Result = ();

    fn handle(&mut self, Push(transition): Push, ctx: &mut Self::Context) {
        match self.feed.live(FeedItem::clone(&transition)) {
            Ok(Some(message)) => Self::send(ctx, &message),
            Ok(None) => {}
            Err(error) => Self::close(ctx, ws::CloseCode::Policy, &error.to_string()),
        }
    }
}

impl Handler<TooSlow> for Session {
    type Result = ();

    fn handle(&mut self, _: TooSlow, ctx: &mut Self::Context) {
        let reason = format!(
            "too slow: more than {} transitions waiting; reconnect with after_seq",
            self.buffer
        );
        Self::close(ctx, ws::CloseCode::Policy, &reason);
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for Session {
    fn handle(&mut self, message: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        match message {
            Ok(ws::Message::Ping(payload)) => ctx.pong(&payload),
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Ok(_) => {}
            Err(error) => {
                tracing::debug!(error = %error, "live feed protocol error");
                ctx.stop();
            }
        }
    }
}

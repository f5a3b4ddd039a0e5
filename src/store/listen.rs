//! A connection of its own that `LISTEN`s on one channel: each notification
//! wakes whoever waits on it, so a role sleeps until PostgreSQL says there is
//! something to read instead of polling for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls};

use super::StoreError;

pub struct Listener {
    woken: Arc<Notify>,
    lost: Arc<AtomicBool>,
    _client: tokio_postgres::Client,
    driver: JoinHandle<()>,
}

impl Listener {
    /// Connects and listens on `channel`. The first wait returns at once:
    /// whatever was notified before the `LISTEN` took effect is still to read.
    pub async fn start(
        database: &tokio_postgres::Config,
        channel: &str,
    ) -> Result<Self, StoreError> {
        let (client, mut connection) = database
            .connect(NoTls)
            .await
            .map_err(|e| StoreError::from_db("connecting to LISTEN", e))?;
        let woken = Arc::new(Notify::new());
        let lost = Arc::new(AtomicBool::new(false));
        let (wake, lose) = (woken.clone(), lost.clone());
        let driver = tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(_)) => wake.notify_one(),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            lose.store(true, Ordering::SeqCst);
            wake.notify_one();
        });
        client
            .batch_execute(&format!("LISTEN {channel}"))
            .await
            .map_err(|e| StoreError::from_db("starting to LISTEN", e))?;
        woken.notify_one();
        Ok(Self {
            woken,
            lost,
            _client: client,
            driver,
        })
    }

    /// Returns once a notification came (or came while nobody waited) or
    /// the connection was lost.
    pub async fn woken(&self) {
        self.woken.notified().await;
    }

    /// The connection is gone: notifications no longer arrive.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

/// Returns once `listener` is woken; never when there is none, so a caller
/// can wait on it alongside its other reasons to wake.
pub async fn woken_by(listener: Option<&Listener>) {
    match listener {
        Some(listener) => listener.woken().await,
        None => std::future::pending().await,
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

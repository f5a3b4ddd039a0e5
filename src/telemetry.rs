//! Structured logs: tracing with bunyan JSON lines.

use tracing::Subscriber;
use tracing::subscriber::set_global_default;
use tracing_bunyan_formatter::{BunyanFormattingLayer, JsonStorageLayer};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::{EnvFilter, Registry, layer::SubscriberExt};

/// A subscriber writing bunyan JSON to `sink`. `RUST_LOG` overrides
/// `default_filter` when set.
pub fn subscriber<Sink>(
    name: &str,
    default_filter: &str,
    sink: Sink,
) -> impl Subscriber + Send + Sync + use<Sink>
where
    Sink: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    Registry::default()
        .with(filter)
        .with(JsonStorageLayer)
        .with(BunyanFormattingLayer::new(name.to_owned(), sink))
}

/// Installs `subscriber` for the whole process and routes `log` records into it.
/// Returns false if a subscriber was already installed (tests install once).
pub fn init(subscriber: impl Subscriber + Send + Sync) -> bool {
    let _ = tracing_log::LogTracer::init();
    set_global_default(subscriber).is_ok()
}

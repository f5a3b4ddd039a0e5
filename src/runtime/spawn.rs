//! Runtimes of their own for CPU-heavy roles.

use std::future::Future;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Runs the future `task` makes to completion on a runtime of its own
/// (`threads` threads), so that CPU-heavy work (the probes) spreads over every core
/// instead of sharing the actix System thread with the actors. The future is
/// made on that runtime's thread, so it need not be `Send` itself. The
/// handle finishes when the task does.
pub(crate) fn spawn_on_own_runtime<F, Fut>(
    name: &str,
    threads: usize,
    task: F,
) -> std::io::Result<JoinHandle<()>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    // One thread: a current-thread runtime, whose tasks run on the thread
    // that drives the task instead of waking another one for each (at
    // everyday rates those wake-ups were most of a probe's CPU time).
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    let runtime = builder.thread_name(name).enable_all().build()?;
    let (done, finished) = oneshot::channel::<()>();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            runtime.block_on(task());
            let _ = done.send(());
        })?;
    Ok(actix_web::rt::spawn(async move {
        let _ = finished.await;
    }))
}

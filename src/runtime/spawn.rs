//! Runtimes of their own for CPU-heavy roles.

use std::future::Future;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Runs the future `task` makes to completion on a multi-threaded runtime of
/// its own, so that CPU-heavy work (the probes) spreads over every core
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()?;
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

//! A TCP proxy the `chaos` scenario puts between one worker and Redis, to
//! cut that worker off: while cut, bytes stop flowing both ways and new
//! connections are accepted but answered with silence, as a network
//! partition looks to the client; on restore the held connections close, so
//! the client reconnects.

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    port: u16,
    cut: watch::Sender<bool>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free port and forwards to 127.0.0.1:`upstream`.
    pub async fn start(upstream: u16) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (cut, _) = watch::channel(false);
        let cuts = cut.clone();
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(forward(client, upstream, cuts.subscribe()));
            }
        });
        Ok(Self {
            port,
            cut,
            accepting,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accepting.abort();
        // Held and forwarding connections end with the sender.
    }
}

async fn forward(mut client: TcpStream, upstream: u16, mut cut: watch::Receiver<bool>) {
    if *cut.borrow_and_update() {
        let _ = cut.wait_for(|cut| !*cut).await;
        return;
    }
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let cut_off = tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
        _ = cut.wait_for(|cut| *cut) => true,
    };
    if cut_off {
        drop(server);
        let _ = cut.wait_for(|cut| !*cut).await;
    }
}

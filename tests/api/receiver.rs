//! Notification receivers the tests control: an HTTP server that records
//! every request and answers as told (a queue of statuses, then a default,
//! optionally slowly), and a minimal SMTP server that keeps every message.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn delivery_id(&self) -> String {
        self.header("x-upwatch-delivery")
            .unwrap_or_default()
            .to_owned()
    }
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    /// Answers for the next requests, in order: status and `Retry-After`.
    planned: VecDeque<(u16, Option<&'static str>)>,
    default_status: u16,
    delay: Duration,
    /// Requests being answered, per delivery id.
    in_flight: HashMap<String, usize>,
    /// Times a delivery id arrived while an earlier request of it was open.
    overlaps: usize,
}

#[derive(Clone)]
pub struct Receiver {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    pub fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            default_status: 200,
            ..Inner::default()
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = inner.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(shared.clone()))
                .default_service(web::to(answer))
        })
        .workers(2)
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        Self {
            base: format!("http://127.0.0.1:{port}"),
            inner,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The next requests get these statuses (with `Retry-After`), then the default.
    pub fn plan(&self, answers: &[(u16, Option<&'static str>)]) {
        self.inner
            .lock()
            .unwrap()
            .planned
            .extend(answers.iter().copied());
    }

    pub fn answer(&self, status: u16) {
        self.inner.lock().unwrap().default_status = status;
    }

    pub fn delay(&self, delay: Duration) {
        self.inner.lock().unwrap().delay = delay;
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// The requests to `path`.
    pub fn received_at(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    pub fn overlaps(&self) -> usize {
        self.inner.lock().unwrap().overlaps
    }
}

async fn answer(
    req: HttpRequest,
    body: web::Bytes,
    inner: web::Data<Arc<Mutex<Inner>>>,
) -> HttpResponse {
    let received = Received {
        method: req.method().as_str().to_owned(),
        path: req.path().to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    let id = received.delivery_id();
    let (status, retry_after, delay) = {
        let mut inner = inner.lock().unwrap();
        let open = inner.in_flight.entry(id.clone()).or_default();
        *open += 1;
        if *open > 1 && !id.is_empty() {
            inner.overlaps += 1;
        }
        inner.received.push(received);
        let (status, retry_after) = inner
            .planned
            .pop_front()
            .unwrap_or((inner.default_status, None));
        (status, retry_after, inner.delay)
    };
    if !delay.is_zero() {
        actix_web::rt::time::sleep(delay).await;
    }
    if let Some(open) = inner.lock().unwrap().in_flight.get_mut(&id) {
        *open -= 1;
    }
    let mut response = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    if let Some(after) = retry_after {
        response.insert_header(("Retry-After", after));
    }
    response.finish()
}

/// A minimal SMTP server: accepts every message and keeps it whole.
#[derive(Clone)]
pub struct SmtpReceiver {
    pub port: u16,
    messages: Arc<Mutex<Vec<String>>>,
}

impl SmtpReceiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let kept = messages.clone();
        actix_web::rt::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                actix_web::rt::spawn(converse(stream, kept.clone()));
            }
        });
        Self { port, messages }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }
}

async fn converse(stream: tokio::net::TcpStream, messages: Arc<Mutex<Vec<String>>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let _ = write.write_all(b"220 localhost ESMTP test\r\n").await;
    while let Ok(Some(line)) = lines.next_line().await {
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250-localhost\r\n250 8BITMIME\r\n",
            "DATA" => {
                let _ = write.write_all(b"354 go ahead\r\n").await;
                let mut message = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line == "." {
                        break;
                    }
                    message.push_str(&line);
                    message.push('\n');
                }
                messages.lock().unwrap().push(message);
                b"250 queued\r\n"
            }
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"250 ok\r\n",
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

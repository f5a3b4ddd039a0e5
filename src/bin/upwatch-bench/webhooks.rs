//! A webhook receiver that answers at once and keeps what arrived: which
//! path (one per channel), the delivery id, the event's seq, and when.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct Arrival {
    pub path: String,
    pub delivery: String,
    /// None for a test delivery.
    pub seq: Option<i64>,
    pub at: OffsetDateTime,
}

pub type Arrivals = Arc<Mutex<Vec<Arrival>>>;

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    arrivals: web::Data<Arrivals>,
) -> HttpResponse {
    let at = OffsetDateTime::now_utc();
    let Some(delivery) = req
        .headers()
        .get("x-upwatch-delivery")
        .and_then(|v| v.to_str().ok())
    else {
        return HttpResponse::BadRequest().finish();
    };
    let seq = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["seq"].as_i64());
    if let Ok(mut arrivals) = arrivals.lock() {
        arrivals.push(Arrival {
            path: req.path().to_owned(),
            delivery: delivery.to_owned(),
            seq,
            at,
        });
    }
    HttpResponse::NoContent().finish()
}

/// Serves on a free port, every path; the base URL and what arrives.
pub fn start_receiver() -> anyhow::Result<(String, Arrivals)> {
    let arrivals: Arrivals = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    let shared = arrivals.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(shared.clone()))
            .default_service(web::to(receive))
    })
    .workers(1)
    .listen(listener)?
    .run();
    actix_web::rt::spawn(server);
    Ok((base, arrivals))
}

pub fn arrived(arrivals: &Arrivals) -> usize {
    arrivals.lock().map(|a| a.len()).unwrap_or(0)
}

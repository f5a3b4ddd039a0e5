//! A local HTTP target whose answers the test controls: `/health` answers with
//! a status the test can flip, `/status/{code}` with that code, `/hang` never
//! in time. It counts the requests it gets.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};

#[derive(Clone)]
pub struct Target {
    pub base: String,
    status: Arc<AtomicU16>,
    hits: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
}

struct Shared {
    status: Arc<AtomicU16>,
    hits: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
}

impl Target {
    pub fn start() -> Self {
        let status = Arc::new(AtomicU16::new(200));
        let hits = Arc::new(AtomicUsize::new(0));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (s, h, f) = (status.clone(), hits.clone(), in_flight.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(Shared {
                    status: s.clone(),
                    hits: h.clone(),
                    in_flight: f.clone(),
                }))
                .route(
                    "/health",
                    web::to(|shared: web::Data<Shared>| async move {
                        shared.hits.fetch_add(1, Ordering::SeqCst);
                        let code = shared.status.load(Ordering::SeqCst);
                        HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap())
                            .finish()
                    }),
                )
                .route(
                    "/status/{code}",
                    web::to(|code: web::Path<u16>| async move {
                        HttpResponse::build(actix_web::http::StatusCode::from_u16(*code).unwrap())
                            .finish()
                    }),
                )
                .route(
                    "/slow/{ms}",
                    web::to(|ms: web::Path<u64>, shared: web::Data<Shared>| async move {
                        shared.hits.fetch_add(1, Ordering::SeqCst);
                        shared.in_flight.fetch_add(1, Ordering::SeqCst);
                        actix_web::rt::time::sleep(Duration::from_millis(*ms)).await;
                        shared.in_flight.fetch_sub(1, Ordering::SeqCst);
                        HttpResponse::Ok().finish()
                    }),
                )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        Self {
            base: format!("http://127.0.0.1:{port}"),
            status,
            hits,
            in_flight,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// What `/health` answers from now on.
    pub fn answer(&self, code: u16) {
        self.status.store(code, Ordering::SeqCst);
    }

    /// Requests to `/slow` being answered right now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Requests to `/health` and `/slow` so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

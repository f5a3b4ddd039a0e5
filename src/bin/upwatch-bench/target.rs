//! `upwatch-bench target`: cheap HTTP targets in their own process.
//! `GET /t/{name}` answers the status set for `name` (200 unless flipped);
//! `PUT /flip/{name}/{status}` sets it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, HttpServer, web};

type Statuses = Arc<RwLock<HashMap<String, u16>>>;

pub async fn serve(port: u16, workers: usize) -> std::io::Result<()> {
    let statuses: Statuses = Arc::default();
    HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(statuses.clone()))
            .route("/t/{name}", web::get().to(answer))
            .route("/flip/{name}/{status}", web::put().to(flip))
    })
    .workers(workers)
    .backlog(4096)
    .max_connections(100_000)
    .bind(("127.0.0.1", port))?
    .run()
    .await
}

async fn answer(statuses: web::Data<Statuses>, name: web::Path<String>) -> HttpResponse {
    let code = statuses
        .read()
        .ok()
        .and_then(|s| s.get(name.as_str()).copied())
        .unwrap_or(200);
    let mut response = HttpResponse::build(StatusCode::from_u16(code).unwrap_or(StatusCode::OK));
    // `/t/json…`: a small health document, for the workloads whose
    // conditions read the body.
    if name.starts_with("json") {
        return response
            .content_type("application/json")
            .body(r#"{"status":"UP","version":"1.0.0","checks":{"db":"ok"}}"#);
    }
    response.finish()
}

async fn flip(statuses: web::Data<Statuses>, path: web::Path<(String, u16)>) -> HttpResponse {
    let (name, code) = path.into_inner();
    if let Ok(mut statuses) = statuses.write() {
        statuses.insert(name, code);
    }
    HttpResponse::NoContent().finish()
}

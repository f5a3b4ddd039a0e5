//! The dashboard at `/`: plain files from `web/`, embedded in the binary,
//! served with a policy that lets the page reach nothing but this server.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "web/"]
struct Assets;

/// The page may load and connect to this server only.
const POLICY: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; \
    style-src 'self'; script-src 'self'; frame-ancestors 'none'";

fn serve(name: &str) -> HttpResponse {
    let Some(file) = Assets::get(name) else {
        return actix_web::ResponseError::error_response(&super::error::ApiError::not_found(
            "no such file",
        ));
    };
    let content_type = match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, POLICY))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(file.data.into_owned())
}

pub async fn index() -> HttpResponse {
    serve("index.html")
}

pub async fn asset(name: web::Path<String>) -> HttpResponse {
    serve(&name)
}

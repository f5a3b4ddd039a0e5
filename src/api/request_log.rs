//! One log line per request: request id, method, path, status and latency.

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use uuid::Uuid;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Keeps a caller's request id when it is short and printable, else makes one.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| Uuid::new_v4().to_string())
}

/// A route pattern as a metric label: `/api/v1/monitors/{id}` becomes
/// `/api/v1/monitors/:id`, which every text-format parser reads (some trip
/// on braces inside label values).
fn route_label(pattern: &str) -> String {
    pattern.replace('{', ":").replace('}', "")
}

/// A method as a metric label: the standard ones as they are, anything
/// else `other`, so a client cannot make the series unbounded.
fn method_label(method: &str) -> String {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
    ];
    if KNOWN.contains(&method) {
        method.to_owned()
    } else {
        "other".to_owned()
    }
}

pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = request_id(&req);
    let method = req.method().to_string();
    let path = req.path().to_owned();
    let started = Instant::now();
    let mut route = "unmatched".to_owned();
    let mut outcome = next.call(req).await;
    let status = match &mut outcome {
        Ok(response) => {
            route = response
                .request()
                .match_pattern()
                .map_or_else(|| "unmatched".to_owned(), |pattern| route_label(&pattern));
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert(REQUEST_ID, value);
            }
            response.status().as_u16()
        }
        Err(error) => error.as_response_error().status_code().as_u16(),
    };
    let elapsed = started.elapsed();
    crate::instruments::http_request(method_label(&method), route, status, elapsed);
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    tracing::info!(
        request_id = %id,
        method = %method,
        path = %path,
        status,
        latency_ms,
        "request"
    );
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_stay_few_whatever_clients_send() {
        assert_eq!(method_label("PATCH"), "PATCH");
        assert_eq!(method_label("BREW"), "other");
        assert_eq!(
            route_label("/api/v1/monitors/{id}/pause"),
            "/api/v1/monitors/:id/pause"
        );
    }
}

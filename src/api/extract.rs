//! Turning raw request parts into checked values: the JSON body, query
//! parameters, `If-Match`, path ids and page cursors.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::ApiError;
use crate::domain::Tag;

/// Bodies above this many bytes are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Bodies of `POST /api/v1/apply` (a whole monitors file) up to this.
pub const FILE_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// A request body that is a JSON object, at most `LIMIT` bytes.
#[derive(Debug)]
pub struct JsonObject<const LIMIT: usize = BODY_LIMIT>(pub Map<String, Value>);

impl<const LIMIT: usize> FromRequest for JsonObject<LIMIT> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = matches!(req.mime_type(), Ok(Some(mime))
            if mime.type_() == "application"
                && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json")));
        let declared_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::unsupported_media_type());
            }
            if declared_length.is_some_and(|length| length > LIMIT) {
                return Err(ApiError::payload_too_large(LIMIT));
            }
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| {
                    ApiError::malformed_json(format!("the request body could not be read: {e}"))
                })?;
                if body.len() + chunk.len() > LIMIT {
                    return Err(ApiError::payload_too_large(LIMIT));
                }
                body.extend_from_slice(&chunk);
            }
            if body.iter().all(u8::is_ascii_whitespace) {
                return Err(ApiError::malformed_json("the request body is empty"));
            }
            let value: Value = serde_json::from_slice(&body).map_err(|e| {
                ApiError::malformed_json(format!("the body is not valid JSON: {e}"))
            })?;
            match value {
                Value::Object(map) => Ok(Self(map)),
                other => Err(ApiError::validation(
                    "body",
                    format!("must be a JSON object, got {}", json_kind(&other)),
                )),
            }
        })
    }
}

/// "string", "array", ... for error messages.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The query string as name/value pairs, in order.
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub fn from_request(req: &HttpRequest) -> Result<Self, ApiError> {
        actix_web::web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .map(|q| Self(q.into_inner()))
            .map_err(|e| ApiError::validation("query", format!("cannot be parsed: {e}")))
    }

    /// The value of a parameter given at most once.
    pub fn single<'a>(&'a self, name: &'a str) -> Result<Option<&'a str>, ApiError> {
        let mut values = self.all(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::validation(name, "must be given at most once"));
        }
        Ok(first)
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// An RFC 3339 time, such as `2026-01-01T00:00:00Z`.
    pub fn time(&self, name: &'static str) -> Result<Option<time::OffsetDateTime>, ApiError> {
        self.single(name)?
            .map(|raw| {
                time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| {
                        ApiError::validation(
                            name,
                            format!(
                                "must be an RFC 3339 time such as 2026-01-01T00:00:00Z, got `{raw}`"
                            ),
                        )
                    })
            })
            .transpose()
    }

    /// `limit`: 1–1000, 100 when absent.
    /// `after_seq`: a whole number ≥ 0, if given.
    pub fn after_seq(&self) -> Result<Option<i64>, ApiError> {
        self.single("after_seq")?
            .map(|raw| {
                raw.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                    ApiError::validation(
                        "after_seq",
                        format!("must be a whole number ≥ 0, got `{raw}`"),
                    )
                })
            })
            .transpose()
    }

    /// Every `tag` given (repeatable).
    pub fn tags(&self) -> Result<Vec<Tag>, ApiError> {
        self.all("tag")
            .map(|raw| Tag::parse(raw).map_err(|e| ApiError::validation("tag", e.0)))
            .collect()
    }

    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.single("limit")? {
            None => Ok(100),
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| {
                    ApiError::validation(
                        "limit",
                        format!("must be between 1 and 1000, got `{raw}`"),
                    )
                }),
        }
    }
}

/// A monitor id from the path; anything that is not a UUID names no monitor.
pub fn monitor_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found("no monitor with this id"))
}

/// A channel id from the path.
pub fn channel_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found("no channel with this id"))
}

/// A monitor id given as a query parameter: a malformed one is the client's
/// mistake to fix (422), not an unknown monitor.
pub fn monitor_id_param(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::validation("monitor_id", format!("must be a UUID, got `{raw}`")))
}

/// The version an `If-Match` header demands: `3`, `"3"` or `W/"3"`; `*` or no
/// header demand nothing.
pub fn if_match(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let refuse =
        || ApiError::precondition_failed("If-Match must be a monitor version, such as \"3\"");
    let raw = value.to_str().map_err(|_| refuse())?.trim();
    if raw == "*" {
        return Ok(None);
    }
    let unquoted = raw.strip_prefix("W/").unwrap_or(raw).trim_matches('"');
    unquoted.parse::<i64>().map(Some).map_err(|_| refuse())
}

/// The `ETag` value for a monitor version.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// Opaque page cursors: clients pass back what they were given.
pub mod cursor {
    use super::*;

    pub fn encode(position: &str) -> String {
        URL_SAFE_NO_PAD.encode(position)
    }

    pub fn decode(raw: &str) -> Result<String, ApiError> {
        URL_SAFE_NO_PAD
            .decode(raw)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(invalid)
    }

    pub fn invalid() -> ApiError {
        ApiError::validation("cursor", "is not a cursor this server issued")
    }

    pub fn encode_monitor(after: Uuid) -> String {
        encode_id("m", after)
    }

    pub fn decode_monitor(raw: &str) -> Result<Uuid, ApiError> {
        decode_id("m", raw)
    }

    pub fn encode_channel(after: Uuid) -> String {
        encode_id("c", after)
    }

    pub fn decode_channel(raw: &str) -> Result<Uuid, ApiError> {
        decode_id("c", raw)
    }

    fn encode_id(tag: &str, after: Uuid) -> String {
        encode(&format!("{tag}:{after}"))
    }

    fn decode_id(tag: &str, raw: &str) -> Result<Uuid, ApiError> {
        decode(raw)?
            .strip_prefix(tag)
            .and_then(|rest| rest.strip_prefix(':'))
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or_else(invalid)
    }

    /// A result's position: its tick (Unix nanoseconds) and job id.
    pub fn encode_result(scheduled_at: time::OffsetDateTime, job_id: Uuid) -> String {
        encode_at("r", scheduled_at, job_id)
    }

    pub fn decode_result(raw: &str) -> Result<(time::OffsetDateTime, Uuid), ApiError> {
        decode_at("r", raw)
    }

    /// A delivery's position: when it was created, and its id.
    pub fn encode_delivery(created_at: time::OffsetDateTime, id: Uuid) -> String {
        encode_at("d", created_at, id)
    }

    pub fn decode_delivery(raw: &str) -> Result<(time::OffsetDateTime, Uuid), ApiError> {
        decode_at("d", raw)
    }

    fn encode_at(tag: &str, at: time::OffsetDateTime, id: Uuid) -> String {
        encode(&format!("{tag}:{}:{id}", at.unix_timestamp_nanos()))
    }

    fn decode_at(tag: &str, raw: &str) -> Result<(time::OffsetDateTime, Uuid), ApiError> {
        let decoded = decode(raw)?;
        let (nanos, id) = decoded
            .strip_prefix(tag)
            .and_then(|rest| rest.strip_prefix(':'))
            .and_then(|rest| rest.split_once(':'))
            .ok_or_else(invalid)?;
        let at = nanos
            .parse::<i128>()
            .ok()
            .and_then(|n| time::OffsetDateTime::from_unix_timestamp_nanos(n).ok())
            .ok_or_else(invalid)?;
        Ok((at, Uuid::parse_str(id).map_err(|_| invalid())?))
    }

    pub fn encode_seq(after: i64) -> String {
        encode(&format!("s:{after}"))
    }

    pub fn decode_seq(raw: &str) -> Result<i64, ApiError> {
        decode(raw)?
            .strip_prefix("s:")
            .and_then(|seq| seq.parse::<i64>().ok())
            .filter(|seq| *seq >= 0)
            .ok_or_else(invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn if_match_accepts_plain_quoted_and_weak_versions() {
        for (header, expected) in [
            ("3", Some(3)),
            ("\"3\"", Some(3)),
            ("W/\"7\"", Some(7)),
            ("*", None),
        ] {
            let req = TestRequest::default()
                .insert_header((header::IF_MATCH, header))
                .to_http_request();
            assert_eq!(if_match(&req).unwrap(), expected, "{header}");
        }
        let garbage = TestRequest::default()
            .insert_header((header::IF_MATCH, "abc"))
            .to_http_request();
        assert_eq!(if_match(&garbage).unwrap_err().code, "precondition_failed");
        assert_eq!(
            if_match(&TestRequest::default().to_http_request()).unwrap(),
            None
        );
    }

    #[test]
    fn cursors_round_trip_and_reject_foreign_input() {
        let id = Uuid::now_v7();
        assert_eq!(
            cursor::decode_monitor(&cursor::encode_monitor(id)).unwrap(),
            id
        );
        assert_eq!(cursor::decode_seq(&cursor::encode_seq(42)).unwrap(), 42);
        assert!(cursor::decode_seq(&cursor::encode_monitor(id)).is_err());
        assert!(cursor::decode_monitor("not base64!").is_err());
        assert!(cursor::decode_seq(&cursor::encode("s:-1")).is_err());
        let at = time::macros::datetime!(2026-11-23 12:00:00.123456 UTC);
        assert_eq!(
            cursor::decode_result(&cursor::encode_result(at, id)).unwrap(),
            (at, id)
        );
        assert!(cursor::decode_result(&cursor::encode_seq(1)).is_err());
        assert!(cursor::decode_delivery(&cursor::encode_result(at, id)).is_err());
        assert_eq!(
            cursor::decode_delivery(&cursor::encode_delivery(at, id)).unwrap(),
            (at, id)
        );
    }
}

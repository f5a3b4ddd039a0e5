//! The command line's HTTP client for `upwatch apply` and `upwatch export`:
//! both go through the API, so a file is applied with the caller's token
//! and recorded under its name.

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;

/// Where the API is and who is calling.
#[derive(Debug, Clone)]
pub struct Remote {
    pub server: String,
    pub token: Option<String>,
}

impl Remote {
    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, String> {
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        let url = format!("{}{path}", self.server.trim_end_matches('/'));
        let mut request = client.request(method, url);
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        Ok(request)
    }

    /// `POST /api/v1/apply`: the plan, as the server answers it.
    pub async fn apply(&self, file: &Value, prune: bool, dry_run: bool) -> Result<Value, String> {
        let path = format!("/api/v1/apply?prune={prune}&dry_run={dry_run}");
        let body = serde_json::to_vec(file).map_err(|e| format!("cannot encode the file: {e}"))?;
        let request = self
            .request(reqwest::Method::POST, &path)?
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        self.answer(request).await
    }

    /// `GET /api/v1/export`: every monitor and channel, as a file.
    pub async fn export(&self) -> Result<Value, String> {
        let request = self.request(reqwest::Method::GET, "/api/v1/export")?;
        self.answer(request).await
    }

    async fn answer(&self, request: reqwest::RequestBuilder) -> Result<Value, String> {
        let response = request
            .send()
            .await
            .map_err(|e| format!("cannot reach {}: {e}", self.server))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("cannot read the answer of {}: {e}", self.server))?;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let error = &body["error"];
        Err(match (error["code"].as_str(), error["message"].as_str()) {
            (Some(code), Some(message)) => format!("{} {code}: {message}", status.as_u16()),
            _ => format!("{} from {}", status, self.server),
        })
    }
}

/// The plan as lines: `+ monitor checkout`, `~ monitor api (interval_seconds)`,
/// then the counts.
pub fn plan_lines(answer: &Value) -> Vec<String> {
    let mut lines: Vec<String> = answer["plan"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|entry| {
            let changed: Vec<&str> = entry["changed"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let mut line = format!(
                "{} {} {}",
                entry["action"].as_str().unwrap_or("?"),
                entry["kind"].as_str().unwrap_or("?"),
                entry["name"].as_str().unwrap_or("?")
            );
            if !changed.is_empty() {
                line.push_str(&format!(" ({})", changed.join(", ")));
            }
            line
        })
        .collect();
    let summary = &answer["summary"];
    let count = |key: &str| summary[key].as_u64().unwrap_or(0);
    let mut total = format!(
        "{} to create, {} to update, {} to delete, {} unchanged",
        count("create"),
        count("update"),
        count("delete"),
        count("unchanged")
    );
    if answer["dry_run"] == Value::Bool(true) {
        total.push_str(" (dry run: nothing changed)");
    }
    lines.push(total);
    lines
}

//! Authentication: one middleware for every route, REST and WebSocket alike.
//! It finds the token a request carries, checks its scope against what the
//! route needs, and hands the token's name on as the request's actor.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};
use tokio::task::JoinHandle;

use super::AppState;
use super::error::ApiError;
use crate::domain::actor::Actor;
use crate::domain::token::{Scope, TokenHash, TokenSecret};
use crate::runtime::Shutdown;
use crate::store::tokens::{self, LiveToken};
use crate::store::{Pool, StoreError};

/// How often each API process reloads the live tokens: a token revoked
/// anywhere stops working everywhere within this.
pub const REFRESH_EVERY: Duration = Duration::from_millis(500);

/// The live tokens, as last loaded; shared by every request of a process.
#[derive(Debug, Default)]
pub struct TokenBook {
    tokens: RwLock<Arc<Vec<LiveToken>>>,
}

impl TokenBook {
    /// The token whose hash is `hash`, compared against every live one in
    /// constant time.
    fn find(&self, hash: &TokenHash) -> Option<LiveToken> {
        let tokens = match self.tokens.read() {
            Ok(tokens) => Arc::clone(&tokens),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        };
        tokens
            .iter()
            .fold(None, |found, token| {
                if token.hash.matches(hash) {
                    Some(token)
                } else {
                    found
                }
            })
            .cloned()
    }

    pub fn is_empty(&self) -> bool {
        match self.tokens.read() {
            Ok(tokens) => tokens.is_empty(),
            Err(poisoned) => poisoned.into_inner().is_empty(),
        }
    }

    fn replace(&self, live: Vec<LiveToken>) {
        let live = Arc::new(live);
        match self.tokens.write() {
            Ok(mut tokens) => *tokens = live,
            Err(poisoned) => *poisoned.into_inner() = live,
        }
    }

    fn add(&self, token: LiveToken) {
        let mut live = match self.tokens.read() {
            Ok(tokens) => tokens.as_ref().clone(),
            Err(poisoned) => poisoned.into_inner().as_ref().clone(),
        };
        live.retain(|known| known.hash != token.hash);
        live.push(token);
        self.replace(live);
    }

    /// Loads the live tokens now.
    pub async fn reload(&self, pg: &Pool) -> Result<(), StoreError> {
        let client = crate::store::connection(pg, "loading the live tokens").await?;
        self.replace(tokens::live(&client).await?);
        Ok(())
    }

    /// The live token with this secret: from memory, else (a token made a
    /// moment ago, perhaps by another process) from PostgreSQL.
    async fn verify(&self, pg: &Pool, secret: &TokenSecret) -> Result<Option<LiveToken>, ApiError> {
        let hash = secret.hash();
        if let Some(token) = self.find(&hash) {
            return Ok(Some(token));
        }
        let client = crate::store::connection(pg, "looking a token up").await?;
        let found = tokens::find_live(&client, &hash).await?;
        if let Some(token) = &found {
            self.add(token.clone());
        }
        Ok(found)
    }
}

/// Keeps `book` current until `stopping`; a failed reload keeps the last set.
pub fn keep_current(book: Arc<TokenBook>, pg: Pool, mut stopping: Shutdown) -> JoinHandle<()> {
    tokio::spawn(async move {
        while !stopping.sleep(REFRESH_EVERY).await {
            if let Err(error) = book.reload(&pg).await {
                tracing::warn!(error = %error, "cannot reload the API tokens; keeping the last ones");
            }
        }
    })
}

/// A new token secret from the operating system's random generator.
pub fn new_secret() -> Result<TokenSecret, getrandom::Error> {
    let mut random = [0; TokenSecret::RANDOM_BYTES];
    getrandom::fill(&mut random)?;
    Ok(TokenSecret::from_random(random))
}

/// How a process authenticates its requests.
#[derive(Debug, Clone)]
pub enum Gate {
    /// Authentication is off: every request is `anonymous` and may do anything.
    Open,
    Tokens(Arc<TokenBook>),
}

/// What `method` on `path` needs; `None` for the routes open to all.
pub fn needed_scope(method: &Method, path: &str) -> Option<Scope> {
    const OPEN: [&str; 2] = ["/healthz", "/readyz"];
    if OPEN.contains(&path) || is_documentation(path) {
        return None;
    }
    if path == "/api/v1/tokens" || path.starts_with("/api/v1/tokens/") {
        return Some(Scope::Admin);
    }
    if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
        Some(Scope::Read)
    } else {
        Some(Scope::Write)
    }
}

/// The API's description (`/openapi.json`, `/docs`) and the dashboard's
/// page and files: open, so they load before their user has entered a
/// token; they hold no data.
fn is_documentation(path: &str) -> bool {
    path == "/openapi.json"
        || path == "/docs"
        || path.starts_with("/docs/")
        || path == "/"
        || path.starts_with("/assets/")
}

/// The secret a request carries: `Authorization: Bearer`, or for the live
/// feed (browsers cannot set headers on a WebSocket) `?access_token=`.
fn presented_secret(req: &ServiceRequest) -> Option<TokenSecret> {
    if let Some(header) = req.headers().get(AUTHORIZATION) {
        let value = header.to_str().ok()?;
        let (scheme, secret) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| TokenSecret::presented(secret.trim()));
    }
    if req.path() == "/api/v1/ws" {
        return web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .ok()?
            .0
            .into_iter()
            .find(|(name, _)| name == "access_token")
            .map(|(_, secret)| TokenSecret::presented(&secret));
    }
    None
}

fn unauthorized(message: &str, invalid: bool) -> actix_web::HttpResponse {
    let mut response = ApiError::unauthorized(message).error_response();
    let challenge = if invalid {
        "Bearer realm=\"upwatch\", error=\"invalid_token\""
    } else {
        "Bearer realm=\"upwatch\""
    };
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    response
}

/// The middleware: lets a request through with its actor, or answers 401/403.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let book = match &state.gate {
        Gate::Open => {
            req.extensions_mut().insert(Actor::Anonymous);
            return Ok(next.call(req).await?.map_into_boxed_body());
        }
        Gate::Tokens(book) => book,
    };
    let public = state.public_badges && req.path().starts_with("/badge/");
    let Some(needed) = needed_scope(req.method(), req.path()).filter(|_| !public) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(secret) = presented_secret(&req) else {
        let response = unauthorized(
            "this request needs a token: Authorization: Bearer <token>",
            false,
        );
        return Ok(req.into_response(response));
    };
    let token = match book.verify(&state.pg, &secret).await {
        Ok(Some(token)) => token,
        Ok(None) => {
            let response = unauthorized("the token is unknown or revoked", true);
            return Ok(req.into_response(response));
        }
        Err(error) => return Ok(req.into_response(error.error_response())),
    };
    if !token.scope.allows(needed) {
        let error = ApiError::forbidden(format!(
            "the token `{}` has scope `{}`; this request needs `{needed}`",
            token.name, token.scope
        ));
        return Ok(req.into_response(error.error_response()));
    }
    req.extensions_mut()
        .insert(Actor::Token(token.name.as_ref().to_owned()));
    Ok(next.call(req).await?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_needs_the_scope_the_contract_names() {
        let cases = [
            (Method::GET, "/healthz", None),
            (Method::GET, "/readyz", None),
            (Method::GET, "/openapi.json", None),
            (Method::GET, "/docs/", None),
            (Method::GET, "/", None),
            (Method::GET, "/assets/app.js", None),
            (Method::GET, "/metrics", Some(Scope::Read)),
            (Method::GET, "/api/v1/monitors", Some(Scope::Read)),
            (Method::GET, "/api/v1/ws", Some(Scope::Read)),
            (Method::POST, "/api/v1/monitors", Some(Scope::Write)),
            (Method::PATCH, "/api/v1/channels/x", Some(Scope::Write)),
            (Method::DELETE, "/api/v1/monitors/x", Some(Scope::Write)),
            (Method::POST, "/api/v1/apply", Some(Scope::Write)),
            (Method::GET, "/api/v1/tokens", Some(Scope::Admin)),
            (Method::DELETE, "/api/v1/tokens/ci", Some(Scope::Admin)),
            (Method::GET, "/api/v1/tokensx", Some(Scope::Read)),
        ];
        for (method, path, needed) in cases {
            assert_eq!(needed_scope(&method, path), needed, "{method} {path}");
        }
    }
}

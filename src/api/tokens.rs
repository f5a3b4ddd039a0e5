//! `/api/v1/tokens` (admin scope): create (the secret is shown once), list
//! and revoke API tokens.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::actor::RequestActor;
use super::dto::{Page, refuse_unknown_fields, string};
use super::error::ApiError;
use super::extract::JsonObject;
use crate::domain::token::{Scope, TokenName};
use crate::store::tokens::{self, TokenView};

/// A token as listed: its name and scope, never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub id: Uuid,
    pub name: String,
    /// `read`, `write` or `admin`.
    #[schema(value_type = String)]
    pub scope: Scope,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<&TokenView> for TokenResponse {
    fn from(view: &TokenView) -> Self {
        Self {
            id: view.id,
            name: view.name.to_string(),
            scope: view.scope,
            created_at: view.created_at,
        }
    }
}

/// A token just made: the only time its secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedTokenResponse {
    #[serde(flatten)]
    pub details: TokenResponse,
    /// The secret to send as `Authorization: Bearer <token>`; not stored.
    pub token: String,
}

fn name_param(raw: &str) -> Result<TokenName, ApiError> {
    TokenName::parse(raw).map_err(|e| ApiError::not_found(format!("no token named `{raw}`: {e}")))
}

#[utoipa::path(post, path = "/api/v1/tokens", operation_id = "create_token", tag = "access",
    request_body = super::openapi::TokenInput,
    responses((status = 201, description = "Created; `token` is shown only here", body = CreatedTokenResponse)))]
pub async fn create(
    state: web::Data<AppState>,
    body: JsonObject,
    actor: RequestActor,
) -> Result<HttpResponse, ApiError> {
    refuse_unknown_fields(&body.0, &["name", "scope"], "field of a token")?;
    let field = |name: &'static str| {
        body.0
            .get(name)
            .ok_or_else(|| ApiError::validation(name, "is required"))
    };
    let name = TokenName::parse(string("name", field("name")?)?)
        .map_err(|e| ApiError::validation("name", e.0))?;
    let scope = Scope::parse(string("scope", field("scope")?)?)
        .map_err(|e| ApiError::validation("scope", e.0))?;
    let secret = super::auth::new_secret().map_err(|e| {
        tracing::error!(error = %e, "no randomness for a token");
        ApiError::unavailable("no randomness for a new token; retry shortly")
    })?;
    let view = tokens::create(&state.pg, name, scope, &secret, &actor.0).await?;
    tracing::info!(token = view.name.as_ref(), scope = %view.scope, "token created");
    Ok(HttpResponse::Created().json(CreatedTokenResponse {
        details: TokenResponse::from(&view),
        token: secret.reveal().to_owned(),
    }))
}

#[utoipa::path(get, path = "/api/v1/tokens", operation_id = "list_tokens", tag = "access",
    responses((status = 200, description = "The live tokens", body = Page<TokenResponse>)))]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let views = tokens::list(&state.db("listing tokens").await?).await?;
    Ok(HttpResponse::Ok().json(Page {
        items: views.iter().map(TokenResponse::from).collect(),
        next_cursor: None,
    }))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{name}", operation_id = "revoke_token", tag = "access",
    params(("name" = String, Path, description = "The token's name")),
    responses((status = 204, description = "Revoked everywhere within a second")))]
pub async fn revoke(
    state: web::Data<AppState>,
    name: web::Path<String>,
    actor: RequestActor,
) -> Result<HttpResponse, ApiError> {
    let name = name_param(&name)?;
    tokens::revoke(&state.pg, &name, &actor.0).await?;
    tracing::info!(token = name.as_ref(), "token revoked");
    Ok(HttpResponse::NoContent().finish())
}

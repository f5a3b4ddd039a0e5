//! Monitors as code: `POST /api/v1/apply` (a whole file, in one
//! transaction; `?dry_run=true` plans only, `?prune=true` deletes what the
//! file does not name) and `GET /api/v1/export` (the same file back).

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::AppState;
use super::actor::RequestActor;
use super::channel_dto::ChannelResponse;
use super::error::ApiError;
use super::extract::{FILE_BODY_LIMIT, JsonObject, QueryParams};
use super::manifest_dto::{PlanResponse, exported_channel, exported_monitor, parse_manifest};
use crate::domain::manifest::PlanError;
use crate::store::apply::{self, ApplyError, ApplyOptions};
use crate::store::{channels, monitors};

fn flag(query: &QueryParams, name: &'static str) -> Result<bool, ApiError> {
    match query.single(name)? {
        None => Ok(false),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(ApiError::validation(
            name,
            format!("must be true or false, got `{other}`"),
        )),
    }
}

impl From<ApplyError> for ApiError {
    fn from(error: ApplyError) -> Self {
        match error {
            ApplyError::Plan(plan) => plan.into(),
            ApplyError::Store(store) => store.into(),
        }
    }
}

impl From<PlanError> for ApiError {
    fn from(error: PlanError) -> Self {
        let field = error.field();
        let message = match &error {
            PlanError::Invalid { error, .. } => error.message.clone(),
            PlanError::DuplicateName { first, .. } => {
                format!("is the name of entry {first} too; names must be unique")
            }
        };
        ApiError::validation(field, message)
    }
}

#[utoipa::path(post, path = "/api/v1/apply", operation_id = "apply_monitors_file", tag = "as code",
    params(super::openapi::ApplyQuery),
    request_body = super::openapi::ManifestInput,
    responses((status = 200, description = "The plan, applied in one transaction (or only planned)", body = PlanResponse)))]
pub async fn apply(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonObject<FILE_BODY_LIMIT>,
    actor: RequestActor,
) -> Result<HttpResponse, ApiError> {
    let query = QueryParams::from_request(&req)?;
    let options = ApplyOptions {
        prune: flag(&query, "prune")?,
        dry_run: flag(&query, "dry_run")?,
    };
    let manifest = parse_manifest(&Value::Object(body.0))?;
    let plan = apply::apply(&state.pg, &manifest, options, &actor.0).await?;
    let [create, update, delete, unchanged] = plan.counts();
    tracing::info!(
        dry_run = options.dry_run,
        prune = options.prune,
        create,
        update,
        delete,
        unchanged,
        actor = %actor.0,
        "monitors file applied"
    );
    Ok(HttpResponse::Ok().json(PlanResponse::new(&plan, options.dry_run, options.prune)))
}

#[utoipa::path(get, path = "/api/v1/export", operation_id = "export_monitors_file", tag = "as code",
    responses((status = 200, description = "Every monitor and channel, as a monitors file", body = super::openapi::ExportResponse)))]
pub async fn export(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let client = state.db("exporting monitors").await?;
    let monitors: Vec<Value> = monitors::list_live(&client)
        .await?
        .iter()
        .map(|m| exported_monitor(&m.config, m.paused))
        .collect();
    let channels: Vec<Value> = channels::all_live(&client)
        .await?
        .iter()
        .map(|view| exported_channel(&ChannelResponse::from(view)))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"monitors": monitors, "channels": channels})))
}

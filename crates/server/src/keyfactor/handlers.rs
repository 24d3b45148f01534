//! Keyfactor handlers: read the request, call the core, write Keyfactor's shapes.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use certkeeper_domain::collection::CollectionDefinition;
use certkeeper_domain::ids::CollectionId;

use super::error::{Body, Caller, KfError};
use super::wire::{
    CollectionResponse, CreateCollectionRequest, IssuancePeriod, KfErrorBody,
    UpdateCollectionRequest,
};
use crate::AppState;

/// Query parameters by lower-cased name: ASP.NET, which Keyfactor runs on, binds them
/// case-insensitively. A repeated parameter is an error rather than a silent pick.
fn query_params(raw: Option<&str>) -> Result<Vec<(String, String)>, KfError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let key = k.to_ascii_lowercase();
        if out.iter().any(|(seen, _)| *seen == key) {
            return Err(KfError::bad_request(format!("{k} is given more than once")));
        }
        out.push((key, v.into_owned()));
    }
    Ok(out)
}

fn required_int(params: &[(String, String)], name: &str) -> Result<i64, KfError> {
    let lower = name.to_ascii_lowercase();
    let raw = params
        .iter()
        .find(|(k, _)| *k == lower)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| KfError::bad_request(format!("The {name} field is required.")))?;
    raw.parse::<i64>().map_err(|_| {
        KfError::bad_request(format!(
            "The value '{raw}' is not valid for {name}: an integer is required."
        ))
    })
}

fn definition(
    name: Option<&str>,
    description: Option<&str>,
    query: Option<&str>,
    duplication_field: Option<i64>,
) -> Result<CollectionDefinition, KfError> {
    CollectionDefinition::new(
        name.unwrap_or_default(),
        description,
        query.unwrap_or_default(),
    )
    .and_then(|d| d.with_duplication_field(duplication_field.unwrap_or(0)))
    .map_err(|e| KfError::bad_request(e.to_string()))
}

fn collection_id(raw: &str) -> Result<CollectionId, KfError> {
    match raw.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(CollectionId(n)),
        _ => Err(KfError::bad_request(format!(
            "The collection id must be a non-negative integer, got {raw:?}"
        ))),
    }
}

/// Certificates issued per week for a collection (seed 000).
#[utoipa::path(
    get,
    path = "/Analytics/Certificates/Issuance",
    tag = "Keyfactor",
    params(
        ("collectionId" = i64, Query, minimum = 0, description = "The collection to count; 0 is All Certificates"),
        ("TotalPeriods" = i64, Query, minimum = 1, maximum = 52, description = "How many weeks back, 1 to 52"),
    ),
    responses(
        (status = 200, description = "One count per period", body = Vec<IssuancePeriod>),
        (status = 400, description = "A parameter is missing or not valid", body = KfErrorBody),
        (status = 401, description = "No or unknown API key", body = KfErrorBody),
        (status = 403, description = "No Read permission on the collection", body = KfErrorBody),
        (status = 404, description = "Unknown collection", body = KfErrorBody),
    )
)]
pub(crate) async fn issuance(
    State(state): State<AppState>,
    Caller(who): Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<IssuancePeriod>>, KfError> {
    let params = query_params(raw.as_deref())?;
    let collection = required_int(&params, "collectionId")?;
    let periods = required_int(&params, "TotalPeriods")?;
    if collection < 0 {
        return Err(KfError::bad_request("collectionId must not be negative"));
    }
    let periods = u32::try_from(periods)
        .ok()
        .filter(|p| (1..=52).contains(p))
        .ok_or_else(|| {
            KfError::bad_request("TotalPeriods must be greater than 0 and less than or equal to 52")
        })?;
    let report = state
        .core
        .issuance_report(&who, CollectionId(collection), periods)
        .await?;
    Ok(Json(IssuancePeriod::list(&report)))
}

/// The collections the key may read, All Certificates (0) first.
#[utoipa::path(
    get,
    path = "/CertificateCollections",
    tag = "Keyfactor",
    responses(
        (status = 200, description = "Collections", body = Vec<CollectionResponse>),
        (status = 401, description = "No or unknown API key", body = KfErrorBody),
    )
)]
pub(crate) async fn list_collections(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<Vec<CollectionResponse>>, KfError> {
    let all = state.core.collections(&who).await?;
    Ok(Json(all.iter().map(CollectionResponse::from).collect()))
}

#[utoipa::path(
    get,
    path = "/CertificateCollections/{id}",
    tag = "Keyfactor",
    params(("id" = i64, Path, minimum = 0, description = "Collection id")),
    responses(
        (status = 200, description = "The collection", body = CollectionResponse),
        (status = 400, description = "The id is not an integer", body = KfErrorBody),
        (status = 403, description = "No Read permission on it", body = KfErrorBody),
        (status = 404, description = "Unknown collection", body = KfErrorBody),
    )
)]
pub(crate) async fn get_collection(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<CollectionResponse>, KfError> {
    let c = state.core.collection(&who, collection_id(&id)?).await?;
    Ok(Json(CollectionResponse::from(&c)))
}

/// Saves a query as a collection. The query is checked first: 400 says where and why it fails.
#[utoipa::path(
    post,
    path = "/CertificateCollections",
    tag = "Keyfactor",
    request_body = CreateCollectionRequest,
    responses(
        (status = 200, description = "Created", body = CollectionResponse),
        (status = 400, description = "Missing name or an invalid query", body = KfErrorBody),
        (status = 403, description = "Needs system-wide Modify", body = KfErrorBody),
        (status = 409, description = "The name is taken", body = KfErrorBody),
    )
)]
pub(crate) async fn create_collection(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(req): Body<CreateCollectionRequest>,
) -> Result<Json<CollectionResponse>, KfError> {
    let d = definition(
        req.name.as_deref(),
        req.description.as_deref(),
        req.query.as_deref(),
        req.duplication_field,
    )?;
    let c = state.core.create_collection(Some(&who), d).await?;
    Ok(Json(CollectionResponse::from(&c)))
}

/// Replaces a collection's name, description and query (`Id` in the body, as Keyfactor has it).
#[utoipa::path(
    put,
    path = "/CertificateCollections",
    tag = "Keyfactor",
    request_body = UpdateCollectionRequest,
    responses(
        (status = 200, description = "Updated", body = CollectionResponse),
        (status = 400, description = "Missing id or name, or an invalid query", body = KfErrorBody),
        (status = 403, description = "Needs system-wide Modify", body = KfErrorBody),
        (status = 404, description = "Unknown collection", body = KfErrorBody),
        (status = 409, description = "The name is taken, or collection 0 (built in)", body = KfErrorBody),
    )
)]
pub(crate) async fn update_collection(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(req): Body<UpdateCollectionRequest>,
) -> Result<Json<CollectionResponse>, KfError> {
    let id = req
        .id
        .filter(|id| *id >= 0)
        .ok_or_else(|| KfError::bad_request("Id is required (a non-negative integer)"))?;
    let d = definition(
        req.name.as_deref(),
        req.description.as_deref(),
        req.query.as_deref(),
        req.duplication_field,
    )?;
    let c = state
        .core
        .update_collection(Some(&who), CollectionId(id), d)
        .await?;
    Ok(Json(CollectionResponse::from(&c)))
}

#[utoipa::path(
    delete,
    path = "/CertificateCollections/{id}",
    tag = "Keyfactor",
    params(("id" = i64, Path, minimum = 0, description = "Collection id (0, All Certificates, cannot be deleted)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Needs system-wide Modify", body = KfErrorBody),
        (status = 404, description = "Unknown collection", body = KfErrorBody),
        (status = 409, description = "Collection 0 (built in), or API keys hold grants on it", body = KfErrorBody),
    )
)]
pub(crate) async fn delete_collection(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, KfError> {
    state
        .core
        .delete_collection(Some(&who), collection_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) fn fallback() -> KfError {
    KfError::new(StatusCode::NOT_FOUND, "no such endpoint; see /openapi.json")
}

pub(crate) fn method_not_allowed() -> KfError {
    KfError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint; see /openapi.json",
    )
}

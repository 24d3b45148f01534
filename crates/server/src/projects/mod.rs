//! The project certificates API (seed 003): `/api/v1/projects/{projectId}/certificates`.
//!
//! Responses use the vendor's envelope (`success`, `errors`, `messages`, `result`,
//! `resultInfo`), errors included.

pub mod acme_accounts;
pub mod api_keys;
mod error;
mod handlers;
pub mod lifecycle;
pub mod notifications;
mod revocation;
pub mod wire;

pub use error::ApiError;
pub(crate) use handlers::{fallback, method_not_allowed};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            handlers::list_certificates,
            handlers::create_certificate
        ))
        .routes(routes!(handlers::import_certificate))
        .routes(routes!(handlers::validate_certificate))
        .routes(routes!(handlers::download_certificate))
        .routes(routes!(handlers::export_private_key))
        .routes(routes!(handlers::get_project, handlers::update_project))
        .routes(routes!(
            lifecycle::get_validation,
            lifecycle::put_validation
        ))
        .routes(routes!(lifecycle::get_renewal, lifecycle::put_renewal))
        .routes(routes!(lifecycle::renew_certificate))
        .routes(routes!(revocation::revoke_certificate))
        .routes(routes!(lifecycle::list_jobs))
        .routes(routes!(acme_accounts::list_acme_accounts))
        .routes(routes!(api_keys::list_api_keys, api_keys::create_api_key))
        .routes(routes!(api_keys::get_api_key))
        .routes(routes!(api_keys::revoke_api_key))
        .routes(routes!(api_keys::rotate_api_key))
        .routes(routes!(acme_accounts::deactivate_acme_account))
        .routes(routes!(
            notifications::create_rule,
            notifications::list_rules
        ))
        .routes(routes!(
            notifications::get_rule,
            notifications::update_rule,
            notifications::delete_rule
        ))
        .routes(routes!(notifications::list_deliveries))
        .routes(routes!(
            handlers::get_certificate,
            handlers::update_certificate,
            handlers::delete_certificate
        ))
}

//! DigiCert CertCentral's Services API face (`/services/v2/...`): the expiring-orders report
//! (seed 001) and the order status-change list (seed 002).
//!
//! snake_case fields; errors are `{"errors": [{"code": "...", "message": "..."}]}` with
//! DigiCert's codes (`access_denied|missing_permission`, `not_found|container`, ...).

mod error;
mod handlers;
pub mod wire;

pub use error::DcError;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// Where DigiCert's Services API lives.
pub const BASE: &str = "/services/v2";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::expiring))
        .routes(routes!(handlers::status_changes))
}

pub(crate) use handlers::{fallback, method_not_allowed};

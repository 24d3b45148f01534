//! Keyfactor Command's API face: certificate collections (`/CertificateCollections`) and
//! issuance analytics (`/Analytics/Certificates/Issuance`, seed 000), answering both at the
//! root and under `/KeyfactorAPI`, the base path Keyfactor clients are configured with.
//!
//! PascalCase fields; errors are `{"ErrorCode": "...", "Message": "..."}`.

mod error;
mod handlers;
pub mod wire;

pub use error::KfError;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// The base path Keyfactor clients use.
pub const BASE: &str = "/KeyfactorAPI";

fn surface() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            handlers::list_collections,
            handlers::create_collection,
            handlers::update_collection
        ))
        .routes(routes!(
            handlers::get_collection,
            handlers::delete_collection
        ))
        .routes(routes!(handlers::issuance))
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().merge(surface()).nest(BASE, surface())
}

pub(crate) use handlers::{fallback, method_not_allowed};

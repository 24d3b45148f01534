//! Projects: the unit certificates are organised (and keys scoped) in.

use time::OffsetDateTime;

use crate::ids::{ContainerId, ProjectId};

/// A project. `container_id` is the same project as DigiCert's integer "container".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: ProjectId,
    pub container_id: ContainerId,
    pub name: String,
    /// Overrides the server's default issuer for this project's created certificates.
    pub issuer: Option<crate::issuer::IssuerKind>,
    pub created_at: OffsetDateTime,
}

/// Checks a project name: 1 to 100 characters, no control characters, not blank.
pub fn validate_project_name(name: &str) -> Result<&str, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("project name must not be empty".into());
    }
    if name.chars().count() > 100 {
        return Err("project name must be at most 100 characters".into());
    }
    if name.chars().any(char::is_control) {
        return Err("project name must not contain control characters".into());
    }
    Ok(name)
}

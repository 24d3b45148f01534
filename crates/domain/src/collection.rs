//! Certificate collections: saved queries (Keyfactor's "certificate collections").

use time::OffsetDateTime;

use crate::ids::CollectionId;
use crate::query::{Query, QueryError};

/// The built-in collection every certificate belongs to.
pub const ALL_CERTIFICATES: CollectionId = CollectionId(0);
/// Its name, as Keyfactor shows it.
pub const ALL_CERTIFICATES_NAME: &str = "All Certificates";

/// Longest name and description accepted.
pub const MAX_NAME_LEN: usize = 200;
pub const MAX_DESCRIPTION_LEN: usize = 2_000;
pub const MAX_QUERY_LEN: usize = 4_000;

/// A collection: the built-in one (no query) or a saved, already checked query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    pub id: CollectionId,
    pub name: String,
    pub description: String,
    /// `None` for [`ALL_CERTIFICATES`].
    pub query: Option<Query>,
    /// The query as the user wrote it (empty for the built-in collection).
    pub query_text: String,
    pub created_at: Option<OffsetDateTime>,
    pub last_modified: Option<OffsetDateTime>,
    /// Keyfactor's "ignore renewed certificates by" choice: 0 none, 1 CN, 2 DN, 3 UPN.
    /// Non-zero leaves out certificates that certkeeper knows were renewed.
    pub duplication_field: i32,
}

impl Collection {
    /// Whether the collection's reports leave renewed certificates out.
    pub fn ignores_renewed(&self) -> bool {
        self.duplication_field != 0
    }

    /// The built-in "All Certificates" collection.
    pub fn all_certificates() -> Self {
        Self {
            id: ALL_CERTIFICATES,
            name: ALL_CERTIFICATES_NAME.to_string(),
            description: "Every certificate in the inventory (built in).".to_string(),
            query: None,
            query_text: String::new(),
            created_at: None,
            last_modified: None,
            duplication_field: 0,
        }
    }
}

/// What is wrong with a collection definition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CollectionError {
    #[error("Name is required")]
    NameMissing,
    #[error("Name must be at most {MAX_NAME_LEN} characters")]
    NameTooLong,
    #[error("Description must be at most {MAX_DESCRIPTION_LEN} characters")]
    DescriptionTooLong,
    #[error("Query is required")]
    QueryMissing,
    #[error("Query must be at most {MAX_QUERY_LEN} characters")]
    QueryTooLong,
    #[error("Query is invalid: {0}")]
    Query(#[from] QueryError),
    #[error("DuplicationField must be 0 (none), 1 (CN), 2 (DN) or 3 (UPN), not {0}")]
    DuplicationField(i64),
}

/// A checked collection definition, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionDefinition {
    pub name: String,
    pub description: String,
    pub query: Query,
    pub query_text: String,
    pub duplication_field: i32,
}

impl CollectionDefinition {
    /// Sets Keyfactor's DuplicationField (0 to 3).
    pub fn with_duplication_field(mut self, field: i64) -> Result<Self, CollectionError> {
        self.duplication_field = match field {
            0..=3 => field as i32,
            other => return Err(CollectionError::DuplicationField(other)),
        };
        Ok(self)
    }

    /// Checks a definition: a name, a bounded description, and a query that parses and
    /// type-checks. The query text is kept as written (trimmed).
    pub fn new(
        name: &str,
        description: Option<&str>,
        query: &str,
    ) -> Result<Self, CollectionError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(CollectionError::NameMissing);
        }
        if name.chars().count() > MAX_NAME_LEN {
            return Err(CollectionError::NameTooLong);
        }
        let description = description.unwrap_or_default().trim();
        if description.chars().count() > MAX_DESCRIPTION_LEN {
            return Err(CollectionError::DescriptionTooLong);
        }
        let query_text = query.trim();
        if query_text.is_empty() {
            return Err(CollectionError::QueryMissing);
        }
        if query_text.chars().count() > MAX_QUERY_LEN {
            return Err(CollectionError::QueryTooLong);
        }
        Ok(Self {
            name: name.to_string(),
            description: description.to_string(),
            // Parsed as sent, so error positions match what the user wrote.
            query: Query::parse(query)?,
            query_text: query_text.to_string(),
            duplication_field: 0,
        })
    }
}

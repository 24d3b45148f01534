//! Schemas the derive macros cannot state: closed lists of words the domain owns (job states
//! and kinds, notification events, revocation reasons). Each list is read from the domain's
//! own `ALL`, so the document and the parser cannot drift apart.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

fn words(values: impl IntoIterator<Item = &'static str>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
}

fn schema(b: ObjectBuilder) -> RefOr<Schema> {
    RefOr::T(Schema::Object(b.build()))
}

/// `scheduled`, `running`, `retrying`.
pub(crate) fn job_state() -> RefOr<Schema> {
    use certkeeper_domain::job::JobState;
    schema(words(JobState::ALL.map(JobState::as_str)))
}

/// `viewer`, `operator`, `admin`.
pub(crate) fn role() -> RefOr<Schema> {
    use certkeeper_domain::apikey::Role;
    schema(words(Role::ALL.map(Role::as_str)))
}

/// Every job kind's name.
pub(crate) fn job_kind() -> RefOr<Schema> {
    use certkeeper_domain::job::JobKind;
    schema(words(JobKind::ALL.map(JobKind::as_str)))
}

/// A non-empty list of notification events, each named once.
pub(crate) fn events() -> RefOr<Schema> {
    use certkeeper_domain::notification::Event;
    use utoipa::openapi::schema::ArrayBuilder;
    RefOr::T(Schema::Array(
        ArrayBuilder::new()
            .items(words(Event::ALL.map(Event::as_str)))
            .min_items(Some(1))
            .unique_items(true)
            .build(),
    ))
}

/// The reasons the API revokes with (RFC 5280 §5.3.1).
pub(crate) fn revocation_reason() -> RefOr<Schema> {
    use certkeeper_domain::revocation::RevocationReason;
    schema(words(RevocationReason::ALL.map(RevocationReason::as_str)))
}

/// Closes the variants of internally tagged enums that deny unknown fields (`Channel`,
/// `DnsProvider`): utoipa states `additionalProperties: false` for such structs but not for
/// enum variants, so the document would promise that extra fields are fine.
pub(crate) struct ClosedVariants;

impl utoipa::Modify for ClosedVariants {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::AdditionalProperties;
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for name in ["Channel", "DnsProvider"] {
            if let Some(RefOr::T(Schema::OneOf(one_of))) = components.schemas.get_mut(name) {
                for variant in &mut one_of.items {
                    if let RefOr::T(Schema::Object(object)) = variant {
                        object.additional_properties =
                            Some(Box::new(AdditionalProperties::FreeForm(false)));
                    }
                }
            }
        }
    }
}

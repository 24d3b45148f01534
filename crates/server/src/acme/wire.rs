//! ACME's JSON shapes (RFC 8555 §7.1), rendered from the core's objects with the project's
//! links. Timestamps are RFC 3339.

use certkeeper_core::acme_server::{Account, AcmeError, Authorization, Challenge, Links, Order};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

pub(super) fn problem(e: &AcmeError) -> Value {
    let mut body = json!({"type": e.problem.urn(), "detail": e.detail, "status": e.status});
    if !e.subproblems.is_empty() {
        body["subproblems"] = e
            .subproblems
            .iter()
            .map(|s| {
                json!({
                    "type": s.problem.urn(),
                    "detail": s.detail,
                    "identifier": {"type": "dns", "value": s.identifier},
                })
            })
            .collect();
    }
    body
}

pub(super) fn directory(links: &Links, eab_required: bool) -> Value {
    json!({
        "newNonce": links.endpoint("new-nonce"),
        "newAccount": links.endpoint("new-account"),
        "newOrder": links.endpoint("new-order"),
        "revokeCert": links.endpoint("revoke-cert"),
        "keyChange": links.endpoint("key-change"),
        "renewalInfo": links.endpoint("renewal-info"),
        "meta": {
            "externalAccountRequired": eab_required,
        },
    })
}

pub(super) fn account(a: &Account, links: &Links) -> Value {
    json!({
        "status": a.status.as_str(),
        "contact": a.contacts,
        "orders": format!("{}/orders", links.account(&a.id)),
        "createdAt": rfc3339(a.created_at),
    })
}

pub(super) fn order(o: &Order, links: &Links) -> Value {
    let mut body = json!({
        "status": o.status,
        "expires": rfc3339(o.expires_at),
        "identifiers": o.identifiers,
        "authorizations": shuffled(o.authorizations.iter().map(|id| links.authz(id)).collect()),
        "finalize": links.finalize(&o.id),
    });
    if let Some(nb) = o.not_before {
        body["notBefore"] = rfc3339(nb).into();
    }
    if let Some(na) = o.not_after {
        body["notAfter"] = rfc3339(na).into();
    }
    if let Some(e) = &o.error {
        body["error"] = e.clone();
    }
    // RFC 9773 §5: an accepted `replaces` is reflected in the order, on every read of it
    // (clients such as instant-acme refuse an order that drops it).
    if let Some(r) = &o.replaces {
        body["replaces"] = r.clone().into();
    }
    if o.status == "valid" {
        body["certificate"] = links.certificate(&o.id).into();
    }
    body
}

pub(super) fn challenge(authz: &str, c: &Challenge, links: &Links) -> Value {
    let mut body = json!({
        "type": c.kind,
        "url": links.challenge(authz, &c.kind),
        "token": c.token,
        "status": c.status,
    });
    if let Some(ms) = c.validated_ms
        && let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
    {
        body["validated"] = rfc3339(t).into();
    }
    if let Some(e) = &c.error {
        body["error"] = e.clone();
    }
    body
}

pub(super) fn authorization(a: &Authorization, now: OffsetDateTime, links: &Links) -> Value {
    let status = a.status_at(now);
    // Once valid, only the challenge that passed is listed (RFC 8555 §7.1.4 allows either).
    let challenges: Vec<Value> = shuffled(
        a.challenges
            .iter()
            .filter(|c| status != "valid" || c.status == "valid")
            .map(|c| challenge(&a.id, c, links))
            .collect(),
    );
    let mut body = json!({
        "identifier": {"type": "dns", "value": a.identifier},
        "status": status,
        "expires": rfc3339(a.expires_at),
        "challenges": challenges,
    });
    if a.wildcard {
        body["wildcard"] = true.into();
    }
    body
}

/// A list whose order RFC 8555 does not promise, in a random order each time, as pebble
/// does: clients (and certkeeper's own tests) must not come to depend on one.
fn shuffled<T>(mut items: Vec<T>) -> Vec<T> {
    use rand::seq::SliceRandom as _;
    items.shuffle(&mut rand::thread_rng());
    items
}

pub(super) fn renewal_info(start: OffsetDateTime, end: OffsetDateTime) -> Value {
    json!({"suggestedWindow": {"start": rfc3339(start), "end": rfc3339(end)}})
}

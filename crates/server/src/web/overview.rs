//! The overview: count tiles, DigiCert's expiry buckets, Keyfactor's issuance per week for a
//! chosen collection, and the latest status changes. Every tile and bar links to the inventory
//! filtered to what it counts.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use certkeeper_domain::browse::{BrowseFilter, StatusFilter};
use certkeeper_domain::ids::CollectionId;
use certkeeper_domain::reports::{ExpiringBucket, WEEK_MS};
use time::OffsetDateTime;

use super::inventory::link;
use super::svg::{Bar, bar_chart};
use super::{Chrome, SignedIn, WebError, utc};
use crate::AppState;

/// Weeks of issuance the overview charts unless asked.
const DEFAULT_WEEKS: u32 = 12;

pub(crate) struct Tile {
    pub label: &'static str,
    pub value: i64,
    pub href: String,
    pub class: &'static str,
}

pub(crate) struct Row {
    pub label: String,
    pub short: String,
    pub value: i64,
    pub href: String,
}

pub(crate) struct Change {
    pub name: String,
    pub href: Option<String>,
    pub status: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/overview.html")]
struct OverviewPage {
    chrome: Option<Chrome>,
    notice: Option<String>,
    /// `None` for a key limited to collections: it reads their reports only.
    tiles: Option<Vec<Tile>>,
    buckets_svg: String,
    buckets: Vec<Row>,
    collections: Vec<(i64, String, bool)>,
    weeks: u32,
    issuance_svg: String,
    issuance: Vec<Row>,
    issuance_error: Option<String>,
    recent: Vec<Change>,
    generated: String,
}

fn ms_to_time(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn bucket_label(b: ExpiringBucket) -> &'static str {
    match b {
        ExpiringBucket::Days90 => "60–90 days",
        ExpiringBucket::Days60 => "30–59 days",
        ExpiringBucket::Days30 => "1–29 days",
        ExpiringBucket::Expired7 => "Expired ≤ 7 days",
    }
}

fn bucket_short(b: ExpiringBucket) -> &'static str {
    match b {
        ExpiringBucket::Days90 => "60–90 d",
        ExpiringBucket::Days60 => "30–59 d",
        ExpiringBucket::Days30 => "1–29 d",
        ExpiringBucket::Expired7 => "−7–0 d",
    }
}

pub(crate) async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let chrome = signed_in.chrome("/ui/");
    let who = signed_in.who();
    let core = &state.core;
    let now = core.now();
    let mut collection = None;
    let mut weeks = DEFAULT_WEEKS;
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match &*k {
            "collection" => {
                collection = Some(v.parse::<i64>().map(CollectionId).map_err(|_| {
                    WebError::bad_request(
                        format!("collection must be a number, not {v:?}"),
                        &chrome,
                    )
                })?)
            }
            "weeks" => {
                weeks = v
                    .parse::<u32>()
                    .ok()
                    .filter(|w| (1..=52).contains(w))
                    .ok_or_else(|| {
                        WebError::bad_request("weeks must be a whole number from 1 to 52", &chrome)
                    })?
            }
            _ => {}
        }
    }
    // A key limited to one project is sent to its own project's certificates, which is what
    // its counts count.
    let scoped = BrowseFilter {
        project: who.key.project,
        ..BrowseFilter::default()
    };
    let limited_to_collections = !who.key.collections.is_empty();
    let (tiles, buckets, recent) = if limited_to_collections {
        (None, Vec::new(), Vec::new())
    } else {
        let o = core
            .overview(who)
            .await
            .map_err(|e| WebError::core(e, &chrome))?;
        let until_30 = now + time::Duration::days(30);
        let with = |f: BrowseFilter| link(&f, None);
        let tiles = vec![
            Tile {
                label: "Certificates",
                value: o.total,
                href: with(scoped.clone()),
                class: "",
            },
            Tile {
                label: "Expiring within 30 days",
                value: o.expiring[0],
                href: with(BrowseFilter {
                    status: Some(StatusFilter::Active),
                    expires_until: Some(until_30),
                    unrenewed: true,
                    ..scoped.clone()
                }),
                class: "warn",
            },
            Tile {
                label: "Expired",
                value: o.expired,
                href: with(BrowseFilter {
                    status: Some(StatusFilter::Expired),
                    unrenewed: true,
                    ..scoped.clone()
                }),
                class: "bad",
            },
            Tile {
                label: "Revoked",
                value: o.revoked,
                href: with(BrowseFilter {
                    status: Some(StatusFilter::Revoked),
                    ..scoped.clone()
                }),
                class: "",
            },
            Tile {
                label: "Failed orders",
                value: o.failed_orders,
                href: with(BrowseFilter {
                    status: Some(StatusFilter::Failed),
                    ..scoped.clone()
                }),
                class: "bad",
            },
        ];
        let buckets = o
            .buckets
            .iter()
            .map(|(b, n, from, until)| Row {
                label: bucket_label(*b).to_string(),
                short: bucket_short(*b).to_string(),
                value: *n,
                href: with(BrowseFilter {
                    expires_from: Some(ms_to_time(*from)),
                    expires_until: Some(ms_to_time(*until)),
                    unrenewed: true,
                    ..scoped.clone()
                }),
            })
            .collect::<Vec<_>>();
        let recent = o
            .recent
            .into_iter()
            .map(|(record, status)| match record {
                Some(r) => Change {
                    name: r.domain_name.clone(),
                    href: Some(format!("/ui/certificates/{}", r.id)),
                    status: status.as_str(),
                },
                None => Change {
                    name: "(deleted certificate)".into(),
                    href: None,
                    status: status.as_str(),
                },
            })
            .collect();
        (Some(tiles), buckets, recent)
    };
    let buckets_svg = bar_chart(
        "Certificates by days until expiry (DigiCert buckets)",
        &buckets
            .iter()
            .zip(ExpiringBucket::ALL)
            .map(|(r, b)| Bar {
                label: r.label.clone(),
                short: r.short.clone(),
                value: r.value,
                href: r.href.clone(),
                class: match b {
                    ExpiringBucket::Expired7 => "bar-bad",
                    ExpiringBucket::Days30 => "bar-warn",
                    _ => "bar",
                },
            })
            .collect::<Vec<_>>(),
    );

    // Issuance per week for the chosen collection (the first the key may read by default).
    let readable = core
        .collections(who)
        .await
        .map_err(|e| WebError::core(e, &chrome))?;
    let chosen = collection.or_else(|| readable.first().map(|c| c.id));
    let collections = readable
        .iter()
        .map(|c| (c.id.0, c.name.clone(), Some(c.id) == chosen))
        .collect();
    let (mut issuance, mut issuance_error) = (Vec::new(), None);
    if let Some(id) = chosen {
        match core.issuance_report(who, id, weeks).await {
            Ok(report) => {
                let eval = report.eval_date;
                // Oldest week first, as a timeline reads.
                for p in report.periods.iter().rev() {
                    let n = i64::from(p.period);
                    let until = eval - time::Duration::milliseconds(WEEK_MS * (n - 1))
                        + time::Duration::seconds(1);
                    let from = eval - time::Duration::milliseconds(WEEK_MS * n)
                        + time::Duration::seconds(1);
                    let last_day = utc(until - time::Duration::seconds(1));
                    issuance.push(Row {
                        label: format!("Week to {}", &last_day[..10]),
                        short: last_day[5..10].to_string(),
                        value: p.count,
                        href: link(
                            &BrowseFilter {
                                collection: (id != CollectionId(0)).then_some(id),
                                issued_from: Some(from),
                                issued_until: Some(until),
                                ..scoped.clone()
                            },
                            None,
                        ),
                    });
                }
            }
            Err(e) => issuance_error = Some(e.to_string()),
        }
    }
    let issuance_svg = bar_chart(
        "Certificates issued per week",
        &issuance
            .iter()
            .map(|r| Bar {
                label: r.label.clone(),
                short: r.short.clone(),
                value: r.value,
                href: r.href.clone(),
                class: "bar",
            })
            .collect::<Vec<_>>(),
    );
    Ok(OverviewPage {
        chrome: Some(chrome),
        notice: None,
        tiles,
        buckets_svg,
        buckets,
        collections,
        weeks,
        issuance_svg,
        issuance,
        issuance_error,
        recent,
        generated: utc(now),
    }
    .into_response())
}

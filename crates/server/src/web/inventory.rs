//! The inventory: search, filters and sort kept in the URL, keyset paging, a colour-coded
//! days-left column, and CSV / JSON exports of exactly the filtered set, streamed page by page.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use certkeeper_core::Principal;
use certkeeper_core::browse::MatchCount;
use certkeeper_domain::browse::{
    BrowseCursor, BrowseFilter, BrowseSort, MAX_BROWSE_PAGE, SearchTerm, StatusFilter,
};
use certkeeper_domain::certificate::{CertificateRecord, CertificateStatus, CertificateType};
use certkeeper_domain::ids::{CollectionId, ProjectId};
use certkeeper_store::BrowseRow;
use time::OffsetDateTime;

use super::session::{cookie, set_cookie};
use super::{Chrome, SignedIn, WebError, rfc3339, urlencode, utc};
use crate::AppState;

/// Rows per page unless asked.
const DEFAULT_PAGE: i64 = 50;
/// Remembers the sort someone picked last.
const SORT_COOKIE: &str = "ck_sort";

/// A request to the inventory, parsed from its query string.
#[derive(Debug, Clone, Default)]
pub(crate) struct InventoryQuery {
    pub filter: BrowseFilter,
    pub sort: Option<BrowseSort>,
    pub after: Option<BrowseCursor>,
    pub size: Option<i64>,
}

/// A date from a form (`2026-12-31`, midnight UTC) or a link (RFC 3339). A date-only upper
/// bound includes that whole day.
fn parse_instant(name: &str, v: &str, upper: bool) -> Result<OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(v, &Rfc3339) {
        return Ok(t);
    }
    let date = time::Date::parse(v, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| {
            format!("{name} must be a date (2026-12-31) or an RFC 3339 instant, not {v:?}")
        })?;
    let day = date.midnight().assume_utc();
    Ok(if upper {
        day + time::Duration::days(1)
    } else {
        day
    })
}

impl InventoryQuery {
    pub(crate) fn parse(raw: Option<&str>) -> Result<Self, String> {
        let mut q = InventoryQuery::default();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            let f = &mut q.filter;
            match &*k {
                "q" => f.search = SearchTerm::new(v),
                "status" => f.status = Some(v.parse::<StatusFilter>()?),
                "type" => f.certificate_type = Some(v.parse::<CertificateType>()?),
                "issuer" => f.issuer = Some(v.to_string()),
                "project" => {
                    f.project = Some(
                        v.parse::<ProjectId>()
                            .map_err(|_| format!("project must be a project id, not {v:?}"))?,
                    )
                }
                "collection" => {
                    f.collection = Some(CollectionId(v.parse().map_err(|_| {
                        format!("collection must be a collection number, not {v:?}")
                    })?))
                }
                "expires_from" => f.expires_from = Some(parse_instant(&k, v, false)?),
                "expires_until" => f.expires_until = Some(parse_instant(&k, v, true)?),
                "issued_from" => f.issued_from = Some(parse_instant(&k, v, false)?),
                "issued_until" => f.issued_until = Some(parse_instant(&k, v, true)?),
                "unrenewed" => f.unrenewed = matches!(v, "1" | "true" | "on"),
                "sort" => q.sort = Some(v.parse()?),
                "after" => q.after = Some(v.parse()?),
                "size" => {
                    q.size = Some(
                        v.parse::<i64>()
                            .ok()
                            .filter(|n| (1..=MAX_BROWSE_PAGE).contains(n))
                            .ok_or_else(|| {
                                format!("size must be a whole number from 1 to {MAX_BROWSE_PAGE}")
                            })?,
                    )
                }
                // Unknown parameters (an export's `format`) are someone else's.
                _ => {}
            }
        }
        Ok(q)
    }
}

/// The filter's query-string pairs, in a stable order.
fn pairs(filter: &BrowseFilter) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(s) = &filter.search {
        out.push(("q", s.text.clone()));
    }
    if let Some(s) = filter.status {
        out.push(("status", s.as_str().to_string()));
    }
    if let Some(t) = filter.certificate_type {
        out.push(("type", t.as_str().to_string()));
    }
    if let Some(i) = &filter.issuer {
        out.push(("issuer", i.clone()));
    }
    if let Some(p) = filter.project {
        out.push(("project", p.to_string()));
    }
    if let Some(c) = filter.collection {
        out.push(("collection", c.0.to_string()));
    }
    for (name, t) in [
        ("expires_from", filter.expires_from),
        ("expires_until", filter.expires_until),
        ("issued_from", filter.issued_from),
        ("issued_until", filter.issued_until),
    ] {
        if let Some(t) = t {
            out.push((name, rfc3339(t)));
        }
    }
    if filter.unrenewed {
        out.push(("unrenewed", "1".into()));
    }
    out
}

fn encode(pairs: &[(&'static str, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The inventory filtered (and sorted) so.
pub(crate) fn link(filter: &BrowseFilter, sort: Option<BrowseSort>) -> String {
    let mut p = pairs(filter);
    if let Some(s) = sort {
        p.push(("sort", s.as_str().to_string()));
    }
    let q = encode(&p);
    if q.is_empty() {
        "/ui/inventory".into()
    } else {
        format!("/ui/inventory?{q}")
    }
}

/// One listed certificate, ready to show.
pub(crate) struct ListRow {
    pub id: i64,
    pub name: String,
    pub more_names: usize,
    pub project: String,
    pub status: &'static str,
    pub issuer: String,
    pub serial: String,
    pub expires: String,
    pub days_left: String,
    /// `dl-expired`, `dl-critical` (< 7 days), `dl-warn` (< 30), `dl-ok`, `dl-none`.
    pub days_class: &'static str,
}

/// The CN of a DN (`CN=R3, O=Let's Encrypt` → `R3`), or the DN.
pub(crate) fn short_dn(dn: &str) -> String {
    dn.split(',')
        .map(str::trim)
        .find_map(|rdn| rdn.strip_prefix("CN="))
        .unwrap_or(dn)
        .to_string()
}

/// Whole days until `not_after` (negative once past), and its colour class.
pub(crate) fn days_left(
    now: OffsetDateTime,
    not_after: Option<OffsetDateTime>,
) -> (String, &'static str) {
    let Some(na) = not_after else {
        return ("—".into(), "dl-none");
    };
    let secs = (na - now).whole_seconds();
    let days = secs.div_euclid(86_400);
    let class = if secs < 0 {
        "dl-expired"
    } else if days < 7 {
        "dl-critical"
    } else if days < 30 {
        "dl-warn"
    } else {
        "dl-ok"
    };
    let text = if secs < 0 {
        format!("expired {} d ago", (-secs) / 86_400)
    } else {
        days.to_string()
    };
    (text, class)
}

pub(crate) fn status_name(s: CertificateStatus) -> &'static str {
    match s {
        CertificateStatus::Active => "active",
        CertificateStatus::Expired => "expired",
        CertificateStatus::NotYetValid => "not yet valid",
        CertificateStatus::Pending => "pending",
        CertificateStatus::Rejected => "failed",
        CertificateStatus::Canceled => "canceled",
        CertificateStatus::Revoked => "revoked",
    }
}

fn list_row(
    r: &CertificateRecord,
    now: OffsetDateTime,
    projects: &HashMap<ProjectId, String>,
) -> ListRow {
    let summary = r.summary();
    let (days, class) = days_left(now, summary.map(|s| s.not_after));
    ListRow {
        id: r.id.0,
        name: summary
            .and_then(|s| s.common_name.clone())
            .unwrap_or_else(|| r.domain_name.clone()),
        more_names: r.additional_names.len(),
        project: projects
            .get(&r.project_id)
            .cloned()
            .unwrap_or_else(|| r.project_id.to_string()),
        status: status_name(r.status_at(now)),
        issuer: summary.map(|s| short_dn(&s.issuer)).unwrap_or_default(),
        serial: summary.map(|s| s.serial_number.clone()).unwrap_or_default(),
        expires: summary
            .map(|s| utc(s.not_after))
            .unwrap_or_else(|| "not issued".into()),
        days_left: days,
        days_class: class,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "web/inventory.html")]
struct InventoryPage {
    chrome: Option<Chrome>,
    notice: Option<String>,
    search: String,
    status: String,
    certificate_type: String,
    issuer: String,
    project: String,
    collection: String,
    expires_from: String,
    expires_until: String,
    hidden: Vec<(&'static str, String)>,
    unrenewed: bool,
    statuses: Vec<&'static str>,
    sorts: Vec<(&'static str, &'static str, bool)>,
    projects: Vec<(String, String)>,
    collections: Vec<(String, String)>,
    /// Each issuer DN and its short name.
    issuers: Vec<(String, String)>,
    rows: Vec<ListRow>,
    total: String,
    next: Option<String>,
    first: Option<String>,
    csv: String,
    json: String,
    filtered: bool,
    can_write: bool,
    /// This page's own address, for the rows' links to come back to (URL-encoded), and as
    /// is for the bulk form.
    back: String,
    back_raw: String,
}

pub(crate) async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let chrome = signed_in.chrome("/ui/inventory");
    let who = signed_in.who();
    let q = InventoryQuery::parse(raw.as_deref()).map_err(|e| WebError::bad_request(e, &chrome))?;
    let remembered = cookie(&headers, SORT_COOKIE).and_then(|s| s.parse::<BrowseSort>().ok());
    let sort = q.sort.or(remembered).unwrap_or_default();
    let core = &state.core;
    let page = core
        .browse_inventory(
            who,
            &q.filter,
            sort,
            q.after,
            q.size.unwrap_or(DEFAULT_PAGE),
            true,
        )
        .await
        .map_err(|e| WebError::core(e, &chrome))?;
    let projects = core
        .visible_projects(who)
        .await
        .map_err(|e| WebError::core(e, &chrome))?;
    let names: HashMap<ProjectId, String> =
        projects.iter().map(|p| (p.id, p.name.clone())).collect();
    let collections = core
        .collections(who)
        .await
        .map_err(|e| WebError::core(e, &chrome))?;
    let issuers = core
        .visible_issuers(who)
        .await
        .map_err(|e| WebError::core(e, &chrome))?;
    let now = core.now();
    let f = &q.filter;
    let mut base = pairs(f);
    base.push(("sort", sort.as_str().to_string()));
    if let Some(size) = q.size {
        base.push(("size", size.to_string()));
    }
    let with = |extra: Option<(&'static str, String)>| {
        let mut p = base.clone();
        p.extend(extra);
        format!("/ui/inventory?{}", encode(&p))
    };
    let export = |format: &str| {
        let mut p = pairs(f);
        p.push(("sort", sort.as_str().to_string()));
        p.push(("format", format.to_string()));
        format!("/ui/inventory/export?{}", encode(&p))
    };
    let opt = |v: Option<String>| v.unwrap_or_default();
    let date =
        |t: Option<OffsetDateTime>| t.map(|t| rfc3339(t)[..10].to_string()).unwrap_or_default();
    let hidden = pairs(f)
        .into_iter()
        .filter(|(k, _)| matches!(*k, "issued_from" | "issued_until"))
        .collect();
    let total = match page.total {
        Some(MatchCount::Exactly(n)) => format!("{n} certificate{}", if n == 1 { "" } else { "s" }),
        Some(MatchCount::MoreThan(n)) => format!("more than {n} certificates"),
        None => String::new(),
    };
    let here = match q.after {
        Some(a) => with(Some(("after", a.to_string()))),
        None => with(None),
    };
    let notice = form_urlencoded::parse(raw.as_deref().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "notice")
        .map(|(_, v)| v.chars().take(500).collect::<String>());
    let can_write = chrome.can_write;
    let body = InventoryPage {
        chrome: Some(chrome),
        notice,
        can_write,
        search: f
            .search
            .as_ref()
            .map(|s| s.text.clone())
            .unwrap_or_default(),
        status: opt(f.status.map(|s| s.as_str().to_string())),
        certificate_type: opt(f.certificate_type.map(|t| t.as_str().to_string())),
        issuer: opt(f.issuer.clone()),
        project: opt(f.project.map(|p| p.to_string())),
        collection: opt(f.collection.map(|c| c.0.to_string())),
        // A date-only bound was widened to the end of its day when parsed; show the day.
        expires_from: date(f.expires_from),
        expires_until: date(f.expires_until.map(|t| t - time::Duration::seconds(1))),
        hidden,
        unrenewed: f.unrenewed,
        statuses: StatusFilter::ALL.iter().map(|s| s.as_str()).collect(),
        sorts: BrowseSort::ALL
            .iter()
            .map(|s| (s.as_str(), s.label(), *s == sort))
            .collect(),
        projects: projects
            .iter()
            .map(|p| (p.id.to_string(), p.name.clone()))
            .collect(),
        collections: collections
            .iter()
            .filter(|c| c.query.is_some())
            .map(|c| (c.id.0.to_string(), c.name.clone()))
            .collect(),
        issuers: issuers
            .iter()
            .map(|dn| (dn.clone(), short_dn(dn)))
            .collect(),
        rows: page
            .rows
            .iter()
            .map(|r| list_row(&r.record, now, &names))
            .collect(),
        total,
        next: page.next.map(|c| with(Some(("after", c.to_string())))),
        first: q.after.map(|_| with(None)),
        csv: export("csv"),
        json: export("json"),
        filtered: *f != BrowseFilter::default(),
        back: urlencode(&here),
        back_raw: here.clone(),
    };
    let mut response = body.into_response();
    if let Some(s) = q.sort {
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(&state, SORT_COOKIE, s.as_str(), Some(365 * 86_400)),
        );
    }
    Ok(response)
}

/// CSV's header row; [`csv_line`] writes the fields in this order.
const CSV_HEADER: &str = "id,project_id,common_name,names,status,certificate_type,issuer,serial_number,thumbprint_sha1,not_before,not_after,days_left\r\n";

fn export_fields(r: &CertificateRecord, now: OffsetDateTime) -> [String; 12] {
    let s = r.summary();
    let days = s.map(|s| (s.not_after - now).whole_seconds().div_euclid(86_400));
    let names = std::iter::once(r.domain_name.as_str())
        .chain(r.additional_names.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    [
        r.id.0.to_string(),
        r.project_id.to_string(),
        s.and_then(|s| s.common_name.clone()).unwrap_or_default(),
        names,
        status_name(r.status_at(now)).to_string(),
        r.certificate_type.as_str().to_string(),
        s.map(|s| s.issuer.clone()).unwrap_or_default(),
        s.map(|s| s.serial_number.clone()).unwrap_or_default(),
        s.map(|s| s.thumbprint_sha1.clone()).unwrap_or_default(),
        s.map(|s| rfc3339(s.not_before)).unwrap_or_default(),
        s.map(|s| rfc3339(s.not_after)).unwrap_or_default(),
        days.map(|d| d.to_string()).unwrap_or_default(),
    ]
}

const JSON_KEYS: [&str; 12] = [
    "id",
    "projectId",
    "commonName",
    "names",
    "status",
    "certificateType",
    "issuer",
    "serialNumber",
    "thumbprintSha1",
    "notBefore",
    "notAfter",
    "daysLeft",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

fn render_rows(rows: &[BrowseRow], now: OffsetDateTime, format: Format, first: bool) -> String {
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let fields = export_fields(&row.record, now);
        match format {
            Format::Csv => certkeeper_domain::csv::push_record(&mut out, &fields),
            Format::Json => {
                if !(first && i == 0) {
                    out.push(',');
                }
                let mut obj = serde_json::Map::new();
                for (k, v) in JSON_KEYS.iter().zip(fields) {
                    let value = match *k {
                        "id" | "daysLeft" if !v.is_empty() => v
                            .parse::<i64>()
                            .map(serde_json::Value::from)
                            .unwrap_or(serde_json::Value::String(v)),
                        _ if v.is_empty() => serde_json::Value::Null,
                        _ => serde_json::Value::String(v),
                    };
                    obj.insert((*k).to_string(), value);
                }
                out.push_str(&serde_json::Value::Object(obj).to_string());
                out.push('\n');
            }
        }
    }
    out
}

/// Streams every certificate the filters match, in the page's sort order, as CSV or JSON.
pub(crate) async fn export(
    State(state): State<AppState>,
    signed_in: SignedIn,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let chrome = signed_in.chrome("/ui/inventory");
    let q = InventoryQuery::parse(raw.as_deref()).map_err(|e| WebError::bad_request(e, &chrome))?;
    let format = match form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "format")
        .map(|(_, v)| v.into_owned())
        .as_deref()
    {
        None | Some("csv") => Format::Csv,
        Some("json") => Format::Json,
        Some(other) => {
            return Err(WebError::bad_request(
                format!("format must be csv or json, not {other:?}"),
                &chrome,
            ));
        }
    };
    let sort = q.sort.unwrap_or_default();
    let who: Principal = signed_in.who().clone();
    let core = state.core.clone();
    let now = core.now();
    // The first page is read before answering, so a refused or invalid export is an error
    // page rather than a broken download.
    let first = core
        .browse_inventory(&who, &q.filter, sort, q.after, MAX_BROWSE_PAGE, false)
        .await
        .map_err(|e| WebError::core(e, &chrome))?;
    let head = match format {
        Format::Csv => CSV_HEADER.to_string(),
        Format::Json => "[\n".to_string(),
    };
    let body = format!("{head}{}", render_rows(&first.rows, now, format, true));
    let empty = first.rows.is_empty();
    let filter = q.filter.clone();
    let stream = futures::stream::unfold(
        (Some(body), first.next, empty, false),
        move |(pending, next, empty, done)| {
            let (core, who, filter) = (core.clone(), who.clone(), filter.clone());
            async move {
                if let Some(chunk) = pending {
                    return Some((Ok::<_, std::io::Error>(chunk), (None, next, empty, done)));
                }
                if done {
                    return None;
                }
                let tail = || match format {
                    Format::Csv => String::new(),
                    Format::Json => "]\n".to_string(),
                };
                let Some(after) = next else {
                    return Some((Ok(tail()), (None, None, empty, true)));
                };
                match core
                    .browse_inventory(&who, &filter, sort, Some(after), MAX_BROWSE_PAGE, false)
                    .await
                {
                    Ok(page) => {
                        let chunk = render_rows(&page.rows, now, format, false);
                        Some((Ok(chunk), (None, page.next, empty, false)))
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "inventory export stopped");
                        Some((
                            Err(std::io::Error::other(e.to_string())),
                            (None, None, empty, true),
                        ))
                    }
                }
            }
        },
    );
    let (kind, ext) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Json => ("application/json", "json"),
    };
    let name = format!("certkeeper-inventory-{}.{ext}", &rfc3339(now)[..10]);
    let mut response = Body::from_stream(stream).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// The inventory link for a `back` parameter, if it is one (no open redirect).
pub(crate) fn safe_back(back: Option<&str>) -> Option<String> {
    back.filter(|b| b.starts_with("/ui/inventory") && !b.contains("//"))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_parse_back_to_the_same_filter() {
        let f = BrowseFilter {
            search: SearchTerm::new("www.example.com"),
            status: Some(StatusFilter::Expired),
            unrenewed: true,
            expires_until: Some(time::macros::datetime!(2026-12-31 0:00 UTC)),
            ..BrowseFilter::default()
        };
        let l = link(&f, Some(BrowseSort::Newest));
        let q = InventoryQuery::parse(l.split_once('?').map(|(_, q)| q)).unwrap();
        assert_eq!(q.filter, f);
        assert_eq!(q.sort, Some(BrowseSort::Newest));
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        let e = InventoryQuery::parse(Some("status=bogus")).unwrap_err();
        assert!(e.contains("unknown status"), "{e}");
        let e = InventoryQuery::parse(Some("expires_until=tomorrow")).unwrap_err();
        assert!(e.contains("expires_until"), "{e}");
        assert!(InventoryQuery::parse(Some("size=0")).is_err());
    }

    #[test]
    fn a_date_only_upper_bound_includes_its_day() {
        let q = InventoryQuery::parse(Some("expires_until=2026-12-31")).unwrap();
        assert_eq!(
            q.filter.expires_until,
            Some(time::macros::datetime!(2027-01-01 0:00 UTC))
        );
    }

    #[test]
    fn days_left_colours() {
        let now = time::macros::datetime!(2026-01-01 0:00 UTC);
        assert_eq!(
            days_left(now, Some(now + time::Duration::days(40))).1,
            "dl-ok"
        );
        assert_eq!(
            days_left(now, Some(now + time::Duration::days(10))).1,
            "dl-warn"
        );
        assert_eq!(
            days_left(now, Some(now + time::Duration::hours(5))),
            ("0".into(), "dl-critical")
        );
        assert_eq!(
            days_left(now, Some(now - time::Duration::hours(5))).1,
            "dl-expired"
        );
        assert_eq!(days_left(now, None).1, "dl-none");
    }
}

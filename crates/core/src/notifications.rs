//! Notifications: the two jobs that act on the rules (kept in [`crate::notification_rules`]).
//!
//! - The `notify` job (recurring) matches the outbox of lifecycle events (written in the
//!   transaction of the change itself) and newly crossed expiry thresholds to rules, and
//!   writes, per (rule, certificate, event or threshold), a mark and the delivery it causes in
//!   one transaction ([`certkeeper_store::Store::fan_out`]). Thresholds are found through
//!   per-rule watermarks on notAfter: each run reads only the certificates that crossed a
//!   threshold since the last run, an index range however large the inventory.
//! - The `deliver` job sends one delivery (signed webhook, or e-mail) and records the
//!   attempt; failures retry by the job rules for up to three days, with the same
//!   `webhook-id`; a 410 disables the rule.

use std::collections::BTreeMap;
use std::sync::Arc;

use certkeeper_domain::certificate::CertificateRecord;
use certkeeper_domain::ids::ProjectId;
use certkeeper_domain::notification::{Channel, Event, Rule, days_left, nearest_threshold};
use certkeeper_notify::email::Mailer;
use certkeeper_notify::webhook;
use certkeeper_store::{FanOut, NewDelivery, StoredRule};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{Duration, OffsetDateTime};

pub use crate::notification_rules::RuleView;
use crate::scheduler::RunResult;
use crate::{Core, CoreError};

/// How long a delivery is retried before it is given up.
pub const DELIVERY_RETRY_FOR: Duration = Duration::days(3);
/// How often the notify job looks for work.
pub const NOTIFY_EVERY: Duration = Duration::seconds(10);
/// Most certificates one threshold of one rule handles per run (the rest next run).
const EXPIRING_BATCH: i64 = 1000;

/// Renders a certificate as the project API shows it (the server injects its wire shape, so
/// webhook bodies carry exactly the API's certificate object).
pub type CertificateView =
    Arc<dyn Fn(&CertificateRecord, OffsetDateTime) -> serde_json::Value + Send + Sync>;

/// How this server sends notifications.
#[derive(Clone)]
pub struct NotifyConfig {
    /// Allow webhooks to private, loopback and link-local addresses.
    pub allow_private_webhooks: bool,
    pub mailer: Option<Mailer>,
    pub http: reqwest::Client,
    pub certificate_view: CertificateView,
}

impl std::fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyConfig")
            .field("allow_private_webhooks", &self.allow_private_webhooks)
            .field("mailer", &self.mailer)
            .finish_non_exhaustive()
    }
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            allow_private_webhooks: false,
            mailer: None,
            http: reqwest::Client::new(),
            certificate_view: Arc::new(|r, _| json!({ "id": r.id.0, "domainName": r.domain_name })),
        }
    }
}

/// An e-mail delivery's body, as stored.
#[derive(Debug, Serialize, Deserialize)]
struct EmailBody {
    subject: String,
    text: String,
    html: String,
}

fn message_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}

use crate::rfc3339 as iso;

impl Core {
    pub(crate) fn notify_config(&self) -> &NotifyConfig {
        &self.notify
    }

    /// A webhook body for one certificate.
    fn webhook_body(
        &self,
        event: Event,
        project: ProjectId,
        record: &CertificateRecord,
        threshold: Option<u32>,
        at: OffsetDateTime,
    ) -> String {
        let now = self.now();
        let days = record.summary().map(|s| days_left(s.not_after, now));
        json!({
            "type": event.as_str(),
            "timestamp": iso(at),
            "data": {
                "projectId": project.0,
                "certificate": (self.notify_config().certificate_view)(record, now),
                "daysLeft": days,
                "threshold": threshold,
            }
        })
        .to_string()
    }

    /// One digest for an e-mail rule: every certificate of this run, with what happened.
    fn email_body(
        &self,
        rule: &Rule,
        items: &[(Event, &CertificateRecord, Option<u32>)],
    ) -> Result<String, CoreError> {
        let now = self.now();
        let subject = format!(
            "certkeeper: {} certificate{} need attention ({})",
            items.len(),
            if items.len() == 1 { "" } else { "s" },
            rule.name
        );
        let mut text = format!("{subject}\n\n");
        let mut html = format!(
            "<html><body><h1>{}</h1><table border=\"1\" cellpadding=\"4\"><tr><th>Certificate</th><th>Event</th><th>Expires</th><th>Days left</th></tr>",
            html_escape(&subject)
        );
        for (event, r, threshold) in items {
            let expires = r
                .summary()
                .map(|s| iso(s.not_after))
                .unwrap_or_else(|| "-".into());
            let left = r
                .summary()
                .map(|s| days_left(s.not_after, now).to_string())
                .unwrap_or_else(|| "-".into());
            let what = match threshold {
                Some(t) => format!("{} ({t} days)", event.as_str()),
                None => event.as_str().to_string(),
            };
            text.push_str(&format!(
                "- {} (id {}): {what}, expires {expires}, {left} days left\n",
                r.domain_name, r.id
            ));
            html.push_str(&format!(
                "<tr><td>{} (id {})</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                html_escape(&r.domain_name),
                r.id,
                html_escape(&what),
                html_escape(&expires),
                html_escape(&left)
            ));
        }
        html.push_str("</table></body></html>");
        serde_json::to_string(&EmailBody {
            subject,
            text,
            html,
        })
        .map_err(CoreError::internal)
    }

    /// Whether `record` is in the rule's collection (every certificate when it has none).
    async fn in_scope(&self, rule: &Rule, record: &CertificateRecord) -> Result<bool, CoreError> {
        let Some(id) = rule.collection_id.filter(|id| *id != 0) else {
            return Ok(true);
        };
        let Some(query) = self.collection_query(id).await? else {
            return Ok(false);
        };
        Ok(self
            .store
            .certificate_matches(record.id, &query, self.now())
            .await?)
    }

    async fn collection_query(
        &self,
        id: i64,
    ) -> Result<Option<certkeeper_domain::query::Query>, CoreError> {
        let Some(c) = self
            .store
            .collection(certkeeper_domain::ids::CollectionId(id))
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(
            certkeeper_domain::query::Query::parse(&c.query)
                .map_err(|e| CoreError::internal(format!("stored collection {id}: {e}")))?,
        ))
    }

    /// The `notify` job: outbox events, then crossed thresholds.
    pub(crate) async fn run_notify_job(&self) -> Result<RunResult, CoreError> {
        let mut enqueued = 0;
        let mut rules_of: BTreeMap<i64, Vec<(StoredRule, Rule)>> = BTreeMap::new();
        for event in self.store.pending_events(200).await? {
            if let std::collections::btree_map::Entry::Vacant(slot) =
                rules_of.entry(event.container_id.0)
            {
                let mut rules = Vec::new();
                for stored in self.store.rules(Some(event.container_id)).await? {
                    if stored.disabled_reason.is_none() {
                        let rule = self.open_rule(&stored)?;
                        rules.push((stored, rule));
                    }
                }
                slot.insert(rules);
            }
            let mut groups = Vec::new();
            let kind: Option<Event> = event.event.parse().ok();
            let record = self.store.certificate(event.certificate_id).await?;
            if let (Some(kind), Some(record)) = (kind, record) {
                for (stored, rule) in &rules_of[&event.container_id.0] {
                    if !rule.wants(kind) || !self.in_scope(rule, &record).await? {
                        continue;
                    }
                    let body = match &rule.channel {
                        Channel::Webhook { .. } => {
                            self.webhook_body(kind, record.project_id, &record, None, event.at)
                        }
                        Channel::Email { .. } => self.email_body(rule, &[(kind, &record, None)])?,
                    };
                    groups.push(FanOut {
                        marks: vec![(stored.id, record.id, kind.as_str().to_string())],
                        delivery: Some(NewDelivery {
                            rule_id: stored.id,
                            message_id: message_id(),
                            event: kind.as_str().into(),
                            body,
                        }),
                    });
                }
            }
            enqueued += self
                .store
                .fan_out(groups, Some(event.id), &[], self.now())
                .await?;
        }
        for stored in self.store.rules(None).await? {
            if stored.disabled_reason.is_some() {
                continue;
            }
            let rule = self.open_rule(&stored)?;
            if rule.wants(Event::Expiring) {
                enqueued += self.expiring_for(&stored, &rule).await?;
            }
        }
        if enqueued > 0 {
            tracing::info!(deliveries = enqueued, "notifications enqueued");
            self.wake_scheduler();
        }
        Ok(RunResult::RunAgainIn(NOTIFY_EVERY))
    }

    /// Crossed thresholds of one rule since its watermarks: the nearest crossed threshold of
    /// each certificate is sent, the ones it passed unseen are only marked.
    async fn expiring_for(&self, stored: &StoredRule, rule: &Rule) -> Result<usize, CoreError> {
        let now = self.now();
        let mut marks: BTreeMap<String, i64> =
            serde_json::from_str(&stored.watermarks).unwrap_or_default();
        let floor = marks.get("from").copied().unwrap_or(0);
        let query = match rule.collection_id.filter(|id| *id != 0) {
            Some(id) => match self.collection_query(id).await? {
                Some(q) => Some(q),
                None => return Ok(0),
            },
            None => None,
        };
        let project = self.store.project_by_container(stored.container_id).await?;
        let Some(project) = project else { return Ok(0) };
        let mut groups = Vec::new();
        let mut digest: Vec<(CertificateRecord, u32)> = Vec::new();
        for &t in &rule.expiring_days {
            let key = t.to_string();
            let from_ms = marks.get(&key).copied().unwrap_or(floor);
            let from = OffsetDateTime::from_unix_timestamp_nanos(i128::from(from_ms) * 1_000_000)
                .map_err(CoreError::internal)?;
            let until = now + Duration::days(i64::from(t));
            if until <= from {
                continue;
            }
            let hits = self
                .store
                .expiring_between(
                    project.container_id,
                    query.as_ref(),
                    from,
                    until,
                    now,
                    EXPIRING_BATCH,
                )
                .await?;
            let full = hits.len() as i64 >= EXPIRING_BATCH;
            let mut reached = until;
            for (id, not_after) in &hits {
                reached = *not_after;
                let mark = format!("expiring:{t}");
                // A webhook delivery is enqueued only if its own mark is new (`fan_out`
                // decides); a digest lists many certificates, so one already sent is left out
                // of it here.
                let is_digest = matches!(rule.channel, Channel::Email { .. });
                if nearest_threshold(&rule.expiring_days, *not_after, now) != Some(t)
                    || (is_digest && self.store.marked(stored.id, *id, &mark).await?)
                {
                    groups.push(FanOut {
                        marks: vec![(stored.id, *id, mark)],
                        delivery: None,
                    });
                    continue;
                }
                let Some(record) = self.store.certificate(*id).await? else {
                    continue;
                };
                match &rule.channel {
                    Channel::Webhook { .. } => groups.push(FanOut {
                        marks: vec![(stored.id, *id, mark)],
                        delivery: Some(NewDelivery {
                            rule_id: stored.id,
                            message_id: message_id(),
                            event: Event::Expiring.as_str().into(),
                            body: self.webhook_body(
                                Event::Expiring,
                                project.id,
                                &record,
                                Some(t),
                                now,
                            ),
                        }),
                    }),
                    Channel::Email { .. } => digest.push((record, t)),
                }
            }
            let next = if full { reached } else { until };
            marks.insert(
                key,
                next.unix_timestamp() * 1000 + i64::from(next.millisecond()),
            );
        }
        if !digest.is_empty() {
            let items: Vec<(Event, &CertificateRecord, Option<u32>)> = digest
                .iter()
                .map(|(r, t)| (Event::Expiring, r, Some(*t)))
                .collect();
            groups.push(FanOut {
                marks: digest
                    .iter()
                    .map(|(r, t)| (stored.id, r.id, format!("expiring:{t}")))
                    .collect(),
                delivery: Some(NewDelivery {
                    rule_id: stored.id,
                    message_id: message_id(),
                    event: Event::Expiring.as_str().into(),
                    body: self.email_body(rule, &items)?,
                }),
            });
        }
        let watermarks = serde_json::to_string(&marks).map_err(CoreError::internal)?;
        Ok(self
            .store
            .fan_out(groups, None, &[(stored.id, watermarks)], now)
            .await?)
    }

    /// The `deliver` job.
    pub(crate) async fn run_deliver_job(&self, id: i64) -> Result<RunResult, CoreError> {
        let Some(delivery) = self.store.delivery(id).await? else {
            return Ok(RunResult::Done);
        };
        if delivery.state != "pending" {
            return Ok(RunResult::Done);
        }
        let now = self.now();
        let Some(stored) = self.store.rule(delivery.rule_id).await? else {
            return Ok(RunResult::Done);
        };
        if stored.disabled_reason.is_some() {
            self.store
                .record_attempt(id, "disabled", None, Some("the rule is disabled"), now)
                .await?;
            return Ok(RunResult::Done);
        }
        let rule = self.open_rule(&stored)?;
        let outcome: Result<Option<i64>, (Option<i64>, String)> = match &rule.channel {
            Channel::Webhook { url, secret } => {
                match webhook::check_target(url, self.notify_config().allow_private_webhooks).await
                {
                    Err(e) => Err((None, e.to_string())),
                    Ok(target) => {
                        #[allow(clippy::disallowed_methods, reason = "wall clock for receivers")]
                        let message = webhook::Message {
                            id: &delivery.message_id,
                            timestamp: OffsetDateTime::now_utc().unix_timestamp(),
                            body: delivery.body.as_bytes(),
                        };
                        match webhook::send(&self.notify_config().http, target, secret, &message)
                            .await
                        {
                            webhook::Attempt::Delivered(status) => Ok(Some(i64::from(status))),
                            webhook::Attempt::Gone => {
                                self.store
                                    .disable_rule(
                                        stored.id,
                                        "the webhook receiver answered 410 Gone",
                                        now,
                                    )
                                    .await?;
                                self.store
                                    .record_attempt(
                                        id,
                                        "disabled",
                                        Some(410),
                                        Some("410 Gone: rule disabled"),
                                        now,
                                    )
                                    .await?;
                                return Ok(RunResult::Done);
                            }
                            webhook::Attempt::Failed { status, error } => {
                                Err((status.map(i64::from), error))
                            }
                        }
                    }
                }
            }
            Channel::Email { to } => match &self.notify_config().mailer {
                None => Err((None, "no SMTP server is configured (--smtp-url)".into())),
                Some(mailer) => {
                    let body: EmailBody = serde_json::from_str(&delivery.body)
                        .map_err(|e| CoreError::internal(format!("stored e-mail: {e}")))?;
                    mailer
                        .send(to, &body.subject, body.text, body.html)
                        .await
                        .map(|()| None)
                        .map_err(|e| (None, e.to_string()))
                }
            },
        };
        match outcome {
            Ok(status) => {
                self.store
                    .record_attempt(id, "delivered", status, None, now)
                    .await?;
                self.outcomes.add("delivery", "delivered");
                Ok(RunResult::Done)
            }
            Err((status, error)) if now - delivery.created_at >= DELIVERY_RETRY_FOR => {
                self.store
                    .record_attempt(
                        id,
                        "failed",
                        status,
                        Some(&format!("gave up after 3 days: {error}")),
                        now,
                    )
                    .await?;
                Ok(RunResult::Done)
            }
            Err((status, error)) => {
                self.store
                    .record_attempt(id, "pending", status, Some(&error), now)
                    .await?;
                self.outcomes.add("delivery", "failed");
                Ok(RunResult::Failed(error))
            }
        }
    }

    /// Records a lifecycle event for the notify job (failures the scheduler saw).
    pub(crate) async fn push_event(
        &self,
        record: &CertificateRecord,
        event: Event,
        detail: Option<&str>,
    ) {
        if let Err(e) = self
            .store
            .push_event(
                record.container_id,
                record.id,
                event.as_str(),
                detail,
                self.now(),
            )
            .await
        {
            tracing::warn!(certificate = %record.id, %event, error = %e, "recording a lifecycle event failed");
        }
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

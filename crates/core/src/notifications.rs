//! Notifications: rules per project, and the two jobs that act on them.
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
use certkeeper_domain::project::Project;
use certkeeper_notify::email::Mailer;
use certkeeper_notify::webhook;
use certkeeper_store::{FanOut, NewDelivery, StoredDelivery, StoredRule};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::scheduler::RunResult;
use crate::{Access, Core, CoreError, Principal};

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

/// The channel as stored sealed (with its secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum StoredChannel {
    Webhook { url: String, secret: String },
    Email { to: Vec<String> },
}

/// A rule as answered: never its secret.
#[derive(Debug, Clone)]
pub struct RuleView {
    pub id: i64,
    pub project_id: ProjectId,
    pub rule: Rule,
    pub disabled_reason: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A channel's serialized form before sealing (it holds the webhook secret): wiped on drop.
struct ClearChannel(Vec<u8>);

impl Drop for ClearChannel {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        self.0.zeroize();
    }
}

/// An e-mail delivery's body, as stored.
#[derive(Debug, Serialize, Deserialize)]
struct EmailBody {
    subject: String,
    text: String,
    html: String,
}

/// What a rule's sealed channel (its webhook secret) is bound to: that rule.
pub(crate) fn channel_aad(rule: i64) -> String {
    format!("certkeeper:notification-rule:{rule}:channel")
}

/// What channels were bound to before they were bound to their rule: the project. Read
/// only, for rows written by an earlier version; `Core::rebind_channels` re-seals them.
pub(crate) fn legacy_channel_aad(container: i64) -> String {
    format!("certkeeper:notification-channel:{container}:channel")
}

fn message_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}

use crate::rfc3339 as iso;

impl Core {
    fn notify_config(&self) -> &NotifyConfig {
        &self.notify
    }

    /// Unseals and parses a stored rule.
    fn open_rule(&self, stored: &StoredRule) -> Result<Rule, CoreError> {
        let events: Vec<String> = serde_json::from_str(&stored.events)
            .map_err(|e| CoreError::internal(format!("stored rule events: {e}")))?;
        let expiring_days: Vec<u32> = serde_json::from_str(&stored.expiring_days)
            .map_err(|e| CoreError::internal(format!("stored rule thresholds: {e}")))?;
        let clear = self
            .master_key
            .open(channel_aad(stored.id).as_bytes(), &stored.channel_sealed)
            .or_else(|e| {
                self.master_key
                    .open(
                        legacy_channel_aad(stored.container_id.0).as_bytes(),
                        &stored.channel_sealed,
                    )
                    .map_err(|_| e)
            })
            .map_err(|e| {
                CoreError::internal(format!(
                    "the channel of notification rule {}: {e}",
                    stored.id
                ))
            })?;
        let channel = match serde_json::from_slice::<StoredChannel>(&clear)
            .map_err(|e| CoreError::internal(format!("stored channel: {e}")))?
        {
            StoredChannel::Webhook { url, secret } => Channel::Webhook { url, secret },
            StoredChannel::Email { to } => Channel::Email { to },
        };
        Ok(Rule {
            name: stored.name.clone(),
            events: events
                .iter()
                .map(|e| e.parse())
                .collect::<Result<_, _>>()
                .map_err(CoreError::Internal)?,
            expiring_days,
            collection_id: stored.collection_id,
            channel,
        })
    }

    fn view(&self, project: &Project, stored: &StoredRule) -> Result<RuleView, CoreError> {
        let mut rule = self.open_rule(stored)?;
        if let Channel::Webhook { secret, .. } = &mut rule.channel {
            secret.clear();
        }
        Ok(RuleView {
            id: stored.id,
            project_id: project.id,
            rule,
            disabled_reason: stored.disabled_reason.clone(),
            created_at: stored.created_at,
            updated_at: stored.updated_at,
        })
    }

    /// Checks a rule for this server and makes its stored fields. Returns the secret to show
    /// once when one was generated.
    async fn rule_fields(
        &self,
        rule: Rule,
        watermarks: String,
    ) -> Result<
        (
            Rule,
            certkeeper_store::RuleFields,
            ClearChannel,
            Option<String>,
        ),
        CoreError,
    > {
        let mut rule = rule.check().map_err(CoreError::Invalid)?;
        let mut generated = None;
        if let Some(id) = rule.collection_id
            && id != 0
            && self
                .store
                .collection(certkeeper_domain::ids::CollectionId(id))
                .await?
                .is_none()
        {
            return Err(CoreError::Invalid(format!(
                "collectionId {id}: no such collection"
            )));
        }
        match &mut rule.channel {
            Channel::Webhook { url, secret } => {
                webhook::check_target(url, self.notify_config().allow_private_webhooks)
                    .await
                    .map_err(|e| CoreError::Invalid(format!("channel.url: {e}")))?;
                if secret.is_empty() {
                    *secret = webhook::generate_secret().map_err(CoreError::internal)?;
                    generated = Some(secret.clone());
                } else {
                    webhook::secret_key(secret)
                        .map_err(|e| CoreError::Invalid(format!("channel.secret: {e}")))?;
                }
            }
            Channel::Email { to } => {
                if self.notify_config().mailer.is_none() {
                    return Err(CoreError::Invalid(
                        "e-mail channels need an SMTP server: start certkeeper with --smtp-url and --smtp-from".into(),
                    ));
                }
                for a in to.iter() {
                    certkeeper_notify::email::parse_address(a)
                        .map_err(|e| CoreError::Invalid(format!("channel.to: {e}")))?;
                }
            }
        }
        let stored = match &rule.channel {
            Channel::Webhook { url, secret } => StoredChannel::Webhook {
                url: url.clone(),
                secret: secret.clone(),
            },
            Channel::Email { to } => StoredChannel::Email { to: to.clone() },
        };
        let public = match &rule.channel {
            Channel::Webhook { url, .. } => json!({"type": "webhook", "url": url}),
            Channel::Email { to } => json!({"type": "email", "to": to}),
        };
        let channel = ClearChannel(serde_json::to_vec(&stored).map_err(CoreError::internal)?);
        let fields = certkeeper_store::RuleFields {
            name: rule.name.clone(),
            events: serde_json::to_string(
                &rule.events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
            )
            .map_err(CoreError::internal)?,
            expiring_days: serde_json::to_string(&rule.expiring_days)
                .map_err(CoreError::internal)?,
            collection_id: rule.collection_id,
            channel_public: public.to_string(),
            // Sealed once the rule's id is known (see `seal_channel`).
            channel_sealed: Vec::new(),
            watermarks,
            at: self.now(),
        };
        Ok((rule, fields, channel, generated))
    }

    /// A rule's channel sealed for the rule `id`.
    fn seal_channel(&self, id: i64, channel: &ClearChannel) -> Result<Vec<u8>, String> {
        self.master_key
            .seal(channel_aad(id).as_bytes(), &channel.0)
            .map_err(|e| format!("sealing the channel of notification rule {id}: {e}"))
    }

    /// Re-seals, bound to their rule, the channels an earlier version bound to their project
    /// (run by `serve` at start; idempotent, and safe beside other nodes: each write is a
    /// compare-and-swap on the old value). Returns how many it re-sealed.
    pub async fn rebind_channels(&self) -> Result<u64, CoreError> {
        use certkeeper_store::{Reseal, SealedKind};
        let mut cursor = None;
        let mut written = 0;
        loop {
            let rows = self
                .store
                .sealed_batch(SealedKind::NotificationChannel, cursor.as_ref(), 500)
                .await?;
            let Some(last) = rows.last() else { break };
            cursor = Some(last.key.clone());
            let mut batch = Vec::new();
            for row in &rows {
                let certkeeper_store::SealedCursor::Int(id) = row.key else {
                    continue;
                };
                if self
                    .master_key
                    .open(channel_aad(id).as_bytes(), &row.sealed)
                    .is_ok()
                {
                    continue;
                }
                let Ok(container) = row.binding.parse::<i64>() else {
                    continue;
                };
                let Ok(clear) = self
                    .master_key
                    .open(legacy_channel_aad(container).as_bytes(), &row.sealed)
                else {
                    // Neither: not this rule's value (tampered); it stays refused.
                    continue;
                };
                let new = self
                    .master_key
                    .seal(channel_aad(id).as_bytes(), &clear)
                    .map_err(CoreError::internal)?;
                batch.push(Reseal {
                    key: row.key.clone(),
                    old: row.sealed.clone(),
                    new,
                });
            }
            written += self
                .store
                .reseal(SealedKind::NotificationChannel, &batch)
                .await?;
        }
        Ok(written)
    }

    /// Watermarks of a new rule: certificates that expired in the last day or expire later
    /// are considered; older expiries are history.
    fn fresh_watermarks(&self) -> String {
        json!({ "from": (self.now() - Duration::days(1)).unix_timestamp() * 1000 }).to_string()
    }

    /// POST …/notifications. Returns the rule and, when certkeeper generated the webhook
    /// secret, that secret (shown this once).
    pub async fn create_rule(
        &self,
        who: &Principal,
        project: ProjectId,
        rule: Rule,
    ) -> Result<(RuleView, Option<String>), CoreError> {
        let project = self.authorize_project(who, project, Access::Write).await?;
        self.create_rule_in(&project, rule).await
    }

    /// Creates a rule in `project` (the CLI's entry: no key involved).
    pub async fn create_rule_in(
        &self,
        project: &Project,
        rule: Rule,
    ) -> Result<(RuleView, Option<String>), CoreError> {
        let (_, fields, channel, generated) =
            self.rule_fields(rule, self.fresh_watermarks()).await?;
        let stored = self
            .store
            .create_rule(project.container_id, &fields, |id| {
                self.seal_channel(id, &channel)
            })
            .await
            .map_err(CoreError::conflict_or_store)?;
        Ok((self.view(project, &stored)?, generated))
    }

    pub async fn list_rules(
        &self,
        who: &Principal,
        project: ProjectId,
    ) -> Result<Vec<RuleView>, CoreError> {
        let project = self.authorize_project(who, project, Access::Read).await?;
        self.rules_in(&project).await
    }

    pub async fn rules_in(&self, project: &Project) -> Result<Vec<RuleView>, CoreError> {
        self.store
            .rules(Some(project.container_id))
            .await?
            .iter()
            .map(|r| self.view(project, r))
            .collect()
    }

    async fn owned_rule(&self, project: &Project, id: i64) -> Result<StoredRule, CoreError> {
        self.store
            .rule(id)
            .await?
            .filter(|r| r.container_id == project.container_id)
            .ok_or_else(|| {
                CoreError::NotFound(format!(
                    "notification rule {id} not found in project {}",
                    project.id
                ))
            })
    }

    pub async fn get_rule(
        &self,
        who: &Principal,
        project: ProjectId,
        id: i64,
    ) -> Result<RuleView, CoreError> {
        let project = self.authorize_project(who, project, Access::Read).await?;
        let stored = self.owned_rule(&project, id).await?;
        self.view(&project, &stored)
    }

    /// PUT …/notifications/{id}: replaces the rule (a webhook secret left out is kept).
    pub async fn update_rule(
        &self,
        who: &Principal,
        project: ProjectId,
        id: i64,
        mut rule: Rule,
    ) -> Result<(RuleView, Option<String>), CoreError> {
        let project = self.authorize_project(who, project, Access::Write).await?;
        let current = self.owned_rule(&project, id).await?;
        if let (Channel::Webhook { secret, .. }, Channel::Webhook { secret: old, .. }) =
            (&mut rule.channel, self.open_rule(&current)?.channel)
            && secret.is_empty()
        {
            *secret = old;
        }
        let (_, mut fields, channel, generated) =
            self.rule_fields(rule, current.watermarks.clone()).await?;
        fields.channel_sealed = self
            .seal_channel(id, &channel)
            .map_err(CoreError::internal)?;
        let stored = self
            .store
            .update_rule(project.container_id, id, &fields)
            .await
            .map_err(CoreError::conflict_or_store)?
            .ok_or_else(|| CoreError::NotFound(format!("notification rule {id} not found")))?;
        Ok((self.view(&project, &stored)?, generated))
    }

    pub async fn delete_rule(
        &self,
        who: &Principal,
        project: ProjectId,
        id: i64,
    ) -> Result<(), CoreError> {
        let project = self.authorize_project(who, project, Access::Write).await?;
        self.delete_rule_in(&project, id).await
    }

    pub async fn delete_rule_in(&self, project: &Project, id: i64) -> Result<(), CoreError> {
        if !self.store.delete_rule(project.container_id, id).await? {
            return Err(CoreError::NotFound(format!(
                "notification rule {id} not found in project {}",
                project.id
            )));
        }
        Ok(())
    }

    pub async fn rule_deliveries(
        &self,
        who: &Principal,
        project: ProjectId,
        id: i64,
        limit: i64,
    ) -> Result<Vec<StoredDelivery>, CoreError> {
        let project = self.authorize_project(who, project, Access::Read).await?;
        self.owned_rule(&project, id).await?;
        if !(1..=1000).contains(&limit) {
            return Err(CoreError::Invalid(format!(
                "limit must be between 1 and 1000 (got {limit})"
            )));
        }
        Ok(self.store.deliveries(id, limit).await?)
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

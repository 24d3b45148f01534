//! Notification rules: their storage with the channel sealed and bound to the rule, and the
//! operations the API, the dashboard and the CLI call on them. What the rules cause (the
//! `notify` and `deliver` jobs) is in [`crate::notifications`].

use certkeeper_domain::ids::ProjectId;
use certkeeper_domain::notification::{Channel, Rule};
use certkeeper_domain::project::Project;
use certkeeper_notify::webhook;
use certkeeper_store::{StoredDelivery, StoredRule};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::{Access, Core, CoreError, Principal};

/// The channel as stored sealed (with its secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum StoredChannel {
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

/// What a rule's sealed channel (its webhook secret) is bound to: that rule.
pub(crate) fn channel_aad(rule: i64) -> String {
    format!("certkeeper:notification-rule:{rule}:channel")
}

/// What channels were bound to before they were bound to their rule: the project. Read
/// only, for rows written by an earlier version; `Core::rebind_channels` re-seals them.
pub(crate) fn legacy_channel_aad(container: i64) -> String {
    format!("certkeeper:notification-channel:{container}:channel")
}

impl Core {
    /// Unseals and parses a stored rule.
    pub(crate) fn open_rule(&self, stored: &StoredRule) -> Result<Rule, CoreError> {
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

    pub(crate) fn view(
        &self,
        project: &Project,
        stored: &StoredRule,
    ) -> Result<RuleView, CoreError> {
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

    pub(crate) async fn owned_rule(
        &self,
        project: &Project,
        id: i64,
    ) -> Result<StoredRule, CoreError> {
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
}

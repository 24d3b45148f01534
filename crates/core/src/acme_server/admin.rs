//! The ACME accounts of a project, for operators: listed with a key that may read the project,
//! deactivated by an admin (audited). The ACME face never comes here.

use certkeeper_domain::audit::{Actor, AuditAction, NewAuditEvent};
use certkeeper_domain::ids::ProjectId;
use certkeeper_domain::project::Project;
use serde_json::json;

use super::{Account, AccountStatus};
use crate::{Access, Core, CoreError, Principal};

impl Core {
    /// A project's ACME accounts, oldest first.
    pub async fn acme_accounts_of(
        &self,
        who: &Principal,
        project: ProjectId,
    ) -> Result<Vec<Account>, CoreError> {
        let project = self.authorize_project(who, project, Access::Read).await?;
        self.acme_accounts_in(&project).await
    }

    /// [`Self::acme_accounts_of`] for a project already resolved (the CLI).
    pub async fn acme_accounts_in(&self, project: &Project) -> Result<Vec<Account>, CoreError> {
        self.store
            .acme_accounts(project.container_id)
            .await?
            .into_iter()
            .map(|row| Account::try_from(row).map_err(|e| CoreError::internal(e.detail)))
            .collect()
    }

    /// Deactivates an account (RFC 8555's deactivation, done by the server): it can no longer
    /// sign anything. Idempotent.
    pub async fn deactivate_acme_account(
        &self,
        who: &Principal,
        project: ProjectId,
        id: &str,
    ) -> Result<Account, CoreError> {
        let project = self.authorize_project(who, project, Access::Write).await?;
        if !who.key.role.is_admin() {
            return Err(CoreError::Forbidden(
                "deactivating an ACME account needs an admin API key".into(),
            ));
        }
        self.deactivate_acme_account_in(who.actor(), &project, id)
            .await
    }

    /// [`Self::deactivate_acme_account`] for a project already resolved, on behalf of `actor`.
    pub async fn deactivate_acme_account_in(
        &self,
        actor: Actor,
        project: &Project,
        id: &str,
    ) -> Result<Account, CoreError> {
        let row = self
            .store
            .acme_account(id)
            .await?
            .filter(|r| r.container_id == project.container_id)
            .ok_or_else(|| {
                CoreError::NotFound(format!("no ACME account {id:?} in this project"))
            })?;
        let mut account =
            Account::try_from(row.clone()).map_err(|e| CoreError::internal(e.detail))?;
        if account.status == AccountStatus::Deactivated {
            return Ok(account);
        }
        let mut next = row;
        next.status = AccountStatus::Deactivated.as_str().into();
        self.store.update_acme_account(&next).await?;
        account.status = AccountStatus::Deactivated;
        self.store
            .record_audit(&NewAuditEvent {
                at: self.now(),
                actor,
                action: AuditAction::AcmeAccountDeactivate,
                project: Some(project.id),
                target: format!("acme-account:{id}"),
                detail: json!({ "account": id }).to_string(),
            })
            .await?;
        Ok(account)
    }
}

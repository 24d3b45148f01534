//! The ACME server's tables: accounts, orders, authorizations, used nonces.
//!
//! Rows are kept close to their wire shapes (JSON text for lists and challenges); the core
//! turns them into protocol objects. Every state change is a conditional UPDATE on the
//! expected old status, so two nodes answering the same client cannot both move an object.

use certkeeper_domain::ids::{CertificateId, ContainerId};
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use crate::time_ms::{from_ms, to_ms};
use crate::{Store, StoreError};

/// An ACME account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeAccountRow {
    pub id: String,
    pub container_id: ContainerId,
    pub thumbprint: String,
    /// The public key, JWK JSON.
    pub jwk: String,
    /// JSON array of contact URLs.
    pub contacts: String,
    pub status: String,
    pub eab_kid: Option<String>,
    pub created_at: OffsetDateTime,
}

/// An ACME order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeOrderRow {
    pub id: String,
    pub container_id: ContainerId,
    pub account_id: String,
    pub status: String,
    /// JSON array of `{type, value}`.
    pub identifiers: String,
    /// JSON array of authorization ids.
    pub authorizations: String,
    pub not_before: Option<OffsetDateTime>,
    pub not_after: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
    /// A problem document, JSON.
    pub error: Option<String>,
    pub certificate_id: Option<CertificateId>,
    pub replaces: Option<String>,
    pub created_at: OffsetDateTime,
}

/// An ACME authorization with its challenges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeAuthzRow {
    pub id: String,
    pub container_id: ContainerId,
    pub account_id: String,
    /// The DNS name, without `*.` for a wildcard.
    pub identifier: String,
    pub wildcard: bool,
    pub status: String,
    pub expires_at: OffsetDateTime,
    /// JSON array of challenges.
    pub challenges: String,
    pub created_at: OffsetDateTime,
}

const ACCOUNT_COLUMNS: &str =
    "id, container_id, thumbprint, jwk, contacts, status, eab_kid, created_at_ms";

fn account_row(r: &AnyRow) -> Result<AcmeAccountRow, StoreError> {
    Ok(AcmeAccountRow {
        id: r.try_get("id")?,
        container_id: ContainerId(r.try_get("container_id")?),
        thumbprint: r.try_get("thumbprint")?,
        jwk: r.try_get("jwk")?,
        contacts: r.try_get("contacts")?,
        status: r.try_get("status")?,
        eab_kid: r.try_get("eab_kid")?,
        created_at: from_ms(r.try_get("created_at_ms")?)?,
    })
}

fn order_row(r: &AnyRow) -> Result<AcmeOrderRow, StoreError> {
    let opt = |c: &str| -> Result<Option<OffsetDateTime>, StoreError> {
        r.try_get::<Option<i64>, _>(c)?.map(from_ms).transpose()
    };
    Ok(AcmeOrderRow {
        id: r.try_get("id")?,
        container_id: ContainerId(r.try_get("container_id")?),
        account_id: r.try_get("account_id")?,
        status: r.try_get("status")?,
        identifiers: r.try_get("identifiers")?,
        authorizations: r.try_get("authorizations")?,
        not_before: opt("not_before_ms")?,
        not_after: opt("not_after_ms")?,
        expires_at: from_ms(r.try_get("expires_at_ms")?)?,
        error: r.try_get("error")?,
        certificate_id: r
            .try_get::<Option<i64>, _>("certificate_id")?
            .map(CertificateId),
        replaces: r.try_get("replaces")?,
        created_at: from_ms(r.try_get("created_at_ms")?)?,
    })
}

fn authz_row(r: &AnyRow) -> Result<AcmeAuthzRow, StoreError> {
    Ok(AcmeAuthzRow {
        id: r.try_get("id")?,
        container_id: ContainerId(r.try_get("container_id")?),
        account_id: r.try_get("account_id")?,
        identifier: r.try_get("identifier")?,
        wildcard: r.try_get::<i64, _>("wildcard")? != 0,
        status: r.try_get("status")?,
        expires_at: from_ms(r.try_get("expires_at_ms")?)?,
        challenges: r.try_get("challenges")?,
        created_at: from_ms(r.try_get("created_at_ms")?)?,
    })
}

/// Inserts an account unless its key already has one in the project; whether it did.
async fn insert_account_on(
    tx: &mut crate::WriteTx,
    row: &AcmeAccountRow,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "INSERT INTO acme_accounts (id, container_id, thumbprint, jwk, contacts, status, eab_kid, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (container_id, thumbprint) DO NOTHING",
    )
    .bind(&row.id)
    .bind(row.container_id.0)
    .bind(&row.thumbprint)
    .bind(&row.jwk)
    .bind(&row.contacts)
    .bind(&row.status)
    .bind(&row.eab_kid)
    .bind(to_ms(row.created_at))
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

const ORDER_SELECT: &str = "SELECT id, container_id, account_id, status, identifiers, authorizations, \
     not_before_ms, not_after_ms, expires_at_ms, error, certificate_id, replaces, created_at_ms \
     FROM acme_orders";
const AUTHZ_SELECT: &str = "SELECT id, container_id, account_id, identifier, wildcard, status, \
     expires_at_ms, challenges, created_at_ms FROM acme_authorizations";

impl Store {
    /// Stores a new account; `Ok(None)` when the key already has one in this project, which
    /// is then answered instead.
    pub async fn insert_acme_account(
        &self,
        row: &AcmeAccountRow,
    ) -> Result<Option<AcmeAccountRow>, StoreError> {
        let mut tx = self.begin_write().await?;
        let inserted = insert_account_on(&mut tx, row).await?;
        tx.commit().await?;
        Ok(inserted.then(|| row.clone()))
    }

    pub async fn acme_account(&self, id: &str) -> Result<Option<AcmeAccountRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM acme_accounts WHERE id = $1"
        ));
        sqlx::query(sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(account_row)
            .transpose()
    }

    pub async fn acme_account_by_key(
        &self,
        container: ContainerId,
        thumbprint: &str,
    ) -> Result<Option<AcmeAccountRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM acme_accounts WHERE container_id = $1 AND thumbprint = $2"
        ));
        sqlx::query(sql)
            .bind(container.0)
            .bind(thumbprint)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(account_row)
            .transpose()
    }

    /// A project's accounts, oldest first.
    pub async fn acme_accounts(
        &self,
        container: ContainerId,
    ) -> Result<Vec<AcmeAccountRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM acme_accounts WHERE container_id = $1 ORDER BY created_at_ms, id"
        ));
        sqlx::query(sql)
            .bind(container.0)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(account_row)
            .collect()
    }

    /// Writes an account's contacts, status and key; only while it is still `valid`.
    pub async fn update_acme_account(&self, row: &AcmeAccountRow) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE acme_accounts SET contacts = $1, status = $2, jwk = $3, thumbprint = $4 \
             WHERE id = $5 AND status = 'valid'",
        )
        .bind(&row.contacts)
        .bind(&row.status)
        .bind(&row.jwk)
        .bind(&row.thumbprint)
        .bind(&row.id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?
        .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Records `nonce` as used; `false` when it already was (a replay).
    pub async fn use_acme_nonce(
        &self,
        nonce: &str,
        expires_at_ms: i64,
    ) -> Result<bool, StoreError> {
        self.writer
            .use_nonce(nonce.to_string(), expires_at_ms)
            .await
    }

    /// Forgets used nonces that could no longer be replayed anyway; how many.
    pub async fn sweep_acme_nonces(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM acme_used_nonces WHERE expires_at_ms < $1")
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// Stores a new order and the authorizations it created, in one transaction.
    pub async fn insert_acme_order(
        &self,
        order: &AcmeOrderRow,
        new_authzs: &[AcmeAuthzRow],
    ) -> Result<(), StoreError> {
        self.writer
            .acme_write(AcmeWrite::InsertOrder(order.clone(), new_authzs.to_vec()))
            .await
            .map(|_| ())
    }

    pub async fn acme_order(&self, id: &str) -> Result<Option<AcmeOrderRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{ORDER_SELECT} WHERE id = $1"));
        sqlx::query(sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(order_row)
            .transpose()
    }

    /// Moves an order `from → to`, with its error or certificate; `false` if it was no
    /// longer `from`.
    pub async fn move_acme_order(
        &self,
        id: &str,
        from: &str,
        to: &str,
        error: Option<&str>,
        certificate: Option<CertificateId>,
    ) -> Result<bool, StoreError> {
        self.writer
            .acme_write(AcmeWrite::MoveOrder {
                id: id.to_string(),
                from: from.to_string(),
                to: to.to_string(),
                error: error.map(str::to_string),
                certificate,
            })
            .await
    }

    pub async fn acme_authz(&self, id: &str) -> Result<Option<AcmeAuthzRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{AUTHZ_SELECT} WHERE id = $1"));
        sqlx::query(sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(authz_row)
            .transpose()
    }

    /// Several authorizations by id, in no particular order.
    pub async fn acme_authzs(&self, ids: &[String]) -> Result<Vec<AcmeAuthzRow>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(a) = self.acme_authz(id).await? {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// The account's newest valid or pending authorization for the name that is still good
    /// at `good_until` (so reusing it cannot leave an order with an expired one).
    pub async fn reusable_acme_authz(
        &self,
        account: &str,
        identifier: &str,
        wildcard: bool,
        good_until: OffsetDateTime,
    ) -> Result<Option<AcmeAuthzRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "{AUTHZ_SELECT} WHERE account_id = $1 AND identifier = $2 AND wildcard = $3 \
             AND status IN ('valid', 'pending') AND expires_at_ms > $4 \
             ORDER BY CASE status WHEN 'valid' THEN 0 ELSE 1 END, expires_at_ms DESC LIMIT 1"
        ));
        sqlx::query(sql)
            .bind(account)
            .bind(identifier)
            .bind(i64::from(wildcard))
            .bind(to_ms(good_until))
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(authz_row)
            .transpose()
    }

    /// Writes an authorization's status, expiry and challenges, if its status is still
    /// `from`; `false` otherwise.
    pub async fn update_acme_authz(
        &self,
        row: &AcmeAuthzRow,
        from: &str,
    ) -> Result<bool, StoreError> {
        self.writer
            .acme_write(AcmeWrite::UpdateAuthz(row.clone(), from.to_string()))
            .await
    }

    /// Records a validation's outcome (`row`) over the still `pending` authorization and drops
    /// its recovery job; false when the authorization had moved on.
    pub async fn finish_acme_validation(&self, row: &AcmeAuthzRow) -> Result<bool, StoreError> {
        self.writer
            .acme_write(AcmeWrite::FinishValidation(row.clone()))
            .await
    }

    /// Moves a `pending` authorization to `row` (a challenge `processing`) and schedules the
    /// `acme-validate` job that finishes the validation at `recover_at` if nobody has by then;
    /// false when the authorization was no longer pending.
    pub async fn start_acme_validation(
        &self,
        row: &AcmeAuthzRow,
        recover_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.writer
            .acme_write(AcmeWrite::StartValidation {
                row: row.clone(),
                recover_at,
                now,
            })
            .await
    }
}

/// An external account binding key, its HMAC key sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeEabKeyRow {
    pub kid: String,
    pub container_id: ContainerId,
    pub hmac_sealed: Vec<u8>,
    pub bound_account: Option<String>,
    pub created_at: OffsetDateTime,
}

impl Store {
    pub async fn insert_acme_eab_key(&self, row: &AcmeEabKeyRow) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO acme_eab_keys (kid, container_id, hmac_sealed, bound_account, created_at_ms) \
             VALUES ($1, $2, $3, NULL, $4)",
        )
        .bind(&row.kid)
        .bind(row.container_id.0)
        .bind(row.hmac_sealed.clone())
        .bind(to_ms(row.created_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn acme_eab_key(&self, kid: &str) -> Result<Option<AcmeEabKeyRow>, StoreError> {
        let row = sqlx::query(
            "SELECT kid, container_id, hmac_sealed, bound_account, created_at_ms FROM acme_eab_keys WHERE kid = $1",
        )
        .bind(kid)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| -> Result<AcmeEabKeyRow, StoreError> {
            Ok(AcmeEabKeyRow {
                kid: r.try_get("kid")?,
                container_id: ContainerId(r.try_get("container_id")?),
                hmac_sealed: r.try_get("hmac_sealed")?,
                bound_account: r.try_get("bound_account")?,
                created_at: from_ms(r.try_get("created_at_ms")?)?,
            })
        })
        .transpose()
    }

    /// Stores a new account bound to an unused EAB key, in one transaction: `Ok(false)` (and
    /// nothing stored) when the key was bound meanwhile or the account's key has an account.
    pub async fn insert_acme_account_with_eab(
        &self,
        row: &AcmeAccountRow,
        kid: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let bound = sqlx::query(
            "UPDATE acme_eab_keys SET bound_account = $1 WHERE kid = $2 AND bound_account IS NULL",
        )
        .bind(&row.id)
        .bind(kid)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !bound {
            return Ok(false);
        }
        let bound_row = AcmeAccountRow {
            eab_kid: Some(kid.to_string()),
            ..row.clone()
        };
        if !insert_account_on(&mut tx, &bound_row).await? {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Whether the project requires external account binding.
    pub async fn acme_eab_required(&self, container: ContainerId) -> Result<bool, StoreError> {
        let v: Option<i64> = sqlx::query_scalar(
            "SELECT eab_required FROM acme_project_settings WHERE container_id = $1",
        )
        .bind(container.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(v.unwrap_or(0) != 0)
    }

    /// The project's ACME policy (JSON), if one was set.
    pub async fn acme_policy(&self, container: ContainerId) -> Result<Option<String>, StoreError> {
        let v: Option<Option<String>> =
            sqlx::query_scalar("SELECT policy FROM acme_project_settings WHERE container_id = $1")
                .bind(container.0)
                .fetch_optional(&self.pool)
                .await?;
        Ok(v.flatten())
    }

    pub async fn set_acme_policy(
        &self,
        container: ContainerId,
        policy: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO acme_project_settings (container_id, eab_required, policy) VALUES ($1, 0, $2) \
             ON CONFLICT (container_id) DO UPDATE SET policy = excluded.policy",
        )
        .bind(container.0)
        .bind(policy)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_acme_eab_required(
        &self,
        container: ContainerId,
        required: bool,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO acme_project_settings (container_id, eab_required) VALUES ($1, $2) \
             ON CONFLICT (container_id) DO UPDATE SET eab_required = excluded.eab_required",
        )
        .bind(container.0)
        .bind(i64::from(required))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The ACME writes every order makes, batched by the group-commit writer so concurrent
/// clients share commits (each was one fsync of its own).
#[derive(Debug, Clone)]
pub(crate) enum AcmeWrite {
    InsertOrder(AcmeOrderRow, Vec<AcmeAuthzRow>),
    MoveOrder {
        id: String,
        from: String,
        to: String,
        error: Option<String>,
        certificate: Option<CertificateId>,
    },
    UpdateAuthz(AcmeAuthzRow, String),
    /// A challenge moved `pending` → `processing`, with the recovery job that finishes its
    /// validation at `recover_at` should this node not (one transaction: a crash between the
    /// two cannot leave a challenge `processing` with nobody to finish it).
    StartValidation {
        row: AcmeAuthzRow,
        recover_at: OffsetDateTime,
        now: OffsetDateTime,
    },
    /// A validation's outcome over the `pending` authorization; its recovery job goes.
    FinishValidation(AcmeAuthzRow),
}

/// [`AcmeWrite`]'s statements inside the writer's transaction; whether it applied.
pub(crate) async fn acme_write_on<C: crate::conn::WriteConn>(
    conn: &mut C,
    write: &AcmeWrite,
) -> Result<bool, StoreError> {
    use crate::conn::args;
    Ok(match write {
        AcmeWrite::InsertOrder(order, authzs) => {
            for a in authzs {
                conn.execute(
                    "INSERT INTO acme_authorizations (id, container_id, account_id, identifier, wildcard, status, \
                     expires_at_ms, challenges, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    args![
                        a.id.as_str(),
                        a.container_id.0,
                        a.account_id.as_str(),
                        a.identifier.as_str(),
                        i64::from(a.wildcard),
                        a.status.as_str(),
                        to_ms(a.expires_at),
                        a.challenges.as_str(),
                        to_ms(a.created_at)
                    ],
                )
                .await?;
            }
            conn.execute(
                "INSERT INTO acme_orders (id, container_id, account_id, status, identifiers, authorizations, \
                 not_before_ms, not_after_ms, expires_at_ms, error, certificate_id, replaces, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                args![
                    order.id.as_str(),
                    order.container_id.0,
                    order.account_id.as_str(),
                    order.status.as_str(),
                    order.identifiers.as_str(),
                    order.authorizations.as_str(),
                    order.not_before.map(to_ms),
                    order.not_after.map(to_ms),
                    to_ms(order.expires_at),
                    &order.error,
                    order.certificate_id.map(|c| c.0),
                    &order.replaces,
                    to_ms(order.created_at)
                ],
            )
            .await?
                == 1
        }
        AcmeWrite::MoveOrder {
            id,
            from,
            to,
            error,
            certificate,
        } => {
            conn.execute(
                "UPDATE acme_orders SET status = $1, error = COALESCE($2, error), \
                 certificate_id = COALESCE($3, certificate_id) WHERE id = $4 AND status = $5",
                args![
                    to.as_str(),
                    error,
                    certificate.map(|c| c.0),
                    id.as_str(),
                    from.as_str()
                ],
            )
            .await?
                == 1
        }
        AcmeWrite::UpdateAuthz(row, from) => update_authz_on(conn, row, from).await?,
        AcmeWrite::StartValidation {
            row,
            recover_at,
            now,
        } => {
            let moved = update_authz_on(conn, row, "pending").await?;
            if moved {
                crate::jobs::schedule_on(
                    conn,
                    certkeeper_domain::job::JobKind::AcmeValidate,
                    &row.id,
                    *recover_at,
                    *now,
                )
                .await?;
            }
            moved
        }
        AcmeWrite::FinishValidation(row) => {
            let done = update_authz_on(conn, row, "pending").await?;
            crate::jobs::unschedule_on(
                conn,
                certkeeper_domain::job::JobKind::AcmeValidate,
                &row.id,
            )
            .await?;
            done
        }
    })
}

/// Stores `row` over the authorization if it is still in status `from`; whether it was.
async fn update_authz_on<C: crate::conn::WriteConn>(
    conn: &mut C,
    row: &AcmeAuthzRow,
    from: &str,
) -> Result<bool, StoreError> {
    use crate::conn::args;
    Ok(conn
        .execute(
            "UPDATE acme_authorizations SET status = $1, expires_at_ms = $2, challenges = $3 \
             WHERE id = $4 AND status = $5",
            args![
                row.status.as_str(),
                to_ms(row.expires_at),
                row.challenges.as_str(),
                row.id.as_str(),
                from
            ],
        )
        .await?
        == 1)
}

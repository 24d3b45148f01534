//! Dashboard sessions: signing in with an API key opens a server-side session that a browser
//! holds by a random secret in a cookie. The session is only a handle on the key: each request
//! checks the key again (revoked → signed out) and acts with exactly the key's permissions.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use certkeeper_domain::apikey::PresentedToken;
use certkeeper_domain::audit::{AuditAction, NewAuditEvent};
use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::{Core, CoreError, Principal};

/// How long an untouched session lives, unless configured.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Activity is written back at most this often, so reading a page is not a write.
const TOUCH_EVERY: time::Duration = time::Duration::seconds(60);

/// A session just opened: what the browser is handed.
#[derive(Debug, Clone)]
pub struct OpenedSession {
    /// The cookie's value. Only its SHA-256 is stored.
    pub secret: String,
}

/// A signed-in request's session.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    csrf_token: String,
}

impl Session {
    /// The token every form of this session carries.
    pub fn csrf_token(&self) -> &str {
        &self.csrf_token
    }

    /// Whether a submitted form carries this session's token (compared in constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        bool::from(self.csrf_token.as_bytes().ct_eq(presented.as_bytes()))
    }
}

/// 32 random bytes, URL-safe base64.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash_of(secret: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

impl Core {
    /// How long a session may stay idle.
    pub fn session_idle_timeout(&self) -> time::Duration {
        self.session_idle
    }

    /// Signs in with an API key: checks it as the API does, then opens a session.
    pub async fn sign_in(&self, token: &str) -> Result<(OpenedSession, Principal), CoreError> {
        let principal = self.authenticate(token).await?;
        let prefix = PresentedToken::parse(token.trim())
            .ok_or(CoreError::Unauthenticated)?
            .lookup_prefix();
        let now = self.now();
        // Sessions idle past the timeout are dead already; sign-in is a good moment to forget them.
        self.store
            .delete_idle_sessions(now - self.session_idle)
            .await?;
        let secret = random_token();
        self.store
            .create_session(&hash_of(&secret), prefix, &random_token(), now)
            .await?;
        self.audit_session(&principal, AuditAction::SessionSignIn)
            .await?;
        Ok((OpenedSession { secret }, principal))
    }

    /// The session a cookie holds. Unknown, idle-expired, and sessions whose key was revoked
    /// are all [`CoreError::Unauthenticated`].
    pub async fn session(&self, secret: &str) -> Result<Session, CoreError> {
        let id = hash_of(secret);
        let stored = self
            .store
            .session(&id)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        let now = self.now();
        if now - stored.last_seen > self.session_idle {
            self.store.delete_session(&id).await?;
            return Err(CoreError::Unauthenticated);
        }
        let principal = match self.principal_by_prefix(&stored.key_prefix).await {
            Ok(p) => p,
            Err(CoreError::Unauthenticated) => {
                self.store.delete_session(&id).await?;
                return Err(CoreError::Unauthenticated);
            }
            Err(e) => return Err(e),
        };
        if now - stored.last_seen > TOUCH_EVERY {
            self.store.touch_session(&id, now).await?;
        }
        Ok(Session {
            principal,
            csrf_token: stored.csrf_token,
        })
    }

    /// Ends a session on the server: its cookie no longer signs anyone in.
    pub async fn sign_out(&self, session: &Session, secret: &str) -> Result<(), CoreError> {
        self.store.delete_session(&hash_of(secret)).await?;
        self.audit_session(&session.principal, AuditAction::SessionSignOut)
            .await
    }

    async fn audit_session(&self, who: &Principal, action: AuditAction) -> Result<(), CoreError> {
        self.store
            .record_audit(&NewAuditEvent {
                at: self.now(),
                actor: who.actor(),
                action,
                project: who.key.project,
                target: format!("apikey:{}", who.key.id),
                detail: "{}".into(),
            })
            .await?;
        Ok(())
    }
}

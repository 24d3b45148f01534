//! The CLI's key commands: API keys (`apikey create|list|revoke|rotate`) and the master key
//! (`keys rotate`). Both work on the database directly, with no server and no API key.

use certkeeper_core::Core;
use certkeeper_domain::apikey::Role;
use certkeeper_domain::audit::Actor;
use certkeeper_domain::ids::{ApiKeyId, CollectionId};
use certkeeper_server::projects::api_keys::ApiKeyView;
use certkeeper_store::Store;
use clap::Subcommand;
use serde_json::json;

use crate::config::Config;

type CliResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Re-encrypt every sealed secret (private keys, the CA keys, DNS provider, webhook and
    /// EAB secrets, ACME account keys) under a new master key. Stop the servers first; an
    /// interrupted run is finished by running it again. The old key file is kept as
    /// `<file>.v<N>.retired`: destroy it once no backup needs it.
    Rotate {
        /// Rows re-encrypted per transaction.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(i64).range(1..=100_000))]
        batch_size: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ApiKeyCommand {
    /// Create an API key; its secret is printed once and stored only as a hash.
    Create {
        #[arg(long)]
        name: String,
        /// admin, operator (read + write) or viewer (read only).
        #[arg(long, default_value = "viewer")]
        role: Role,
        /// Limit the key to one project (UUID or name).
        #[arg(long)]
        project: Option<String>,
        /// Allow this key to export private keys (GET .../private-key). Every export is audited.
        #[arg(long)]
        allow_key_export: bool,
        /// Grant Read on this collection only (repeatable). A key with collection grants reads
        /// those collections' reports and nothing else; without, its role applies system-wide.
        #[arg(long = "collection", value_name = "ID")]
        collections: Vec<i64>,
        /// When the key stops working (RFC 3339, e.g. 2027-06-30T00:00:00Z). Default: never.
        #[arg(long, value_parser = parse_rfc3339)]
        expires_at: Option<time::OffsetDateTime>,
        #[arg(long)]
        json: bool,
    },
    /// List API keys (never their secrets): grants, state, expiry, last use.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: it stops working here at once and on every server within 10 seconds.
    Revoke {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Rotate a key: a new secret with the same grants; the old one works for the overlap.
    Rotate {
        id: i64,
        /// How long the old secret keeps working (0 to 2592000 seconds).
        #[arg(long, default_value_t = 86_400)]
        overlap_seconds: i64,
        /// The new key's expiry (RFC 3339); default: the old key's.
        #[arg(long, value_parser = parse_rfc3339)]
        expires_at: Option<time::OffsetDateTime>,
        #[arg(long)]
        json: bool,
    },
}

fn parse_rfc3339(s: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).map_err(|_| {
        format!("expected an RFC 3339 date-time such as 2027-06-30T00:00:00Z, got {s:?}")
    })
}

pub(crate) async fn apikey(config: &Config, cmd: ApiKeyCommand) -> CliResult {
    let core = crate::cli::offline_core(config).await?;
    match cmd {
        ApiKeyCommand::Create {
            name,
            role,
            project,
            allow_key_export,
            collections,
            expires_at,
            json,
        } => {
            let project = match project {
                Some(p) => Some(core.find_project(&p).await?),
                None => None,
            };
            let spec = certkeeper_core::admin::KeySpec {
                name,
                role,
                project,
                allow_key_export,
                collections: collections.into_iter().map(CollectionId).collect(),
                expires_at,
            };
            let created = core.create_api_key_with(Actor::Cli, &spec).await?;
            print_created(&core, &created, None, json);
        }
        ApiKeyCommand::List { json } => {
            let keys = core.api_keys(None).await?;
            let now = core.now();
            let views: Vec<_> = keys.iter().map(|k| ApiKeyView::new(k, now)).collect();
            if json {
                println!("{}", serde_json::to_string(&views)?);
            } else {
                println!("ID\tNAME\tPREFIX\tROLE\tSCOPE\tSTATE\tEXPIRES\tLAST USED");
                for v in views {
                    let scope = v
                        .project_id
                        .map_or_else(|| "all projects".to_string(), |p| p.to_string());
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        v.id,
                        v.name,
                        v.prefix,
                        v.role,
                        scope,
                        v.state,
                        v.expires_at.as_deref().unwrap_or("never"),
                        v.last_used_at.as_deref().unwrap_or("never"),
                    );
                }
            }
        }
        ApiKeyCommand::Revoke { id, json } => {
            let key = core.revoke_api_key(None, ApiKeyId(id)).await?;
            let view = ApiKeyView::new(&key, core.now());
            if json {
                println!("{}", serde_json::to_string(&view)?);
            } else {
                println!("revoked API key {} ({:?})", view.id, view.name);
            }
        }
        ApiKeyCommand::Rotate {
            id,
            overlap_seconds,
            expires_at,
            json,
        } => {
            let rotated = core
                .rotate_api_key(
                    None,
                    ApiKeyId(id),
                    time::Duration::seconds(overlap_seconds),
                    expires_at,
                )
                .await?;
            print_created(&core, &rotated.created, Some(&rotated.previous), json);
        }
    }
    core.store().close().await;
    Ok(())
}

/// A key just made (or rotated): its secret once, then what it may do.
fn print_created(
    core: &Core,
    created: &certkeeper_core::admin::CreatedApiKey,
    previous: Option<&certkeeper_domain::apikey::ApiKey>,
    json: bool,
) {
    let now = core.now();
    let view = ApiKeyView::new(&created.key, now);
    if json {
        // `key` and `id` at the top, as scripts read them since the first release.
        let mut out = json!({ "key": created.secret.expose(), "id": view.id, "apiKey": view });
        if let Some(p) = previous {
            out["previous"] = json!(ApiKeyView::new(p, now));
        }
        println!("{out}");
        return;
    }
    println!(
        "created API key {:?} (role {}, id {}{})",
        view.name,
        view.role,
        view.id,
        view.expires_at
            .as_deref()
            .map_or_else(String::new, |e| format!(", expires {e}")),
    );
    if let Some(p) = previous {
        println!(
            "API key {} keeps working until {}",
            p.id,
            ApiKeyView::new(p, now).expires_at.unwrap_or_default()
        );
    }
    println!("secret (shown only this once): {}", created.secret.expose());
}

pub(crate) async fn rotate_master_key(config: &Config, batch_size: i64, json: bool) -> CliResult {
    use certkeeper_core::keyrotation::{RotateOptions, RotationOutcome, rotate};
    let store = Store::connect_with(&config.database, config.store_options()).await?;
    let options = RotateOptions {
        batch_size,
        ..RotateOptions::default()
    };
    let outcome = rotate(&store, &config.master_key_file, options).await;
    store.close().await;
    match outcome? {
        RotationOutcome::Done {
            version,
            resealed,
            already,
            verified,
        } => {
            if json {
                println!(
                    "{}",
                    json!({ "version": version, "resealed": resealed, "alreadyUnderNewKey": already, "verified": verified })
                );
            } else {
                println!(
                    "master key rotated to version {version}; all {verified} sealed values open under it"
                );
                for (what, n) in &resealed {
                    println!("  {n}\t{what}");
                }
                if already > 0 {
                    println!("  {already}\talready re-encrypted by an earlier, interrupted run");
                }
            }
            Ok(())
        }
        RotationOutcome::Interrupted { batches } => {
            Err(format!("rotation stopped after {batches} batches; run it again to finish").into())
        }
    }
}

//! The lifecycle commands: a project's validation and renewal settings, its notification
//! rules, and the jobs list. They work straight on the database, with the master key (the
//! settings hold sealed secrets), and take and print the project API's JSON shapes, so what
//! works with curl works here.

use certkeeper_core::Core;
use certkeeper_domain::audit::Actor;
use certkeeper_domain::job::{JobKind, JobState};
use certkeeper_server::projects::{lifecycle, notifications};
use clap::Subcommand;

use crate::config::Config;

type CliResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Print the settings (without secrets) as JSON.
    Show {
        /// Project (UUID or name).
        #[arg(long)]
        project: String,
    },
    /// Replace the settings with the JSON body `PUT /api/v1/projects/{id}/…` takes.
    Set {
        #[arg(long)]
        project: String,
        /// e.g. '{"dnsProvider": {"provider": "rfc2136", …}, "reuseDays": 30}'
        #[arg(long)]
        json: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum NotificationsCommand {
    /// Print the project's rules (without secrets) as JSON.
    List {
        #[arg(long)]
        project: String,
    },
    /// Create a rule from the JSON body `POST …/notifications` takes; a generated webhook
    /// secret is printed this once.
    Create {
        #[arg(long)]
        project: String,
        #[arg(long)]
        json: String,
    },
    /// Delete a rule, its deliveries and its marks.
    Delete {
        #[arg(long)]
        project: String,
        #[arg(long)]
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List background jobs, soonest due first.
    List {
        /// scheduled, running or retrying
        #[arg(long)]
        state: Option<JobState>,
        /// expire-orders, issue, renew, notify, deliver
        #[arg(long)]
        kind: Option<JobKind>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

fn print(value: &impl serde::Serialize) -> CliResult {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn body<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, Box<dyn std::error::Error>> {
    let mut de = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut de).map_err(|e| format!("--json: {e}").into())
}

fn api_error(e: certkeeper_server::projects::ApiError) -> Box<dyn std::error::Error> {
    e.message.into()
}

pub async fn validation(core: &Core, cmd: SettingsCommand) -> CliResult {
    match cmd {
        SettingsCommand::Show { project } => {
            let p = core.find_project(&project).await?;
            print(&lifecycle::validation_view(
                core.validation_settings_of(&p).await?,
            ))
        }
        SettingsCommand::Set { project, json } => {
            let p = core.find_project(&project).await?;
            let wire: lifecycle::ValidationSettings = body(&json)?;
            let settings = wire.into_domain().map_err(api_error)?;
            let stored = core
                .store_validation_settings(Actor::Cli, &p, settings)
                .await?;
            print(&lifecycle::validation_view(stored))
        }
    }
}

pub async fn renewal(core: &Core, cmd: SettingsCommand) -> CliResult {
    match cmd {
        SettingsCommand::Show { project } => {
            let p = core.find_project(&project).await?;
            print(&lifecycle::renewal_view(core.renewal_policy_of(&p).await?))
        }
        SettingsCommand::Set { project, json } => {
            let p = core.find_project(&project).await?;
            let wire: lifecycle::RenewalPolicy = body(&json)?;
            let stored = core
                .store_renewal_policy(Actor::Cli, &p, wire.into_domain())
                .await?;
            print(&lifecycle::renewal_view(stored))
        }
    }
}

pub async fn notifications(core: &Core, cmd: NotificationsCommand) -> CliResult {
    match cmd {
        NotificationsCommand::List { project } => {
            let p = core.find_project(&project).await?;
            let rules: Vec<_> = core
                .rules_in(&p)
                .await?
                .into_iter()
                .map(|r| notifications::rule_response(r, None))
                .collect();
            print(&rules)
        }
        NotificationsCommand::Create { project, json } => {
            let p = core.find_project(&project).await?;
            let wire: notifications::RuleRequest = body(&json)?;
            let (view, secret) = core
                .create_rule_in(&p, wire.into_domain().map_err(api_error)?)
                .await?;
            print(&notifications::rule_response(view, secret))
        }
        NotificationsCommand::Delete { project, id } => {
            let p = core.find_project(&project).await?;
            core.delete_rule_in(&p, id).await?;
            println!("deleted notification rule {id}");
            Ok(())
        }
    }
}

pub async fn jobs(config: &Config, cmd: JobsCommand) -> CliResult {
    let store =
        certkeeper_store::Store::connect_with(&config.database, config.store_options()).await?;
    let JobsCommand::List {
        state,
        kind,
        limit,
        json,
    } = cmd;
    if !(1..=1000).contains(&limit) {
        return Err(format!("--limit must be between 1 and 1000, got {limit}").into());
    }
    let jobs = store.list_jobs(state, kind, limit).await?;
    store.close().await;
    if json {
        let rows: Vec<_> = jobs
            .iter()
            .map(|j| {
                serde_json::json!({
                    "id": j.id, "kind": j.kind.as_str(), "subject": j.subject, "state": j.state.as_str(),
                    "dueAt": j.due_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                    "attempts": j.attempts, "lastError": j.last_error, "leaseOwner": j.lease_owner,
                })
            })
            .collect();
        return print(&rows);
    }
    println!(
        "{:>8}  {:<14} {:<12} {:<10} {:<25} {:>8}  last error",
        "id", "kind", "subject", "state", "due", "attempts"
    );
    for j in jobs {
        println!(
            "{:>8}  {:<14} {:<12} {:<10} {:<25} {:>8}  {}",
            j.id,
            j.kind.as_str(),
            j.subject,
            j.state.as_str(),
            j.due_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            j.attempts,
            j.last_error.unwrap_or_default()
        );
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum AcmeCommand {
    /// A project's ACME accounts (JSON, as `GET /api/v1/projects/{id}/acme/accounts`).
    Accounts {
        #[arg(long)]
        project: String,
    },
    /// Deactivate an ACME account: it can no longer sign any request.
    Deactivate {
        #[arg(long)]
        project: String,
        #[arg(long)]
        account: String,
    },
    /// External account binding keys.
    #[command(subcommand)]
    Eab(EabCommand),
    /// The project's ACME policy: `{"allowedSuffixes": [...], "maxLifetimeDays": N,
    /// "keyTypes": ["ec-p256", "ec-p384", "rsa", "ed25519"]}` (empty: no limit).
    #[command(subcommand)]
    Policy(SettingsCommand),
}

#[derive(Debug, Subcommand)]
pub enum EabCommand {
    /// A new key for one account: prints its kid and HMAC key (shown only now).
    Create {
        #[arg(long)]
        project: String,
        /// Print JSON: {"kid", "hmacKey"}.
        #[arg(long)]
        json: bool,
    },
    /// Whether the project's newAccount requires a binding (`true` or `false`).
    Require {
        #[arg(long)]
        project: String,
        #[arg(action = clap::ArgAction::Set)]
        required: bool,
    },
}

pub async fn acme(core: &Core, config: &Config, cmd: AcmeCommand) -> CliResult {
    use certkeeper_core::acme_server::Links;
    use certkeeper_server::projects::acme_accounts::AcmeAccount;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{}://{}", config.tls.scheme(), config.listen));
    match cmd {
        AcmeCommand::Accounts { project } => {
            let p = core.find_project(&project).await?;
            let links = Links::new(&public_url, p.id);
            let accounts: Vec<AcmeAccount> = core
                .acme_accounts_in(&p)
                .await?
                .iter()
                .map(|a| AcmeAccount::from_account(a, &links))
                .collect();
            print(&accounts)
        }
        AcmeCommand::Eab(EabCommand::Create { project, json }) => {
            let p = core.find_project(&project).await?;
            let (kid, hmac) = core.create_acme_eab_key(&p).await?;
            if json {
                print(&serde_json::json!({"kid": kid, "hmacKey": hmac}))
            } else {
                println!("kid: {kid}\nhmacKey: {hmac}\n(the HMAC key is shown only this once)");
                Ok(())
            }
        }
        AcmeCommand::Eab(EabCommand::Require { project, required }) => {
            let p = core.find_project(&project).await?;
            core.set_acme_eab_required(&p, required).await?;
            println!(
                "external account binding is {} for project {}",
                if required { "required" } else { "optional" },
                p.name
            );
            Ok(())
        }
        AcmeCommand::Policy(SettingsCommand::Show { project }) => {
            let p = core.find_project(&project).await?;
            print(&core.acme_policy(&p).await?)
        }
        AcmeCommand::Policy(SettingsCommand::Set { project, json }) => {
            let p = core.find_project(&project).await?;
            let policy: certkeeper_core::acme_server::AcmePolicy = body(&json)?;
            print(&core.set_acme_policy(&p, policy).await?)
        }
        AcmeCommand::Deactivate { project, account } => {
            let p = core.find_project(&project).await?;
            let links = Links::new(&public_url, p.id);
            let a = core
                .deactivate_acme_account_in(Actor::Cli, &p, &account)
                .await?;
            print(&AcmeAccount::from_account(&a, &links))
        }
    }
}

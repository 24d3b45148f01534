//! Command-line interface. Every command but `serve` works straight on the database, so an
//! operator can bootstrap projects and keys before (or without) a running server.

use std::path::PathBuf;
use std::sync::Arc;

use certkeeper_core::Core;
use certkeeper_domain::SystemClock;
use certkeeper_domain::audit::Actor;
use certkeeper_domain::collection::CollectionDefinition;
use certkeeper_domain::ids::CollectionId;
use certkeeper_store::Store;
use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::config::{Config, FileConfig, Overrides};

#[derive(Debug, Parser)]
#[command(
    name = "certkeeper",
    version,
    about = "Self-hosted certificate lifecycle server"
)]
pub struct Cli {
    /// TOML config file: any setting below or of `serve`, in snake_case (see the README).
    #[arg(long, global = true, env = "CERTKEEPER_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL: sqlite://PATH (default sqlite://certkeeper.db) or postgres://...
    #[arg(long, global = true, env = "CERTKEEPER_DATABASE")]
    database: Option<String>,
    /// File holding the master key that encrypts private keys at rest (created on first start).
    #[arg(long, global = true, env = "CERTKEEPER_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `certkeeper=debug`.
    #[arg(long, global = true, env = "CERTKEEPER_LOG")]
    log: Option<String>,
    /// Log lines as `text` (for a terminal) or `json` (one object per line, for collectors).
    #[arg(long, global = true, env = "CERTKEEPER_LOG_FORMAT")]
    log_format: Option<String>,
    #[command(flatten)]
    remote: crate::remote::Connect,
    #[command(subcommand)]
    command: Command,
}

/// The commands that work on the database directly (and `serve`).
#[derive(Debug, Subcommand)]
enum LocalCommand {
    /// Run the HTTP server.
    Serve(Box<ServeArgs>),
    /// Manage projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Apikey(crate::cli_keys::ApiKeyCommand),
    /// The master key that seals private keys and secrets at rest.
    #[command(subcommand)]
    Keys(crate::cli_keys::KeysCommand),
    /// Manage certificate collections (saved queries, Keyfactor's query language).
    #[command(subcommand)]
    Collection(CollectionCommand),
    /// Read the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The built-in certificate authority.
    #[command(subcommand)]
    Ca(CaCommand),
    /// The ACME server's accounts.
    #[command(subcommand)]
    Acme(crate::cli_lifecycle::AcmeCommand),
    /// Background jobs (renewals, DNS-01 automation, notifications, sweeps).
    #[command(subcommand)]
    Jobs(crate::cli_lifecycle::JobsCommand),
    /// Developer tools.
    #[command(subcommand)]
    Dev(DevCommand),
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Local(LocalCommand),
    #[command(flatten)]
    Remote(crate::remote::Remote),
    /// Print shell completions.
    #[command(
        after_help = "Example:\n  certkeeper completions bash > /etc/bash_completion.d/certkeeper"
    )]
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Subcommand)]
enum CaCommand {
    /// Print the built-in CA's root certificate (PEM), for clients to trust. Creates the CA
    /// (and the master key) if this database has none yet.
    Show,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "CERTKEEPER_LISTEN")]
    listen: Option<String>,
    /// DNS server (IP:PORT) DNS-01 records are looked up through; default: the system's.
    #[arg(long, env = "CERTKEEPER_DNS_RESOLVER")]
    dns_resolver: Option<std::net::SocketAddr>,
    /// Lifetime in days of certificates the built-in CA issues (default 90).
    #[arg(long, env = "CERTKEEPER_LEAF_LIFETIME_DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
    leaf_lifetime_days: Option<u32>,
    /// Hours a created certificate waits for validation before its order is rejected (default 168).
    #[arg(long, env = "CERTKEEPER_CHALLENGE_TTL_HOURS", value_parser = clap::value_parser!(u32).range(1..=8760))]
    challenge_ttl_hours: Option<u32>,
    /// Who signs created certificates: `builtin` (default) or `acme`.
    #[arg(long, env = "CERTKEEPER_ISSUER")]
    issuer: Option<String>,
    /// ACME directory URL (needed for `--issuer acme`).
    #[arg(long, env = "CERTKEEPER_ACME_DIRECTORY")]
    acme_directory: Option<String>,
    /// PEM file of roots to trust for the ACME directory's TLS (a private CA such as pebble).
    #[arg(long, env = "CERTKEEPER_ACME_CA_BUNDLE")]
    acme_ca_bundle: Option<PathBuf>,
    /// External Account Binding key id.
    #[arg(long, env = "CERTKEEPER_ACME_EAB_KID")]
    acme_eab_kid: Option<String>,
    /// External Account Binding HMAC key, base64url as CAs hand it out.
    #[arg(long, env = "CERTKEEPER_ACME_EAB_HMAC")]
    acme_eab_hmac: Option<String>,
    /// Contact for the ACME account, e.g. `mailto:ops@example.com`.
    #[arg(long, env = "CERTKEEPER_ACME_CONTACT")]
    acme_contact: Option<String>,
    /// SQLite durability: `full` (default; every acknowledged write survives a power loss) or
    /// `normal` (the last commits may roll back after a power loss or OS crash).
    #[arg(long, env = "CERTKEEPER_SQLITE_SYNCHRONOUS")]
    sqlite_synchronous: Option<String>,
    /// The longest the scheduler sleeps between looks for due jobs, in seconds (default 30).
    #[arg(long, env = "CERTKEEPER_JOB_POLL_SECONDS")]
    job_poll_seconds: Option<u64>,
    /// A DNS script projects may name as their `exec` provider, as NAME=PATH (repeatable).
    /// It is called as `PATH present|cleanup FQDN VALUE`, as lego's exec provider.
    #[arg(long = "dns-exec", value_name = "NAME=PATH", value_parser = crate::config::parse_dns_exec)]
    dns_exec: Vec<(String, crate::config::DnsExec)>,
    /// Port authoritative nameservers are asked on while waiting for records (default 53).
    #[arg(long, env = "CERTKEEPER_DNS_AUTHORITATIVE_PORT")]
    dns_authoritative_port: Option<u16>,
    /// SMTP relay for e-mail notifications: smtp://HOST:PORT (add ?tls=required for
    /// STARTTLS) or smtps://HOST:PORT. Credentials come from CERTKEEPER_SMTP_USERNAME and
    /// CERTKEEPER_SMTP_PASSWORD.
    #[arg(long, env = "CERTKEEPER_SMTP_URL")]
    smtp_url: Option<String>,
    /// The From address of notification e-mail.
    #[arg(long, env = "CERTKEEPER_SMTP_FROM")]
    smtp_from: Option<String>,
    /// Allow webhook targets on private, loopback and link-local addresses.
    #[arg(long, env = "CERTKEEPER_ALLOW_PRIVATE_WEBHOOKS")]
    allow_private_webhooks: bool,
    /// Serve HTTPS with this PEM certificate chain (leaf first); reloaded on SIGHUP and when
    /// the file changes. Needs --tls-key.
    #[arg(long, env = "CERTKEEPER_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "CERTKEEPER_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Serve HTTPS with a certificate the built-in CA issues at start and renews; clients
    /// trust `certkeeper ca show`.
    #[arg(long, env = "CERTKEEPER_TLS_BUILTIN")]
    tls_builtin: bool,
    /// A name (DNS name or IP) of the --tls-builtin certificate (repeatable; default:
    /// localhost and the listen IP).
    #[arg(long = "tls-name", value_name = "NAME")]
    tls_names: Vec<String>,
    /// The base URL links are built from (ACME directory, CRL, OCSP), e.g.
    /// https://certkeeper.example.com; default: the listen address.
    #[arg(long, env = "CERTKEEPER_PUBLIC_URL")]
    public_url: Option<String>,
    /// The port the ACME server's http-01 validations connect to (default 80).
    #[arg(long, env = "CERTKEEPER_ACME_HTTP01_PORT")]
    acme_http01_port: Option<u16>,
    /// The port the ACME server's tls-alpn-01 validations connect to (default 443).
    #[arg(long, env = "CERTKEEPER_ACME_TLSALPN01_PORT")]
    acme_tlsalpn01_port: Option<u16>,
    /// Serve /metrics without an API key (default: any valid key as a bearer token).
    #[arg(long, env = "CERTKEEPER_METRICS_PUBLIC")]
    metrics_public: bool,
    /// At most this many per-certificate expiry series on /metrics, nearest expiry first
    /// (default 10000).
    #[arg(long, env = "CERTKEEPER_METRICS_CERTIFICATE_LIMIT")]
    metrics_certificate_limit: Option<i64>,
    /// Minutes a dashboard session may stay idle before it must sign in again (default 30).
    #[arg(long, env = "CERTKEEPER_SESSION_IDLE_MINUTES")]
    session_idle_minutes: Option<u32>,
    /// Seconds a client has to send a request's headers; an idle keep-alive connection is
    /// closed after it as well (default 30).
    #[arg(long, env = "CERTKEEPER_HEADER_READ_TIMEOUT_SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_read_timeout_seconds: Option<u64>,
    /// Connections open at once; more wait until one closes (default 10000).
    #[arg(long, env = "CERTKEEPER_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: Option<u64>,
    /// Requests an API key may send at once before it is limited to the sustained rate
    /// (default 200; 0 turns rate limiting off). Per node.
    #[arg(long, env = "CERTKEEPER_RATE_LIMIT_BURST")]
    rate_limit_burst: Option<u32>,
    /// Requests per second an API key may sustain (default 100; 0 turns rate limiting off).
    #[arg(long, env = "CERTKEEPER_RATE_LIMIT_PER_SECOND")]
    rate_limit_per_second: Option<u32>,
}

#[derive(Debug, Subcommand)]
enum ProjectCommand {
    /// Create a project.
    Create {
        #[arg(long)]
        name: String,
        /// Print JSON: {"id", "containerId", "name"}.
        #[arg(long)]
        json: bool,
    },
    /// List projects.
    List {
        #[arg(long)]
        json: bool,
    },
    /// A project's DNS provider and validation reuse.
    #[command(subcommand)]
    Validation(crate::cli_lifecycle::SettingsCommand),
    /// A project's renewal policy.
    #[command(subcommand)]
    Renewal(crate::cli_lifecycle::SettingsCommand),
    /// A project's notification rules.
    #[command(subcommand)]
    Notifications(crate::cli_lifecycle::NotificationsCommand),
}

#[derive(Debug, Subcommand)]
enum CollectionCommand {
    /// Save a query as a collection, e.g. --query 'CN -endswith "example.com" AND KeySize -lt "2048"'.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        query: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Replace a collection's name, description and query.
    Update {
        #[arg(long)]
        id: i64,
        #[arg(long)]
        name: String,
        #[arg(long)]
        query: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Delete a collection (refused while API keys hold grants on it).
    Delete {
        #[arg(long)]
        id: i64,
    },
    /// List collections, All Certificates (0) first.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Show the newest audit records, newest first.
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum DevCommand {
    /// Fill a project with synthetic certificates, fast (for benchmarks). Not for production.
    Seed {
        #[arg(long)]
        certificates: i64,
        /// Project (UUID or name); created if given by name and missing. Default: `default`.
        #[arg(long, default_value = "default")]
        project: String,
    },
    /// Add synthetic revocations (for CRL and OCSP benchmarks). Not for production: they go
    /// on the built-in CA's CRL.
    SeedRevocations {
        #[arg(long)]
        revocations: i64,
    },
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

pub async fn run(cli: Cli) -> CliResult {
    match cli.command {
        Command::Remote(remote) => Ok(crate::remote::run(&cli.remote, remote).await?),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            use std::io::Write;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "certkeeper", &mut script);
            match std::io::stdout().write_all(&script) {
                // A reader that stopped early (`| head`) is not an error.
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(()),
            }
        }
        Command::Local(command) => {
            local(
                LocalArgs {
                    config: cli.config,
                    database: cli.database,
                    master_key_file: cli.master_key_file,
                    log: cli.log,
                    log_format: cli.log_format,
                },
                command,
            )
            .await
        }
    }
}

/// The global options the database commands read.
struct LocalArgs {
    config: Option<PathBuf>,
    database: Option<String>,
    master_key_file: Option<PathBuf>,
    log: Option<String>,
    log_format: Option<String>,
}

/// The commands that work on the database (and `serve`).
async fn local(cli: LocalArgs, command: LocalCommand) -> CliResult {
    let file = match &cli.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let mut over = Overrides {
        database: cli.database.clone(),
        master_key_file: cli.master_key_file.clone(),
        log: cli.log.clone(),
        log_format: cli.log_format.clone(),
        ..Overrides::default()
    };
    if let LocalCommand::Serve(s) = &command {
        over.listen = s.listen.clone();
        over.dns_resolver = s.dns_resolver;
        over.leaf_lifetime_days = s.leaf_lifetime_days;
        over.challenge_ttl_hours = s.challenge_ttl_hours;
        over.issuer = s.issuer.clone();
        over.acme_directory = s.acme_directory.clone();
        over.acme_ca_bundle = s.acme_ca_bundle.clone();
        over.acme_eab_kid = s.acme_eab_kid.clone();
        over.acme_eab_hmac = s.acme_eab_hmac.clone();
        over.acme_contact = s.acme_contact.clone();
        over.sqlite_synchronous = s.sqlite_synchronous.clone();
        over.job_poll_seconds = s.job_poll_seconds;
        over.dns_authoritative_port = s.dns_authoritative_port;
        over.smtp_url = s.smtp_url.clone();
        over.smtp_from = s.smtp_from.clone();
        if s.allow_private_webhooks {
            over.allow_private_webhooks = Some(true);
        }
        over.tls_cert = s.tls_cert.clone();
        over.tls_key = s.tls_key.clone();
        if s.tls_builtin {
            over.tls_builtin = Some(true);
        }
        if !s.tls_names.is_empty() {
            over.tls_names = Some(s.tls_names.clone());
        }
        over.public_url = s.public_url.clone();
        over.acme_http01_port = s.acme_http01_port;
        over.acme_tlsalpn01_port = s.acme_tlsalpn01_port;
        over.metrics_public = s.metrics_public.then_some(true);
        over.metrics_certificate_limit = s.metrics_certificate_limit;
        over.session_idle_minutes = s.session_idle_minutes;
        over.header_read_timeout_seconds = s.header_read_timeout_seconds;
        over.max_connections = s.max_connections;
        over.rate_limit_burst = s.rate_limit_burst;
        over.rate_limit_per_second = s.rate_limit_per_second;
        if !s.dns_exec.is_empty() {
            over.dns_exec = Some(s.dns_exec.iter().cloned().collect());
        }
    }
    let config = Config::resolve(file, over)?;
    match command {
        // Seeding's statements take seconds by design: sqlx's slow-statement warnings
        // would be noise there.
        LocalCommand::Dev(_) => init_logging(
            &format!("{},sqlx::query=error", config.log),
            config.log_format,
        ),
        _ => init_logging(&config.log, config.log_format),
    }
    match command {
        LocalCommand::Serve(_) => crate::serve::serve(config).await,
        LocalCommand::Project(cmd) => project(&config, cmd).await,
        LocalCommand::Acme(cmd) => {
            // EAB keys are sealed: the real master key.
            let core = keyed_core(&config).await?;
            let done = crate::cli_lifecycle::acme(&core, &config, cmd).await;
            core.store().close().await;
            done
        }
        LocalCommand::Jobs(cmd) => crate::cli_lifecycle::jobs(&config, cmd).await,
        LocalCommand::Apikey(cmd) => crate::cli_keys::apikey(&config, cmd).await,
        LocalCommand::Keys(crate::cli_keys::KeysCommand::Rotate { batch_size, json }) => {
            crate::cli_keys::rotate_master_key(&config, batch_size, json).await
        }
        LocalCommand::Collection(cmd) => collection(&config, cmd).await,
        LocalCommand::Audit(AuditCommand::List { limit, json }) => {
            audit(&config, limit, json).await
        }
        LocalCommand::Ca(CaCommand::Show) => ca_show(&config).await,
        LocalCommand::Dev(DevCommand::Seed {
            certificates,
            project,
        }) => seed(&config, certificates, &project).await,
        LocalCommand::Dev(DevCommand::SeedRevocations { revocations }) => {
            seed_revocations(&config, revocations).await
        }
    }
}

fn init_logging(filter: &str, format: crate::config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        crate::config::LogFormat::Text => builder.try_init(),
        // The request span (id, method, route) rides on every line of a request.
        crate::config::LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// A core for commands that never touch sealed data, so they need no master key.
pub(crate) async fn offline_core(config: &Config) -> Result<Core, Box<dyn std::error::Error>> {
    let store = Store::connect_with(&config.database, config.store_options()).await?;
    // Operator commands seal nothing; a throwaway key keeps the type honest.
    let key = certkeeper_domain::sealing::MasterKey::generate()?;
    Ok(Core::new(store, Arc::new(SystemClock), key))
}

/// A core with the real master key and the notification settings, for commands that seal
/// (project lifecycle settings and rules) but never issue.
async fn keyed_core(config: &Config) -> Result<Core, Box<dyn std::error::Error>> {
    let store = Store::connect_with(&config.database, config.store_options()).await?;
    let master_key =
        certkeeper_core::masterkey::load_or_create(&store, &config.master_key_file).await?;
    Ok(Core::new(store, Arc::new(SystemClock), master_key)
        .with_notifications(crate::serve::notify_config(config)?))
}

async fn ca_show(config: &Config) -> CliResult {
    let core =
        crate::serve::full_core(config, &crate::serve::configured_public_url(config)).await?;
    print!("{}", core.builtin_root_pem()?);
    core.store().close().await;
    Ok(())
}

async fn project(config: &Config, cmd: ProjectCommand) -> CliResult {
    use crate::cli_lifecycle as lc;
    // Lifecycle settings seal secrets: they need the real master key.
    let core = match &cmd {
        ProjectCommand::Validation(_)
        | ProjectCommand::Renewal(_)
        | ProjectCommand::Notifications(_) => keyed_core(config).await?,
        ProjectCommand::Create { .. } | ProjectCommand::List { .. } => offline_core(config).await?,
    };
    let done = match cmd {
        ProjectCommand::Validation(c) => lc::validation(&core, c).await,
        ProjectCommand::Renewal(c) => lc::renewal(&core, c).await,
        ProjectCommand::Notifications(c) => lc::notifications(&core, c).await,
        ProjectCommand::Create { name, json } => project_create(&core, &name, json).await,
        ProjectCommand::List { json } => project_list(&core, json).await,
    };
    core.store().close().await;
    done
}

async fn project_create(core: &Core, name: &str, json: bool) -> CliResult {
    let p = core.create_project(Actor::Cli, name).await?;
    if json {
        println!(
            "{}",
            json!({ "id": p.id.to_string(), "containerId": p.container_id.0, "name": p.name })
        );
    } else {
        println!(
            "created project {:?}: projectId {}, containerId {}",
            p.name, p.id, p.container_id
        );
    }
    Ok(())
}

async fn project_list(core: &Core, json: bool) -> CliResult {
    let projects = core.store().projects().await?;
    if json {
        let list: Vec<_> = projects.iter().map(|p| json!({ "id": p.id.to_string(), "containerId": p.container_id.0, "name": p.name })).collect();
        println!("{}", serde_json::Value::Array(list));
    } else {
        for p in projects {
            println!("{}\t{}\t{}", p.id, p.container_id, p.name);
        }
    }
    Ok(())
}

async fn audit(config: &Config, limit: i64, json: bool) -> CliResult {
    let core = offline_core(config).await?;
    let events = core.audit_events(limit).await?;
    if json {
        let list: Vec<_> = events
            .iter()
            .map(|e| {
                json!({
                    "id": e.id,
                    "at": e.at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                    "actor": e.actor,
                    "action": e.action,
                    "projectId": e.project.map(|p| p.to_string()),
                    "target": e.target,
                    "detail": serde_json::from_str::<serde_json::Value>(&e.detail).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
    } else {
        for e in events {
            let at =
                e.at.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
            println!(
                "{at}\t{}\t{}\t{}\t{}",
                e.actor, e.action, e.target, e.detail
            );
        }
    }
    core.store().close().await;
    Ok(())
}

fn collection_json(c: &certkeeper_domain::collection::Collection) -> serde_json::Value {
    json!({ "id": c.id.0, "name": c.name, "description": c.description, "query": c.query_text })
}

async fn collection(config: &Config, cmd: CollectionCommand) -> CliResult {
    let core = offline_core(config).await?;
    let print = |c: &certkeeper_domain::collection::Collection, json: bool| {
        if json {
            println!("{}", collection_json(c));
        } else {
            println!("{}\t{}\t{}", c.id, c.name, c.query_text);
        }
    };
    match cmd {
        CollectionCommand::Create {
            name,
            query,
            description,
            json,
        } => {
            let d = CollectionDefinition::new(&name, description.as_deref(), &query)?;
            print(&core.create_collection(None, d).await?, json);
        }
        CollectionCommand::Update {
            id,
            name,
            query,
            description,
            json,
        } => {
            let d = CollectionDefinition::new(&name, description.as_deref(), &query)?;
            print(
                &core.update_collection(None, CollectionId(id), d).await?,
                json,
            );
        }
        CollectionCommand::Delete { id } => {
            core.delete_collection(None, CollectionId(id)).await?;
            println!("deleted collection {id}");
        }
        CollectionCommand::List { json } => {
            let mut all = vec![certkeeper_domain::collection::Collection::all_certificates()];
            for c in core.store().collections().await? {
                all.push(core.find_collection(c.id).await?);
            }
            if json {
                let list: Vec<_> = all.iter().map(collection_json).collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for c in &all {
                    print(c, false);
                }
            }
        }
    }
    core.store().close().await;
    Ok(())
}

async fn seed(config: &Config, count: i64, project: &str) -> CliResult {
    if count < 1 {
        return Err("--certificates must be at least 1".into());
    }
    let core = offline_core(config).await?;
    let project = match core.find_project(project).await {
        Ok(p) => p,
        Err(certkeeper_core::CoreError::NotFound(_)) => {
            core.create_project(Actor::Cli, project).await?
        }
        Err(e) => return Err(e.into()),
    };
    let started = std::time::Instant::now();
    let report = core
        .store()
        .seed_synthetic_certificates(project.container_id, count, core.now())
        .await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "seeded {} certificates, {} orders and {} status changes ({} rows) into project {:?} ({}, container {}) in {secs:.1} s ({:.0} rows/s)",
        report.certificates,
        report.orders,
        report.status_changes,
        report.rows(),
        project.name,
        project.id,
        project.container_id,
        report.rows() as f64 / secs
    );
    core.store().close().await;
    Ok(())
}

async fn seed_revocations(config: &Config, count: i64) -> CliResult {
    if count < 1 {
        return Err("--revocations must be at least 1".into());
    }
    let core = offline_core(config).await?;
    let project = core.find_project("default").await?;
    let now = core.now();
    let started = std::time::Instant::now();
    let n = core
        .store()
        .seed_revocations(
            project.container_id,
            count,
            now + time::Duration::days(365),
            now,
        )
        .await?;
    println!(
        "seeded {n} revocations in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    core.store().close().await;
    Ok(())
}

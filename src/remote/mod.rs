//! The CLI's client face: commands that talk to a running certkeeper over its HTTP APIs (the
//! projects API, Keyfactor's collections and analytics, DigiCert's reports), with the same
//! rules and errors any other client gets. `--server`/`--api-key` (or `CERTKEEPER_SERVER`,
//! `CERTKEEPER_API_KEY`, or the profile `certkeeper login` saves) say where and as whom.
//!
//! Exit codes: 0 done, 1 a local error (arguments, files, connection), 2 the server refused.

mod client;
mod import;
mod output;
mod profile;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

pub use client::RemoteError;
use client::{Client, Connection};
pub use output::Format;
use output::{Listing, cell};
use profile::Profile;

/// How to reach the server: flags, then environment, then the saved profile.
#[derive(Debug, Clone, Args)]
pub struct Connect {
    /// The server's URL, e.g. http://127.0.0.1:8080 [env: CERTKEEPER_SERVER]
    #[arg(long, global = true, env = "CERTKEEPER_SERVER", hide_env = true)]
    pub server: Option<String>,
    /// The API key to present [env: CERTKEEPER_API_KEY]
    #[arg(long, global = true, env = "CERTKEEPER_API_KEY", hide_env = true)]
    pub api_key: Option<String>,
    /// PEM roots to trust for an https:// server (e.g. `certkeeper ca show` of a server on
    /// its built-in TLS) [env: CERTKEEPER_CA_FILE]
    #[arg(long, global = true, env = "CERTKEEPER_CA_FILE", hide_env = true)]
    pub ca_file: Option<PathBuf>,
    /// How results are printed.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t)]
    pub output: Format,
}

/// The project a command works in.
#[derive(Debug, Clone, Args)]
pub struct ProjectArg {
    /// Project id (default: the profile's) [env: CERTKEEPER_PROJECT]
    #[arg(long, env = "CERTKEEPER_PROJECT", hide_env = true)]
    pub project: Option<String>,
}

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Example:\n  certkeeper login --server http://127.0.0.1:8080 --api-key ck_... --project 3f2c..."
)]
pub struct LoginArgs {
    #[command(flatten)]
    pub project: ProjectArg,
}

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Examples:\n  certkeeper import /etc/letsencrypt/live --project 3f2c...\n  certkeeper import certs/ bundle.p12 --password secret"
)]
pub struct ImportArgs {
    /// Files and directories (walked recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub project: ProjectArg,
    /// Password of PKCS#12 (.p12, .pfx) files [env: CERTKEEPER_IMPORT_PASSWORD]
    #[arg(long, env = "CERTKEEPER_IMPORT_PASSWORD", hide_env = true)]
    pub password: Option<String>,
    /// Share the imported certificates with every project (Organization scope).
    #[arg(long)]
    pub organization: bool,
}

#[derive(Debug, Clone, Subcommand)]
pub enum CertsCommand {
    /// List a project's certificates (its own and shared ones).
    #[command(
        after_help = "Example:\n  certkeeper certs list --project 3f2c... --output csv > inventory.csv"
    )]
    List {
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Show one certificate.
    #[command(after_help = "Example:\n  certkeeper certs show 42")]
    Show {
        id: i64,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Download a certificate and its chain (PEM), to stdout or a file.
    #[command(after_help = "Example:\n  certkeeper certs download 42 --out fullchain.pem")]
    Download {
        id: i64,
        #[command(flatten)]
        project: ProjectArg,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Delete a certificate from the inventory.
    #[command(after_help = "Example:\n  certkeeper certs delete 42")]
    Delete {
        id: i64,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Renew a certificate now (a new order for the same names).
    #[command(after_help = "Example:\n  certkeeper certs renew 42")]
    Renew {
        id: i64,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Revoke a certificate issued by the built-in CA or the ACME issuer.
    #[command(after_help = "Example:\n  certkeeper certs revoke 42 --reason keyCompromise")]
    Revoke {
        id: i64,
        #[command(flatten)]
        project: ProjectArg,
        /// unspecified, keyCompromise, affiliationChanged, superseded or cessationOfOperation
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Example:\n  certkeeper create www.example.com example.com --project 3f2c..."
)]
pub struct CreateArgs {
    /// The names; the first is the common name.
    #[arg(required = true)]
    pub domains: Vec<String>,
    #[command(flatten)]
    pub project: ProjectArg,
    /// Share the certificate with every project (Organization scope).
    #[arg(long)]
    pub organization: bool,
}

#[derive(Debug, Clone, Args)]
#[command(after_help = "Example:\n  certkeeper validate 42")]
pub struct ValidateArgs {
    pub id: i64,
    #[command(flatten)]
    pub project: ProjectArg,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ReportCommand {
    /// Certificates issued per week in a collection (Keyfactor's issuance analytics).
    #[command(after_help = "Example:\n  certkeeper report issuance --collection 0 --weeks 12")]
    Issuance {
        /// Collection id; 0 is All Certificates.
        #[arg(long, default_value_t = 0)]
        collection: i64,
        /// Weeks back, 1 to 52.
        #[arg(long, default_value_t = 12)]
        weeks: u32,
    },
    /// Orders expiring in 90/60/30 days and expired in the last 7 (DigiCert's report).
    #[command(after_help = "Example:\n  certkeeper report expiring --output json")]
    Expiring {
        /// Limit to one container (a project's container id).
        #[arg(long)]
        container: Option<i64>,
    },
    /// Orders whose status changed recently (DigiCert's status-change list).
    #[command(after_help = "Example:\n  certkeeper report status-changes --minutes 1440")]
    StatusChanges {
        /// How far back, in minutes (at most 10080).
        #[arg(long, default_value_t = 1440)]
        minutes: i64,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum CollectionsCommand {
    /// The collections this key can read.
    #[command(after_help = "Example:\n  certkeeper collections list")]
    List,
    /// One collection.
    #[command(after_help = "Example:\n  certkeeper collections show 3")]
    Show { id: i64 },
    /// A new collection (Keyfactor's query language).
    #[command(
        after_help = "Example:\n  certkeeper collections create --name Web --query 'IssuedCN -contains \"www\"'"
    )]
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        query: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Delete a collection.
    #[command(after_help = "Example:\n  certkeeper collections delete 3")]
    Delete { id: i64 },
}

/// The commands that talk to a running server.
#[derive(Debug, Clone, Subcommand)]
pub enum Remote {
    /// Save the server and API key the commands below use.
    ///
    /// Writes ~/.config/certkeeper/config.toml (mode 0600) with the server, key, CA file and
    /// default project given; the key is checked against the server first.
    Login(LoginArgs),
    /// Import certificate files or whole directories into a project on a running server.
    Import(ImportArgs),
    /// Certificates on a running server.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Create a certificate on a running server; prints the DNS-01 TXT records to publish.
    Create(CreateArgs),
    /// Check a created certificate's TXT records and issue it when they are all there.
    Validate(ValidateArgs),
    /// Reports from a running server.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Certificate collections on a running server (`collection` works on the database).
    #[command(subcommand)]
    Collections(CollectionsCommand),
}

/// A command already reported on stderr; exits with this code.
#[derive(Debug)]
pub struct Exit(pub u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for Exit {}

/// Runs a remote command; a failure is printed (one line, or a JSON object in JSON mode) and
/// becomes [`Exit`] with its code.
pub async fn run(connect: &Connect, command: Remote) -> Result<(), Exit> {
    let format = connect.output;
    match dispatch(connect, command).await {
        Ok(()) => Ok(()),
        Err(e) => {
            if format == Format::Json {
                eprintln!("{}", e.to_json());
            } else {
                eprintln!("error: {e}");
            }
            Err(Exit(e.exit_code()))
        }
    }
}

fn connection(connect: &Connect, profile: &Profile) -> Result<Connection, RemoteError> {
    let server = connect
        .server
        .clone()
        .or_else(|| profile.server.clone())
        .ok_or_else(|| {
            RemoteError::local(
                "no server given: pass --server URL, set CERTKEEPER_SERVER, or run `certkeeper login`",
            )
        })?;
    let api_key = connect
        .api_key
        .clone()
        .or_else(|| profile.api_key.clone())
        .ok_or_else(|| {
            RemoteError::local(
                "no API key given: pass --api-key, set CERTKEEPER_API_KEY, or run `certkeeper login`",
            )
        })?;
    Ok(Connection {
        server,
        api_key,
        ca_file: connect.ca_file.clone().or_else(|| profile.ca_file.clone()),
    })
}

fn project_of(arg: &ProjectArg, profile: &Profile) -> Result<String, RemoteError> {
    let p = arg.project.clone().or_else(|| profile.project.clone()).ok_or_else(|| {
        RemoteError::local(
            "no project given: pass --project ID, set CERTKEEPER_PROJECT, or save one with `certkeeper login --project ID`",
        )
    })?;
    uuid::Uuid::parse_str(p.trim())
        .map(|u| u.to_string())
        .map_err(|_| {
            RemoteError::local(format!(
                "--project must be a project id (a UUID), not {p:?}"
            ))
        })
}

async fn dispatch(connect: &Connect, command: Remote) -> Result<(), RemoteError> {
    let profile = Profile::load()?;
    let format = connect.output;
    let client = Client::new(&connection(connect, &profile)?)?;
    match command {
        Remote::Login(args) => {
            // The key is checked before it is saved.
            client
                .json(Method::GET, "/CertificateCollections", None)
                .await?;
            let conn = connection(connect, &profile)?;
            let saved = Profile {
                server: Some(conn.server),
                api_key: Some(conn.api_key),
                ca_file: conn.ca_file.map(|p| std::path::absolute(&p).unwrap_or(p)),
                project: match args.project.project {
                    Some(_) => Some(project_of(&args.project, &profile)?),
                    None => profile.project.clone(),
                },
            };
            let path = saved.save()?;
            println!(
                "signed in; saved the server and key to {} (mode 0600)",
                path.display()
            );
            Ok(())
        }
        Remote::Import(args) => {
            let project = project_of(&args.project, &profile)?;
            let found = import::discover(&args.paths, args.password.as_deref());
            if found.bundles.is_empty() && found.problems.is_empty() {
                return Err(RemoteError::local(
                    "found no certificates there (looked for cert.pem + privkey.pem, NAME.crt + NAME.key, .p12 and .pfx)",
                ));
            }
            import::run(&client, &project, args.organization, found, format).await
        }
        Remote::Certs(cmd) => certs(&client, &profile, cmd, format).await,
        Remote::Create(args) => {
            let project = project_of(&args.project, &profile)?;
            let mut names = args.domains.into_iter();
            let first = names.next().unwrap_or_default();
            let body = json!({
                "domainName": first,
                "additionalDomainNames": names.collect::<Vec<_>>(),
                "scopeId": i64::from(args.organization),
            });
            let path = format!("/api/v1/projects/{project}/certificates");
            let v = client.result(Method::POST, &path, Some(&body)).await?;
            records_listing(&v).print(format);
            Ok(())
        }
        Remote::Validate(args) => {
            let project = project_of(&args.project, &profile)?;
            let path = format!(
                "/api/v1/projects/{project}/certificates/{}/validate",
                args.id
            );
            let v = client.result(Method::PUT, &path, None).await?;
            certificate_listing(&v).print(format);
            Ok(())
        }
        Remote::Report(cmd) => report(&client, cmd, format).await,
        Remote::Collections(cmd) => collections(&client, cmd, format).await,
    }
}

const CERT_HEADERS: [&str; 6] = ["ID", "DOMAIN", "STATUS", "TYPE", "NOT AFTER", "ISSUER"];

fn cert_row(c: &Value) -> Vec<String> {
    let issuer = cell(&c["issuer"]);
    let short = issuer
        .split(',')
        .map(str::trim)
        .find_map(|r| r.strip_prefix("CN="))
        .unwrap_or(&issuer)
        .to_string();
    vec![
        cell(&c["id"]),
        cell(&c["domainName"]),
        cell(&c["certificateStatus"]),
        cell(&c["certificateType"]),
        cell(&c["notAfter"]),
        short,
    ]
}

fn certificate_listing(v: &Value) -> Listing {
    Listing {
        headers: CERT_HEADERS.to_vec(),
        rows: vec![cert_row(v)],
        json: v.clone(),
    }
}

/// A created certificate: the TXT records to publish (or, when it was issued at once, the
/// certificate).
fn records_listing(v: &Value) -> Listing {
    let records = v["dnsRecords"].as_array().cloned().unwrap_or_default();
    if records.is_empty() {
        return certificate_listing(v);
    }
    Listing {
        headers: vec!["ID", "TXT RECORD", "VALUE"],
        rows: records
            .iter()
            .map(|r| vec![cell(&v["id"]), cell(&r["key"]), cell(&r["value"])])
            .collect(),
        json: v.clone(),
    }
}

async fn certs(
    client: &Client,
    profile: &Profile,
    cmd: CertsCommand,
    format: Format,
) -> Result<(), RemoteError> {
    let base = |p: &ProjectArg| -> Result<String, RemoteError> {
        Ok(format!(
            "/api/v1/projects/{}/certificates",
            project_of(p, profile)?
        ))
    };
    match cmd {
        CertsCommand::List { project } => {
            let path = base(&project)?;
            let mut all = Vec::new();
            for page in 1.. {
                let v = client
                    .json(
                        Method::GET,
                        &format!("{path}?PageIndex={page}&PageSize=100"),
                        None,
                    )
                    .await?;
                all.extend(v["result"].as_array().cloned().unwrap_or_default());
                if !v["resultInfo"]["hasNextPage"].as_bool().unwrap_or(false) {
                    break;
                }
            }
            Listing {
                headers: CERT_HEADERS.to_vec(),
                rows: all.iter().map(cert_row).collect(),
                json: Value::Array(all),
            }
            .print(format);
        }
        CertsCommand::Show { id, project } => {
            let v = client
                .result(Method::GET, &format!("{}/{id}", base(&project)?), None)
                .await?;
            match format {
                Format::Table => {
                    let obj = v.as_object().cloned().unwrap_or_default();
                    Listing {
                        headers: vec!["FIELD", "VALUE"],
                        rows: obj
                            .iter()
                            .filter(|(k, _)| *k != "scopeOptions")
                            .map(|(k, val)| vec![k.clone(), cell(val)])
                            .collect(),
                        json: v.clone(),
                    }
                    .print(format);
                }
                _ => certificate_listing(&v).print(format),
            }
        }
        CertsCommand::Download { id, project, out } => {
            let (_, pem) = client
                .send(
                    Method::GET,
                    &format!("{}/{id}/download", base(&project)?),
                    None,
                )
                .await?;
            match out {
                Some(path) => std::fs::write(&path, &pem).map_err(|e| {
                    RemoteError::local(format!("cannot write {}: {e}", path.display()))
                })?,
                None => print!("{pem}"),
            }
        }
        CertsCommand::Delete { id, project } => {
            client
                .json(Method::DELETE, &format!("{}/{id}", base(&project)?), None)
                .await?;
            if format == Format::Json {
                println!("{}", json!({ "deleted": id }));
            } else {
                println!("deleted certificate {id}");
            }
        }
        CertsCommand::Renew { id, project } => {
            let v = client
                .result(
                    Method::POST,
                    &format!("{}/{id}/renew", base(&project)?),
                    None,
                )
                .await?;
            records_listing(&v).print(format);
        }
        CertsCommand::Revoke {
            id,
            project,
            reason,
        } => {
            let body = reason.map(|r| json!({ "reason": r }));
            let v = client
                .result(
                    Method::POST,
                    &format!("{}/{id}/revoke", base(&project)?),
                    body.as_ref(),
                )
                .await?;
            certificate_listing(&v).print(format);
        }
    }
    Ok(())
}

async fn report(client: &Client, cmd: ReportCommand, format: Format) -> Result<(), RemoteError> {
    match cmd {
        ReportCommand::Issuance { collection, weeks } => {
            let v = client
                .json(
                    Method::GET,
                    &format!("/Analytics/Certificates/Issuance?collectionId={collection}&TotalPeriods={weeks}"),
                    None,
                )
                .await?;
            let rows = v
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|p| vec![cell(&p["Period"]), cell(&p["Count"]), cell(&p["EvalDate"])])
                        .collect()
                })
                .unwrap_or_default();
            Listing {
                headers: vec!["WEEKS BACK", "ISSUED", "EVALUATED AT"],
                rows,
                json: v,
            }
            .print(format);
        }
        ReportCommand::Expiring { container } => {
            let q = container
                .map(|c| format!("&container_id={c}"))
                .unwrap_or_default();
            let v = client
                .json(
                    Method::GET,
                    &format!("/services/v2/report/order/expiring?include_expiring_certs=true{q}"),
                    None,
                )
                .await?;
            let rows = v["expiring_orders"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|b| {
                            vec![
                                cell(&b["days_expiring"]),
                                cell(&b["order_count"]),
                                cell(&b["count"]),
                            ]
                        })
                        .collect()
                })
                .unwrap_or_default();
            Listing {
                headers: vec!["DAYS", "ORDERS", "CERTIFICATES"],
                rows,
                json: v,
            }
            .print(format);
        }
        ReportCommand::StatusChanges { minutes } => {
            let v = client
                .json(
                    Method::GET,
                    &format!("/services/v2/order/certificate/status-changes?minutes={minutes}"),
                    None,
                )
                .await?;
            let rows = v["orders"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|o| {
                            vec![
                                cell(&o["order_id"]),
                                cell(&o["certificate_id"]),
                                cell(&o["status"]),
                            ]
                        })
                        .collect()
                })
                .unwrap_or_default();
            Listing {
                headers: vec!["ORDER", "CERTIFICATE", "STATUS"],
                rows,
                json: v,
            }
            .print(format);
        }
    }
    Ok(())
}

fn collection_row(c: &Value) -> Vec<String> {
    vec![
        cell(&c["Id"]),
        cell(&c["Name"]),
        cell(&c["Query"]),
        cell(&c["Description"]),
    ]
}

const COLLECTION_HEADERS: [&str; 4] = ["ID", "NAME", "QUERY", "DESCRIPTION"];

async fn collections(
    client: &Client,
    cmd: CollectionsCommand,
    format: Format,
) -> Result<(), RemoteError> {
    match cmd {
        CollectionsCommand::List => {
            let v = client
                .json(Method::GET, "/CertificateCollections", None)
                .await?;
            let rows = v
                .as_array()
                .map(|a| a.iter().map(collection_row).collect())
                .unwrap_or_default();
            Listing {
                headers: COLLECTION_HEADERS.to_vec(),
                rows,
                json: v,
            }
            .print(format);
        }
        CollectionsCommand::Show { id } => {
            let v = client
                .json(Method::GET, &format!("/CertificateCollections/{id}"), None)
                .await?;
            Listing {
                headers: COLLECTION_HEADERS.to_vec(),
                rows: vec![collection_row(&v)],
                json: v,
            }
            .print(format);
        }
        CollectionsCommand::Create {
            name,
            query,
            description,
        } => {
            let body = json!({ "Name": name, "Query": query, "Description": description });
            let v = client
                .json(Method::POST, "/CertificateCollections", Some(&body))
                .await?;
            Listing {
                headers: COLLECTION_HEADERS.to_vec(),
                rows: vec![collection_row(&v)],
                json: v,
            }
            .print(format);
        }
        CollectionsCommand::Delete { id } => {
            client
                .json(
                    Method::DELETE,
                    &format!("/CertificateCollections/{id}"),
                    None,
                )
                .await?;
            if format == Format::Json {
                println!("{}", json!({ "deleted": id }));
            } else {
                println!("deleted collection {id}");
            }
        }
    }
    Ok(())
}

//! `certkeeper serve`: the core with everything issuing needs, the HTTP server, the
//! scheduler, and a graceful shutdown.

use std::io::Write;
use std::sync::Arc;

use certkeeper_core::Core;
use certkeeper_domain::SystemClock;
use certkeeper_server::AppState;
use certkeeper_store::Store;

use crate::config::Config;

type CliResult = Result<(), Box<dyn std::error::Error>>;

/// How notifications leave this server: SMTP relay, webhook policy, the API's certificate shape.
pub(crate) fn notify_config(
    config: &Config,
) -> Result<certkeeper_core::notifications::NotifyConfig, Box<dyn std::error::Error>> {
    let mailer = match (&config.smtp_url, &config.smtp_from) {
        (Some(url), Some(from)) => {
            let credentials = match (
                std::env::var("CERTKEEPER_SMTP_USERNAME"),
                std::env::var("CERTKEEPER_SMTP_PASSWORD"),
            ) {
                (Ok(u), Ok(p)) => Some((u, p)),
                _ => None,
            };
            Some(certkeeper_notify::email::Mailer::new(
                url,
                from,
                credentials,
            )?)
        }
        _ => None,
    };
    Ok(certkeeper_core::notifications::NotifyConfig {
        allow_private_webhooks: config.allow_private_webhooks,
        mailer,
        // Redirects are not followed: a receiver could point a delivery anywhere.
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
        certificate_view: Arc::new(certkeeper_server::projects::wire::certificate_json),
    })
}

/// The public URL as configured, for commands that do not bind the listener: `--public-url`,
/// else the configured listen address.
pub(crate) fn configured_public_url(config: &Config) -> String {
    config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{}://{}", config.tls.scheme(), config.listen))
}

/// The core with everything `serve` needs: master key, built-in CA (naming its CRL and OCSP
/// responder under `public_url`), DNS checker.
pub(crate) async fn full_core(
    config: &Config,
    public_url: &str,
) -> Result<Core, Box<dyn std::error::Error>> {
    let store = Store::connect_with(&config.database, config.store_options()).await?;
    let master_key =
        certkeeper_core::masterkey::load_or_create(&store, &config.master_key_file).await?;
    let now = certkeeper_domain::Clock::now(&SystemClock);
    let ca = certkeeper_core::issuance::load_or_create_ca(&store, &master_key, now)
        .await?
        .with_revocation_urls(certkeeper_server::pki::revocation_urls(public_url));
    let dns = match config.dns_resolver {
        Some(addr) => {
            certkeeper_dns::Dns01Checker::with_server(addr, certkeeper_dns::DEFAULT_TIMEOUT)?
        }
        None => certkeeper_dns::Dns01Checker::system(certkeeper_dns::DEFAULT_TIMEOUT)?,
    };
    let default_issuer: certkeeper_core::issuance::IssuerKind = config.issuer.parse()?;
    let acme = match &config.acme_directory {
        Some(directory) => {
            let eab = match (&config.acme_eab_kid, &config.acme_eab_hmac) {
                (Some(kid), Some(hmac)) => {
                    use base64::Engine as _;
                    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(hmac.trim_end_matches('='))
                        .map_err(|e| format!("--acme-eab-hmac is not base64url: {e}"))?;
                    Some((kid.clone(), key))
                }
                (None, None) => None,
                _ => return Err("--acme-eab-kid and --acme-eab-hmac go together".into()),
            };
            let acme_config = certkeeper_core::acme::AcmeConfig {
                directory: directory.clone(),
                ca_bundle: config.acme_ca_bundle.clone(),
                eab,
                contact: config.acme_contact.clone(),
            };
            Some(
                certkeeper_core::acme::AcmeIssuer::connect(&store, &master_key, &acme_config)
                    .await?,
            )
        }
        None if default_issuer == certkeeper_core::issuance::IssuerKind::Acme => {
            return Err("--issuer acme needs --acme-directory".into());
        }
        None => None,
    };
    let propagation = certkeeper_dns::Propagation {
        resolver: dns.clone(),
        authoritative_port: config.dns_authoritative_port,
        poll: std::time::Duration::from_secs(2),
        query_timeout: certkeeper_dns::DEFAULT_TIMEOUT,
    };
    let issuance = certkeeper_core::issuance::Issuance {
        default_issuer,
        acme,
        ca,
        dns,
        dns_exec: config.dns_exec.clone(),
        propagation,
        leaf_lifetime: time::Duration::days(i64::from(config.leaf_lifetime_days)),
        challenge_ttl: time::Duration::hours(i64::from(config.challenge_ttl_hours)),
    };
    Ok(Core::new(store, Arc::new(SystemClock), master_key)
        .with_issuance(issuance)
        .with_notifications(notify_config(config)?)
        .with_rate_limit(config.rate_limit)
        .with_session_idle_timeout(std::time::Duration::from_secs(
            u64::from(config.session_idle_minutes) * 60,
        ))
        .with_acme_server(certkeeper_core::acme_server::AcmeServerConfig {
            http01_port: config.acme_http01_port,
            tlsalpn01_port: config.acme_tlsalpn01_port,
        }))
}

pub(crate) async fn serve(config: Config) -> CliResult {
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{}://{addr}", config.tls.scheme()));
    let core = full_core(&config, &public_url).await?;
    let tls = crate::listener::start(&core, &config.tls, addr)?;
    let mut out = std::io::stdout().lock();
    if let Some((project, created)) = core.bootstrap().await? {
        writeln!(
            out,
            "First start: created project {:?} (projectId {}, containerId {}) and an admin API key.",
            project.name, project.id, project.container_id
        )?;
        writeln!(
            out,
            "Admin API key (shown only this once; store it now): {}",
            created.secret.expose()
        )?;
        writeln!(
            out,
            "Use it as: curl -H 'X-API-Key: {}' {public_url}/api/v1/projects/{}/certificates",
            created.secret.expose(),
            project.id
        )?;
    }
    let listening = format!("{}://{addr}", config.tls.scheme());
    if public_url != listening {
        writeln!(out, "links are built from {public_url}")?;
    }
    writeln!(out, "listening on {listening}")?;
    out.flush()?;
    drop(out);
    let store = core.store().clone();
    // The scheduler: the expired-order sweep, provider-driven issuance and renewals, run once
    // across every node sharing this database.
    let (stop_jobs, jobs_stopped) = tokio::sync::oneshot::channel::<()>();
    let scheduler = certkeeper_core::scheduler::Scheduler::new(
        core.clone(),
        certkeeper_core::scheduler::SchedulerConfig::new(std::time::Duration::from_secs(
            config.job_poll_seconds,
        )),
    );
    let jobs = tokio::spawn(scheduler.run(async move {
        let _ = jobs_stopped.await;
    }));
    // Certificates stored before thumbprints and CNs were kept as columns get them, in the
    // background and in small batches, so collection queries can match them.
    let backfill = core.store().clone();
    tokio::spawn(async move {
        loop {
            match backfill.backfill_search_columns(500).await {
                Ok(0) => break,
                Ok(n) => tracing::debug!(certificates = n, "backfilled search columns"),
                Err(e) => {
                    tracing::warn!(error = %e, "backfilling search columns failed; retrying later");
                    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                }
            }
        }
    });
    // Notification channels an earlier version bound to their project are re-sealed bound to
    // their rule (a handful of rows; harmless beside other nodes doing the same).
    let rebind = core.clone();
    tokio::spawn(async move {
        match rebind.rebind_channels().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rules = n, "notification channels bound to their rules"),
            Err(e) => {
                tracing::warn!(error = %e, "binding notification channels to their rules failed")
            }
        }
    });
    // SIGTERM or Ctrl-C: stop accepting, let in-flight requests finish (for at most
    // SHUTDOWN_GRACE), then commit what the writer holds and close the database.
    let (signalled_tx, signalled) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown_signal().await;
        let _ = signalled_tx.send(());
    };
    let state = AppState {
        core,
        public_url,
        metrics: certkeeper_server::metrics::MetricsSettings {
            public: config.metrics_public,
            certificate_limit: config.metrics_certificate_limit,
        },
    };
    let limits = certkeeper_server::ConnectionLimits {
        header_read_timeout: std::time::Duration::from_secs(config.header_read_timeout_seconds),
        max_connections: config.max_connections,
    };
    let server: std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> = match tls {
        Some(tls) => Box::pin(certkeeper_server::tls::serve_tls(
            listener, state, tls, limits, signal,
        )),
        None => Box::pin(certkeeper_server::serve_with(
            listener, state, limits, signal,
        )),
    };
    let grace = async move {
        if signalled.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        served = server => served?,
        () = grace => tracing::warn!(
            seconds = SHUTDOWN_GRACE.as_secs(),
            "requests still in flight after the shutdown grace period; closing anyway"
        ),
    }
    let _ = stop_jobs.send(());
    if tokio::time::timeout(SHUTDOWN_GRACE, jobs).await.is_err() {
        tracing::warn!(
            "jobs still running after the grace period; their leases will lapse and another node (or the next start) takes them over"
        );
    }
    store.close().await;
    tracing::info!("database closed; exiting");
    Ok(())
}

/// How long a SIGTERM waits for in-flight requests before closing the database regardless.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}

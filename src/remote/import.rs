//! `certkeeper import PATH...`: finds certificates, their keys and chains in files and
//! directories by the names tools give them, and imports them in parallel.
//!
//! Pairing, per directory:
//! - certbot's `cert.pem` + `privkey.pem` (+ `chain.pem`, or `fullchain.pem` when there is no
//!   `cert.pem`), and its archive's numbered `certN.pem` + `privkeyN.pem` + `chainN.pem`;
//! - `NAME.crt` / `NAME.pem` / `NAME.cer` + `NAME.key` (or `NAME.key.pem`, `NAME-key.pem`),
//!   with `NAME.chain.pem`, `NAME-chain.pem`, `NAME.chain.crt` or `NAME.ca-bundle` as chain;
//! - PKCS#12 `NAME.p12` / `NAME.pfx`, opened with `--password`.
//!
//! What cannot be paired is reported with the reason, never skipped silently.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reqwest::Method;
use serde_json::json;

use super::client::{Client, RemoteError};
use super::output::Format;

/// Imports running at once: enough to keep the server's group commit busy.
const PARALLEL: usize = 8;
/// Files larger than this are not certificate material.
const MAX_FILE: u64 = 1024 * 1024;

/// One certificate to import, from the files named in `label`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub label: String,
    pub cert: String,
    pub key: String,
    pub chain: String,
}

/// A file that could not be imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Found {
    pub bundles: Vec<Bundle>,
    pub problems: Vec<Problem>,
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read_text(path: &Path, found: &mut Found) -> Option<String> {
    let fail = |found: &mut Found, reason: String| {
        found.problems.push(Problem {
            file: path.display().to_string(),
            reason,
        });
        None
    };
    match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_FILE => return fail(found, "larger than 1 MiB".into()),
        Err(e) => return fail(found, format!("cannot read: {e}")),
        Ok(_) => {}
    }
    match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) => fail(found, format!("cannot read as text: {e}")),
    }
}

/// Every file to look at, grouped by directory (directories are walked recursively).
fn files_by_directory(paths: &[PathBuf], found: &mut Found) -> BTreeMap<PathBuf, BTreeSet<String>> {
    let mut by_dir: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    let mut stack: Vec<PathBuf> = paths.to_vec();
    while let Some(p) = stack.pop() {
        match std::fs::metadata(&p) {
            Ok(m) if m.is_dir() => match std::fs::read_dir(&p) {
                Ok(entries) => stack.extend(entries.filter_map(|e| e.ok()).map(|e| e.path())),
                Err(e) => found.problems.push(Problem {
                    file: p.display().to_string(),
                    reason: format!("cannot list the directory: {e}"),
                }),
            },
            Ok(_) => {
                let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
                by_dir.entry(dir).or_default().insert(name_of(&p));
            }
            Err(e) => found.problems.push(Problem {
                file: p.display().to_string(),
                reason: format!("cannot open: {e}"),
            }),
        }
    }
    by_dir
}

/// Finds a partner file beside `dir/<name>` on disk even when it was not named itself.
fn partner(dir: &Path, names: &BTreeSet<String>, candidates: &[String]) -> Option<String> {
    candidates
        .iter()
        .find(|c| names.contains(*c) || dir.join(c).is_file())
        .cloned()
}

fn is_key_text(t: &str) -> bool {
    t.contains("PRIVATE KEY-----")
}

/// Finds every bundle under `paths`.
pub fn discover(paths: &[PathBuf], password: Option<&str>) -> Found {
    let mut found = Found::default();
    let by_dir = files_by_directory(paths, &mut found);
    for (dir, names) in by_dir {
        let mut used: BTreeSet<String> = BTreeSet::new();
        let path = |n: &str| dir.join(n);
        // certbot: cert.pem / certN.pem and its siblings.
        for name in &names {
            let Some(n) = name
                .strip_prefix("cert")
                .and_then(|r| r.strip_suffix(".pem"))
            else {
                continue;
            };
            if !n.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            let key = format!("privkey{n}.pem");
            if !(names.contains(&key) || path(&key).is_file()) {
                continue;
            }
            let chain = format!("chain{n}.pem");
            let fullchain = format!("fullchain{n}.pem");
            let (Some(cert), Some(key_text)) = (
                read_text(&path(name), &mut found),
                read_text(&path(&key), &mut found),
            ) else {
                used.extend([name.clone(), key.clone(), chain.clone(), fullchain.clone()]);
                continue;
            };
            let chain_text = if path(&chain).is_file() {
                read_text(&path(&chain), &mut found).unwrap_or_default()
            } else {
                String::new()
            };
            found.bundles.push(Bundle {
                label: path(name).display().to_string(),
                cert,
                key: key_text,
                chain: chain_text,
            });
            used.extend([name.clone(), key, chain, fullchain]);
        }
        // certbot without cert.pem: fullchain.pem (leaf first) + privkey.pem.
        for name in &names {
            if used.contains(name) {
                continue;
            }
            let Some(n) = name
                .strip_prefix("fullchain")
                .and_then(|r| r.strip_suffix(".pem"))
            else {
                continue;
            };
            let key = format!("privkey{n}.pem");
            if let (true, Some(cert), Some(k)) = (
                names.contains(&key) || path(&key).is_file(),
                read_text(&path(name), &mut found),
                read_text(&path(&key), &mut found),
            ) {
                found.bundles.push(Bundle {
                    label: path(name).display().to_string(),
                    cert,
                    key: k,
                    chain: String::new(),
                });
                used.extend([name.clone(), key, format!("chain{n}.pem")]);
            }
        }
        // NAME.crt + NAME.key, NAME.p12, and whatever is left.
        for name in &names {
            if used.contains(name) {
                continue;
            }
            let (stem, ext) = match name.rsplit_once('.') {
                Some((s, e)) => (s.to_string(), e.to_ascii_lowercase()),
                None => continue,
            };
            match ext.as_str() {
                "p12" | "pfx" => {
                    used.insert(name.clone());
                    pkcs12(&path(name), password.unwrap_or(""), &mut found);
                }
                "crt" | "pem" | "cer" => {
                    let Some(text) = read_text(&path(name), &mut found) else {
                        used.insert(name.clone());
                        continue;
                    };
                    if is_key_text(&text) || stem.ends_with(".key") || stem.ends_with("-key") {
                        continue; // a key: paired from its certificate's side.
                    }
                    if stem.ends_with(".chain")
                        || stem.ends_with("-chain")
                        || stem.starts_with("chain")
                    {
                        continue; // a chain: paired from its certificate's side.
                    }
                    used.insert(name.clone());
                    let keys = [
                        format!("{stem}.key"),
                        format!("{stem}.key.pem"),
                        format!("{stem}-key.pem"),
                    ];
                    let Some(key) = partner(&dir, &names, &keys) else {
                        found.problems.push(Problem {
                            file: path(name).display().to_string(),
                            reason: format!(
                                "no private key beside it (looked for {})",
                                keys.join(", ")
                            ),
                        });
                        continue;
                    };
                    used.insert(key.clone());
                    let chains = [
                        format!("{stem}.chain.pem"),
                        format!("{stem}-chain.pem"),
                        format!("{stem}.chain.crt"),
                        format!("{stem}.ca-bundle"),
                    ];
                    let chain = partner(&dir, &names, &chains);
                    let chain_text = match &chain {
                        Some(c) => {
                            used.insert(c.clone());
                            read_text(&path(c), &mut found).unwrap_or_default()
                        }
                        None => String::new(),
                    };
                    if let Some(k) = read_text(&path(&key), &mut found) {
                        found.bundles.push(Bundle {
                            label: path(name).display().to_string(),
                            cert: text,
                            key: k,
                            chain: chain_text,
                        });
                    }
                }
                _ => {}
            }
        }
        // Keys and chains nothing claimed.
        for name in &names {
            if used.contains(name) {
                continue;
            }
            let lower = name.to_ascii_lowercase();
            let reason = if lower.ends_with(".key")
                || lower.contains("privkey")
                || lower.ends_with("-key.pem")
                || lower.ends_with(".key.pem")
            {
                "a private key with no certificate beside it"
            } else if lower.contains("chain") || lower.ends_with(".ca-bundle") {
                "a chain with no certificate beside it"
            } else if lower.ends_with(".pem") || lower.ends_with(".crt") || lower.ends_with(".cer")
            {
                match read_text(&path(name), &mut found) {
                    Some(t) if is_key_text(&t) => "a private key with no certificate beside it",
                    Some(_) => continue,
                    None => continue,
                }
            } else {
                continue;
            };
            found.problems.push(Problem {
                file: path(name).display().to_string(),
                reason: reason.into(),
            });
        }
    }
    found.bundles.sort_by(|a, b| a.label.cmp(&b.label));
    found
}

/// Every key with its certificate chain in a PKCS#12 file.
fn pkcs12(path: &Path, password: &str, found: &mut Found) {
    let label = path.display().to_string();
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => {
            found.problems.push(Problem {
                file: label,
                reason: format!("cannot read: {e}"),
            });
            return;
        }
    };
    let store = match p12_keystore::KeyStore::from_pkcs12(
        &data,
        password,
        p12_keystore::Pkcs12ImportPolicy::Strict,
    ) {
        Ok(s) => s,
        Err(e) => {
            found.problems.push(Problem {
                file: label,
                reason: format!("cannot open the PKCS#12 file (wrong --password?): {e}"),
            });
            return;
        }
    };
    let mut any = false;
    for (alias, entry) in store.entries() {
        if let p12_keystore::KeyStoreEntry::PrivateKeyChain(chain) = entry {
            let Some((leaf, rest)) = chain.certs().split_first() else {
                continue;
            };
            any = true;
            let pem = |der: &[u8]| certkeeper_domain::pem::encode("CERTIFICATE", der);
            found.bundles.push(Bundle {
                label: format!("{label} ({alias})"),
                cert: pem(leaf.as_der()),
                key: certkeeper_domain::pem::encode("PRIVATE KEY", chain.key().as_der()),
                chain: rest.iter().map(|c| pem(c.as_der())).collect(),
            });
        }
    }
    if !any {
        found.problems.push(Problem {
            file: label,
            reason: "holds no private key with its certificate".into(),
        });
    }
}

/// How one bundle went.
enum Outcome {
    Imported(i64),
    Duplicate(String),
    Failed(String),
}

/// Imports every bundle, `PARALLEL` at a time, with a progress bar on stderr (hidden when
/// stderr is not a terminal), then prints the summary. Fails when anything failed.
pub async fn run(
    client: &Client,
    project: &str,
    organization: bool,
    found: Found,
    format: Format,
) -> Result<(), RemoteError> {
    let total = found.bundles.len() as u64;
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let path = format!("/api/v1/projects/{project}/certificates/import");
    let results: Vec<(Bundle, Outcome)> = futures::stream::iter(found.bundles)
        .map(|b| {
            let (client, path, bar) = (client, &path, &bar);
            async move {
                let body = json!({
                    "certificateBody": b.cert,
                    "certificatePrivateKey": b.key,
                    "certificateChain": b.chain,
                    "scopeId": i64::from(organization),
                });
                let outcome = match client.result(Method::POST, path, Some(&body)).await {
                    Ok(v) => Outcome::Imported(v["id"].as_i64().unwrap_or_default()),
                    Err(RemoteError::Refused {
                        status: 409,
                        message,
                    }) => Outcome::Duplicate(message),
                    Err(e) => Outcome::Failed(e.to_string()),
                };
                bar.inc(1);
                (b, outcome)
            }
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    bar.finish_and_clear();
    let mut imported = Vec::new();
    let mut duplicates = Vec::new();
    let mut failed: Vec<(String, String)> = found
        .problems
        .into_iter()
        .map(|p| (p.file, p.reason))
        .collect();
    for (b, o) in results {
        match o {
            Outcome::Imported(id) => imported.push((b.label, id)),
            Outcome::Duplicate(m) => duplicates.push((b.label, m)),
            Outcome::Failed(m) => failed.push((b.label, m)),
        }
    }
    imported.sort();
    duplicates.sort();
    failed.sort();
    // A refusal by the server, and nothing local, is exit 2; anything local is exit 1.
    let server_refused = failed
        .iter()
        .any(|(_, m)| m.starts_with("the server refused"));
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "imported": imported.iter().map(|(f, id)| json!({"file": f, "id": id})).collect::<Vec<_>>(),
                "duplicates": duplicates.iter().map(|(f, m)| json!({"file": f, "reason": m})).collect::<Vec<_>>(),
                "failed": failed.iter().map(|(f, m)| json!({"file": f, "reason": m})).collect::<Vec<_>>(),
            }))
            .unwrap_or_default()
        ),
        Format::Table | Format::Csv => {
            println!(
                "imported {}, duplicates {}, failed {}",
                imported.len(),
                duplicates.len(),
                failed.len()
            );
            for (f, m) in &duplicates {
                println!("duplicate  {f}: {m}");
            }
            for (f, m) in &failed {
                println!("failed     {f}: {m}");
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        let message = format!(
            "{} of the files could not be imported (listed above)",
            failed.len()
        );
        let local = failed
            .iter()
            .any(|(_, m)| !m.starts_with("the server refused"));
        Err(if server_refused && !local {
            RemoteError::Refused {
                status: 400,
                message,
            }
        } else {
            RemoteError::Local(message)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n";
    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMA==\n-----END PRIVATE KEY-----\n";

    #[test]
    fn pairs_by_the_usual_names() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("live/example.com");
        std::fs::create_dir_all(&live).unwrap();
        for (n, t) in [
            ("cert.pem", CERT),
            ("privkey.pem", KEY),
            ("chain.pem", CERT),
            ("fullchain.pem", CERT),
        ] {
            write(&live, n, t);
        }
        write(dir.path(), "www.crt", CERT);
        write(dir.path(), "www.key", KEY);
        write(dir.path(), "www.chain.pem", CERT);
        write(dir.path(), "lonely.crt", CERT);
        write(dir.path(), "orphan.key", KEY);
        write(dir.path(), "notes.txt", "hello");
        let found = discover(&[dir.path().to_path_buf()], None);
        let labels: Vec<String> = found
            .bundles
            .iter()
            .map(|b| name_of(Path::new(&b.label)))
            .collect();
        assert_eq!(labels, vec!["cert.pem", "www.crt"], "{found:?}");
        assert_eq!(found.bundles[1].chain, CERT);
        let mut problems: Vec<String> = found
            .problems
            .iter()
            .map(|p| name_of(Path::new(&p.file)))
            .collect();
        problems.sort();
        assert_eq!(
            problems,
            vec!["lonely.crt", "orphan.key"],
            "{:?}",
            found.problems
        );
    }

    #[test]
    fn a_named_file_finds_its_key_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.pem", CERT);
        write(dir.path(), "a.key", KEY);
        let found = discover(&[dir.path().join("a.pem")], None);
        assert_eq!(found.bundles.len(), 1, "{found:?}");
        assert!(found.problems.is_empty());
    }
}

//! `certkeeper keys rotate`: re-encrypts every sealed secret under a new master key.
//!
//! The rotation runs with the servers stopped (each node holds the master key in memory), and
//! survives being interrupted at any point:
//!
//! 1. The new key is written to `<key file>.next` (mode 0600, synced) *before* the database
//!    records that a rotation to version N+1 is under way, so no value is ever sealed under a
//!    key that is not on disk.
//! 2. Every sealed column is walked in batches, one transaction each. A value that already
//!    opens under the new key is skipped, so a second run picks up where the first stopped;
//!    each update is a compare-and-swap on the old ciphertext.
//! 3. One transaction stores the new check value and version and forgets the rotation; then
//!    the old key file is kept as `<key file>.v<N>.retired` and the new one takes its name.
//!    A run that finds the database finished but the files not swapped swaps them.
//!
//! The version is bound into every new value's associated data (see
//! [`MasterKey`](certkeeper_domain::sealing::MasterKey)), so a value copied from before the
//! rotation onto a rotated row does not open either.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use certkeeper_domain::ids::{ContainerId, SslCertificateId};
use certkeeper_domain::sealing::{MASTER_KEY_CHECK_AAD, MASTER_KEY_CHECK_PLAINTEXT, MasterKey};
use certkeeper_store::{Reseal, SealedCursor, SealedKind, SealedRow, Store};

use crate::CoreError;
use crate::masterkey::{CHECK_SETTING, ROTATION_SETTING, VERSION_SETTING, stored_version};

/// How a rotation runs.
#[derive(Debug, Clone, Copy)]
pub struct RotateOptions {
    /// Rows per transaction.
    pub batch_size: i64,
    /// Stop after this many batches, as if interrupted (tests prove a second run finishes).
    pub stop_after_batches: Option<usize>,
}

impl Default for RotateOptions {
    fn default() -> Self {
        Self {
            batch_size: 500,
            stop_after_batches: None,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationOutcome {
    /// Every secret is under the new key, which is now the key file.
    Done {
        version: u32,
        /// Values re-sealed by this run, per kind of secret.
        resealed: BTreeMap<&'static str, u64>,
        /// Values that were already under the new key (sealed by an earlier, interrupted run).
        already: u64,
        /// Every sealed value, read back under the new key at the end.
        verified: u64,
    },
    /// Stopped early (`stop_after_batches`); run again to finish.
    Interrupted { batches: usize },
}

/// `Some(value sealed under new)` for a value sealed under `old`; `None` when it already opens
/// under `new`. A value that opens under neither is an error: it is not this database's.
pub(crate) fn reseal(
    old: &MasterKey,
    new: &MasterKey,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Option<Vec<u8>>, CoreError> {
    if new.open(aad, sealed).is_ok() {
        return Ok(None);
    }
    let clear = old.open(aad, sealed).map_err(|e| {
        CoreError::Invalid(format!(
            "a value bound to {:?} opens under neither the current nor the new master key: {e}",
            String::from_utf8_lossy(aad)
        ))
    })?;
    new.seal(aad, &clear).map(Some).map_err(CoreError::internal)
}

/// For kinds whose binding changed between versions, the associated data rows written before
/// the change carry (notification channels were bound to their project, now to their rule).
fn legacy_aad(kind: SealedKind, row: &SealedRow) -> Option<String> {
    match kind {
        SealedKind::NotificationChannel => row
            .binding
            .parse::<i64>()
            .ok()
            .map(crate::notification_rules::legacy_channel_aad),
        _ => None,
    }
}

/// [`reseal`] for a row that may still carry its `legacy` binding: it comes out under `new`
/// bound to `aad`, whichever it had.
fn rebind(
    old: &MasterKey,
    new: &MasterKey,
    aad: &str,
    legacy: &str,
    sealed: &[u8],
) -> Result<Option<Vec<u8>>, CoreError> {
    if new.open(aad.as_bytes(), sealed).is_ok() {
        return Ok(None);
    }
    let clear = old
        .open(aad.as_bytes(), sealed)
        .or_else(|_| old.open(legacy.as_bytes(), sealed))
        .map_err(|e| {
            CoreError::Invalid(format!(
                "a value bound to {aad:?} opens under neither the current nor the new master key: {e}"
            ))
        })?;
    new.seal(aad.as_bytes(), &clear)
        .map(Some)
        .map_err(CoreError::internal)
}

/// The stored CA (`builtin_ca`'s value) with both keys re-sealed from `old` to `new`. `None`
/// when they already open under `new` (a resumed rotation).
pub(crate) fn reseal_ca(
    text: &[u8],
    old: &MasterKey,
    new: &MasterKey,
) -> Result<Option<Vec<u8>>, CoreError> {
    let mut stored: crate::issuance::StoredCa =
        serde_json::from_slice(text).map_err(|e| CoreError::internal(format!("stored CA: {e}")))?;
    let mut changed = false;
    for (field, aad) in [
        (&mut stored.root_key_sealed, crate::issuance::ROOT_AAD),
        (
            &mut stored.intermediate_key_sealed,
            crate::issuance::INTERMEDIATE_AAD,
        ),
    ] {
        let sealed = crate::issuance::b64()
            .decode(field.as_bytes())
            .map_err(|e| CoreError::internal(format!("stored CA: {e}")))?;
        if let Some(again) = reseal(old, new, aad, &sealed)? {
            *field = crate::issuance::b64().encode(again);
            changed = true;
        }
    }
    if !changed {
        return Ok(None);
    }
    serde_json::to_vec(&stored)
        .map(Some)
        .map_err(CoreError::internal)
}

/// The associated data a sealed row of `kind` is bound to.
fn aad_of(kind: SealedKind, row: &SealedRow) -> Result<String, CoreError> {
    let binding = row.binding.as_str();
    let container = || {
        binding
            .parse::<i64>()
            .map_err(|_| CoreError::internal(format!("sealed row bound to {binding:?}")))
    };
    Ok(match kind {
        SealedKind::CertificateKey => crate::inventory::key_aad(
            binding
                .parse::<SslCertificateId>()
                .map_err(|e| CoreError::internal(format!("ssl_certificate_id {binding:?}: {e}")))?,
        ),
        SealedKind::ValidationSettings => {
            crate::lifecycle::validation_aad(ContainerId(container()?))
        }
        SealedKind::NotificationChannel => match row.key {
            SealedCursor::Int(rule) => crate::notification_rules::channel_aad(rule),
            SealedCursor::Text(_) => {
                return Err(CoreError::internal(
                    "a notification rule without an integer id",
                ));
            }
        },
        SealedKind::EabKey => crate::acme_server::accounts::eab_aad(binding),
    })
}

fn next_path(key_path: &Path) -> PathBuf {
    let mut p = key_path.as_os_str().to_owned();
    p.push(".next");
    PathBuf::from(p)
}

fn retired_path(key_path: &Path, version: u32) -> PathBuf {
    let mut p = key_path.as_os_str().to_owned();
    p.push(format!(".v{version}.retired"));
    PathBuf::from(p)
}

fn read_key(path: &Path, version: u32) -> Result<MasterKey, CoreError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CoreError::Invalid(format!(
            "cannot read master key file {}: {e}",
            path.display()
        ))
    })?;
    MasterKey::from_hex(&text)
        .map(|k| k.with_version(version))
        .map_err(|e| CoreError::Invalid(format!("master key file {}: {e}", path.display())))
}

fn opens_check(key: &MasterKey, check: &[u8]) -> bool {
    key.open(MASTER_KEY_CHECK_AAD, check)
        .is_ok_and(|p| p.as_slice() == MASTER_KEY_CHECK_PLAINTEXT)
}

/// Writes a new key file, replacing an unused one a crashed run may have left.
fn write_key_file(path: &Path, key: &MasterKey) -> Result<(), CoreError> {
    let fail = |e: std::io::Error| {
        CoreError::Invalid(format!(
            "cannot write master key file {}: {e}",
            path.display()
        ))
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(fail)?;
    file.write_all(format!("{}\n", key.to_hex().as_str()).as_bytes())
        .map_err(fail)?;
    file.sync_all().map_err(fail)?;
    sync_dir(path)
}

fn sync_dir(path: &Path) -> Result<(), CoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| CoreError::Invalid(format!("cannot sync {}: {e}", dir.display())))?;
    }
    Ok(())
}

/// The new key takes the key file's name; the old one is kept beside it, retired.
fn swap_files(key_path: &Path, old_version: u32) -> Result<(), CoreError> {
    let retired = retired_path(key_path, old_version);
    let fail = |e: std::io::Error| CoreError::Invalid(format!("cannot swap master key files: {e}"));
    std::fs::rename(key_path, &retired).map_err(fail)?;
    std::fs::rename(next_path(key_path), key_path).map_err(fail)?;
    sync_dir(key_path)
}

/// Opens every sealed value of the database under `key`; returns how many there are. The
/// rotation ends with it, so "done" means every secret was read back under the new key.
pub async fn verify(store: &Store, key: &MasterKey) -> Result<u64, CoreError> {
    let mut opened = 0;
    fn fail(what: String) -> impl FnOnce(certkeeper_domain::sealing::SealError) -> CoreError {
        move |e| CoreError::Invalid(format!("{what} does not open under the master key: {e}"))
    }
    for kind in SealedKind::ALL {
        let mut cursor = None;
        loop {
            let rows = store.sealed_batch(kind, cursor.as_ref(), 500).await?;
            let Some(last) = rows.last() else { break };
            cursor = Some(last.key.clone());
            for row in &rows {
                let aad = aad_of(kind, row)?;
                key.open(aad.as_bytes(), &row.sealed).map_err(fail(format!(
                    "{} of {}",
                    kind.as_str(),
                    row.binding
                )))?;
                opened += 1;
            }
        }
    }
    if let Some(ca) = store.setting(crate::issuance::CA_SETTING).await? {
        // Re-sealing under the same key opens both and changes nothing.
        reseal_ca(&ca, key, key)?;
        opened += 2;
    }
    for name in store
        .setting_names(crate::acme::ACCOUNT_SETTING_PREFIX)
        .await?
    {
        if let Some(sealed) = store.setting(&name).await? {
            key.open(crate::acme::account_aad(&name).as_bytes(), &sealed)
                .map_err(fail(name.clone()))?;
            opened += 1;
        }
    }
    Ok(opened)
}

/// Rotates the master key of `store`, whose current key is in `key_path`; see the module
/// documentation for how an interrupted run is resumed.
pub async fn rotate(
    store: &Store,
    key_path: &Path,
    options: RotateOptions,
) -> Result<RotationOutcome, CoreError> {
    let version = stored_version(store).await?;
    let check = store.setting(CHECK_SETTING).await?.ok_or_else(|| {
        CoreError::Invalid(
            "this database has no master key yet; start certkeeper once first".into(),
        )
    })?;
    let next = next_path(key_path);
    let in_progress = store.setting(ROTATION_SETTING).await?;
    let old = read_key(key_path, version)?;
    let new = match in_progress {
        Some(_) => read_key(&next, version + 1).map_err(|e| {
            CoreError::Invalid(format!(
                "a rotation to key version {} is under way, but its new key cannot be read: {e}",
                version + 1
            ))
        })?,
        None => {
            if !opens_check(&old, &check) {
                // The database finished a rotation the files did not: finish the swap.
                if let Ok(newer) = read_key(&next, version)
                    && opens_check(&newer, &check)
                {
                    swap_files(key_path, version - 1)?;
                    return Ok(RotationOutcome::Done {
                        version,
                        resealed: BTreeMap::new(),
                        already: 0,
                        verified: verify(store, &newer).await?,
                    });
                }
                return Err(CoreError::Invalid(format!(
                    "the master key in {} is not the one this database uses",
                    key_path.display()
                )));
            }
            let new = MasterKey::generate()
                .map_err(CoreError::internal)?
                .with_version(version + 1);
            write_key_file(&next, &new)?;
            let to = (version + 1).to_string();
            store
                .put_settings(&[(ROTATION_SETTING, to.as_bytes())], &[])
                .await?;
            new
        }
    };

    let mut resealed = BTreeMap::new();
    let mut already = 0;
    let mut batches = 0;
    for kind in SealedKind::ALL {
        let mut cursor = None;
        loop {
            if options.stop_after_batches.is_some_and(|n| batches >= n) {
                return Ok(RotationOutcome::Interrupted { batches });
            }
            let rows = store
                .sealed_batch(kind, cursor.as_ref(), options.batch_size.max(1))
                .await?;
            let Some(last) = rows.last() else { break };
            cursor = Some(last.key.clone());
            let mut batch = Vec::new();
            for row in &rows {
                let aad = aad_of(kind, row)?;
                let resealed = match legacy_aad(kind, row) {
                    Some(legacy) => rebind(&old, &new, &aad, &legacy, &row.sealed)?,
                    None => reseal(&old, &new, aad.as_bytes(), &row.sealed)?,
                };
                match resealed {
                    Some(again) => batch.push(Reseal {
                        key: row.key.clone(),
                        old: row.sealed.clone(),
                        new: again,
                    }),
                    None => already += 1,
                }
            }
            let written = store.reseal(kind, &batch).await?;
            *resealed.entry(kind.as_str()).or_insert(0) += written;
            batches += 1;
        }
    }
    // The settings rows: the built-in CA's keys and the upstream ACME accounts.
    if let Some(ca) = store.setting(crate::issuance::CA_SETTING).await?
        && let Some(again) = reseal_ca(&ca, &old, &new)?
    {
        store
            .replace_setting(crate::issuance::CA_SETTING, &ca, &again)
            .await?;
        *resealed.entry("built-in CA keys").or_insert(0) += 2;
    }
    for name in store
        .setting_names(crate::acme::ACCOUNT_SETTING_PREFIX)
        .await?
    {
        let Some(sealed) = store.setting(&name).await? else {
            continue;
        };
        if let Some(again) = reseal(
            &old,
            &new,
            crate::acme::account_aad(&name).as_bytes(),
            &sealed,
        )? {
            store.replace_setting(&name, &sealed, &again).await?;
            *resealed.entry("ACME account keys").or_insert(0) += 1;
        }
    }

    let new_check = new
        .seal(MASTER_KEY_CHECK_AAD, MASTER_KEY_CHECK_PLAINTEXT)
        .map_err(CoreError::internal)?;
    let to = new.version().to_string();
    store
        .put_settings(
            &[
                (CHECK_SETTING, &new_check),
                (VERSION_SETTING, to.as_bytes()),
            ],
            &[ROTATION_SETTING],
        )
        .await?;
    swap_files(key_path, version)?;
    Ok(RotationOutcome::Done {
        version: new.version(),
        resealed,
        already,
        verified: verify(store, &new).await?,
    })
}

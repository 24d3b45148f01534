//! The master key file: created on first start, checked against the database on every start.

use std::io::Write;
use std::path::Path;

use certkeeper_domain::sealing::{MASTER_KEY_CHECK_AAD, MASTER_KEY_CHECK_PLAINTEXT, MasterKey};
use certkeeper_store::Store;

use crate::CoreError;

pub(crate) const CHECK_SETTING: &str = "master_key_check";
/// The master key's generation (absent: 1); `certkeeper keys rotate` counts it up.
pub(crate) const VERSION_SETTING: &str = "master_key_version";
/// Present while a rotation is under way: the version it moves to.
pub(crate) const ROTATION_SETTING: &str = "master_key_rotation";

/// The generation of the database's master key.
pub(crate) async fn stored_version(store: &Store) -> Result<u32, CoreError> {
    match store.setting(VERSION_SETTING).await? {
        None => Ok(1),
        Some(raw) => String::from_utf8_lossy(&raw)
            .trim()
            .parse()
            .map_err(|_| CoreError::internal("the stored master key version is not a number")),
    }
}

/// Loads the master key from `path`, creating it (mode 0600) when neither it nor any trace of
/// an earlier key exists, and proves it is the key this database was initialised with: a
/// value sealed under it on first start must open. A wrong key is an error here, at start-up,
/// rather than garbage later.
pub async fn load_or_create(store: &Store, path: &Path) -> Result<MasterKey, CoreError> {
    if store.setting(ROTATION_SETTING).await?.is_some() {
        return Err(CoreError::Invalid(
            "a master key rotation is under way; finish it with `certkeeper keys rotate` before starting the server"
                .into(),
        ));
    }
    let version = stored_version(store).await?;
    let check = store.setting(CHECK_SETTING).await?;
    let key = match std::fs::read_to_string(path) {
        Ok(text) => MasterKey::from_hex(&text)
            .map_err(|e| CoreError::Invalid(format!("master key file {}: {e}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if check.is_some() {
                return Err(CoreError::Invalid(format!(
                    "master key file {} does not exist, but this database was initialised with a master key; \
                     restore that file or point CERTKEEPER_MASTER_KEY_FILE at it",
                    path.display()
                )));
            }
            let key = MasterKey::generate().map_err(CoreError::internal)?;
            write_new_key_file(path, &key)?;
            key
        }
        Err(e) => {
            return Err(CoreError::Invalid(format!(
                "cannot read master key file {}: {e}",
                path.display()
            )));
        }
    };
    let check = match check {
        Some(c) => c,
        None => {
            let sealed = key
                .seal(MASTER_KEY_CHECK_AAD, MASTER_KEY_CHECK_PLAINTEXT)
                .map_err(CoreError::internal)?;
            store.put_setting_if_absent(CHECK_SETTING, &sealed).await?;
            // Another node may have won the race with its own key: check what is stored.
            store.setting(CHECK_SETTING).await?.unwrap_or(sealed)
        }
    };
    let key = key.with_version(version);
    match key.open(MASTER_KEY_CHECK_AAD, &check) {
        Ok(plain) if plain.as_slice() == MASTER_KEY_CHECK_PLAINTEXT => Ok(key),
        _ => Err(CoreError::Invalid(format!(
            "the master key in {} is not the one this database was initialised with; \
             every node sharing a database must use the same master key file",
            path.display()
        ))),
    }
}

fn write_new_key_file(path: &Path, key: &MasterKey) -> Result<(), CoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| CoreError::Invalid(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        CoreError::Invalid(format!(
            "cannot create master key file {}: {e}",
            path.display()
        ))
    })?;
    file.write_all(format!("{}\n", key.to_hex().as_str()).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| {
            CoreError::Invalid(format!(
                "cannot write master key file {}: {e}",
                path.display()
            ))
        })
}

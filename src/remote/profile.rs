//! The saved connection `certkeeper login` writes: `~/.config/certkeeper/config.toml`
//! (`$XDG_CONFIG_HOME` honoured), mode 0600 because it holds an API key. Flags win over
//! environment variables, which win over the profile.

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::client::RemoteError;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub server: Option<String>,
    pub api_key: Option<String>,
    pub ca_file: Option<PathBuf>,
    /// The project commands use when `--project` is not given.
    pub project: Option<String>,
}

/// Where the profile lives.
pub fn path() -> Result<PathBuf, RemoteError> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").ok_or_else(|| {
            RemoteError::local("cannot find the home directory (HOME is not set)")
        })?)
        .join(".config"),
    };
    Ok(base.join("certkeeper").join("config.toml"))
}

impl Profile {
    /// The saved profile; empty when there is none.
    pub fn load() -> Result<Self, RemoteError> {
        let path = path()?;
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| {
                RemoteError::local(format!(
                    "{} is not a valid profile: {e}; run `certkeeper login` again",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(RemoteError::local(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// Writes the profile, readable by its owner only.
    pub fn save(&self) -> Result<PathBuf, RemoteError> {
        let path = path()?;
        let fail =
            |e: std::io::Error| RemoteError::local(format!("cannot write {}: {e}", path.display()));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(fail)?;
            }
        }
        let text = toml::to_string(self)
            .map_err(|e| RemoteError::local(format!("cannot encode the profile: {e}")))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(fail)?;
        // An existing file keeps its mode on open: narrow it as well.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(fail)?;
        }
        file.write_all(text.as_bytes()).map_err(fail)?;
        Ok(path)
    }
}

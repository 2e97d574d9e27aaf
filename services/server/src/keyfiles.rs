//! Master keys and peppers: from configuration, or from key files next to the embedded database.
//!
//! A key file holds one base64 256-bit key per line, newest first; `#` starts a comment. It is
//! generated (mode 0600, with a warning that production should supply keys) only for the
//! embedded SQLite default on a database that holds no data yet. A missing, unreadable or
//! corrupt key file on a database that already holds data is a start-up error: a silently
//! regenerated key would orphan every secret stored under the old one.

use std::io::Write;
use std::path::{Path, PathBuf};

use latchkey_core::crypto::{KeyMaterial, KeySource, Keyring};
use secrecy::{ExposeSecret, SecretString};

/// Why keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file is missing where it must exist.
    #[error(
        "{what} file {path} is missing, but the database already holds data protected by it; restore the file or set {config_key} — a new key would make existing data unreadable"
    )]
    MissingWithData {
        /// "master-key" or "pepper".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The setting that supplies keys instead.
        config_key: &'static str,
    },
    /// The file is missing and cannot be generated (PostgreSQL deployments supply keys).
    #[error(
        "{what} file {path} is missing; on PostgreSQL, set {config_key} (generate a key with `latchkey keys generate`) — key files are generated only for the embedded SQLite default"
    )]
    MissingNotGenerated {
        /// "master-key" or "pepper".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The setting that supplies keys instead.
        config_key: &'static str,
    },
    /// The file could not be read or written.
    #[error("{what} file {path}: {message}")]
    Io {
        /// "master-key" or "pepper".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// A line of the file is not a valid key.
    #[error("{what} file {path}, line {line}: the key {message}")]
    Corrupt {
        /// "master-key" or "pepper".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// One kind of key list (master keys or peppers) and where it comes from.
#[derive(Debug, Clone)]
pub struct KeyList {
    /// "master-key" or "pepper".
    pub what: &'static str,
    /// The setting that supplies the keys by configuration.
    pub config_key: &'static str,
    /// The file used when nothing is configured.
    pub file: PathBuf,
}

/// Where a loaded key list came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// From configuration.
    Configured,
    /// From a file that already existed.
    File(PathBuf),
    /// From a file generated just now.
    Generated(PathBuf),
}

impl KeyList {
    /// Loads keys: configured ones if any, else the file, else (if allowed) a new file.
    pub fn load(
        &self,
        configured: &[SecretString],
        may_generate: bool,
        has_data: bool,
    ) -> Result<(Vec<KeyMaterial>, KeyOrigin), KeyFileError> {
        if !configured.is_empty() {
            // Already validated with the settings.
            let keys = configured
                .iter()
                .filter_map(|k| KeyMaterial::from_base64(k.expose_secret()).ok())
                .collect();
            return Ok((keys, KeyOrigin::Configured));
        }
        match std::fs::metadata(&self.file) {
            Ok(_) => Ok((self.read()?, KeyOrigin::File(self.file.clone()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if has_data {
                    Err(KeyFileError::MissingWithData {
                        what: self.what,
                        path: self.file.clone(),
                        config_key: self.config_key,
                    })
                } else if !may_generate {
                    Err(KeyFileError::MissingNotGenerated {
                        what: self.what,
                        path: self.file.clone(),
                        config_key: self.config_key,
                    })
                } else {
                    let key = KeyMaterial::generate();
                    match self.write(std::slice::from_ref(&key), true) {
                        Ok(()) => Ok((vec![key], KeyOrigin::Generated(self.file.clone()))),
                        // Another process generated it first: use that one.
                        Err(_) if self.file.exists() => {
                            Ok((self.read()?, KeyOrigin::File(self.file.clone())))
                        }
                        Err(e) => Err(e),
                    }
                }
            }
            Err(e) => Err(self.io(e)),
        }
    }

    /// Reads every key in the file, newest first.
    pub fn read(&self) -> Result<Vec<KeyMaterial>, KeyFileError> {
        let text = std::fs::read_to_string(&self.file).map_err(|e| self.io(e))?;
        let mut keys = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = KeyMaterial::from_base64(line).map_err(|e| KeyFileError::Corrupt {
                what: self.what,
                path: self.file.clone(),
                line: i + 1,
                message: e.to_string(),
            })?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(KeyFileError::Corrupt {
                what: self.what,
                path: self.file.clone(),
                line: 1,
                message: "file holds no key".to_owned(),
            });
        }
        Ok(keys)
    }

    /// Writes the list (newest first) with mode 0600: atomically, through a temporary file.
    pub fn write(&self, keys: &[KeyMaterial], create_new: bool) -> Result<(), KeyFileError> {
        if let Some(dir) = self.file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        let mut body = format!(
            "# Latchkey {} file: one base64 key per line, newest first. Keep it secret and back it up.\n",
            self.what
        );
        for k in keys {
            body.push_str(&k.to_base64());
            body.push('\n');
        }
        // A temporary name of this process's own, so concurrent writers never share it.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let tmp = self
            .file
            .with_extension(format!("{}.{nanos}.tmp", std::process::id()));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp).map_err(|e| self.io(e))?;
        f.write_all(body.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| self.io(e))?;
        let placed = if create_new {
            // A hard link fails if the file exists: of two processes generating a first key at
            // once, exactly one wins and the other reads the winner's key.
            std::fs::hard_link(&tmp, &self.file)
        } else {
            std::fs::rename(&tmp, &self.file)
        };
        let _ = std::fs::remove_file(&tmp);
        placed.map_err(|e| self.io(e))
    }

    fn io(&self, e: std::io::Error) -> KeyFileError {
        KeyFileError::Io {
            what: self.what,
            path: self.file.clone(),
            message: e.to_string(),
        }
    }

    /// Warns when the file can be read by anyone but its owner.
    pub fn check_permissions(&self) {
        #[cfg(unix)]
        if let Ok(meta) = std::fs::metadata(&self.file) {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(path = %self.file.display(), mode = format!("{mode:o}"), "{} file is readable by others; chmod 600 it", self.what);
            }
        }
    }
}

/// The master-key file as a reloadable source for the vault (rotation from another process).
pub struct FileKeySource(pub KeyList);

impl KeySource for FileKeySource {
    fn load(&self) -> Result<Keyring, String> {
        let keys = self.0.read().map_err(|e| e.to_string())?;
        Keyring::new(keys).ok_or_else(|| "no master key".to_owned())
    }
}

/// Resolves a path setting relative to nothing (as given) or the data directory.
pub fn default_in(data_dir: &Path, given: Option<&PathBuf>, name: &str) -> PathBuf {
    given.cloned().unwrap_or_else(|| data_dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(dir: &Path) -> KeyList {
        KeyList {
            what: "master-key",
            config_key: "encryption.master_keys",
            file: dir.join("master.key"),
        }
    }

    #[test]
    fn generates_once_with_mode_0600_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let l = list(dir.path());
        let (keys, origin) = l.load(&[], true, false).unwrap();
        assert_eq!(origin, KeyOrigin::Generated(l.file.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&l.file).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let (again, origin) = l.load(&[], true, true).unwrap();
        assert_eq!(origin, KeyOrigin::File(l.file.clone()));
        assert_eq!(again[0].fingerprint(), keys[0].fingerprint());
    }

    #[test]
    fn concurrent_first_starts_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let l = list(dir.path());
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || {
                    l.load(&[], true, false).unwrap().0[0]
                        .fingerprint()
                        .to_owned()
                })
            })
            .collect();
        let prints: std::collections::HashSet<String> =
            handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(
            prints.len(),
            1,
            "every process ends up with the one key in the file"
        );
        assert_eq!(
            l.read().unwrap()[0].fingerprint(),
            prints.iter().next().unwrap()
        );
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "tmp")
            })
            .count();
        assert_eq!(leftovers, 0, "no temporary files left behind");
    }

    #[test]
    fn never_regenerates_over_existing_data() {
        let dir = tempfile::tempdir().unwrap();
        let err = list(dir.path()).load(&[], true, true).unwrap_err();
        assert!(matches!(err, KeyFileError::MissingWithData { .. }), "{err}");
        assert!(!dir.path().join("master.key").exists());
        let err = list(dir.path()).load(&[], false, false).unwrap_err();
        assert!(
            matches!(err, KeyFileError::MissingNotGenerated { .. }),
            "{err}"
        );
    }

    #[test]
    fn corrupt_files_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let l = list(dir.path());
        std::fs::write(
            &l.file,
            format!(
                "# comment\n{}\nc2hvcnQ\n",
                KeyMaterial::generate().to_base64().as_str()
            ),
        )
        .unwrap();
        let err = l.load(&[], true, true).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("32 bytes"), "{err}");
        std::fs::write(&l.file, "# only a comment\n").unwrap();
        assert!(
            l.load(&[], true, true)
                .unwrap_err()
                .to_string()
                .contains("no key")
        );
    }
}

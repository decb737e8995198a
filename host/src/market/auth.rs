//! Registry credentials: what `spellhost login` saved, else the Docker
//! config (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`), else
//! the containers auth file skopeo and podman write
//! (`$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`).
//!
//! Credentials live only there: never in a lock file, a package or a log.
//! `spellhost login` writes the same `{"auths": {HOST: {"auth": base64}}}`
//! format, mode 0600, to `~/.config/spellhost/auth.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

/// Usernames and passwords by registry.
#[derive(Clone, Default)]
pub struct Credentials {
    by_registry: BTreeMap<String, (String, String)>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the passwords.
        f.debug_set().entries(self.by_registry.keys()).finish()
    }
}

#[derive(Default, Serialize, Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

#[derive(Default, Serialize, Deserialize)]
struct AuthEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth: Option<String>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

impl Credentials {
    pub fn none() -> Self {
        Self::default()
    }

    /// Credentials from every known file; earlier files win.
    pub fn load() -> Self {
        let mut credentials = Self::default();
        for path in search_path() {
            credentials.add_file(&path);
        }
        credentials
    }

    fn add_file(&mut self, path: &Path) {
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        let Ok(file) = serde_json::from_str::<AuthFile>(&text) else {
            tracing::warn!("ignoring {}: not a Docker-style auth file", path.display());
            return;
        };
        for (host, entry) in file.auths {
            let host = normalize(&host);
            let Some(pair) = entry.auth.as_deref().and_then(decode) else {
                continue;
            };
            self.by_registry.entry(host).or_insert(pair);
        }
    }

    /// Only `user`/`password` for `registry` (a login being checked).
    pub fn single(registry: &str, user: &str, password: &str) -> Self {
        let mut by_registry = BTreeMap::new();
        by_registry.insert(normalize(registry), (user.to_owned(), password.to_owned()));
        Self { by_registry }
    }

    /// The username and password for `registry`, if any (Docker Hub's
    /// names are one registry).
    pub fn for_registry(&self, registry: &str) -> Option<(&str, &str)> {
        let registry = normalize(registry);
        let hub = ["docker.io", "index.docker.io", "registry-1.docker.io"];
        let names: Vec<&str> = if hub.contains(&registry.as_str()) {
            hub.to_vec()
        } else {
            vec![registry.as_str()]
        };
        names
            .iter()
            .find_map(|name| self.by_registry.get(*name))
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }
}

/// Where `spellhost login` writes.
pub fn login_file() -> PathBuf {
    std::env::var_os("SPELLHOST_AUTH_FILE")
        .map(PathBuf::from)
        .or_else(|| dirs::config_dir().map(|d| d.join("spellhost/auth.json")))
        .unwrap_or_else(|| PathBuf::from(".spellhost-auth.json"))
}

fn search_path() -> Vec<PathBuf> {
    let mut files = vec![login_file()];
    let docker = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".docker")));
    if let Some(docker) = docker {
        files.push(docker.join("config.json"));
    }
    if let Some(file) = std::env::var_os("REGISTRY_AUTH_FILE") {
        files.push(PathBuf::from(file));
    }
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR") {
        files.push(PathBuf::from(runtime).join("containers/auth.json"));
    }
    files
}

/// Saves `user`/`password` for `registry` in the login file (0600).
pub fn save_login(registry: &str, user: &str, password: &str) -> anyhow::Result<PathBuf> {
    let path = login_file();
    let mut file: AuthFile = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is not an auth file", path.display()))?,
        Err(_) => AuthFile::default(),
    };
    file.auths.insert(
        normalize(registry),
        AuthEntry {
            auth: Some(BASE64.encode(format!("{user}:{password}"))),
            other: BTreeMap::new(),
        },
    );
    super::store::write_atomic(&path, &serde_json::to_vec_pretty(&file)?)?;
    Ok(path)
}

/// Forgets `registry` in the login file; whether it was there.
pub fn remove_login(registry: &str) -> anyhow::Result<bool> {
    let path = login_file();
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(false);
    };
    let mut file: AuthFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not an auth file", path.display()))?;
    let removed = file.auths.remove(&normalize(registry)).is_some();
    super::store::write_atomic(&path, &serde_json::to_vec_pretty(&file)?)?;
    Ok(removed)
}

/// `https://index.docker.io/v1/` and `host:port/` are keyed by `host:port`.
fn normalize(host: &str) -> String {
    let host = host
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    host.split('/').next().unwrap_or(host).to_ascii_lowercase()
}

fn decode(auth: &str) -> Option<(String, String)> {
    let text = String::from_utf8(BASE64.decode(auth.trim()).ok()?).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_entries_are_read_by_host() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"https://Reg.Example:5000/v2/":{"auth":"YWxpY2U6czNjcjN0"},"other":{}},"credsStore":"desktop"}"#,
        )
        .unwrap();
        let mut credentials = Credentials::none();
        credentials.add_file(&path);
        assert_eq!(
            credentials.for_registry("reg.example:5000"),
            Some(("alice", "s3cr3t"))
        );
        assert_eq!(credentials.for_registry("other"), None);
        assert!(!format!("{credentials:?}").contains("s3cr3t"));
    }
}

//! Credentials as users already have them, and the `WWW-Authenticate` challenge.
//!
//! Lookup order for a registry host, as podman does it: an explicit auth file (the
//! caller's `--authfile`), then `$REGISTRY_AUTH_FILE`, then the docker config
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`). The first file that exists
//! and knows the host wins. In a file: `credHelpers[host]`, then `auths[host]` (base64
//! `auth`, or `username`/`password`), then `credsStore`; a helper is the program
//! `docker-credential-NAME`, asked with `get` and the host on stdin.
//!
//! [`login`](super::Client::login) writes `auths[host].auth` into the same file it would
//! read first (atomic write, mode 0600), keeping every other key of the file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;

use super::error::RegistryError;

/// A user name and a password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password, token or identity token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    /// Never prints the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// The value of a `Basic` `Authorization` header.
    pub(crate) fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// The auth files strata reads, most important first: `explicit`, `$REGISTRY_AUTH_FILE`,
/// then the docker config.
pub fn auth_files(explicit: Option<&Path>) -> Vec<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let mut files: Vec<PathBuf> = explicit.map(Path::to_owned).into_iter().collect();
    files.extend(var("REGISTRY_AUTH_FILE").map(PathBuf::from));
    if let Some(dir) = var("DOCKER_CONFIG") {
        files.push(PathBuf::from(dir).join("config.json"));
    } else if let Some(home) = var("HOME") {
        files.push(PathBuf::from(home).join(".docker/config.json"));
    }
    files
}

/// The file `login` and `logout` write: the first of [`auth_files`].
pub fn default_auth_file(explicit: Option<&Path>) -> Result<PathBuf, RegistryError> {
    auth_files(explicit)
        .into_iter()
        .next()
        .ok_or(RegistryError::NoAuthFile)
}

/// The credentials for `host` from the first auth file that knows it; `None` means
/// anonymous.
pub fn credentials_for(
    host: &str,
    explicit: Option<&Path>,
) -> Result<Option<Credentials>, RegistryError> {
    for file in auth_files(explicit) {
        let config = match read_config(&file)? {
            Some(config) => config,
            None => continue,
        };
        if let Some(credentials) = from_config(&config, &file, host)? {
            return Ok(Some(credentials));
        }
    }
    Ok(None)
}

/// The keys a host may be stored under: `host`, `https://host`, `http://host`, and for
/// docker.io the legacy `https://index.docker.io/v1/`.
fn keys_for(host: &str) -> Vec<String> {
    let mut keys = vec![
        host.to_owned(),
        format!("https://{host}"),
        format!("http://{host}"),
    ];
    if matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    ) {
        keys.push("https://index.docker.io/v1/".into());
        keys.push("docker.io".into());
        keys.push("index.docker.io".into());
    }
    keys
}

fn from_config(
    config: &serde_json::Value,
    file: &Path,
    host: &str,
) -> Result<Option<Credentials>, RegistryError> {
    let keys = keys_for(host);
    let lookup = |section: &str| {
        keys.iter()
            .find_map(|k| config.get(section).and_then(|s| s.get(k.as_str())))
    };
    if let Some(helper) = lookup("credHelpers").and_then(|h| h.as_str()) {
        return run_helper(helper, host);
    }
    if let Some(entry) = lookup("auths") {
        if let Some(credentials) = decode_entry(entry, file, host)? {
            return Ok(Some(credentials));
        }
    }
    if let Some(store) = config.get("credsStore").and_then(|s| s.as_str()) {
        return run_helper(store, host);
    }
    Ok(None)
}

/// An `auths` entry: `auth` = base64(`user:password`), or `username` and `password`.
fn decode_entry(
    entry: &serde_json::Value,
    file: &Path,
    host: &str,
) -> Result<Option<Credentials>, RegistryError> {
    let text = |name: &str| entry.get(name).and_then(|v| v.as_str()).unwrap_or("");
    if !text("auth").is_empty() {
        let bad = |reason: &str| RegistryError::AuthFile {
            path: file.to_owned(),
            reason: format!("auths[{host:?}].auth: {reason}"),
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(text("auth").trim())
            .map_err(|_| bad("not base64"))?;
        let raw = String::from_utf8(raw).map_err(|_| bad("not UTF-8"))?;
        let (username, password) = raw
            .split_once(':')
            .ok_or_else(|| bad("not user:password"))?;
        return Ok(Some(Credentials {
            username: username.into(),
            password: password.into(),
        }));
    }
    if !text("username").is_empty() {
        return Ok(Some(Credentials {
            username: text("username").into(),
            password: text("password").into(),
        }));
    }
    Ok(None)
}

/// Asks `docker-credential-NAME get` for `host`. "Not found" answers mean no credentials.
fn run_helper(name: &str, host: &str) -> Result<Option<Credentials>, RegistryError> {
    run_helper_program(&format!("docker-credential-{name}"), host)
}

/// Runs the helper `program` (a name looked up in `PATH`, or a path) with `get`.
fn run_helper_program(program: &str, host: &str) -> Result<Option<Credentials>, RegistryError> {
    let failed = |reason: String| RegistryError::CredentialHelper {
        program: program.to_owned(),
        reason,
    };
    let mut child = Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(host.as_bytes())
            .map_err(|e| failed(e.to_string()))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let message = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
        if message.to_lowercase().contains("not found") {
            return Ok(None);
        }
        return Err(failed(format!("{}: {}", output.status, message.trim())));
    }
    let answer: serde_json::Value =
        serde_json::from_str(&stdout).map_err(|e| failed(format!("bad answer: {e}")))?;
    let field = |name: &str| answer.get(name).and_then(|v| v.as_str()).unwrap_or("");
    if field("Secret").is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials {
        username: field("Username").into(),
        password: field("Secret").into(),
    }))
}

/// The JSON of an auth file, `None` when it does not exist.
fn read_config(path: &Path) -> Result<Option<serde_json::Value>, RegistryError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| RegistryError::AuthFile {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(RegistryError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Sets (`Some`) or removes (`None`) `auths[host]` in `file`, keeping everything else.
/// Returns whether an entry for `host` was there before.
pub(crate) fn update_auth_file(
    file: &Path,
    host: &str,
    credentials: Option<&Credentials>,
) -> Result<bool, RegistryError> {
    let mut config = read_config(file)?.unwrap_or_else(|| serde_json::json!({}));
    let bad = || RegistryError::AuthFile {
        path: file.to_owned(),
        reason: "not a JSON object with an \"auths\" object".into(),
    };
    let root = config.as_object_mut().ok_or_else(bad)?;
    let auths = root
        .entry("auths")
        .or_insert_with(|| serde_json::json!({}))
        .as_object_mut()
        .ok_or_else(bad)?;
    let keys = keys_for(host);
    let existed = keys.iter().any(|k| auths.contains_key(k));
    match credentials {
        Some(credentials) => {
            let raw = format!("{}:{}", credentials.username, credentials.password);
            let auth = base64::engine::general_purpose::STANDARD.encode(raw);
            auths.insert(host.to_owned(), serde_json::json!({ "auth": auth }));
        }
        None => auths.retain(|k, _| !keys.contains(k)),
    }
    let bytes = serde_json::to_vec_pretty(&config).map_err(|e| RegistryError::AuthFile {
        path: file.to_owned(),
        reason: e.to_string(),
    })?;
    write_private(file, &bytes)?;
    Ok(existed)
}

/// Writes `bytes` to `path` through a temp file in the same directory (mode 0600),
/// renamed into place, so a reader never sees half a file.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| RegistryError::Io { path, source }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(path)(e));
    }
    Ok(())
}

/// A parsed `WWW-Authenticate` header. Public so the fuzz target (fuzz/) can reach the
/// parser of this registry-controlled text without a network round trip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm=...`: send the credentials with every request.
    Basic,
    /// `Bearer realm=...,service=...,scope=...`: get a token from `realm`.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The `service` parameter, when given.
        service: Option<String>,
        /// The `scope` parameter, when given.
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parses the header; `None` for schemes strata does not speak.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
        let params = parse_params(params);
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        if scheme.eq_ignore_ascii_case("basic") {
            Some(Challenge::Basic)
        } else if scheme.eq_ignore_ascii_case("bearer") {
            Some(Challenge::Bearer {
                realm: param("realm")?,
                service: param("service"),
                scope: param("scope"),
            })
        } else {
            None
        }
    }
}

/// `k=v, k="quoted, with \"escapes\""` pairs.
fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            return params;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                value.push(c);
            }
        }
        params.push((key.trim().to_owned(), value.trim().to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_parsed() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: Some("registry.example.com".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
    }

    #[test]
    fn auths_entries_decode_both_forms() {
        let file = Path::new("config.json");
        let config = serde_json::json!({"auths": {
            "a.example": {"auth": "dXNlcjpwYTpzcw=="},
            "https://b.example": {"username": "u", "password": "p"},
            "c.example": {}
        }});
        let a = from_config(&config, file, "a.example").unwrap().unwrap();
        assert_eq!(
            (a.username.as_str(), a.password.as_str()),
            ("user", "pa:ss")
        );
        let b = from_config(&config, file, "b.example").unwrap().unwrap();
        assert_eq!((b.username.as_str(), b.password.as_str()), ("u", "p"));
        assert_eq!(from_config(&config, file, "c.example").unwrap(), None);
        let bad = serde_json::json!({"auths": {"a.example": {"auth": "!!"}}});
        let err = from_config(&bad, file, "a.example").unwrap_err();
        assert!(err.to_string().contains("config.json"), "{err}");
    }

    #[test]
    fn helpers_answer_for_their_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-strata-test");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread host\n[ \"$host\" = h.example ] || { echo 'credentials not found in native keychain'; exit 1; }\necho '{\"ServerURL\":\"h.example\",\"Username\":\"hu\",\"Secret\":\"hs\"}'\n",
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let helper = helper.to_str().unwrap();
        let found = run_helper_program(helper, "h.example").unwrap().unwrap();
        assert_eq!(
            (found.username.as_str(), found.password.as_str()),
            ("hu", "hs")
        );
        assert_eq!(run_helper_program(helper, "other.example").unwrap(), None);
        let err = run_helper("strata-missing-helper", "h.example").unwrap_err();
        assert!(
            err.to_string()
                .contains("docker-credential-strata-missing-helper"),
            "{err}"
        );
    }

    #[test]
    fn login_entries_are_added_and_removed_keeping_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/auth.json");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, r#"{"auths":{},"credHelpers":{"x":"y"}}"#).unwrap();
        let credentials = Credentials {
            username: "u".into(),
            password: "p".into(),
        };
        assert!(!update_auth_file(&file, "h:5000", Some(&credentials)).unwrap());
        let config = read_config(&file).unwrap().unwrap();
        assert_eq!(config["auths"]["h:5000"]["auth"], "dTpw");
        assert_eq!(config["credHelpers"]["x"], "y");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(update_auth_file(&file, "h:5000", None).unwrap());
        let config = read_config(&file).unwrap().unwrap();
        assert!(config["auths"].as_object().unwrap().is_empty());
    }
}

//! The `RUN --mount=...` flag: its CSV value parsed into a [`MountRequest`] and checked,
//! as BuildKit's Dockerfile frontend reads it. What a request mounts is resolved by the
//! builder (`crate::builder::mounts`).

use std::path::Path;

/// The kind of a `--mount`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MountType {
    /// `type=bind` (the default).
    Bind,
    /// `type=cache`.
    Cache,
    /// `type=tmpfs`.
    Tmpfs,
    /// `type=secret`.
    Secret,
    /// `type=ssh`.
    Ssh,
}

/// `sharing=` of a cache mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    /// Concurrent builds use the same directory at once.
    Shared,
    /// A second concurrent user gets its own, temporary directory.
    Private,
    /// Concurrent users wait for each other.
    Locked,
}

/// One `--mount=...` value, parsed and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountRequest {
    /// `type=`.
    pub kind: MountType,
    /// `target=` (`dst`, `destination`); defaulted for secret and ssh.
    pub target: String,
    /// `source=` (`src`): a path in the `from` root (bind, cache).
    pub source: Option<String>,
    /// `from=`: a stage or image.
    pub from: Option<String>,
    /// `id=`: cache id, secret id or ssh id.
    pub id: String,
    /// Read-only (bind's default; `readonly`/`ro` for cache).
    pub readonly: bool,
    /// `sharing=` of a cache.
    pub sharing: Sharing,
    /// `mode=` (octal) for a new cache dir or a secret file.
    pub mode: Option<u32>,
    /// `uid=` for a new cache dir or a secret file.
    pub uid: Option<u32>,
    /// `gid=` for a new cache dir or a secret file.
    pub gid: Option<u32>,
    /// `size=` of a tmpfs, in bytes.
    pub size: Option<u64>,
    /// `env=`: a secret also (or only) exposed as this variable.
    pub env: Option<String>,
    /// `required`: a missing secret or ssh agent is an error instead of no mount.
    pub required: bool,
}

/// Checks the raw (unexpanded) value of a `--mount` flag for what BuildKit rejects before
/// any expansion: a `$` in `from=` (other than as its last character), since the stages a
/// step needs are fixed before ARG values are known.
pub fn check_raw(value: &str) -> Result<(), String> {
    for field in split_csv(value)? {
        if let Some((key, from)) = field.split_once('=') {
            let dollar = from.find('$');
            if key.trim().eq_ignore_ascii_case("from")
                && dollar.is_some_and(|at| at + 1 != from.len())
            {
                return Err(
                    "'from' doesn't support variable expansion, define alias stage instead".into(),
                );
            }
        }
    }
    Ok(())
}

/// Parses the (already expanded) value of one `--mount` flag. Errors name the option.
pub fn parse(value: &str) -> Result<MountRequest, String> {
    let mut fields: Vec<(String, Option<String>)> = Vec::new();
    for field in split_csv(value)? {
        match field.split_once('=') {
            Some((k, v)) => fields.push((k.trim().to_ascii_lowercase(), Some(v.to_owned()))),
            None => fields.push((field.trim().to_ascii_lowercase(), None)),
        }
    }
    let kind = match fields
        .iter()
        .find(|(k, _)| k == "type")
        .map(|(_, v)| v.as_deref().unwrap_or(""))
    {
        None | Some("bind") => MountType::Bind,
        Some("cache") => MountType::Cache,
        Some("tmpfs") => MountType::Tmpfs,
        Some("secret") => MountType::Secret,
        Some("ssh") => MountType::Ssh,
        Some(other) => {
            return Err(format!(
                "unknown mount type {other:?} (expected bind, cache, tmpfs, secret or ssh)"
            ))
        }
    };
    let mut req = MountRequest {
        kind,
        target: String::new(),
        source: None,
        from: None,
        id: String::new(),
        readonly: kind == MountType::Bind,
        sharing: Sharing::Shared,
        mode: None,
        uid: None,
        gid: None,
        size: None,
        env: None,
        required: false,
    };
    for (key, value) in &fields {
        let need = |what: &str| -> Result<String, String> {
            value
                .clone()
                .ok_or_else(|| format!("mount option {key:?} needs a value ({key}={what})"))
        };
        let flag = |default: bool| -> Result<bool, String> {
            match value.as_deref() {
                None => Ok(default),
                Some("true" | "1") => Ok(true),
                Some("false" | "0") => Ok(false),
                Some(v) => Err(format!("mount option {key}={v}: expected true or false")),
            }
        };
        match key.as_str() {
            "type" => {}
            "target" | "dst" | "destination" => req.target = need("PATH")?,
            "source" | "src" => req.source = Some(need("PATH")?),
            "from" => req.from = Some(need("STAGE")?),
            "id" => req.id = need("ID")?,
            "readonly" | "ro" => req.readonly = flag(true)?,
            "rw" | "readwrite" => req.readonly = !flag(true)?,
            "sharing" => {
                req.sharing = match need("shared|private|locked")?.as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    other => {
                        return Err(format!(
                            "mount option sharing={other}: expected shared, private or locked"
                        ))
                    }
                }
            }
            "mode" => {
                let v = need("OCTAL")?;
                req.mode = Some(
                    u32::from_str_radix(&v, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or_else(|| format!("mount option mode={v}: expected an octal mode"))?,
                );
            }
            "uid" | "gid" => {
                let v = need("NUMBER")?;
                let n = v
                    .parse::<u32>()
                    .map_err(|_| format!("mount option {key}={v}: expected a number"))?;
                if key == "uid" {
                    req.uid = Some(n);
                } else {
                    req.gid = Some(n);
                }
            }
            "size" | "tmpfs-size" => req.size = Some(parse_size(&need("BYTES")?)?),
            "env" => req.env = Some(need("VAR")?),
            "required" => req.required = flag(true)?,
            other => return Err(format!("unknown mount option {other:?}")),
        }
    }
    let allowed: &[&str] = match kind {
        MountType::Bind => &[
            "type",
            "target",
            "dst",
            "destination",
            "source",
            "src",
            "from",
            "readonly",
            "ro",
            "rw",
            "readwrite",
        ],
        MountType::Cache => &[
            "type",
            "target",
            "dst",
            "destination",
            "source",
            "src",
            "from",
            "id",
            "readonly",
            "ro",
            "rw",
            "readwrite",
            "sharing",
            "mode",
            "uid",
            "gid",
        ],
        MountType::Tmpfs => &["type", "target", "dst", "destination", "size", "tmpfs-size"],
        MountType::Secret => &[
            "type",
            "target",
            "dst",
            "destination",
            "id",
            "env",
            "required",
            "mode",
            "uid",
            "gid",
        ],
        MountType::Ssh => &[
            "type",
            "target",
            "dst",
            "destination",
            "id",
            "required",
            "mode",
            "uid",
            "gid",
        ],
    };
    if let Some((key, _)) = fields.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "mount option {key:?} does not apply to type={}",
            type_name(kind)
        ));
    }
    match kind {
        MountType::Secret => {
            if req.id.is_empty() {
                req.id = Path::new(&req.target)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .ok_or("a secret mount needs id= (or a target to take it from)")?;
            }
            if req.target.is_empty() && req.env.is_none() {
                req.target = format!("/run/secrets/{}", req.id);
            }
            req.readonly = true;
        }
        MountType::Ssh => {
            if req.id.is_empty() {
                req.id = "default".into();
            }
            if req.target.is_empty() {
                req.target = "/run/buildkit/ssh_agent.0".into();
            }
        }
        _ if req.target.is_empty() => {
            return Err(format!("a {} mount needs target=PATH", type_name(kind)));
        }
        MountType::Cache if req.id.is_empty() => req.id = req.target.clone(),
        _ => {}
    }
    Ok(req)
}

fn type_name(kind: MountType) -> &'static str {
    match kind {
        MountType::Bind => "bind",
        MountType::Cache => "cache",
        MountType::Tmpfs => "tmpfs",
        MountType::Secret => "secret",
        MountType::Ssh => "ssh",
    }
}

/// Splits a CSV record as BuildKit reads `--mount` values (and buildx its `--output`,
/// `--cache-to`, `--secret` values): commas separate fields, double quotes protect
/// commas and `""` is a literal quote.
pub(crate) fn split_csv(value: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = value.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    if quoted {
        return Err(format!("unterminated quote in {value:?}"));
    }
    fields.push(field);
    Ok(fields.into_iter().filter(|f| !f.is_empty()).collect())
}

/// `64m`, `1g`, `4096`: a size in bytes (binary units, as docker's RAMInBytes); the
/// error names no option, for the caller to add.
pub(crate) fn size_in_bytes(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let trimmed = lower.trim_end_matches('b').trim_end_matches('i');
    let (digits, scale) = match trimmed.chars().last() {
        Some('k') => (&trimmed[..trimmed.len() - 1], 1u64 << 10),
        Some('m') => (&trimmed[..trimmed.len() - 1], 1 << 20),
        Some('g') => (&trimmed[..trimmed.len() - 1], 1 << 30),
        Some('t') => (&trimmed[..trimmed.len() - 1], 1 << 40),
        _ => (trimmed, 1),
    };
    digits
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| *n >= 0.0)
        .map(|n| (n * scale as f64) as u64)
        .ok_or_else(|| format!("{text:?} is not a size such as 64m"))
}

/// A `--mount` size option.
fn parse_size(text: &str) -> Result<u64, String> {
    size_in_bytes(text).map_err(|e| format!("mount option size={text}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_mount_defaults_id_to_target() {
        let m = parse("type=cache,target=/var/cache/apt,sharing=locked").unwrap();
        assert_eq!(m.kind, MountType::Cache);
        assert_eq!(m.id, "/var/cache/apt");
        assert_eq!(m.sharing, Sharing::Locked);
        assert!(!m.readonly);
    }

    #[test]
    fn bind_is_read_only_unless_rw() {
        assert!(parse("target=/src").unwrap().readonly);
        assert!(!parse("type=bind,target=/src,rw").unwrap().readonly);
        assert!(
            !parse("type=bind,target=/src,readwrite=true")
                .unwrap()
                .readonly
        );
    }

    #[test]
    fn secret_defaults_target_from_id() {
        let m = parse("type=secret,id=token").unwrap();
        assert_eq!(m.target, "/run/secrets/token");
        let env_only = parse("type=secret,id=token,env=TOKEN").unwrap();
        assert_eq!(env_only.target, "");
        assert_eq!(env_only.env.as_deref(), Some("TOKEN"));
    }

    #[test]
    fn errors_name_the_option() {
        assert!(parse("type=nope,target=/x")
            .unwrap_err()
            .contains("\"nope\""));
        assert!(parse("type=cache,target=/x,colour=red")
            .unwrap_err()
            .contains("\"colour\""));
        assert!(parse("type=cache").unwrap_err().contains("target"));
        assert!(parse("type=tmpfs,target=/x,sharing=locked")
            .unwrap_err()
            .contains("\"sharing\""));
        assert!(parse("type=cache,target=/x,mode=999")
            .unwrap_err()
            .contains("mode=999"));
    }

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(
            parse("type=tmpfs,target=/t,size=64m").unwrap().size,
            Some(64 << 20)
        );
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn quoted_fields_keep_commas() {
        assert_eq!(
            split_csv(r#"type=bind,"source=a,b",target=/x"#).unwrap(),
            ["type=bind", "source=a,b", "target=/x"]
        );
    }
}

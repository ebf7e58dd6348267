//! registries.conf (containers-registries.conf(5), the file podman, buildah and skopeo
//! read) -> [`RegistriesConf`]: per name prefix, where images are really pulled from
//! (`location`, `[[registry.mirror]]`), whether a registry is `blocked` or `insecure`,
//! and the `unqualified-search-registries` that short names are looked up in.
//!
//! Which files, as containers/image picks them ([`ConfFiles`]): an explicit file
//! (`--registries-conf`, `$CONTAINERS_REGISTRIES_CONF`) with the drop-ins of `FILE.d/`;
//! else the user's `$XDG_CONFIG_HOME/containers/registries.conf` (default
//! `~/.config/...`) with its `registries.conf.d/` if the file exists; else
//! `/etc/containers/registries.conf` (missing is fine) with
//! `/etc/containers/registries.conf.d/` and then the user's `registries.conf.d/`.
//! Drop-ins (`*.conf`, in name order, v2 format only) replace the `[[registry]]` of the
//! same prefix and, when they set it, the search list. containers/image reads the system
//! and user drop-in directories beside an explicit file too; strata reads only that
//! file's own, so that an explicit file means what it says (tests, CI).
//!
//! The v2 format is read, and the v1 format (`[registries.search]`, `.insecure`,
//! `.block`) converted as containers/image converts it. `[aliases]`,
//! `credential-helpers` and other keys are ignored; `short-name-mode` is checked but
//! always acts as `permissive` (every search registry is tried in order, no prompt).
//! Errors name the file, line and column.
//!
//! [`RegistriesConf::pull_sources`] turns a name into the references to try, in order:
//! the `--registry-mirror`s (docker.io only, as dockerd's), the mirrors of the
//! `[[registry]]` with the longest matching prefix, then its `location`; the image keeps
//! its logical name whichever served it.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::dockerfile::Source;

use super::error::RegistryError;
use super::options::ConfFiles;
use super::reference::{api_host, Reference, DOCKER_HUB};

/// The system-wide file.
const SYSTEM_FILE: &str = "/etc/containers/registries.conf";

/// When a mirror is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullFrom {
    /// For every pull (the default).
    All,
    /// Only for pulls by digest (`pull-from-mirror = "digest-only"`, or the registry's
    /// `mirror-by-digest-only`): a tag may point elsewhere on a stale mirror.
    DigestOnly,
    /// Only for pulls by tag (`"tag-only"`).
    TagOnly,
}

/// A place images are pulled from: a registry's `location` or one of its mirrors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port][/path]` (empty: a wildcard prefix's, which rewrites nothing).
    pub location: String,
    /// Plain HTTP and unverified TLS are allowed.
    pub insecure: bool,
    /// When it is used (mirrors only).
    pub pull_from: PullFrom,
}

/// One `[[registry]]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryEntry {
    /// The names it applies to: `host[:port][/path]`, or `*.domain` for subdomains.
    pub prefix: String,
    /// Where names under the prefix really are.
    pub location: Endpoint,
    /// Pulls (and pushes) of these names are refused.
    pub blocked: bool,
    /// Mirrors, tried in order before the location.
    pub mirrors: Vec<Endpoint>,
    /// `file:line` of the table, for messages.
    pub origin: String,
}

/// One place a pull tries: the reference asked there and whether it is a mirror.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullSource {
    /// The physical reference (`127.0.0.1:5000/library/debian:bookworm`).
    pub reference: Reference,
    /// A mirror (else the registry's location, or the name itself).
    pub mirror: bool,
}

/// The registries configuration: every file merged, plus the `--registry-mirror`s.
#[derive(Clone, Debug, Default)]
pub struct RegistriesConf {
    /// The files read: the main file first, then the drop-ins in order.
    pub files: Vec<PathBuf>,
    /// Where the main file was looked for (when a search found none).
    looked: Vec<PathBuf>,
    /// One entry per prefix, sorted by prefix.
    registries: Vec<RegistryEntry>,
    /// `unqualified-search-registries` (`None`: not set anywhere, docker.io).
    search: Option<Vec<String>>,
    /// docker.io's mirrors from the command line, tried first.
    docker_mirrors: Vec<Endpoint>,
}

/// What one file says.
#[derive(Default)]
struct Parsed {
    registries: Vec<RegistryEntry>,
    search: Option<Vec<String>>,
}

impl RegistriesConf {
    /// Reads `files` and adds `docker_mirrors` (`[http[s]://]host[:port][/path]`).
    pub fn load(files: &ConfFiles, docker_mirrors: &[String]) -> Result<Self, RegistryError> {
        let mut conf = RegistriesConf {
            docker_mirrors: docker_mirrors
                .iter()
                .map(|m| docker_mirror(m))
                .collect::<Result<_, _>>()?,
            ..RegistriesConf::default()
        };
        let (main, dirs) = match files {
            ConfFiles::Builtin => return Ok(conf),
            ConfFiles::File(path) => (path.clone(), vec![drop_in_dir(path)]),
            ConfFiles::System => system_files(&user_config_dir()),
        };
        match std::fs::read_to_string(&main) {
            Ok(text) => {
                conf.merge(parse(&main, &text, false)?);
                conf.files.push(main);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && *files == ConfFiles::System => {
                conf.looked.push(main);
            }
            Err(source) => return Err(RegistryError::ConfRead { path: main, source }),
        }
        for dir in dirs {
            for path in drop_ins(&dir)? {
                let text =
                    std::fs::read_to_string(&path).map_err(|source| RegistryError::ConfRead {
                        path: path.clone(),
                        source,
                    })?;
                conf.merge(parse(&path, &text, true)?);
                conf.files.push(path);
            }
        }
        Ok(conf)
    }

    /// Takes what a later file says: its `[[registry]]` tables replace those of the same
    /// prefix, its search list (when set) the earlier one.
    fn merge(&mut self, parsed: Parsed) {
        for entry in parsed.registries {
            self.registries.retain(|r| r.prefix != entry.prefix);
            self.registries.push(entry);
        }
        self.registries.sort_by(|a, b| a.prefix.cmp(&b.prefix));
        if parsed.search.is_some() {
            self.search = parsed.search;
        }
    }

    /// The names a pull of `reference` tries: itself, or for a short name the name in
    /// each unqualified-search registry, in order (docker.io when none is configured).
    pub fn candidates(&self, reference: &Reference) -> Vec<Reference> {
        if reference.short.is_none() {
            return vec![reference.clone()];
        }
        match &self.search {
            Some(registries) => registries
                .iter()
                .map(|r| reference.qualified_in(r))
                .collect(),
            None => vec![reference.qualified_in(DOCKER_HUB)],
        }
    }

    /// The file that set an empty search list, for the error of a short name.
    pub fn search_is_empty(&self) -> bool {
        self.search.as_ref().is_some_and(Vec::is_empty)
    }

    /// The `[[registry]]` whose prefix is the longest match of `name`
    /// (`host/repo[:tag][@digest]`), and the length of `name` it matched.
    fn find(&self, name: &str) -> Option<(&RegistryEntry, usize)> {
        self.registries
            .iter()
            .filter_map(|r| matching_prefix(name, &r.prefix).map(|len| (r, len)))
            .max_by_key(|(r, _)| r.prefix.len())
    }

    /// Where to pull `logical` (a qualified name) from, in order: the command line's
    /// docker.io mirrors, the matching `[[registry]]`'s mirrors that apply to this pull
    /// (by digest or by tag), then its location (or the name itself). Refused when the
    /// matching table says `blocked`.
    pub fn pull_sources(&self, logical: &Reference) -> Result<Vec<PullSource>, RegistryError> {
        let name = logical.to_string();
        let found = self.find(&name);
        if let Some((entry, _)) = found.filter(|(e, _)| e.blocked) {
            return Err(blocked(&name, entry));
        }
        let by_digest = logical.digest.is_some();
        let mut sources = Vec::new();
        if logical.registry == DOCKER_HUB {
            for mirror in &self.docker_mirrors {
                sources.push(PullSource {
                    reference: rewrite(&mirror.location, &name, DOCKER_HUB.len()),
                    mirror: true,
                });
            }
        }
        let Some((entry, matched)) = found else {
            sources.push(PullSource {
                reference: logical.clone(),
                mirror: false,
            });
            return Ok(sources);
        };
        let wanted = |m: &&Endpoint| match m.pull_from {
            PullFrom::All => true,
            PullFrom::DigestOnly => by_digest,
            PullFrom::TagOnly => !by_digest,
        };
        for mirror in entry.mirrors.iter().filter(wanted) {
            sources.push(PullSource {
                reference: rewrite(&mirror.location, &name, matched),
                mirror: true,
            });
        }
        sources.push(PullSource {
            reference: if entry.location.location.is_empty() {
                logical.clone()
            } else {
                rewrite(&entry.location.location, &name, matched)
            },
            mirror: false,
        });
        Ok(sources)
    }

    /// Refuses a push to a `blocked` name. A push goes to the name as written: mirrors
    /// and `location` are for pulls only (containers-registries.conf(5)).
    pub fn check_push(&self, destination: &Reference) -> Result<(), RegistryError> {
        let name = destination.to_string();
        match self.find(&name) {
            Some((entry, _)) if entry.blocked => Err(blocked(&name, entry)),
            _ => Ok(()),
        }
    }

    /// Whether requests to `host` (an API host, `host[:port]`) may be plain HTTP or skip
    /// TLS verification: an `insecure` location or mirror on that host, or an `insecure`
    /// `[[registry]]` whose prefix matches the host.
    pub fn insecure(&self, host: &str) -> bool {
        let on_host = |e: &Endpoint| {
            e.insecure && !e.location.is_empty() && api_host(host_of(&e.location)) == host
        };
        self.docker_mirrors.iter().any(on_host)
            || self
                .registries
                .iter()
                .any(|r| on_host(&r.location) || r.mirrors.iter().any(on_host))
            || self.find(host).is_some_and(|(r, _)| r.location.insecure)
    }

    /// Whether any endpoint is `insecure` (the client then keeps an unverifying agent).
    pub fn any_insecure(&self) -> bool {
        self.docker_mirrors.iter().any(|m| m.insecure)
            || self
                .registries
                .iter()
                .any(|r| r.location.insecure || r.mirrors.iter().any(|m| m.insecure))
    }

    /// How to make pulls of `registry` go through a mirror, naming the file read (or
    /// where none was found).
    pub fn mirror_hint(&self, registry: &str) -> String {
        let flag = if registry == DOCKER_HUB {
            "pass --registry-mirror HOST[:PORT] (a mirror of docker.io, like dockerd's registry-mirrors), or "
        } else {
            ""
        };
        let table = format!("[[registry.mirror]] location = \"HOST[:PORT]\" to the [[registry]] prefix = \"{registry}\"");
        match (self.files.first(), self.looked.as_slice()) {
            (Some(file), _) => format!("{flag}add a {table} in {}", file.display()),
            (None, []) => {
                format!("{flag}add a {table} in a registries.conf passed with --registries-conf")
            }
            (None, looked) => format!(
                "{flag}add a {table} in a registries.conf (none found at {})",
                looked
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// The refusal of a blocked name.
fn blocked(name: &str, entry: &RegistryEntry) -> RegistryError {
    RegistryError::Blocked {
        reference: name.to_owned(),
        prefix: entry.prefix.clone(),
        origin: entry.origin.clone(),
    }
}

/// `name` with its first `matched` bytes replaced by `location`. Locations are checked
/// to start with a registry host when read, so the result is a qualified reference.
fn rewrite(location: &str, name: &str, matched: usize) -> Reference {
    let physical = format!("{location}{}", &name[matched..]);
    Reference::parse(&physical)
        .map(|r| Reference { short: None, ..r })
        .unwrap_or_else(|_| panic!("checked location {location:?} made {physical:?}"))
}

/// The length of `name` that `prefix` matches, if it does: `host[:port][/path]` at a
/// component boundary (a `:tag` or `@digest` may follow a prefix with a path; a port may
/// not follow a bare host, unlike containers/image's admitted bug), or `*.domain`
/// matching any subdomain of the name's host.
fn matching_prefix(name: &str, prefix: &str) -> Option<usize> {
    if let Some(domain) = prefix.strip_prefix('*') {
        let at = name.find(domain)?;
        let end = at + domain.len();
        let host_part = !name[..at].contains('/');
        let boundary = end == name.len() || name[end..].starts_with([':', '/', '@']);
        return (host_part && boundary).then_some(end);
    }
    let rest = name.strip_prefix(prefix)?;
    let separators: &[char] = if prefix.contains('/') {
        &['/', ':', '@']
    } else {
        &['/']
    };
    (rest.is_empty() || rest.starts_with(separators)).then_some(prefix.len())
}

/// The host part of a location (`host[:port]` before the first `/`).
fn host_of(location: &str) -> &str {
    location.split('/').next().unwrap_or_default()
}

/// `FILE.d`: the drop-in directory of a registries.conf (`registries.conf.d`).
fn drop_in_dir(file: &Path) -> PathBuf {
    let mut dir = file.as_os_str().to_owned();
    dir.push(".d");
    PathBuf::from(dir)
}

/// The user's configuration directory: `$XDG_CONFIG_HOME`, else `$HOME/.config`.
fn user_config_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))
}

/// The main file and the drop-in directories of the default search, for the user
/// configuration directory `config`.
fn system_files(config: &Option<PathBuf>) -> (PathBuf, Vec<PathBuf>) {
    let user = config
        .as_ref()
        .map(|c| c.join("containers/registries.conf"));
    match user {
        Some(user) if user.is_file() => {
            let dir = drop_in_dir(&user);
            (user, vec![dir])
        }
        user => {
            let system = PathBuf::from(SYSTEM_FILE);
            let dirs = std::iter::once(drop_in_dir(&system))
                .chain(user.map(|u| drop_in_dir(&u)))
                .collect();
            (system, dirs)
        }
    }
}

/// The `*.conf` files of `dir` in name order (none when it does not exist).
fn drop_ins(dir: &Path) -> Result<Vec<PathBuf>, RegistryError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RegistryError::ConfRead {
                path: dir.to_owned(),
                source,
            })
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| RegistryError::ConfRead {
                path: dir.to_owned(),
                source,
            })?
            .path();
        if path.extension().is_some_and(|e| e == "conf") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// `--registry-mirror VALUE`: `[http[s]://]host[:port][/path]`.
fn docker_mirror(value: &str) -> Result<Endpoint, RegistryError> {
    let (rest, insecure) = match value.strip_prefix("http://") {
        Some(rest) => (rest, true),
        None => (value.strip_prefix("https://").unwrap_or(value), false),
    };
    let location = rest.trim_end_matches('/');
    check_location(location).map_err(|reason| RegistryError::BadMirror {
        mirror: value.to_owned(),
        reason,
    })?;
    Ok(Endpoint {
        location: location.to_owned(),
        insecure,
        pull_from: PullFrom::All,
    })
}

/// Why `location` cannot be where names are rewritten to, if it cannot: it must start
/// with a registry host and continue as a repository path.
fn check_location(location: &str) -> Result<(), String> {
    if location.contains("://") {
        return Err("write host[:port][/path], without a URI scheme".into());
    }
    let host = host_of(location);
    if !(host.contains(['.', ':']) || host == "localhost") {
        return Err(format!(
            "{host:?} is not a registry host (it has no '.' or ':' and is not localhost)"
        ));
    }
    match Reference::parse(&format!("{location}/x")) {
        Ok(r) if r.short.is_none() => Ok(()),
        Ok(_) => Err("not host[:port][/path]".into()),
        Err(RegistryError::BadReference { reason, .. }) => Err(reason),
        Err(e) => Err(e.to_string()),
    }
}

/// The file's TOML, mirrored one to one (with the spans of tables, for errors).
#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct RawFile {
    registry: Option<Vec<Spanned<RawRegistry>>>,
    unqualified_search_registries: Option<Spanned<Vec<String>>>,
    short_name_mode: Option<Spanned<String>>,
    /// The v1 format: `[registries.search]`, `[registries.insecure]`, `[registries.block]`.
    registries: Option<Spanned<RawV1>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawRegistry {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror_by_digest_only: bool,
    #[serde(default)]
    mirror: Vec<Spanned<RawMirror>>,
    pull_from_mirror: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawMirror {
    #[serde(default)]
    location: String,
    #[serde(default)]
    insecure: bool,
    pull_from_mirror: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawV1 {
    #[serde(default)]
    search: V1List,
    #[serde(default)]
    insecure: V1List,
    #[serde(default)]
    block: V1List,
}

#[derive(Deserialize, Default)]
struct V1List {
    #[serde(default)]
    registries: Vec<String>,
}

/// Parses one file (`drop_in`: the v2 format is required).
fn parse(path: &Path, text: &str, drop_in: bool) -> Result<Parsed, RegistryError> {
    let source = Source::new(path, text);
    let fail = |span: Range<usize>, message: String| located(&source, span, message);
    let raw: RawFile = toml::from_str(text)
        .map_err(|e| fail(e.span().unwrap_or(0..0), e.message().trim().to_owned()))?;
    if let Some(mode) = &raw.short_name_mode {
        if !["disabled", "enforcing", "permissive"].contains(&mode.get_ref().as_str()) {
            return Err(fail(
                mode.span(),
                format!(
                    "short-name-mode {:?} is not disabled, enforcing or permissive",
                    mode.get_ref()
                ),
            ));
        }
    }
    let mut parsed = Parsed::default();
    if let Some(v1) = raw.registries.filter(|v1| {
        let lists = [
            &v1.get_ref().search,
            &v1.get_ref().insecure,
            &v1.get_ref().block,
        ];
        lists.iter().any(|l| !l.registries.is_empty())
    }) {
        if drop_in {
            return Err(fail(
                v1.span(),
                "a drop-in must use the v2 format ([[registry]] tables), not v1's [registries.*]"
                    .into(),
            ));
        }
        if raw.registry.is_some() || raw.unqualified_search_registries.is_some() {
            return Err(fail(
                v1.span(),
                "v1's [registries.*] tables cannot be mixed with v2 settings ([[registry]], unqualified-search-registries)".into(),
            ));
        }
        return from_v1(&source, v1);
    }
    let mut seen: Vec<RegistryEntry> = Vec::new();
    for table in raw.registry.unwrap_or_default() {
        let span = table.span();
        let entry = registry_entry(&source, table).map_err(|(at, r)| fail(at, r))?;
        if let Some(reason) = conflict(&entry, &seen) {
            return Err(fail(span, reason));
        }
        // Of two tables with one prefix, the first wins (containers/image ignores the rest).
        if !parsed.registries.iter().any(|e| e.prefix == entry.prefix) {
            parsed.registries.push(entry.clone());
        }
        seen.push(entry);
    }
    if let Some(search) = raw.unqualified_search_registries {
        let span = search.span();
        parsed.search = Some(check_search(search.get_ref()).map_err(|r| fail(span, r))?);
    }
    Ok(parsed)
}

/// What a v1 file says, as containers/image converts it: `block` and `insecure` lists
/// become `[[registry]]` tables of those locations, `search` the search list (none
/// written: docker.io, as when nothing is configured).
fn from_v1(source: &Source, v1: Spanned<RawV1>) -> Result<Parsed, RegistryError> {
    let span = v1.span();
    let fail = |reason: String| located(source, span.clone(), reason);
    let v1 = v1.into_inner();
    let mut entries: Vec<RegistryEntry> = Vec::new();
    for (list, blocked) in [
        (&v1.block.registries, true),
        (&v1.insecure.registries, false),
    ] {
        for location in list {
            let location = clean_location(location)
                .and_then(|l| check_location(&l).map(|()| l))
                .map_err(|reason| fail(format!("{location:?}: {reason}")))?;
            let at = entries.iter().position(|e| e.prefix == location);
            let entry = match at {
                Some(i) => &mut entries[i],
                None => {
                    entries.push(RegistryEntry {
                        prefix: location.clone(),
                        location: Endpoint {
                            location,
                            insecure: false,
                            pull_from: PullFrom::All,
                        },
                        blocked: false,
                        mirrors: Vec::new(),
                        origin: origin(source, span.start),
                    });
                    entries.last_mut().expect("just pushed")
                }
            };
            if blocked {
                entry.blocked = true;
            } else {
                entry.location.insecure = true;
            }
        }
    }
    let search = if v1.search.registries.is_empty() {
        None
    } else {
        Some(check_search(&v1.search.registries).map_err(fail)?)
    };
    Ok(Parsed {
        registries: entries,
        search,
    })
}

/// The error `message` at `span` of `source`.
fn located(source: &Source, span: Range<usize>, message: String) -> RegistryError {
    RegistryError::Conf(Box::new(
        source.error(source.span_at(span.start, span.len()), message),
    ))
}

/// `file:line` of byte `offset` of `source`.
fn origin(source: &Source, offset: usize) -> String {
    format!(
        "{}:{}",
        source.path.display(),
        source.span_at(offset, 0).line
    )
}

/// A location as the file writes it, without trailing `/`; URI schemes are refused.
fn clean_location(location: &str) -> Result<String, String> {
    let trimmed = location.trim_end_matches('/');
    if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
        return Err("URI schemes are not supported: write host[:port][/path]".into());
    }
    Ok(trimmed.to_owned())
}

/// One `[[registry]]` table, checked as containers/image checks it; an error carries the
/// span to show.
fn registry_entry(
    source: &Source,
    table: Spanned<RawRegistry>,
) -> Result<RegistryEntry, (Range<usize>, String)> {
    let span = table.span();
    let raw = table.into_inner();
    let bad = |reason: String| (span.clone(), reason);
    let location = clean_location(&raw.location).map_err(&bad)?;
    let prefix = if raw.prefix.is_empty() {
        if location.is_empty() {
            return Err(bad("a [[registry]] needs a prefix or a location".into()));
        }
        location.clone()
    } else {
        clean_location(&raw.prefix).map_err(&bad)?
    };
    let wildcard = prefix.starts_with("*.");
    if wildcard && prefix.contains(['/', '@', ':']) {
        return Err(bad(format!(
            "wildcard prefix {prefix:?} must be *.domain (no path, port, tag or digest)"
        )));
    }
    if location.is_empty() && !wildcard {
        return Err(bad(format!(
            "prefix {prefix:?} has no location (only a *.domain prefix may leave it out)"
        )));
    }
    if !location.is_empty() {
        check_location(&location).map_err(|r| bad(format!("location {location:?}: {r}")))?;
    }
    if raw.pull_from_mirror.is_some() {
        return Err(bad(format!(
            "pull-from-mirror belongs in a [[registry.mirror]], not in the [[registry]] of {prefix:?}"
        )));
    }
    let mut mirrors = Vec::new();
    for mirror in raw.mirror {
        let span = mirror.span();
        let raw_mirror = mirror.into_inner();
        let bad = |reason: String| (span.clone(), reason);
        let location = clean_location(&raw_mirror.location).map_err(&bad)?;
        if location.is_empty() {
            return Err(bad("a [[registry.mirror]] needs a location".into()));
        }
        check_location(&location).map_err(|r| bad(format!("mirror {location:?}: {r}")))?;
        if raw.mirror_by_digest_only && raw_mirror.pull_from_mirror.is_some() {
            return Err(bad(format!(
                "mirror {location:?} sets pull-from-mirror, but its registry sets mirror-by-digest-only: choose one"
            )));
        }
        let pull_from = match raw_mirror.pull_from_mirror.as_deref() {
            _ if raw.mirror_by_digest_only => PullFrom::DigestOnly,
            None | Some("" | "all") => PullFrom::All,
            Some("digest-only") => PullFrom::DigestOnly,
            Some("tag-only") => PullFrom::TagOnly,
            Some(other) => {
                return Err(bad(format!(
                    "pull-from-mirror {other:?} is not all, digest-only or tag-only"
                )))
            }
        };
        mirrors.push(Endpoint {
            location,
            insecure: raw_mirror.insecure,
            pull_from,
        });
    }
    Ok(RegistryEntry {
        origin: origin(source, span.start),
        prefix,
        location: Endpoint {
            location,
            insecure: raw.insecure,
            pull_from: PullFrom::All,
        },
        blocked: raw.blocked,
        mirrors,
    })
}

/// Why `entry` contradicts an `earlier` table of the same location (or wildcard
/// prefix), if it does: they must agree on `insecure` and `blocked`.
fn conflict(entry: &RegistryEntry, earlier: &[RegistryEntry]) -> Option<String> {
    let key = |e: &RegistryEntry| {
        if e.location.location.is_empty() {
            e.prefix.clone()
        } else {
            e.location.location.clone()
        }
    };
    earlier
        .iter()
        .filter(|e| key(e) == key(entry))
        .find_map(|e| {
            let what = if e.location.insecure != entry.location.insecure {
                "insecure"
            } else if e.blocked != entry.blocked {
                "blocked"
            } else {
                return None;
            };
            Some(format!(
                "registry {:?} is defined again with another {what} setting than at {}",
                key(entry),
                e.origin
            ))
        })
}

/// `unqualified-search-registries`: each a `host[:port]` (no path).
fn check_search(registries: &[String]) -> Result<Vec<String>, String> {
    registries
        .iter()
        .map(|r| {
            let host = clean_location(r)?;
            let valid = !host.is_empty()
                && !host.contains(['/', '@'])
                && Reference::parse(&format!("{host}/x")).is_ok_and(|x| x.short.is_none());
            if valid {
                Ok(host)
            } else {
                Err(format!(
                    "unqualified-search-registries entry {r:?} is not a registry host[:port]"
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> RegistriesConf {
        let mut conf = RegistriesConf::default();
        conf.merge(parse(Path::new("test.conf"), text, false).unwrap());
        conf
    }

    fn sources(conf: &RegistriesConf, name: &str) -> Vec<(String, bool)> {
        conf.candidates(&Reference::parse(name).unwrap())
            .iter()
            .flat_map(|c| conf.pull_sources(c).unwrap())
            .map(|s| (s.reference.to_string(), s.mirror))
            .collect()
    }

    fn error(text: &str) -> String {
        match parse(Path::new("bad.conf"), text, false) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{text:?} was accepted"),
        }
    }

    #[test]
    fn prefixes_match_at_boundaries_and_wildcards_match_subdomains() {
        assert_eq!(
            matching_prefix("docker.io/library/x:1", "docker.io"),
            Some(9)
        );
        assert_eq!(
            matching_prefix("docker.io/library/x:1", "docker.io/library/x"),
            Some(19)
        );
        assert_eq!(
            matching_prefix("docker.io/library/xy", "docker.io/library/x"),
            None
        );
        assert_eq!(matching_prefix("example.com:5000/x", "example.com"), None);
        assert_eq!(matching_prefix("example.com.evil/x", "example.com"), None);
        assert_eq!(
            matching_prefix("a.b.example.com/x", "*.example.com"),
            Some(15)
        );
        assert_eq!(matching_prefix("example.com/x", "*.example.com"), None);
        assert_eq!(
            matching_prefix("a.example.com.evil/x", "*.example.com"),
            None
        );
        assert_eq!(matching_prefix("evil/a.example.com", "*.example.com"), None);
    }

    #[test]
    fn longest_prefix_wins_and_location_rewrites_it() {
        let conf = conf(
            r#"
[[registry]]
prefix = "example.com"
location = "mirror.local:5000"

[[registry]]
prefix = "example.com/team"
location = "internal.local/teams/team"

[[registry]]
location = "docker.io"
[[registry.mirror]]
location = "127.0.0.1:5000"
[[registry.mirror]]
location = "127.0.0.1:5001/hub"
pull-from-mirror = "digest-only"
"#,
        );
        assert_eq!(
            sources(&conf, "example.com/team/app:1"),
            [("internal.local/teams/team/app:1".to_owned(), false)]
        );
        assert_eq!(
            sources(&conf, "example.com/other:1"),
            [("mirror.local:5000/other:1".to_owned(), false)]
        );
        assert_eq!(
            sources(&conf, "debian:bookworm"),
            [
                ("127.0.0.1:5000/library/debian:bookworm".to_owned(), true),
                ("docker.io/library/debian:bookworm".to_owned(), false)
            ]
        );
        let digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let by_digest = sources(&conf, &format!("debian@{digest}"));
        assert_eq!(by_digest.len(), 3, "{by_digest:?}");
        assert_eq!(
            by_digest[1].0,
            format!("127.0.0.1:5001/hub/library/debian@{digest}")
        );
        assert_eq!(
            sources(&conf, "search.example.com/x:1"),
            [("search.example.com/x:1".to_owned(), false)]
        );
    }

    #[test]
    fn mirror_by_digest_only_and_tag_only_mirrors() {
        let conf = conf(
            r#"
[[registry]]
location = "a.io"
mirror-by-digest-only = true
[[registry.mirror]]
location = "m.a.io"

[[registry]]
location = "b.io"
[[registry.mirror]]
location = "m.b.io"
pull-from-mirror = "tag-only"
"#,
        );
        let digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(sources(&conf, "a.io/x:1").len(), 1);
        assert_eq!(sources(&conf, &format!("a.io/x@{digest}")).len(), 2);
        assert_eq!(sources(&conf, "b.io/x:1").len(), 2);
        assert_eq!(sources(&conf, &format!("b.io/x@{digest}")).len(), 1);
    }

    #[test]
    fn command_line_mirrors_come_first_and_only_for_docker_hub() {
        let mut conf = conf("[[registry]]\nprefix = \"docker.io\"\nlocation = \"127.0.0.1:9\"\n[[registry.mirror]]\nlocation = \"m.local\"\n");
        conf.docker_mirrors = vec![
            docker_mirror("https://mirror.example.com/").unwrap(),
            docker_mirror("http://10.0.0.1:5000/hub").unwrap(),
        ];
        assert_eq!(
            sources(&conf, "team/app:1"),
            [
                ("mirror.example.com/team/app:1".to_owned(), true),
                ("10.0.0.1:5000/hub/team/app:1".to_owned(), true),
                ("m.local/team/app:1".to_owned(), true),
                ("127.0.0.1:9/team/app:1".to_owned(), false),
            ]
        );
        assert_eq!(sources(&conf, "search.example.com/a:1").len(), 1);
        assert!(conf.insecure("10.0.0.1:5000") && !conf.insecure("mirror.example.com"));
        for bad in ["mirror", "ftp://x.io", "x.io/Upper"] {
            assert!(docker_mirror(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unqualified_search_registries_are_tried_in_order() {
        let conf =
            conf("unqualified-search-registries = [\"search.example.com\", \"docker.io\"]\n");
        assert_eq!(
            sources(&conf, "debian:bookworm"),
            [
                ("search.example.com/debian:bookworm".to_owned(), false),
                ("docker.io/library/debian:bookworm".to_owned(), false)
            ]
        );
        // A qualified name is not searched.
        assert_eq!(sources(&conf, "docker.io/debian").len(), 1);
        assert!(!conf.search_is_empty());
        assert!(self::conf("unqualified-search-registries = []\n").search_is_empty());
    }

    #[test]
    fn blocked_names_are_refused_for_pull_and_push() {
        let conf = conf("[[registry]]\nlocation = \"evil.io\"\nblocked = true\n");
        let name = Reference::parse("evil.io/x:1").unwrap();
        let err = conf.pull_sources(&name).unwrap_err().to_string();
        assert!(
            err.contains("evil.io/x:1") && err.contains("test.conf:1"),
            "{err}"
        );
        assert!(conf.check_push(&name).is_err());
        assert!(conf
            .check_push(&Reference::parse("good.io/x").unwrap())
            .is_ok());
    }

    #[test]
    fn insecure_endpoints_and_wildcards() {
        let conf = conf(
            "[[registry]]\nprefix = \"*.corp.local\"\ninsecure = true\n\n[[registry]]\nlocation = \"docker.io\"\n[[registry.mirror]]\nlocation = \"cache.local:5000/hub\"\ninsecure = true\n",
        );
        assert!(conf.insecure("a.corp.local"));
        assert!(conf.insecure("cache.local:5000"));
        assert!(!conf.insecure("registry-1.docker.io"));
        assert!(conf.any_insecure());
        // A wildcard without location leaves the name as it is.
        assert_eq!(
            sources(&conf, "a.corp.local/x:1"),
            [("a.corp.local/x:1".to_owned(), false)]
        );
    }

    #[test]
    fn drop_ins_replace_prefixes_and_the_search_list() {
        let mut conf = conf(
            "unqualified-search-registries = [\"a.io\"]\n[[registry]]\nlocation = \"x.io\"\nblocked = true\n",
        );
        conf.merge(
            parse(
                Path::new("d.conf"),
                "[[registry]]\nlocation = \"x.io\"\n",
                true,
            )
            .unwrap(),
        );
        assert_eq!(conf.registries.len(), 1);
        assert!(!conf.registries[0].blocked);
        assert_eq!(conf.search.as_deref(), Some(&["a.io".to_owned()][..]));
        conf.merge(
            parse(
                Path::new("e.conf"),
                "unqualified-search-registries = [\"b.io\"]\n",
                true,
            )
            .unwrap(),
        );
        assert_eq!(conf.search.as_deref(), Some(&["b.io".to_owned()][..]));
    }

    #[test]
    fn v1_files_are_converted_and_refused_as_drop_ins() {
        let v1 = "[registries.search]\nregistries = ['search.example.com']\n[registries.block]\nregistries = ['evil.io']\n[registries.insecure]\nregistries = ['plain.local:5000']\n";
        let conf = conf(v1);
        assert_eq!(
            conf.search.as_deref(),
            Some(&["search.example.com".to_owned()][..])
        );
        assert!(conf
            .pull_sources(&Reference::parse("evil.io/x").unwrap())
            .is_err());
        assert!(conf.insecure("plain.local:5000"));
        let err = parse(Path::new("d.conf"), v1, true)
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("d.conf:1:") && err.contains("v2"), "{err}");
        let err = error(&format!("unqualified-search-registries = []\n{v1}"));
        assert!(err.contains("mixed"), "{err}");
    }

    #[test]
    fn bad_files_name_the_file_line_and_problem() {
        let cases = [
            ("[[registry]]\nlocation = \"x.io\"\ninsecure = \"yes\"\n", "bad.conf:3:", "bool"),
            ("x = [\n", "bad.conf:", ""),
            ("\n[[registry]]\nprefix = \"x.io\"\n", "bad.conf:2:1:", "no location"),
            ("[[registry]]\nlocation = \"https://x.io\"\n", "bad.conf:1:", "scheme"),
            ("[[registry]]\nlocation = \"mirror\"\n", "bad.conf:1:", "not a registry host"),
            ("[[registry]]\nprefix = \"*.x.io/a\"\nlocation = \"y.io\"\n", "bad.conf:1:", "wildcard"),
            ("[[registry]]\nlocation = \"x.io\"\n[[registry.mirror]]\nlocation = \"m.io\"\npull-from-mirror = \"sometimes\"\n", "bad.conf:3:", "sometimes"),
            ("[[registry]]\nlocation = \"x.io\"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = \"m.io\"\npull-from-mirror = \"all\"\n", "bad.conf:4:", "choose one"),
            ("[[registry]]\nlocation = \"x.io\"\npull-from-mirror = \"all\"\n", "bad.conf:1:", "belongs"),
            ("unqualified-search-registries = [\"search.example.com/ns\"]\n", "bad.conf:1:", "search.example.com/ns"),
            ("short-name-mode = \"loud\"\n", "bad.conf:1:", "loud"),
            ("[[registry]]\nprefix = \"a.io\"\nlocation = \"x.io\"\n\n[[registry]]\nprefix = \"b.io\"\nlocation = \"x.io\"\ninsecure = true\n", "bad.conf:5:", "insecure"),
        ];
        for (text, at, what) in cases {
            let err = error(text);
            assert!(err.starts_with(at) && err.contains(what), "{text:?}: {err}");
        }
        // Keys strata does not use are ignored, as containers/image ignores them.
        let conf = conf("credential-helpers = [\"pass\"]\n[aliases]\n\"fedora\" = \"registry.example.com/fedora\"\n");
        assert_eq!(sources(&conf, "fedora").len(), 1);
    }

    #[test]
    fn the_default_search_prefers_the_user_file() {
        let home = tempfile::tempdir().unwrap();
        let config = Some(home.path().to_owned());
        let (main, dirs) = system_files(&config);
        assert_eq!(main, Path::new(SYSTEM_FILE));
        assert_eq!(
            dirs,
            [
                PathBuf::from("/etc/containers/registries.conf.d"),
                home.path().join("containers/registries.conf.d")
            ]
        );
        let user = home.path().join("containers/registries.conf");
        std::fs::create_dir_all(user.parent().unwrap()).unwrap();
        std::fs::write(&user, "").unwrap();
        assert_eq!(
            system_files(&config),
            (user, vec![home.path().join("containers/registries.conf.d")])
        );
    }

    #[test]
    fn an_explicit_file_must_exist_and_reads_its_drop_ins() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("registries.conf");
        let missing = RegistriesConf::load(&ConfFiles::File(file.clone()), &[]);
        assert!(matches!(missing, Err(RegistryError::ConfRead { .. })));
        std::fs::write(&file, "unqualified-search-registries = [\"a.io\"]\n").unwrap();
        std::fs::create_dir(dir.path().join("registries.conf.d")).unwrap();
        std::fs::write(
            dir.path().join("registries.conf.d/10-b.conf"),
            "unqualified-search-registries = [\"b.io\"]\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("registries.conf.d/notes.txt"), "x = [").unwrap();
        let conf = RegistriesConf::load(&ConfFiles::File(file.clone()), &[]).unwrap();
        assert_eq!(conf.search.as_deref(), Some(&["b.io".to_owned()][..]));
        assert_eq!(conf.files.len(), 2);
        assert!(conf
            .mirror_hint(DOCKER_HUB)
            .contains(&file.display().to_string()));
        assert!(RegistriesConf::default()
            .mirror_hint(DOCKER_HUB)
            .contains("--registry-mirror"));
    }
}

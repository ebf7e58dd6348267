//! Build arguments: which ARG values are in scope where, as docker defines it.
//!
//! Global ARGs (before the first FROM) are visible to FROM lines only, and inside a stage
//! only once re-declared there (taking the global value as their default). `--build-arg`
//! values override defaults of declared ARGs, whose defaults are then never expanded (so a
//! `${X:?msg}` default does not fail). The proxy ARGs and BuildKit's predefined ARGs
//! (platform ARGs, `TARGETSTAGE`) need no declaration: proxies given with `--build-arg`
//! reach every RUN ([`proxy_env`]), the predefined ARGs are visible globally and once
//! declared in a stage.
//!
//! Every global ARG is evaluated, used or not, as BuildKit's `buildMetaArgs` does: a
//! default that fails to expand fails the build ([`ArgScope::global`]).

use std::collections::BTreeMap;

use crate::platform::Platform;

use super::{expand, Dockerfile, DockerfileError};

/// The proxy variables BuildKit passes to RUN without an ARG declaration, upper-case
/// spelling first.
pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// BuildKit's predefined platform ARGs (`BUILDPLATFORM`, `TARGETARCH`, ...) for a build
/// that runs on `build` and produces images for `target`.
pub fn platform_args(build: &Platform, target: &Platform) -> BTreeMap<String, String> {
    let mut args = BTreeMap::new();
    for (prefix, platform) in [("BUILD", build), ("TARGET", target)] {
        args.insert(format!("{prefix}PLATFORM"), platform.arg_platform());
        args.insert(format!("{prefix}OS"), platform.os.clone());
        args.insert(format!("{prefix}ARCH"), platform.architecture.clone());
        args.insert(
            format!("{prefix}VARIANT"),
            platform.arg_variant().to_owned(),
        );
    }
    args
}

/// BuildKit's predefined `TARGETSTAGE`: the `--target` stage as given, else the last
/// stage's name, else `default` (dockerfile2llb's `defaultArgs`).
pub const TARGET_STAGE: &str = "TARGETSTAGE";

/// The value of [`TARGET_STAGE`] for a build of `target` (`--target`, if given).
pub fn target_stage_name(dockerfile: &Dockerfile, target: Option<&str>) -> String {
    target
        .map(str::to_owned)
        .or_else(|| dockerfile.stages.last().and_then(|s| s.name.clone()))
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

/// The proxy variables every RUN gets from `--build-arg`, declared or not, as BuildKit's
/// `ProxyEnv` sets them: each of `http_proxy`, `https_proxy`, `ftp_proxy`, `no_proxy` and
/// `all_proxy` given in either case is set in both cases (`http_proxy=X` gives
/// `HTTP_PROXY=X` and `http_proxy=X`; of two spellings the upper-case one, sorted first,
/// loses). They are not part of the step's cache key or history.
pub fn proxy_env(build_args: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for pair in PROXY_ARGS.chunks(2) {
        let (upper, lower) = (pair[0], pair[1]);
        // BTreeMap order puts the upper-case spelling first; the later one wins.
        let value = build_args
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(lower))
            .map(|(_, v)| v)
            .next_back();
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            env.push((upper.to_owned(), value.clone()));
            env.push((lower.to_owned(), value.clone()));
        }
    }
    env
}

/// The most bytes the variables of one stage (its ENV entries and ARG values together,
/// or the global ARGs) may hold. An image config carries its Env, and skopeo
/// (containers/image) refuses configs over 4 MiB; the limit also keeps ARGs that double
/// at each line (`ARG B=$A$A`) from taking the memory of the machine.
pub const MAX_VARIABLE_BYTES: usize = 4 << 20;

/// The ARG values in scope at one point of a stage.
#[derive(Clone, Debug, Default)]
pub struct ArgScope {
    values: BTreeMap<String, String>,
    /// Bytes of the names and values in `values`, for the size limit of a stage's
    /// variables.
    bytes: usize,
}

impl ArgScope {
    /// The global scope FROM lines are expanded in: the predefined ARGs (the platform
    /// ARGs `predefined`, see [`platform_args`], and `TARGETSTAGE` = `target_stage`, each
    /// overridden by a `--build-arg` of its name), then each ARG before the first FROM with
    /// its `--build-arg` value or expanded default. Every default not overridden is
    /// expanded, used or not: one that fails (`${X:?msg}`) is an error at its declaration.
    pub fn global(
        dockerfile: &Dockerfile,
        build_args: &BTreeMap<String, String>,
        target_stage: &str,
        predefined: BTreeMap<String, String>,
    ) -> Result<ArgScope, DockerfileError> {
        let mut values = predefined;
        values.insert(TARGET_STAGE.to_owned(), target_stage.to_owned());
        for (name, value) in &mut values {
            if let Some(given) = build_args.get(name) {
                value.clone_from(given);
            }
        }
        let mut globals = ArgScope::default();
        for (name, value) in values {
            globals.assign(&name, Some(value));
        }
        for decl in &dockerfile.global_args {
            let name = &decl.value.name;
            let default = match (&decl.value.default, build_args.contains_key(name)) {
                (Some(raw), false) => Some(
                    expand::word(raw, dockerfile.escape, &|n| {
                        globals.get(n).map(str::to_owned)
                    })
                    .map_err(|e| dockerfile.source.error(decl.span, e.0))?,
                ),
                _ => None,
            };
            let value = resolve(name, default, build_args, &globals);
            globals.assign(name, value);
            if globals.bytes > MAX_VARIABLE_BYTES {
                return Err(dockerfile.source.error(
                    decl.span,
                    format!(
                        "the global ARG values pass {} MiB ({} bytes)",
                        MAX_VARIABLE_BYTES >> 20,
                        globals.bytes
                    ),
                ));
            }
        }
        Ok(globals)
    }

    /// Declares `name` with its expanded `default`: the `--build-arg` value wins, then the
    /// default, then the global value of the same name (for re-declared global ARGs and
    /// the predefined ones, which the global scope holds). An ARG with no value at all is
    /// in scope but unset.
    pub fn declare(
        &mut self,
        name: &str,
        default: Option<String>,
        build_args: &BTreeMap<String, String>,
        globals: &ArgScope,
    ) {
        let value = resolve(name, default, build_args, globals);
        self.assign(name, value);
    }

    /// Sets `name` to `value`, or makes it unset.
    fn assign(&mut self, name: &str, value: Option<String>) {
        let old = match value {
            Some(v) => {
                self.bytes += name.len() + v.len();
                self.values.insert(name.to_owned(), v)
            }
            None => self.values.remove(name),
        };
        if let Some(old) = old {
            self.bytes -= name.len() + old.len();
        }
    }

    /// Bytes of the names and values in scope.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The value of `name`, if declared and set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Sets a value directly (the global scope's predefined platform ARGs).
    pub fn set(&mut self, name: &str, value: String) {
        self.assign(name, Some(value));
    }

    /// The ARGs in scope, which go into a RUN step's environment, cache key and history
    /// line (`|N K=V ... cmd`). A proxy ARG is among them only when the stage declares it
    /// (BuildKit treats `ARG http_proxy` like any ARG); undeclared ones reach RUN through
    /// [`proxy_env`], outside the key and history.
    pub fn step_args(&self) -> Vec<(String, String)> {
        self.values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// The value an ARG `name` declared with the expanded `default` gets: the `--build-arg`
/// value, else the default, else the global value of the same name, else a predefined
/// value.
fn resolve(
    name: &str,
    default: Option<String>,
    build_args: &BTreeMap<String, String>,
    globals: &ArgScope,
) -> Option<String> {
    build_args
        .get(name)
        .cloned()
        .or(default)
        .or_else(|| globals.get(name).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_arg_beats_default_beats_global() {
        let mut globals = ArgScope::default();
        globals.set("V", "global".into());
        let mut given = BTreeMap::new();
        let mut scope = ArgScope::default();
        scope.declare("V", None, &given, &globals);
        assert_eq!(scope.get("V"), Some("global"));
        scope.declare("V", Some("default".into()), &given, &globals);
        assert_eq!(scope.get("V"), Some("default"));
        given.insert("V".into(), "given".into());
        scope.declare("V", Some("default".into()), &given, &globals);
        assert_eq!(scope.get("V"), Some("given"));
    }

    #[test]
    fn undeclared_arg_without_value_is_unset() {
        let mut scope = ArgScope::default();
        scope.declare("NOPE", None, &BTreeMap::new(), &ArgScope::default());
        assert_eq!(scope.get("NOPE"), None);
    }

    #[test]
    fn only_declared_proxies_are_step_args() {
        let given: BTreeMap<String, String> = [
            ("http_proxy".to_string(), "http://p:3128".to_string()),
            ("https_proxy".to_string(), "http://q:3128".to_string()),
        ]
        .into();
        let mut scope = ArgScope::default();
        scope.declare("A", Some("1".into()), &given, &ArgScope::default());
        scope.declare("http_proxy", None, &given, &ArgScope::default());
        assert_eq!(
            scope.step_args(),
            vec![
                ("A".to_string(), "1".to_string()),
                ("http_proxy".to_string(), "http://p:3128".to_string())
            ]
        );
    }

    #[test]
    fn proxy_env_sets_both_cases() {
        let given: BTreeMap<String, String> = [
            ("http_proxy".to_string(), "http://p:3128".to_string()),
            ("NO_PROXY".to_string(), "localhost".to_string()),
            ("FTP_PROXY".to_string(), "upper".to_string()),
            ("ftp_proxy".to_string(), "lower".to_string()),
            ("OTHER".to_string(), "x".to_string()),
        ]
        .into();
        let env = proxy_env(&given);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("HTTP_PROXY"), Some("http://p:3128"));
        assert_eq!(get("http_proxy"), Some("http://p:3128"));
        assert_eq!(get("no_proxy"), Some("localhost"));
        assert_eq!(get("NO_PROXY"), Some("localhost"));
        assert_eq!(get("ftp_proxy"), Some("lower"));
        assert_eq!(get("FTP_PROXY"), Some("lower"));
        assert_eq!(env.len(), 6);
    }

    #[test]
    fn platform_args_are_predefined() {
        let file =
            super::super::parse(std::path::Path::new("Dockerfile"), "FROM scratch\n").unwrap();
        let arm64 = Platform::parse("linux/arm/v7").unwrap();
        let predefined = platform_args(&Platform::host(), &arm64);
        let none = BTreeMap::new();
        let globals = ArgScope::global(&file, &none, "default", predefined).unwrap();
        let mut scope = ArgScope::default();
        scope.declare("TARGETARCH", None, &none, &globals);
        scope.declare("TARGETVARIANT", None, &none, &globals);
        scope.declare("BUILDARCH", None, &none, &globals);
        assert_eq!(scope.get("TARGETARCH"), Some("arm"));
        assert_eq!(scope.get("TARGETVARIANT"), Some("v7"));
        assert_eq!(
            scope.get("BUILDARCH"),
            Some(Platform::host().architecture.as_str())
        );
    }
}

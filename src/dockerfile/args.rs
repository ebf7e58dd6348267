//! Build arguments: which ARG values are in scope where, as docker defines it.
//!
//! Global ARGs (before the first FROM) are visible to FROM lines only, and inside a stage
//! only once re-declared there (taking the global value as their default). `--build-arg`
//! values override defaults of declared ARGs. The proxy ARGs and BuildKit's platform ARGs
//! are predefined: proxies are usable without a declaration when given with `--build-arg`,
//! platform ARGs are visible globally and once declared in a stage.

use std::collections::BTreeMap;

use crate::platform::Platform;

use super::{expand, Dockerfile};

/// The proxy variables docker passes to RUN without an ARG declaration.
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

/// [`platform_args`] for a build on and for this host.
fn host_platform_args() -> BTreeMap<String, String> {
    let host = Platform::host();
    platform_args(&host, &host)
}

/// The ARG values in scope at one point of a stage.
#[derive(Clone, Debug, Default)]
pub struct ArgScope {
    values: BTreeMap<String, String>,
}

impl ArgScope {
    /// The global scope FROM lines are expanded in: the predefined platform ARGs, then each
    /// ARG before the first FROM with its `--build-arg` value or expanded default. A default
    /// that fails to expand counts as absent here; the FROM that uses it reports the error.
    pub fn global(dockerfile: &Dockerfile, build_args: &BTreeMap<String, String>) -> ArgScope {
        let mut globals = ArgScope {
            values: host_platform_args(),
        };
        for decl in &dockerfile.global_args {
            let default = decl.value.default.as_deref().and_then(|raw| {
                expand::word(raw, dockerfile.escape, &|n| {
                    globals.get(n).map(str::to_owned)
                })
                .ok()
            });
            let before = globals.clone();
            globals.declare(&decl.value.name, default, build_args, &before);
        }
        globals
    }

    /// Declares `name` with its expanded `default`: the `--build-arg` value wins, then the
    /// default, then the global value of the same name (for re-declared global ARGs), then
    /// a predefined value. An ARG with no value at all is in scope but unset.
    pub fn declare(
        &mut self,
        name: &str,
        default: Option<String>,
        build_args: &BTreeMap<String, String>,
        globals: &ArgScope,
    ) {
        let value = build_args
            .get(name)
            .cloned()
            .or(default)
            .or_else(|| globals.get(name).map(str::to_owned))
            .or_else(|| host_platform_args().remove(name));
        match value {
            Some(v) => {
                self.values.insert(name.to_owned(), v);
            }
            None => {
                self.values.remove(name);
            }
        }
    }

    /// The value of `name`, if declared and set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Sets a value directly (the global scope's predefined platform ARGs).
    pub fn set(&mut self, name: &str, value: String) {
        self.values.insert(name.to_owned(), value);
    }

    /// `NAME=value` pairs for the environment of a RUN step: every ARG in scope, plus the
    /// proxy ARGs given with `--build-arg` even if undeclared.
    pub fn run_env(&self, build_args: &BTreeMap<String, String>) -> Vec<(String, String)> {
        let mut env: BTreeMap<String, String> = self.values.clone();
        for proxy in PROXY_ARGS {
            if let Some(v) = build_args.get(proxy) {
                env.entry(proxy.to_owned()).or_insert_with(|| v.clone());
            }
        }
        env.into_iter().collect()
    }

    /// The ARGs in scope that docker records in RUN history lines (`|N K=V ... cmd`):
    /// all but the proxy ARGs, which may carry credentials.
    pub fn history_args(&self) -> Vec<(String, String)> {
        self.values
            .iter()
            .filter(|(k, _)| !PROXY_ARGS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
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
    fn proxies_reach_run_but_not_history() {
        let given: BTreeMap<String, String> =
            [("http_proxy".to_string(), "http://p:3128".to_string())].into();
        let mut scope = ArgScope::default();
        scope.declare("A", Some("1".into()), &given, &ArgScope::default());
        scope.declare("http_proxy", None, &given, &ArgScope::default());
        assert!(scope
            .run_env(&given)
            .contains(&("http_proxy".into(), "http://p:3128".into())));
        assert_eq!(
            scope.history_args(),
            vec![("A".to_string(), "1".to_string())]
        );
    }

    #[test]
    fn platform_args_are_predefined() {
        let mut scope = ArgScope::default();
        scope.declare("TARGETARCH", None, &BTreeMap::new(), &ArgScope::default());
        assert_eq!(
            scope.get("TARGETARCH"),
            Some(Platform::host().architecture.as_str())
        );
    }
}

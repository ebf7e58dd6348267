//! The image config: docker's schema (a superset of OCI's, with Healthcheck, Shell and
//! OnBuild), serialised with docker's field names and order.
//!
//! Configs pulled from elsewhere carry fields strata does not model (`container_config`,
//! `docker_version`, `Hostname`, ...). They are kept in the `extra` maps, after the known
//! fields, so a config read from the store and written again keeps every field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// The whole config blob.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// Creation time, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// MAINTAINER.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// `amd64`, `arm64`, ...
    pub architecture: String,
    /// `linux`.
    pub os: String,
    /// `v8` for arm64, for example.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// What a container runs with (docker writes `null` for an empty one).
    #[serde(default, deserialize_with = "null_as_default")]
    pub config: ContainerConfig,
    /// The layers' diff_ids.
    pub rootfs: RootFs,
    /// One entry per instruction.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// Top-level fields strata does not model, in their original order. A child image
    /// built on this one should usually start from an empty map, as BuildKit's typed
    /// config does: fields such as `container_config` describe the parent's own build.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ImageConfig {
    /// The platform the image is for (`os/architecture[/variant]`), in its normal form
    /// (`linux/arm64/v8` is `linux/arm64`) when strata knows it, else as written.
    pub fn platform(&self) -> crate::platform::Platform {
        let written = crate::platform::Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone(),
        };
        crate::platform::Platform::parse(&written.to_string()).unwrap_or(written)
    }
}

/// The `config` object: the runtime defaults of a container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// USER.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// EXPOSE, as `"80/tcp": {}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    /// ENV, `K=V`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// ENTRYPOINT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// CMD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// HEALTHCHECK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    /// Set when a shell-form CMD/ENTRYPOINT was written (docker's Windows-era flag; kept
    /// for identical configs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    /// VOLUME, as `"/data": {}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    /// WORKDIR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// LABEL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// STOPSIGNAL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// ONBUILD triggers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    /// SHELL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    /// Fields strata does not model (`Hostname`, `Tty`, `Image`, ...), in their original
    /// order, so re-serialising is lossless.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// HEALTHCHECK in docker's schema; durations in nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", "..."]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    /// `--interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    /// `--timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// `--start-period`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    /// `--start-interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    /// `--retries`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

/// `rootfs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Layer diff_ids, bottom first.
    pub diff_ids: Vec<Digest>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".into(),
            diff_ids: Vec::new(),
        }
    }
}

/// One history entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The instruction, as docker writes it (`RUN /bin/sh -c ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Comment (`buildkit.dockerfile.v0` in BuildKit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True for metadata-only steps, which add no layer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// Reads `null` as the type's default, as Go's JSON decoder does for a nil struct pointer.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config as docker 20.10 wrote it: null and unknown fields, HEALTHCHECK, SHELL and
    /// ONBUILD, nested objects.
    const DOCKER_CONFIG: &str = r#"{"architecture":"amd64","config":{"Hostname":"","User":"app","Env":["PATH=/bin"],"Cmd":["sh"],"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":30000000000,"Retries":3},"ArgsEscaped":true,"Image":"sha256:abc","OnBuild":["RUN true"],"Shell":["/bin/ash","-c"],"Tty":false},"container":"0123","container_config":{"Cmd":["/bin/sh"]},"created":"2024-01-02T03:04:05Z","docker_version":"20.10.7","history":[{"created":"2024-01-02T03:04:05Z","created_by":"CMD [\"sh\"]","empty_layer":true}],"os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;

    #[test]
    fn docker_extensions_and_unknown_fields_survive_a_round_trip() {
        let config: ImageConfig = serde_json::from_str(DOCKER_CONFIG).unwrap();
        let c = &config.config;
        assert_eq!(c.user.as_deref(), Some("app"));
        let health = c.healthcheck.as_ref().unwrap();
        assert_eq!(
            health.test.as_deref(),
            Some(&["CMD-SHELL".to_owned(), "true".to_owned()][..])
        );
        assert_eq!(
            (health.interval, health.retries, health.timeout),
            (Some(30_000_000_000), Some(3), None)
        );
        assert_eq!(
            c.shell.as_deref(),
            Some(&["/bin/ash".to_owned(), "-c".to_owned()][..])
        );
        assert_eq!(c.on_build.as_deref(), Some(&["RUN true".to_owned()][..]));
        assert_eq!(
            c.extra.keys().collect::<Vec<_>>(),
            ["Hostname", "Image", "Tty"]
        );
        assert_eq!(config.extra["docker_version"], "20.10.7");
        assert!(config.history[0].empty_layer);

        let again: ImageConfig =
            serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
        assert_eq!(again, config);
        let original: serde_json::Value = serde_json::from_str(DOCKER_CONFIG).unwrap();
        assert_eq!(serde_json::to_value(&config).unwrap(), original);
    }

    #[test]
    fn null_container_config_reads_as_empty() {
        let config: ImageConfig =
            serde_json::from_str(r#"{"architecture":"amd64","os":"linux","config":null,"rootfs":{"type":"layers","diff_ids":[]}}"#)
                .unwrap();
        assert_eq!(config.config, ContainerConfig::default());
    }

    #[test]
    fn serialises_compactly_in_field_order() {
        let config = ImageConfig {
            architecture: "amd64".into(),
            os: "linux".into(),
            config: ContainerConfig {
                user: Some("1".into()),
                cmd: Some(vec!["sh".into()]),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&config).unwrap(),
            r#"{"architecture":"amd64","os":"linux","config":{"User":"1","Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[]}}"#
        );
    }
}

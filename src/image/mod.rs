//! Images as values: the config (docker's schema, which OCI's extends), the manifest and
//! the index; the [`store::Store`] that keeps them as an OCI image layout; and
//! [`archive`] sinks (docker-archive, oci-archive) and [`layout`] directories for the same
//! values.

pub mod archive;
pub mod config;
pub mod layout;
pub mod load;
pub mod reference;
mod scratch;
pub mod store;

pub use config::{ContainerConfig, HealthConfig, History, ImageConfig, RootFs};
pub use reference::{store_key, BadName, ImageName};
pub use store::{PruneReport, Store, StoreError, TagEntry};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// Media type of an OCI image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image index.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of an OCI image config.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// The annotation that names a tag in an OCI layout's index.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotation containerd and `docker load` read for an image's full name (`NAME:TAG`),
/// beside [`REF_NAME`], which in an archive may hold the tag alone.
pub const CONTAINERD_IMAGE_NAME: &str = "io.containerd.image.name";
/// The annotation that holds a creation time (RFC 3339); on index entries of the store,
/// when the tag was set.
pub const CREATED: &str = "org.opencontainers.image.created";
/// The manifest annotation that names the parent image's manifest digest.
pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
/// The manifest annotation that names the parent image, as the FROM wrote it.
pub const BASE_NAME: &str = "org.opencontainers.image.base.name";

/// A content descriptor, as in manifests and indexes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    /// Media type of the referenced content.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Annotations (tag names in an index, for example).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
    /// Platform, in index entries that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<serde_json::Value>,
}

/// An OCI image manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// [`MANIFEST_MEDIA_TYPE`].
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// Layer blobs, bottom first.
    pub layers: Vec<Descriptor>,
    /// Annotations (base image name and digest, for example).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// An OCI image index: the `index.json` of a layout, one descriptor per tagged manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Index {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// [`INDEX_MEDIA_TYPE`] (optional in the spec; skopeo leaves it out).
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests, each tag annotated with [`REF_NAME`].
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Annotations of the index itself.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
    /// Fields strata does not model, kept so that rewriting the index loses nothing that
    /// another tool (skopeo, umoci) put there.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Default for Index {
    fn default() -> Self {
        Index {
            schema_version: 2,
            media_type: Some(INDEX_MEDIA_TYPE.into()),
            manifests: Vec::new(),
            annotations: std::collections::BTreeMap::new(),
            extra: serde_json::Map::new(),
        }
    }
}

/// An image in the store: its manifest and config, parsed, with their digests.
#[derive(Clone, Debug)]
pub struct Image {
    /// Digest of the manifest (the image's identity in a registry).
    pub digest: Digest,
    /// The manifest.
    pub manifest: Manifest,
    /// The config.
    pub config: ImageConfig,
}

impl Image {
    /// Total compressed size: config plus layers (what `strata images` shows).
    pub fn size(&self) -> u64 {
        self.manifest.config.size + self.manifest.layers.iter().map(|l| l.size).sum::<u64>()
    }
}

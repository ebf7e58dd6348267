//! Audit: what a built image really contains, and what a family of images could share.
//!
//! [`audit_image`] reads one image of the store (manifest, config, and each layer blob
//! streamed once, see [`scan`]) and returns a [`Report`]: per-layer figures, wasted space,
//! [`Finding`]s (junk, security, secrets, budgets) and installed [`Package`]s.
//! [`sharing`] compares sibling images (same parent) for files they all carry in their
//! own layers. The renderers turn reports into text, JSON, SARIF 2.1.0 or an SBOM
//! (SPDX 2.3 / CycloneDX 1.5); the CLI only parses arguments, calls these and prints.
//!
//! # Sizes
//! - `compressed_size`: layer blob bytes, from the manifest (what a pull transfers).
//! - `size` (of a layer and of the image): bytes of the uncompressed tar stream, headers,
//!   padding and end blocks included (what the layer's diff_id hashes).
//! - `files_size`: sum of the sizes of the regular files in the tar (what `du` of the
//!   unpacked layer would roughly show). A layer's `share` is its `size` over the image's.
//! - Inherited vs added: the parent is the image named by the manifest annotation
//!   `org.opencontainers.image.base.digest` (strata writes it for `FROM` an image of the
//!   store); the leading layers equal to the parent's are inherited, the rest added.
//!
//! # Wasted space and efficiency (dive's formula, without its double count)
//! For every path, each *copy* is one version of the path written by a layer as a
//! non-directory (its size: the file's bytes; 0 for symlinks, hard links and devices),
//! and each *deletion* of a non-directory by a later layer (a `.wh.` whiteout, an opaque
//! directory, or a directory/file written over it) is one more copy, of size 0.
//! Directories are not copies: they hold no bytes and layers repeat their parents. Then
//!
//! ```text
//! reclaimable(path) = sum(copies of path) - min(copies of path)
//! wasted_bytes      = sum over paths of reclaimable(path)
//! efficiency        = sum over paths of min(copies) / sum over paths of sum(copies)
//!                     (1.0 when the image has no bytes at all)
//! ```
//!
//! A file of 3 MB added in layer 2 and deleted in layer 4 has copies {3 MB, 0}: 3 MB
//! reclaimable. A 1 KB file overwritten by a 3 MB one has copies {1 KB, 3 MB}: 3 MB
//! reclaimable (the figure measures how much smaller the image would be had each path
//! been written once at its smallest, as dive does; it counts the kept copy only once).
//! A path deleted and written again keeps the 0 of its deletion as its smallest copy.
//!
//! # JSON schema (`render_json`)
//! An array with one object per image (for a family, [`render_family_json`] wraps it as
//! `{images, sharing}`):
//! `image` (NAME:TAG), `digest` (manifest digest), `created`, `parent` (`null` or
//! `{name, digest, found}`), `size`, `compressed_size`, `files_size`, `inherited_bytes`,
//! `added_bytes`, `efficiency` (0..1), `wasted_bytes`, `user` (the config's User, `""`
//! when unset), `layers` (array of `{index, digest, instruction, compressed_size, size,
//! files_size, files, whiteouts, share, inherited, source}`; `source` is `null` or
//! `{file, line}`), `wasted` (top paths: `{path, wasted_bytes, total_bytes, copies,
//! added_in, last_changed_in, deleted}`), `findings` (`{id, severity, message, layer,
//! path, inherited}`; severity `info|warning|error`; `layer` and `path` may be `null`),
//! `packages` (`{ecosystem, name, version, arch?}`).

pub mod packages;
mod render;
mod rules;
mod scan;
mod sharing;
mod tree;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::digest::Digest;
use crate::image::{Store, StoreError};

pub use crate::severity::Severity;
pub use packages::{render_sbom, Ecosystem, Package, SbomFormat};
pub use render::{
    render_family_json, render_json, render_sarif, render_sharing_json, render_sharing_text,
    render_text,
};
pub use rules::{Rule, RULES};
pub use sharing::{sharing, DuplicateFile, SharingGroup, SharingReport, SiblingShare};

use crate::image::{BASE_DIGEST, BASE_NAME};

/// Size and efficiency limits; an exceeded one is an `error` finding (`budget-*`) and
/// always makes the exit code 1. The integrator fills them from `strata.toml`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Budgets {
    /// Largest allowed image `size` (uncompressed tar bytes).
    pub max_size: Option<u64>,
    /// Smallest allowed efficiency, 0..1.
    pub min_efficiency: Option<f64>,
    /// Largest allowed `wasted_bytes`.
    pub max_wasted: Option<u64>,
}

/// Where in a Dockerfile a layer's instruction is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceLocation {
    /// The Dockerfile, as the SARIF artifact URI (a path relative to the repository root
    /// is what code-scanning UIs expect).
    pub file: String,
    /// 1-based line of the instruction.
    pub line: u32,
}

/// What to check and how.
#[derive(Clone, Debug)]
pub struct AuditOptions {
    /// The image belongs to the family's base tier, where setuid/setgid binaries (`su`,
    /// `passwd`, `mount`) are expected. Otherwise setuid/setgid files in the image's own
    /// (not inherited) layers are findings.
    pub base_tier: bool,
    /// Report `__pycache__` directories under site-packages (off by default: many images
    /// precompile on purpose).
    pub pycache: bool,
    /// How many wasted paths the report lists.
    pub top_wasted: usize,
    /// Budgets.
    pub budgets: Budgets,
    /// Dockerfile locations of layer instructions, by layer index (from the integrator,
    /// which knows the Dockerfile strata built the image from).
    pub sources: BTreeMap<usize, SourceLocation>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            base_tier: false,
            pycache: false,
            top_wasted: 10,
            budgets: Budgets::default(),
            sources: BTreeMap::new(),
        }
    }
}

/// One problem found in an image.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// Rule id (see [`RULES`]).
    pub id: String,
    /// Its severity.
    pub severity: Severity,
    /// What was found, naming the path.
    pub message: String,
    /// The layer it is in (`None` for config and budget findings).
    pub layer: Option<usize>,
    /// The path in the image, when there is one.
    pub path: Option<String>,
    /// True when the layer is inherited from the parent (fix it there).
    pub inherited: bool,
}

/// The parent image, from the manifest's base annotations.
#[derive(Clone, Debug, Serialize)]
pub struct Parent {
    /// `org.opencontainers.image.base.name`, when present.
    pub name: Option<String>,
    /// `org.opencontainers.image.base.digest`.
    pub digest: Digest,
    /// Whether the store still holds it (if not, no layer counts as inherited).
    pub found: bool,
}

/// One layer of the image.
#[derive(Clone, Debug, Serialize)]
pub struct LayerReport {
    /// 0 for the bottom layer.
    pub index: usize,
    /// Blob digest.
    pub digest: Digest,
    /// The instruction that created it (`created_by` of the matching history entry).
    pub instruction: Option<String>,
    /// Blob bytes.
    pub compressed_size: u64,
    /// Uncompressed tar bytes.
    pub size: u64,
    /// Sum of regular file sizes.
    pub files_size: u64,
    /// Entries other than whiteouts.
    pub files: u64,
    /// Whiteout entries.
    pub whiteouts: u64,
    /// `size` over the image's `size`, 0..1.
    pub share: f64,
    /// Part of the parent image.
    pub inherited: bool,
    /// The Dockerfile line, when the integrator knows it.
    pub source: Option<SourceLocation>,
}

/// A path whose copies waste space.
#[derive(Clone, Debug, Serialize)]
pub struct WastedPath {
    /// Absolute path in the image.
    pub path: String,
    /// Reclaimable bytes: all copies minus the smallest.
    pub wasted_bytes: u64,
    /// Bytes of all copies.
    pub total_bytes: u64,
    /// Number of copies, deletions included.
    pub copies: u32,
    /// The layer that first added it.
    pub added_in: usize,
    /// The layer that last overwrote or deleted it.
    pub last_changed_in: usize,
    /// Whether that last change was a deletion.
    pub deleted: bool,
}

/// The audit of one image.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `NAME:TAG` as asked.
    pub image: String,
    /// Manifest digest.
    pub digest: Digest,
    /// The config's creation time.
    pub created: Option<String>,
    /// The parent image, when the manifest names one.
    pub parent: Option<Parent>,
    /// Uncompressed tar bytes of all layers.
    pub size: u64,
    /// Blob bytes of all layers.
    pub compressed_size: u64,
    /// Regular file bytes of all layers.
    pub files_size: u64,
    /// `size` of the inherited layers.
    pub inherited_bytes: u64,
    /// `size` of the image's own layers.
    pub added_bytes: u64,
    /// See the module doc.
    pub efficiency: f64,
    /// See the module doc.
    pub wasted_bytes: u64,
    /// The config's User (`""` when unset).
    pub user: String,
    /// Bottom first.
    pub layers: Vec<LayerReport>,
    /// The top wasted paths, most wasted first.
    pub wasted: Vec<WastedPath>,
    /// Findings, by layer.
    pub findings: Vec<Finding>,
    /// Installed packages, sorted.
    pub packages: Vec<Package>,
}

impl Report {
    /// 1 when a budget is exceeded or a finding is at or over `fail_on`, else 0.
    pub fn exit_code(&self, fail_on: Option<Severity>) -> i32 {
        let fails = |f: &Finding| {
            f.id.starts_with("budget-") || fail_on.is_some_and(|level| f.severity >= level)
        };
        i32::from(self.findings.iter().any(fails))
    }
}

/// The exit code of several reports: 1 if any of them fails.
pub fn exit_code(reports: &[Report], fail_on: Option<Severity>) -> i32 {
    reports
        .iter()
        .map(|r| r.exit_code(fail_on))
        .max()
        .unwrap_or(0)
}

/// Errors of the audit, each naming the blob, layer or entry involved.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The store could not give the image.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// I/O on a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A layer blob that does not read as a (compressed) tar.
    #[error("layer {index} ({digest}){}: {source}", entry_suffix(.entry))]
    Layer {
        /// Layer index, 0 at the bottom.
        index: usize,
        /// Blob digest.
        digest: String,
        /// The tar entry being read, when the error is about one.
        entry: Option<String>,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A layer media type the audit cannot decompress.
    #[error("layer {digest}: unsupported media type {media_type}")]
    MediaType {
        /// Blob digest.
        digest: String,
        /// Its media type.
        media_type: String,
    },
}

fn entry_suffix(entry: &Option<String>) -> String {
    entry
        .as_ref()
        .map(|e| format!(", entry {e:?}"))
        .unwrap_or_default()
}

/// Sizes in binary units, as `du -h` prints them: `512 B`, `3.0 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    #[allow(clippy::cast_precision_loss)] // display only
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The parent of `image` and how many of its leading layers are the parent's.
fn parent_of(store: &Store, image: &crate::image::Image) -> (Option<Parent>, usize) {
    let Some(digest) = image
        .manifest
        .annotations
        .get(BASE_DIGEST)
        .and_then(|d| d.parse::<Digest>().ok())
    else {
        return (None, 0);
    };
    let name = image.manifest.annotations.get(BASE_NAME).cloned();
    match store.image_by_digest(&digest) {
        Ok(parent) => {
            let shared = common_prefix(&parent, image);
            let parent = Parent {
                name,
                digest,
                found: true,
            };
            (Some(parent), shared)
        }
        Err(_) => (
            Some(Parent {
                name,
                digest,
                found: false,
            }),
            0,
        ),
    }
}

/// The number of leading layers `child` shares with `parent`.
pub(crate) fn common_prefix(parent: &crate::image::Image, child: &crate::image::Image) -> usize {
    parent
        .manifest
        .layers
        .iter()
        .zip(&child.manifest.layers)
        .take_while(|(a, b)| a.digest == b.digest)
        .count()
}

/// Audits the image `name` (`NAME[:TAG]`) of `store`: streams each layer blob once and
/// applies every rule. Only errors reading the store are errors; what the image holds
/// is in the report.
pub fn audit_image(
    store: &Store,
    name: &str,
    options: &AuditOptions,
) -> Result<Report, AuditError> {
    let image = store.image(name)?;
    let (parent, inherited) = parent_of(store, &image);
    let mut scan = scan::Scan::default();
    for (index, layer) in image.manifest.layers.iter().enumerate() {
        scan.layer(&store.blob_path(&layer.digest), layer, index, false)?;
    }

    // Non-empty history entries match the layers in order.
    let mut instructions = image
        .config
        .history
        .iter()
        .filter(|h| !h.empty_layer)
        .map(|h| h.created_by.as_deref().map(clean_instruction));
    let size: u64 = scan.layers.iter().map(|l| l.tar_size).sum();
    let layers: Vec<LayerReport> = image
        .manifest
        .layers
        .iter()
        .zip(&scan.layers)
        .enumerate()
        .map(|(index, (descriptor, stats))| LayerReport {
            index,
            digest: descriptor.digest.clone(),
            instruction: instructions.next().flatten(),
            compressed_size: descriptor.size,
            size: stats.tar_size,
            files_size: stats.files_size,
            files: stats.entries,
            whiteouts: stats.whiteouts,
            share: ratio(stats.tar_size, size),
            inherited: index < inherited,
            source: options.sources.get(&index).cloned(),
        })
        .collect();

    let (mut all, mut smallest) = (0u64, 0u64);
    let mut wasted = Vec::new();
    for (path, node) in &scan.tree {
        all += node.total;
        smallest += node.min;
        if node.total > node.min {
            wasted.push(WastedPath {
                path: path.to_string(),
                wasted_bytes: node.total - node.min,
                total_bytes: node.total,
                copies: node.copies,
                added_in: node.first_layer,
                last_changed_in: node.last_layer,
                deleted: node.deleted,
            });
        }
    }
    let wasted_bytes = all - smallest;
    let efficiency = if all == 0 { 1.0 } else { ratio(smallest, all) };
    wasted.sort_by(|a, b| {
        b.wasted_bytes
            .cmp(&a.wasted_bytes)
            .then_with(|| a.path.cmp(&b.path))
    });
    wasted.truncate(options.top_wasted);

    let user = image.config.config.user.clone().unwrap_or_default();
    let mut findings = std::mem::take(&mut scan.findings);
    let setuid_from = (!options.base_tier).then_some(inherited);
    findings.extend(rules::final_state(&scan.tree, setuid_from, options.pycache));
    if rules::is_root_user(&user) {
        let shown = if user.is_empty() { "unset" } else { &user };
        findings.push(rules::finding(
            "user-root",
            format!("the image runs as root (User {shown})"),
            None,
            None,
        ));
    }
    findings.extend(budget_findings(
        &options.budgets,
        size,
        efficiency,
        wasted_bytes,
    ));
    for f in &mut findings {
        f.inherited = f.layer.is_some_and(|l| l < inherited);
    }
    findings.sort_by(|a, b| (a.layer, &a.id, &a.path).cmp(&(b.layer, &b.id, &b.path)));

    let mut packages: Vec<Package> = scan
        .package_dbs
        .into_values()
        .flat_map(|(_, p)| p)
        .collect();
    packages.sort();
    packages.dedup();

    let inherited_bytes: u64 = layers.iter().filter(|l| l.inherited).map(|l| l.size).sum();
    Ok(Report {
        image: name.to_owned(),
        digest: image.digest.clone(),
        created: image.config.created.clone(),
        parent,
        size,
        compressed_size: image.manifest.layers.iter().map(|l| l.size).sum(),
        files_size: scan.layers.iter().map(|l| l.files_size).sum(),
        inherited_bytes,
        added_bytes: size - inherited_bytes,
        efficiency,
        wasted_bytes,
        user,
        layers,
        wasted,
        findings,
        packages,
    })
}

/// `created_by` without BuildKit's ` # buildkit` suffix or docker's `/bin/sh -c #(nop) `.
fn clean_instruction(created_by: &str) -> String {
    let s = created_by.strip_suffix(" # buildkit").unwrap_or(created_by);
    let s = s.strip_prefix("/bin/sh -c #(nop) ").unwrap_or(s);
    s.trim().to_owned()
}

#[allow(clippy::cast_precision_loss)] // ratios of byte counts: 53 bits are plenty
fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn budget_findings(budgets: &Budgets, size: u64, efficiency: f64, wasted: u64) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(max) = budgets.max_size.filter(|&m| size > m) {
        out.push(rules::finding(
            "budget-size",
            format!("size {} exceeds max_size {}", human(size), human(max)),
            None,
            None,
        ));
    }
    if let Some(min) = budgets.min_efficiency.filter(|&m| efficiency < m) {
        out.push(rules::finding(
            "budget-efficiency",
            format!(
                "efficiency {:.2} % is below min_efficiency {:.2} %",
                efficiency * 100.0,
                min * 100.0
            ),
            None,
            None,
        ));
    }
    if let Some(max) = budgets.max_wasted.filter(|&m| wasted > m) {
        out.push(rules::finding(
            "budget-wasted",
            format!("wasted {} exceeds max_wasted {}", human(wasted), human(max)),
            None,
            None,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(human(1536), "1.5 KiB");
    }

    #[test]
    fn instructions_lose_builder_decorations() {
        assert_eq!(clean_instruction("RUN x # buildkit"), "RUN x");
        assert_eq!(
            clean_instruction("/bin/sh -c #(nop)  CMD [\"sh\"]"),
            "CMD [\"sh\"]"
        );
    }

    #[test]
    fn budgets_always_fail_and_findings_by_severity() {
        let findings = budget_findings(
            &Budgets {
                max_size: Some(10),
                min_efficiency: Some(0.9),
                max_wasted: Some(0),
            },
            11,
            0.5,
            1,
        );
        assert_eq!(
            findings.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
            ["budget-size", "budget-efficiency", "budget-wasted"]
        );
        assert!(budget_findings(&Budgets::default(), u64::MAX, 0.0, u64::MAX).is_empty());
    }
}

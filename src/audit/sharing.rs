//! Family sharing: what sibling images (same parent) share through their parent's layers,
//! and which identical files they each carry in their own layers instead.
//!
//! For each group of two or more siblings, the own layers of every sibling (those after
//! the layers it has in common with the parent) are streamed once with content hashing
//! on; a file is a duplicate when the same path with the same SHA-256 is live at the end
//! of the own layers of two or more siblings. Hoisting it into the parent would let a
//! node that pulls all the siblings fetch and store it once: it saves
//! `size * (siblings holding it - 1)` bytes (file bytes, uncompressed).
//!
//! Bytes shared through the parent are the parent's layers as blobs (compressed, from the
//! manifest): what each sibling reuses instead of shipping again.

use std::collections::BTreeMap;

use serde::Serialize;

use super::scan::Scan;
use super::tree::Kind;
use super::{common_prefix, AuditError};
use crate::digest::Digest;
use crate::image::Store;

/// One sibling of a group.
#[derive(Clone, Debug, Serialize)]
pub struct SiblingShare {
    /// `NAME:TAG`.
    pub name: String,
    /// Manifest digest.
    pub digest: Digest,
    /// Compressed bytes of the layers it shares with the parent.
    pub shared_bytes: u64,
    /// Compressed bytes of its own layers.
    pub own_bytes: u64,
    /// File bytes of its own files that another sibling also holds.
    pub duplicated_bytes: u64,
}

/// A file that two or more siblings hold identically in their own layers.
#[derive(Clone, Debug, Serialize)]
pub struct DuplicateFile {
    /// Absolute path in the images.
    pub path: String,
    /// File size in bytes.
    pub size: u64,
    /// SHA-256 of its content, hex.
    pub sha256: String,
    /// The siblings that hold it.
    pub images: Vec<String>,
    /// `size * (images - 1)`: what hoisting it into the parent saves a node pulling all.
    pub bytes_saved: u64,
}

/// Siblings of one parent.
#[derive(Clone, Debug, Serialize)]
pub struct SharingGroup {
    /// The common parent, `NAME:TAG`: where duplicates could be hoisted.
    pub parent: String,
    /// Its manifest digest.
    pub parent_digest: Digest,
    /// The siblings, in input order.
    pub siblings: Vec<SiblingShare>,
    /// Duplicated files, largest saving first.
    pub duplicates: Vec<DuplicateFile>,
    /// Sum of `bytes_saved` over `duplicates`.
    pub bytes_saved: u64,
}

/// The sharing report of a family.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SharingReport {
    /// One group per parent with two or more children, sorted by parent name.
    pub groups: Vec<SharingGroup>,
}

/// Groups `images` (`(NAME:TAG, parent NAME:TAG)`) by parent and reports, for each
/// group of two or more, the bytes shared through the parent and the duplicated files.
pub fn sharing(
    store: &Store,
    images: &[(&str, Option<&str>)],
) -> Result<SharingReport, AuditError> {
    let mut by_parent: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, parent) in images {
        if let Some(parent) = parent {
            by_parent.entry(parent).or_default().push(name);
        }
    }
    let mut report = SharingReport::default();
    for (parent_name, children) in by_parent {
        if children.len() < 2 {
            continue;
        }
        report.groups.push(group(store, parent_name, &children)?);
    }
    Ok(report)
}

fn group(store: &Store, parent_name: &str, children: &[&str]) -> Result<SharingGroup, AuditError> {
    let parent = store.image(parent_name)?;
    let mut siblings = Vec::new();
    // (path, sha256) -> (size, sibling indexes)
    let mut files: BTreeMap<(String, [u8; 32]), (u64, Vec<usize>)> = BTreeMap::new();
    for (i, name) in children.iter().enumerate() {
        let image = store.image(name)?;
        let shared = common_prefix(&parent, &image);
        let mut scan = Scan::default();
        for (index, layer) in image.manifest.layers.iter().enumerate().skip(shared) {
            scan.layer(&store.blob_path(&layer.digest), layer, index, true)?;
        }
        for (path, node) in &scan.tree {
            let Some(live) = &node.live else { continue };
            // Empty files cost nothing to duplicate.
            if let (Kind::File, Some(hash), true) = (live.kind, live.hash, live.size > 0) {
                let entry = files
                    .entry((path.to_string(), hash))
                    .or_insert((live.size, Vec::new()));
                entry.1.push(i);
            }
        }
        let layers = &image.manifest.layers;
        siblings.push(SiblingShare {
            name: (*name).to_owned(),
            digest: image.digest.clone(),
            shared_bytes: layers[..shared].iter().map(|l| l.size).sum(),
            own_bytes: layers[shared..].iter().map(|l| l.size).sum(),
            duplicated_bytes: 0,
        });
    }
    let mut duplicates = Vec::new();
    for ((path, hash), (size, holders)) in files {
        if holders.len() < 2 {
            continue;
        }
        for &h in &holders {
            siblings[h].duplicated_bytes += size;
        }
        duplicates.push(DuplicateFile {
            path,
            size,
            sha256: hex::encode(hash),
            images: holders.iter().map(|&h| children[h].to_owned()).collect(),
            bytes_saved: size * (holders.len() as u64 - 1),
        });
    }
    duplicates.sort_by(|a, b| {
        b.bytes_saved
            .cmp(&a.bytes_saved)
            .then_with(|| a.path.cmp(&b.path))
    });
    Ok(SharingGroup {
        parent: parent_name.to_owned(),
        parent_digest: parent.digest,
        siblings,
        bytes_saved: duplicates.iter().map(|d| d.bytes_saved).sum(),
        duplicates,
    })
}

//! One streaming pass over an image's layer blobs, bottom first.
//!
//! Each blob is decompressed on the fly and read with `tar::Archive::entries` (through
//! [`crate::layer::archive`], which bounds extended headers): headers
//! always, file bytes only where a rule needs them (small files for secret sniffing,
//! package databases, content hashes when asked). Nothing is unpacked to disk and no blob
//! is held in memory; what stays is one [`Node`] per path ever seen (see `tree`), which is what the
//! wasted-space figure needs (see the formula in [`super`]).
//!
//! Whiteouts follow the OCI layer spec: `.wh.NAME` hides `NAME` and everything below it,
//! `.wh..wh..opq` hides every lower-layer entry of its directory; both apply to lower
//! layers only, never to entries of their own layer. A non-directory written over a
//! directory hides the directory's lower-layer children too, as overlayfs does.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::ops::Bound;

use sha2::{Digest as _, Sha256};

use super::packages::{self, Package};
use super::rules;
use super::tree::{Kind, Live, Node};
use super::{AuditError, Finding};
use crate::image::Descriptor;
use crate::layer::Compression;

/// Files up to this size are read whole and sniffed for secrets (PEM keys, access keys).
pub(crate) const SNIFF_MAX: u64 = 64 * 1024;

/// Per-layer figures gathered while streaming.
#[derive(Clone, Debug, Default)]
pub(crate) struct LayerStats {
    /// Bytes of the uncompressed tar stream, padding and end blocks included.
    pub tar_size: u64,
    /// Sum of the sizes of its regular files.
    pub files_size: u64,
    /// Entries other than whiteouts.
    pub entries: u64,
    /// Whiteouts (`.wh.` and opaque markers).
    pub whiteouts: u64,
}

/// The state of the image filesystem after the layers scanned so far.
#[derive(Default)]
pub(crate) struct Scan {
    /// Every path ever seen, absolute (`/usr/bin/env`).
    pub tree: BTreeMap<Box<str>, Node>,
    /// Package databases by path, with the layer that wrote them.
    pub package_dbs: BTreeMap<String, (usize, Vec<Package>)>,
    /// Findings raised while streaming (secrets: any copy counts, even a deleted one,
    /// since it stays readable in its layer blob).
    pub findings: Vec<Finding>,
    pub layers: Vec<LayerStats>,
    buf: Vec<u8>,
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

impl Scan {
    /// Streams the layer blob at `blob_path` (described by `layer`) as layer `index`.
    /// With `hash`, regular files get a SHA-256 of their content.
    pub fn layer(
        &mut self,
        blob_path: &std::path::Path,
        layer: &Descriptor,
        index: usize,
        hash: bool,
    ) -> Result<(), AuditError> {
        let io_err = |source: io::Error| AuditError::Layer {
            index,
            digest: layer.digest.to_string(),
            entry: None,
            source,
        };
        let compression = Compression::from_media_type(&layer.media_type).ok_or_else(|| {
            AuditError::MediaType {
                digest: layer.digest.to_string(),
                media_type: layer.media_type.clone(),
            }
        })?;
        let file = File::open(blob_path).map_err(|source| AuditError::Io {
            path: blob_path.display().to_string(),
            source,
        })?;
        let file = BufReader::with_capacity(256 * 1024, file);
        let reader: Box<dyn Read> = match compression {
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(file)),
            Compression::Zstd => {
                Box::new(zstd::stream::read::Decoder::with_buffer(file).map_err(io_err)?)
            }
            Compression::None => Box::new(file),
        };
        let mut archive = crate::layer::archive(Counting {
            inner: reader,
            count: 0,
        });
        let mut stats = LayerStats::default();
        for entry in archive.entries().map_err(io_err)? {
            let mut entry = entry.map_err(io_err)?;
            let raw = entry.path().map_err(io_err)?.to_string_lossy().into_owned();
            self.entry(&mut entry, &raw, index, hash, &mut stats)
                .map_err(|source| AuditError::Layer {
                    index,
                    digest: layer.digest.to_string(),
                    entry: Some(crate::layer::shown(&raw)),
                    source,
                })?;
        }
        // The end-of-archive blocks and any trailing padding belong to the tar's size.
        let mut counting = archive.into_inner().into_inner();
        io::copy(&mut counting, &mut io::sink()).map_err(io_err)?;
        stats.tar_size = counting.count;
        self.layers.push(stats);
        Ok(())
    }

    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        raw: &str,
        index: usize,
        hash: bool,
        stats: &mut LayerStats,
    ) -> io::Result<()> {
        let Some(path) = normalise(raw) else {
            return Ok(()); // the root directory itself
        };
        let (dir, name) = split(&path);
        if name == ".wh..wh..opq" {
            stats.whiteouts += 1;
            let dir = if dir.is_empty() { "/" } else { dir };
            self.delete_below(dir, index);
            return Ok(());
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            stats.whiteouts += 1;
            let target = format!("{dir}/{hidden}");
            self.delete(&target, index);
            self.delete_below(&target, index);
            return Ok(());
        }
        stats.entries += 1;
        let header = entry.header();
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Symlink,
            tar::EntryType::Link => Kind::Hardlink,
            _ => Kind::Other,
        };
        let mode = header.mode()?;
        let size = if kind == Kind::File { entry.size() } else { 0 };
        stats.files_size += size;
        let mut live = Live {
            kind,
            size,
            mode,
            layer: index,
            core: false,
            hash: None,
        };
        if kind == Kind::File {
            self.read_content(entry, &path, name, &mut live, hash)?;
        }
        self.add(&path, live);
        Ok(())
    }

    /// Reads what the rules need of a regular file's content.
    fn read_content<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &str,
        name: &str,
        live: &mut Live,
        hash: bool,
    ) -> io::Result<()> {
        if let Some(parse) = packages::database(path) {
            // Package databases can be megabytes: parsed as a stream, hashed on the way.
            let mut hasher = hash.then(Sha256::new);
            let mut reader = BufReader::new(HashingReader {
                inner: entry,
                hasher: hasher.as_mut(),
            });
            let found = parse(&mut reader)?;
            io::copy(&mut reader, &mut io::sink())?;
            drop(reader);
            live.hash = hasher.map(|h| h.finalize().into());
            self.package_dbs
                .insert(path.to_owned(), (live.layer, found));
            return Ok(());
        }
        if live.size <= SNIFF_MAX {
            self.buf.clear();
            entry.read_to_end(&mut self.buf)?;
            if hash {
                live.hash = Some(Sha256::digest(&self.buf).into());
            }
            live.core = rules::is_core_dump(name, &self.buf);
            if let Some(finding) = rules::sniff_secret(path, name, &self.buf, live.layer) {
                self.findings.push(finding);
            }
        } else {
            if let Some(finding) = rules::secret_by_name(path, name, live.size, live.layer) {
                self.findings.push(finding);
            }
            if hash {
                let mut hasher = Sha256::new();
                let mut chunk = [0u8; 64 * 1024];
                loop {
                    let n = entry.read(&mut chunk)?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&chunk[..n]);
                }
                live.hash = Some(hasher.finalize().into());
            }
        }
        Ok(())
    }

    /// Records a new entry of `path` in its layer. Directories are not copies: they
    /// hold no bytes and every layer repeats the parents of what it adds.
    fn add(&mut self, path: &str, live: Live) {
        let lower = self
            .tree
            .get(path)
            .and_then(|n| n.live.as_ref())
            .filter(|l| l.layer < live.layer)
            .map(|l| l.kind);
        if live.kind == Kind::Dir {
            if lower.is_some_and(|k| k != Kind::Dir) {
                // A directory over a file deletes the file.
                self.delete(path, live.layer);
            }
        } else if lower == Some(Kind::Dir) {
            // A file over a directory hides what the lower layers had below it.
            self.delete_below(path, live.layer);
        }
        let node = self.tree.entry(path.into()).or_insert(Node {
            live: None,
            total: 0,
            min: 0,
            copies: 0,
            first_layer: live.layer,
            last_layer: live.layer,
            deleted: false,
        });
        if live.kind != Kind::Dir {
            node.min = if node.copies == 0 {
                live.size
            } else {
                node.min.min(live.size)
            };
            node.total += live.size;
            node.copies += 1;
            node.last_layer = live.layer;
            node.deleted = false;
        }
        node.live = Some(live);
    }

    /// Deletes `path` itself if a lower layer holds it.
    fn delete(&mut self, path: &str, layer: usize) {
        if let Some(node) = self.tree.get_mut(path) {
            delete_node(node, layer);
        }
        self.drop_databases(path, layer, false);
    }

    /// Deletes every lower-layer entry strictly below `dir`.
    fn delete_below(&mut self, dir: &str, layer: usize) {
        let prefix = if dir == "/" {
            "/".to_owned()
        } else {
            format!("{dir}/")
        };
        for (_, node) in self
            .tree
            .range_mut::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(&prefix))
        {
            delete_node(node, layer);
        }
        self.drop_databases(&prefix, layer, true);
    }

    /// Forgets package databases the deletion of `path` (or of everything below the
    /// prefix `path`) removed.
    fn drop_databases(&mut self, path: &str, layer: usize, below: bool) {
        self.package_dbs.retain(|p, (l, _)| {
            let hit = if below {
                p.starts_with(path)
            } else {
                p == path
            };
            !(hit && *l < layer)
        });
    }
}

/// Marks a node deleted in `layer` when it is live from a lower layer; deleting a
/// non-directory adds a copy of size 0.
fn delete_node(node: &mut Node, layer: usize) {
    let Some(live) = node.live.as_ref().filter(|l| l.layer < layer) else {
        return;
    };
    if live.kind != Kind::Dir {
        node.min = 0;
        node.copies += 1;
        node.last_layer = layer;
        node.deleted = true;
    }
    node.live = None;
}

/// Feeds what is read through it to a hasher, when there is one.
struct HashingReader<'a, R> {
    inner: R,
    hasher: Option<&'a mut Sha256>,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// `./usr/bin/`, `usr/bin` and `/usr/bin` all become `/usr/bin`; `.`, `./` and `/`
/// (the root itself) become `None`. `.` and empty components are dropped.
pub(crate) fn normalise(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len() + 1);
    for part in raw.split('/') {
        if part.is_empty() || part == "." {
            continue;
        }
        out.push('/');
        out.push_str(part);
    }
    (!out.is_empty()).then_some(out)
}

/// `/a/b/c` -> (`/a/b`, `c`); `/c` -> (``, `c`).
pub(crate) fn split(path: &str) -> (&str, &str) {
    let at = path.rfind('/').unwrap_or(0);
    (&path[..at], &path[at + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(layer: usize, size: u64, kind: Kind) -> Live {
        Live {
            kind,
            size,
            mode: 0o644,
            layer,
            core: false,
            hash: None,
        }
    }

    #[test]
    fn paths_normalise_to_absolute_form() {
        assert_eq!(normalise("./usr/bin/").as_deref(), Some("/usr/bin"));
        assert_eq!(normalise("usr//bin").as_deref(), Some("/usr/bin"));
        assert_eq!(normalise("./"), None);
        assert_eq!(split("/a/b/c"), ("/a/b", "c"));
        assert_eq!(split("/c"), ("", "c"));
    }

    #[test]
    fn whiteouts_hide_lower_layers_only_and_count_as_empty_copies() {
        let mut scan = Scan::default();
        scan.add("/d", live(0, 0, Kind::Dir));
        scan.add("/d/a", live(0, 10, Kind::File));
        scan.add("/d-x", live(0, 5, Kind::File));
        scan.add("/d/b", live(1, 7, Kind::File));
        scan.delete_below("/d", 1); // opaque marker in layer 1
        let a = &scan.tree["/d/a"];
        assert!(a.live.is_none());
        assert_eq!((a.total, a.min, a.copies, a.last_layer), (10, 0, 2, 1));
        assert!(
            scan.tree["/d/b"].live.is_some(),
            "same-layer entry survives"
        );
        assert!(scan.tree["/d-x"].live.is_some(), "sibling prefix untouched");
    }

    #[test]
    fn a_file_over_a_directory_hides_its_children() {
        let mut scan = Scan::default();
        scan.add("/x", live(0, 0, Kind::Dir));
        scan.add("/x/f", live(0, 3, Kind::File));
        scan.add("/x", live(1, 4, Kind::File));
        assert!(scan.tree["/x/f"].live.is_none());
        let x = &scan.tree["/x"];
        assert_eq!(
            (x.copies, x.total, x.min),
            (1, 4, 4),
            "a directory is no copy"
        );
        let f = &scan.tree["/x/f"];
        assert_eq!((f.copies, f.total, f.min), (2, 3, 0));
    }
}

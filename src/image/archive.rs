//! Archives: the same image values written as a `docker load` tarball or an OCI archive.

use std::path::Path;

use super::{Image, Store, StoreError};

/// The archive formats of `strata export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// docker-archive: `manifest.json`, config and layer tars, read by `docker load`.
    Docker,
    /// oci-archive: an OCI layout in a tar.
    Oci,
}

/// Writes `image`, tagged `name`, from `store` to the file `out` (atomically: a temp file
/// renamed into place), streaming the blobs.
pub fn export(
    store: &Store,
    image: &Image,
    name: &str,
    format: ArchiveFormat,
    out: &Path,
) -> Result<(), StoreError> {
    let _ = (store, image, name, format, out);
    todo!("image helper")
}

//! `strata build --output`: the built image's root filesystem written out of the store, as
//! `docker build -o` does for CI jobs that build artifacts rather than images.
//!
//! - `type=local,dest=DIR` (or just `DIR`): the files, with their modes, owners, links and
//!   special files, copied into `DIR`;
//! - `type=tar,dest=FILE` (or `-` for standard output): one uncompressed tar of them,
//!   written the way layers are (sorted, normalised headers).
//!
//! The filesystem is the image's layers stacked in a read-only overlay, so whiteouts and
//! opaque directories have already done their work.

use std::path::{Path, PathBuf};

use super::{io_err, BuildError};
use crate::copy::{self, SourceSet};
use crate::dockerfile::ignore::Ignore;
use crate::fsroot::Root;
use crate::image::{Image, Store};
use crate::layer::{self, Compression};
use crate::snapshot::{lower_stack, StepDirs};

/// Where `--output` sends the filesystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// A directory, created if missing.
    Local(PathBuf),
    /// A tar file; `-` is standard output.
    Tar(PathBuf),
}

impl Output {
    /// Parses docker's forms: `DIR`, `-`, `type=local,dest=DIR`, `type=tar,dest=FILE`.
    pub fn parse(spec: &str) -> Result<Output, String> {
        if !spec.contains('=') {
            return Ok(if spec == "-" {
                Output::Tar(spec.into())
            } else {
                Output::Local(spec.into())
            });
        }
        let (mut kind, mut dest) = (None, None);
        for pair in spec.split(',') {
            match pair.split_once('=') {
                Some(("type", v)) => kind = Some(v),
                Some(("dest", v)) => dest = Some(PathBuf::from(v)),
                _ => return Err(format!("--output {spec:?}: unknown part {pair:?}")),
            }
        }
        let dest = dest.ok_or_else(|| format!("--output {spec:?}: dest= is missing"))?;
        match kind {
            Some("local") => Ok(Output::Local(dest)),
            Some("tar") => Ok(Output::Tar(dest)),
            other => Err(format!(
                "--output {spec:?}: type {} is not local or tar",
                other.unwrap_or("(none)")
            )),
        }
    }
}

/// Writes the root filesystem of `image` to `output`.
pub fn write(store: &Store, image: &Image, output: &Output) -> Result<(), BuildError> {
    let snapshots = store.snapshots(image)?;
    let dirs = StepDirs::new(store)?;
    let overlay = dirs.mount(&lower_stack(snapshots.into_iter()))?;
    let view = overlay.target();
    match output {
        Output::Local(dest) => {
            fs_err::create_dir_all(dest).map_err(io_err(dest))?;
            let from = Root::open(view).map_err(io_err(view))?;
            let into = Root::open(dest).map_err(io_err(dest))?;
            let everything = Ignore::default();
            let set =
                SourceSet::from_root(&from, view, &["/".into()], &everything, false, "the image")
                    .map_err(|e| BuildError::Usage(e.to_string()))?;
            copy::copy(&set, &into, Path::new("/"), &copy::CopyOptions::default())
                .map_err(|e| BuildError::Usage(format!("{}: {e}", dest.display())))?;
        }
        Output::Tar(dest) if dest.as_os_str() == "-" => {
            let tar = dirs.work.with_file_name("rootfs.tar");
            layer::write(view, Compression::None, 0, &tar)?;
            let mut file = fs_err::File::open(&tar).map_err(io_err(&tar))?;
            std::io::copy(&mut file, &mut std::io::stdout().lock())
                .map_err(io_err(Path::new("<stdout>")))?;
        }
        Output::Tar(dest) => {
            layer::write(view, Compression::None, 0, dest)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_forms_parse() {
        assert_eq!(Output::parse("out").unwrap(), Output::Local("out".into()));
        assert_eq!(Output::parse("-").unwrap(), Output::Tar("-".into()));
        assert_eq!(
            Output::parse("type=local,dest=a/b").unwrap(),
            Output::Local("a/b".into())
        );
        assert_eq!(
            Output::parse("type=tar,dest=x.tar").unwrap(),
            Output::Tar("x.tar".into())
        );
        assert!(Output::parse("type=registry,dest=x").is_err());
        assert!(Output::parse("type=local").is_err());
    }
}

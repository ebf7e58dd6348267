//! `strata build --output`: what happens to the result besides the store, in buildx's
//! forms (`type=TYPE[,KEY=VALUE...]`, quoted as CSV).
//!
//! - `type=local,dest=DIR` (or just `DIR`): the image's root filesystem, with its modes,
//!   owners, links and special files, copied into `DIR`;
//! - `type=tar,dest=FILE` (or `-` for standard output): one uncompressed tar of it,
//!   written the way layers are (sorted, normalised headers);
//! - `type=oci,dest=FILE` / `type=docker,dest=FILE`: the image as an oci-archive or a
//!   docker-archive (`-`: standard output);
//! - `type=image[,name=A,B][,push=true]`, `type=registry` (= `push=true`), and
//!   `type=docker` without `dest`: the image in the store, tagged with the names, and
//!   pushed when asked. (buildx loads `type=docker` into docker; strata's store is where
//!   every build lands already.) The caller tags and pushes: [`Output::Image`].
//!
//! `compression=gzip|zstd` on the image outputs sets the compression of the new layers.
//! The filesystem is the image's layers stacked in a read-only overlay, so whiteouts and
//! opaque directories have already done their work.

use std::path::{Path, PathBuf};

use super::{io_err, BuildError};
use crate::copy::{self, SourceSet};
use crate::dockerfile::ignore::Ignore;
use crate::dockerfile::mount::split_csv;
use crate::fsroot::Root;
use crate::image::archive::{self, ArchiveFormat};
use crate::image::{Image, Store};
use crate::layer::{self, Compression};
use crate::snapshot::{lower_stack, StepDirs};

/// Where `--output` sends the result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// The filesystem in a directory, created if missing.
    Local(PathBuf),
    /// The filesystem as a tar file; `-` is standard output.
    Tar(PathBuf),
    /// The image as an archive file; `-` is standard output.
    Archive {
        /// docker-archive or oci-archive.
        format: ArchiveFormat,
        /// The file.
        dest: PathBuf,
        /// The names the archive gives the image (the first one counts; none: `-t`'s).
        names: Vec<String>,
    },
    /// The image in the store under these names (none: `-t`'s), pushed if `push`.
    Image {
        /// `name=`, split at commas.
        names: Vec<String>,
        /// `push=true` (always for `type=registry`).
        push: bool,
    },
}

/// One parsed `--output` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputFlag {
    /// What to do.
    pub output: Output,
    /// `compression=`: the compression of the new layers, if given.
    pub compression: Option<Compression>,
}

impl Output {
    /// Parses buildx's forms: `DIR`, `-`, `type=TYPE[,dest=...][,name=...][,push=...]
    /// [,compression=...]`. A name list may be quoted (`"name=a,b"`, as buildx wants) or
    /// not (`name=a,b`: a field without `=` after `name=` is one more name).
    pub fn parse(spec: &str) -> Result<OutputFlag, String> {
        let fail = |why: String| format!("--output {spec:?}: {why}");
        if !spec.contains('=') {
            let output = if spec == "-" {
                Output::Tar(spec.into())
            } else if spec.is_empty() {
                return Err(fail("empty".into()));
            } else {
                Output::Local(spec.into())
            };
            return Ok(OutputFlag {
                output,
                compression: None,
            });
        }
        let (mut kind, mut dest, mut names, mut push, mut compression) =
            (None, None, None::<Vec<String>>, None, None);
        let mut last_was_name = false;
        for field in split_csv(spec).map_err(fail)? {
            let pair = field.split_once('=');
            if pair.is_none() && last_was_name {
                names.get_or_insert_with(Vec::new).push(field);
                continue;
            }
            last_was_name = false;
            match pair {
                Some(("type", v)) => kind = Some(v.to_owned()),
                Some(("dest", v)) => dest = Some(PathBuf::from(v)),
                Some(("name", v)) => {
                    let list = names.get_or_insert_with(Vec::new);
                    list.extend(v.split(',').filter(|n| !n.is_empty()).map(str::to_owned));
                    last_was_name = true;
                }
                Some(("push", v)) => {
                    push = Some(
                        parse_bool(v)
                            .ok_or_else(|| fail(format!("push={v}: expected true or false")))?,
                    )
                }
                Some(("compression", "gzip")) => compression = Some(Compression::Gzip),
                Some(("compression", "zstd")) => compression = Some(Compression::Zstd),
                Some(("compression", v)) => {
                    return Err(fail(format!(
                        "compression={v}: strata writes gzip or zstd layers"
                    )))
                }
                Some(("oci-mediatypes", "true")) => {}
                Some(("oci-mediatypes", v)) => {
                    return Err(fail(format!(
                        "oci-mediatypes={v}: strata writes OCI media types only"
                    )))
                }
                _ => {
                    return Err(fail(format!(
                        "unknown part {field:?} (strata reads type, dest, name, push, compression)"
                    )))
                }
            }
        }
        let kind = kind.ok_or_else(|| fail("type= is missing".into()))?;
        let needs_dest =
            |dest: Option<PathBuf>| dest.ok_or_else(|| fail(format!("type={kind} needs dest=")));
        let only_dest = names.is_none() && push.is_none() && compression.is_none();
        let output = match kind.as_str() {
            "local" | "tar" if !only_dest => {
                return Err(fail(format!("type={kind} takes dest= only")))
            }
            "local" => Output::Local(needs_dest(dest)?),
            "tar" => Output::Tar(needs_dest(dest)?),
            "oci" | "docker" if push == Some(true) => {
                return Err(fail(format!(
                    "type={kind} writes a file and cannot push: use type=registry"
                )))
            }
            "oci" => Output::Archive {
                format: ArchiveFormat::Oci,
                dest: needs_dest(dest)?,
                names: names.unwrap_or_default(),
            },
            "docker" => match dest {
                Some(dest) => Output::Archive {
                    format: ArchiveFormat::Docker,
                    dest,
                    names: names.unwrap_or_default(),
                },
                None => Output::Image {
                    names: names.unwrap_or_default(),
                    push: false,
                },
            },
            "image" | "registry" if dest.is_some() => {
                return Err(fail(format!(
                    "type={kind} takes no dest= (use type=oci or type=docker for a file)"
                )))
            }
            "image" => Output::Image {
                names: names.unwrap_or_default(),
                push: push.unwrap_or(false),
            },
            "registry" if push == Some(false) => {
                return Err(fail(
                    "type=registry always pushes: use type=image for push=false".into(),
                ))
            }
            "registry" => Output::Image {
                names: names.unwrap_or_default(),
                push: true,
            },
            other => {
                return Err(fail(format!(
                    "type {other:?} is not local, tar, oci, docker, image or registry"
                )))
            }
        };
        Ok(OutputFlag {
            output,
            compression,
        })
    }

    /// Whether the output goes to standard output (so the digest must not).
    pub fn to_stdout(&self) -> bool {
        match self {
            Output::Tar(dest) | Output::Archive { dest, .. } => dest.as_os_str() == "-",
            Output::Local(_) | Output::Image { .. } => false,
        }
    }
}

/// buildx's booleans (Go's `strconv.ParseBool`, the common spellings).
fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "true" | "1" | "t" | "TRUE" | "True" => Some(true),
        "false" | "0" | "f" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Writes the result of a build to `output`; `tags` name it in an archive when the
/// output gives no name. Of a multi-platform result, an oci-archive holds the index and
/// every platform's image, a local directory one subdirectory per platform
/// (`linux_arm64/`, as BuildKit splits them); a docker-archive or a filesystem tar holds
/// one platform only, so several are refused rather than one picked.
pub fn write(
    store: &Store,
    result: &super::BuildResult,
    output: &Output,
    tags: &[String],
) -> Result<(), BuildError> {
    let [image] = result.images.as_slice() else {
        return write_platforms(store, result, output, tags);
    };
    match output {
        Output::Local(_) | Output::Tar(_) => write_filesystem(store, image, output),
        Output::Archive {
            format,
            dest,
            names,
        } => {
            let name = names.first().or(tags.first()).map(String::as_str);
            to_file_or_stdout(store, dest, |file| {
                archive::export(store, image, name, *format, file)
            })
        }
        Output::Image { .. } => Ok(()),
    }
}

/// [`write`] for several platforms.
fn write_platforms(
    store: &Store,
    result: &super::BuildResult,
    output: &Output,
    tags: &[String],
) -> Result<(), BuildError> {
    let several = || {
        result
            .images
            .iter()
            .map(|i| i.config.platform().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match output {
        Output::Archive {
            format: ArchiveFormat::Oci,
            dest,
            names,
        } => {
            let name = names.first().or(tags.first()).map(String::as_str);
            to_file_or_stdout(store, dest, |file| {
                archive::export_index(store, &result.descriptor, name, file)
            })
        }
        Output::Archive { .. } => Err(BuildError::Usage(format!(
            "--output type=docker holds one image, and this build made one per platform ({}): use type=oci, or build one --platform",
            several()
        ))),
        Output::Tar(_) => Err(BuildError::Usage(format!(
            "--output type=tar holds one root filesystem, and this build made one per platform ({}): use type=local, or build one --platform",
            several()
        ))),
        Output::Local(dest) => {
            for image in &result.images {
                let platform = image.config.platform();
                let mut dir = format!("{}_{}", platform.os, platform.architecture);
                if let Some(variant) = &platform.variant {
                    dir = format!("{dir}_{variant}");
                }
                write_filesystem(store, image, &Output::Local(dest.join(dir)))?;
            }
            Ok(())
        }
        Output::Image { .. } => Ok(()),
    }
}

/// Runs `write` on `dest`, or for `-` on a temp file that is then copied to standard
/// output.
fn to_file_or_stdout(
    store: &Store,
    dest: &Path,
    write: impl FnOnce(&Path) -> Result<(), crate::image::StoreError>,
) -> Result<(), BuildError> {
    if dest.as_os_str() != "-" {
        return Ok(write(dest)?);
    }
    let temp = store.temp_dir()?;
    let file = temp.path().join("image.tar");
    write(&file)?;
    let mut from = fs_err::File::open(&file).map_err(io_err(&file))?;
    std::io::copy(&mut from, &mut std::io::stdout().lock())
        .map_err(io_err(Path::new("<stdout>")))?;
    Ok(())
}

/// Writes the root filesystem of `image` to `output` (`Local` or `Tar`).
fn write_filesystem(store: &Store, image: &Image, output: &Output) -> Result<(), BuildError> {
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
        Output::Archive { .. } | Output::Image { .. } => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(spec: &str) -> Output {
        Output::parse(spec).unwrap().output
    }

    #[test]
    fn buildx_forms_parse() {
        assert_eq!(parsed("out"), Output::Local("out".into()));
        assert_eq!(parsed("-"), Output::Tar("-".into()));
        assert_eq!(parsed("type=local,dest=a/b"), Output::Local("a/b".into()));
        assert_eq!(parsed("type=tar,dest=x.tar"), Output::Tar("x.tar".into()));
        assert_eq!(
            parsed("type=oci,dest=x.tar"),
            Output::Archive {
                format: ArchiveFormat::Oci,
                dest: "x.tar".into(),
                names: vec![]
            }
        );
        assert_eq!(
            parsed("type=docker"),
            Output::Image {
                names: vec![],
                push: false
            }
        );
        let both = Output::Image {
            names: vec!["a:1".into(), "b:2".into()],
            push: true,
        };
        assert_eq!(parsed("type=image,name=a:1,b:2,push=true"), both);
        assert_eq!(parsed(r#"type=image,"name=a:1,b:2",push=true"#), both);
        assert_eq!(parsed("type=registry,name=a:1,b:2"), both);
        let zstd = Output::parse("type=image,compression=zstd").unwrap();
        assert_eq!(zstd.compression, Some(Compression::Zstd));
        for bad in [
            "type=local",
            "type=oci",
            "type=gcs,dest=x",
            "type=local,dest=x,push=true",
            "type=image,dest=x",
            "type=registry,push=false",
            "type=image,push=maybe",
            "type=image,compression=lz4",
            "type=image,frobnicate=1",
            "dest=x",
        ] {
            let e = Output::parse(bad).unwrap_err();
            assert!(e.starts_with(&format!("--output {bad:?}")), "{e}");
        }
    }
}

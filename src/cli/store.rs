//! The commands that read, fill or tidy the local store: `images`, `load`, `rmi`,
//! `history`, `df`.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::image::load::{self, Input};
use crate::image::Store;

use super::progress::human_size;
use super::CliError;

/// `strata rmi NAME[:TAG]...`.
#[derive(Debug, clap::Args)]
pub struct RmiArgs {
    /// The tags to remove (`NAME` means `NAME:latest`).
    #[arg(required = true)]
    tags: Vec<String>,
}

/// `strata load [-i FILE|DIR|-]`.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// The archive: a docker-archive or oci-archive file (plain, gzip or zstd), an OCI
    /// layout directory, or `-` for standard input [default: standard input].
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    input: Option<PathBuf>,
}

/// `strata history NAME[:TAG]`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The image.
    image: String,
    /// Print whole instructions instead of cutting them at 45 characters.
    #[arg(long)]
    no_trunc: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
    format: HistoryFormat,
}

/// How `history` prints.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum HistoryFormat {
    Table,
    Json,
}

/// Lists the store's tags with digest, size (of every platform's blobs, shared ones
/// once), tag time and platforms.
pub fn images(store: &Store) -> Result<i32, CliError> {
    let tags = store.tags()?;
    println!(
        "{:<40} {:<14} {:>10}  {:<31} PLATFORM",
        "NAME", "DIGEST", "SIZE", "CREATED"
    );
    for tag in tags {
        let images = store.images_of(&tag.descriptor.digest).unwrap_or_default();
        let mut blobs = HashSet::new();
        let size: u64 = images
            .iter()
            .flat_map(|i| i.manifest.layers.iter().chain([&i.manifest.config]))
            .filter(|d| blobs.insert(d.digest.clone()))
            .map(|d| d.size)
            .sum();
        let platforms: Vec<String> = images
            .iter()
            .map(|i| i.config.platform().to_string())
            .collect();
        println!(
            "{:<40} {:<14} {:>10}  {:<31} {}",
            tag.name,
            tag.descriptor.digest.short(),
            human_size(if images.is_empty() {
                tag.descriptor.size
            } else {
                size
            }),
            tag.created.as_deref().unwrap_or("-"),
            if platforms.is_empty() {
                "-".into()
            } else {
                platforms.join(",")
            }
        );
    }
    Ok(0)
}

/// Loads the images of an archive and prints what it tagged, as `docker load` does:
/// `Loaded image: NAME:TAG` per tag, `Loaded image ID: DIGEST` for an image without one
/// (a manifest digest, which names the image in `strata tag`, `run` and `history`).
pub fn load(store: &Store, args: LoadArgs) -> Result<i32, CliError> {
    let input = match &args.input {
        Some(path) if path.as_os_str() != "-" => Input::Path(path),
        _ => Input::Stdin,
    };
    if matches!(input, Input::Stdin) && std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "no archive to load: give `-i FILE`, or pipe one in (`docker save IMAGE | strata load`)"
                .into(),
        ));
    }
    // Keeps `prune` from removing blobs between their commit and their tag.
    let _in_use = store.in_use()?;
    for image in load::load(store, input)? {
        if image.names.is_empty() {
            println!("Loaded image ID: {}", image.digest);
        }
        for name in &image.names {
            println!("Loaded image: {name}");
        }
    }
    Ok(0)
}

/// Removes tags, as `docker rmi` untags: `Untagged: NAME` per tag, and which manifests
/// no tag names any more (`strata prune` then frees their blobs). Every tag is checked
/// before any is removed, so a typo removes nothing.
pub fn rmi(store: &Store, args: RmiArgs) -> Result<i32, CliError> {
    for tag in &args.tags {
        store.image(tag)?;
    }
    for tag in &args.tags {
        let descriptor = store.untag(tag)?;
        println!("Untagged: {tag}");
        let still = store
            .tags()?
            .into_iter()
            .any(|t| t.descriptor.digest == descriptor.digest);
        if !still {
            println!(
                "Unreferenced: {} (`strata prune` frees it)",
                descriptor.digest
            );
        }
    }
    Ok(0)
}

/// Prints an image's history newest first, as `docker history` does: the image ID (its
/// config's digest) on the top entry (`<missing>` below, as for any image built by BuildKit), the time,
/// the instruction, the size of the files its layer adds (0B for a metadata step) and
/// the comment.
pub fn history(store: &Store, args: HistoryArgs) -> Result<i32, CliError> {
    let image = store.image(&args.image)?;
    let mut layers = image
        .manifest
        .layers
        .iter()
        .zip(&image.config.rootfs.diff_ids);
    let mut rows = Vec::new();
    for entry in &image.config.history {
        let size = if entry.empty_layer {
            0
        } else {
            match layers.next() {
                Some((layer, diff_id)) => content_size(&store.snapshot(layer, diff_id)?),
                None => 0,
            }
        };
        rows.push((entry, size));
    }
    rows.reverse();
    if let HistoryFormat::Json = args.format {
        let json: Vec<serde_json::Value> = rows
            .iter()
            .map(|(entry, size)| {
                serde_json::json!({
                    "created": entry.created,
                    "created_by": entry.created_by,
                    "size": size,
                    "comment": entry.comment,
                    "empty_layer": entry.empty_layer,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
        return Ok(0);
    }
    println!(
        "{:<14} {:<22} {:<45} {:>9}  COMMENT",
        "IMAGE", "CREATED", "CREATED BY", "SIZE"
    );
    for (n, (entry, size)) in rows.iter().enumerate() {
        let id = if n == 0 {
            // docker's image ID: the config's digest.
            image.manifest.config.digest.short().to_owned()
        } else {
            "<missing>".to_owned()
        };
        let created_by = entry.created_by.as_deref().unwrap_or("");
        let created_by = if args.no_trunc || created_by.chars().count() <= 45 {
            created_by.to_owned()
        } else {
            format!("{}…", created_by.chars().take(44).collect::<String>())
        };
        println!(
            "{id:<14} {:<22} {created_by:<45} {:>9}  {}",
            entry.created.as_deref().unwrap_or("-"),
            docker_size(*size),
            entry.comment.as_deref().unwrap_or("")
        );
    }
    Ok(0)
}

/// The bytes a layer adds as docker counts them: the sizes of everything in its
/// extracted tree but directories, each hard-linked inode once.
fn content_size(snapshot: &Path) -> u64 {
    tree_size(snapshot, |m| !m.is_dir())
}

/// A size as `docker history` prints it: decimal units, three significant digits,
/// trailing zeros dropped (`1.98MB`, `1.14kB`, `123MB`, `0B`; go-units'
/// `HumanSizeWithPrecision(size, 3)`, `%.3g`).
fn docker_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    #[allow(clippy::cast_precision_loss)] // display only
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{value:.digits$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    format!("{text}{}", UNITS[unit])
}

/// `strata df`: what the store holds, by kind, and what `prune` could free.
pub fn df(store: &Store) -> Result<i32, CliError> {
    let root = store.root();
    let tags = store.tags()?;
    let images: HashSet<_> = tags.iter().map(|t| t.descriptor.digest.clone()).collect();
    println!("{:<14} {:>7} {:>10}", "TYPE", "COUNT", "SIZE");
    let dir = |kind: &'static str, counted: &str, sized: &str| {
        (
            kind,
            count(&root.join(counted)),
            dir_size(&root.join(sized)),
        )
    };
    let rows = [
        ("Images", images.len(), dir_size(&root.join("blobs"))),
        dir("Snapshots", "snapshots", "snapshots"),
        dir("Step cache", "cache/steps", "cache"),
        dir("Cache mounts", "cache-mounts", "cache-mounts"),
        dir("Temp", "tmp", "tmp"),
    ];
    for (kind, n, size) in rows {
        println!("{kind:<14} {n:>7} {:>10}", human_size(size));
    }
    println!(
        "({} tags; Images is every blob: layers, configs, manifests; `strata prune` removes what no tag or cache entry needs)",
        tags.len()
    );
    Ok(0)
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, Iterator::count)
}

/// Bytes on disk under `dir` (regular files, hard links once).
fn dir_size(dir: &Path) -> u64 {
    tree_size(dir, std::fs::Metadata::is_file)
}

/// The sizes of the entries below `dir` that `counted` keeps, each inode once.
fn tree_size(dir: &Path, counted: impl Fn(&std::fs::Metadata) -> bool) -> u64 {
    let mut seen = HashSet::new();
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .filter(|m| counted(m) && (m.nlink() < 2 || seen.insert(m.ino())))
        .map(|m| m.size())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::docker_size;

    #[test]
    fn sizes_print_as_docker_prints_them() {
        assert_eq!(docker_size(0), "0B");
        assert_eq!(docker_size(999), "999B");
        assert_eq!(docker_size(5040), "5.04kB");
        assert_eq!(docker_size(1_160_000), "1.16MB");
        assert_eq!(docker_size(123_456_789), "123MB");
        assert_eq!(docker_size(1135), "1.14kB");
        assert_eq!(docker_size(2_000_000), "2MB");
    }
}

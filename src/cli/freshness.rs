//! The freshness commands: `outdated` (which pinned bases moved upstream, and what is
//! built on them), `update` (move the pins, so the next build rolls the change out) and
//! `rebase` (move one built image onto a new parent without running its steps).

use std::path::PathBuf;

use crate::builder::pins::{self, Drift};
use crate::builder::rebase::{self, RebaseOptions};
use crate::family::{Family, Lock};
use crate::image::Store;

use super::registry::RegistryFlags;
use super::CliError;

/// `strata outdated [DIR]`.
#[derive(Debug, clap::Args)]
pub struct OutdatedArgs {
    /// The family folder.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The platform of bases not pinned yet (`os/arch[/variant]`; default: this host).
    #[arg(long)]
    platform: Option<String>,
}

/// `strata update [REF...]`.
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// The external bases to move (as the Dockerfiles write them); default: all.
    references: Vec<String>,
    /// The family folder.
    #[arg(long, short = 'C', value_name = "DIR", default_value = ".")]
    family: PathBuf,
    /// The platform of bases not pinned yet (`os/arch[/variant]`; default: this host).
    #[arg(long)]
    platform: Option<String>,
}

/// Prints each pinned base that moved (or could not be checked) with the images on it,
/// and each base not pinned yet. Exit 1 when anything is outdated or unpinned, 0 when
/// every base is current; an unreachable registry is an error (2).
pub fn outdated(
    store: &Store,
    registry: &RegistryFlags,
    args: OutdatedArgs,
) -> Result<i32, CliError> {
    let family = Family::load(&args.dir)?;
    let lock = Lock::load(&args.dir)?;
    let platform = pins::pin_platform(args.platform.as_deref())?;
    let drifts = pins::drift(store, &family, &lock, &registry.options())?;
    let unpinned = pins::unpinned(&family, &lock, &platform);
    let mut failed = Vec::new();
    let mut moved = 0;
    for drift in &drifts {
        let Drift { pin, current, .. } = drift;
        match current {
            Err(why) => failed.push(format!("{} ({}): {why}", pin.reference, pin.platform)),
            Ok(now) if drift.moved() => {
                moved += 1;
                println!(
                    "{} ({}) moved: pinned {}, now {}",
                    pin.reference, pin.platform, pin.digest, now
                );
                println!("  built on it: {}", drift.images.join(", "));
            }
            Ok(_) => {}
        }
    }
    for reference in &unpinned {
        println!(
            "{reference} ({platform}) is not pinned: `strata build` or `strata update` pins it"
        );
        let images: Vec<String> = family.images_on(reference).into_iter().collect();
        println!("  built on it: {}", images.join(", "));
    }
    if !failed.is_empty() {
        return Err(CliError::Usage(format!(
            "could not check every base:\n  {}",
            failed.join("\n  ")
        )));
    }
    let total = drifts.len() + unpinned.len();
    if moved + unpinned.len() == 0 {
        eprintln!("all {total} external bases of {} are current", family.name);
        return Ok(0);
    }
    eprintln!(
        "{moved} of {total} external bases of {} moved{}; `strata update` moves the pins, then `strata build` rolls them out",
        family.name,
        if unpinned.is_empty() {
            String::new()
        } else {
            format!(", {} not pinned", unpinned.len())
        }
    );
    Ok(1)
}

/// Moves pins to what their references name now (pulling the images) and prints what
/// moved and which images the next build will rebuild or rebase.
pub fn update(store: &Store, registry: &RegistryFlags, args: UpdateArgs) -> Result<i32, CliError> {
    let family = Family::load(&args.family)?;
    let mut lock = Lock::load(&args.family)?;
    let platform = pins::pin_platform(args.platform.as_deref())?;
    let moved = pins::update(
        store,
        &family,
        &mut lock,
        &args.references,
        &platform,
        &registry.options(),
    )?;
    lock.save()
        .map_err(CliError::io(format!("writing {}", lock.path.display())))?;
    for m in &moved {
        match &m.from {
            Some(from) => println!("{} ({}): {from} -> {}", m.reference, m.platform, m.to),
            None => println!("{} ({}): pinned {}", m.reference, m.platform, m.to),
        }
        let images: Vec<String> = family.images_on(&m.reference).into_iter().collect();
        println!("  to rebuild or rebase: {}", images.join(", "));
    }
    if moved.is_empty() {
        eprintln!("every pin of {} is current", lock.path.display());
    } else {
        eprintln!(
            "moved {} pins in {}; `strata build {}` rolls them out",
            moved.len(),
            lock.path.display(),
            args.family.display()
        );
    }
    Ok(0)
}

/// `strata rebase IMAGE --onto NEWPARENT`.
#[derive(Debug, clap::Args)]
pub struct RebaseArgs {
    /// The image to rebase, `NAME[:TAG]`; it records the parent it was built on.
    image: String,
    /// The new parent (in the store, or a registry reference to pull).
    #[arg(long, value_name = "IMAGE")]
    onto: String,
    /// Rebase even where a rebuild could differ (each reason is printed as a warning).
    #[arg(long)]
    force: bool,
    /// Tag the result (repeatable) [default: IMAGE itself].
    #[arg(short = 't', long = "tag", value_name = "NAME:TAG")]
    tags: Vec<String>,
}

/// Rebases, prints the forced refusals as warnings and the new digest on stdout.
pub fn rebase(store: &Store, registry: &RegistryFlags, args: RebaseArgs) -> Result<i32, CliError> {
    let tags = if args.tags.is_empty() {
        vec![args.image.clone()]
    } else {
        args.tags
    };
    let rebased = rebase::rebase(
        store,
        &args.image,
        &args.onto,
        &RebaseOptions {
            force: args.force,
            tags: tags.clone(),
            registry: registry.options(),
            created: crate::epoch::Epoch::from_env()?,
        },
    )?;
    for why in &rebased.forced {
        eprintln!("warning: rebased although {why}");
    }
    eprintln!(
        "rebased {} onto {}: {} own layers moved, no step run{}; tagged {}",
        args.image,
        args.onto,
        rebased.layers,
        if rebased.forced.is_empty() {
            ", proven to be what a rebuild gives"
        } else {
            ""
        },
        tags.join(", ")
    );
    println!("{}", rebased.descriptor.digest);
    Ok(0)
}

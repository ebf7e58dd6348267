//! `strata lint` (recipes) and `strata audit` (built images): the commands whose exit
//! code says whether findings crossed a threshold (0 clean, 1 findings, 2 error).

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::ValueEnum;

use crate::audit::{self, AuditOptions, Budgets, SbomFormat, SourceLocation};
use crate::dockerfile::{Dockerfile, Instruction};
use crate::family::{self, Family};
use crate::image::Store;
use crate::lint::{self, FailLevel, LintOptions};

use super::CliError;

/// `strata lint`.
#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// Family folders, Dockerfiles, or folders holding one [default: the current folder].
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = LintFormat::Text)]
    format: LintFormat,
    /// Exit 1 when a finding is at or above this level: error, warning, info or none.
    #[arg(long, default_value = "warning")]
    fail_level: String,
    /// Rules not to report (repeatable).
    #[arg(long, value_name = "RULE")]
    disable: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LintFormat {
    Text,
    Json,
    Sarif,
    Github,
}

/// `strata audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Images (`NAME:TAG`) or a family folder (all its images) [default: the current folder].
    targets: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = AuditFormat::Text)]
    format: AuditFormat,
    /// Also write the packages found as an SBOM (to stdout, instead of the report).
    #[arg(long, value_enum)]
    sbom: Option<SbomArg>,
    /// Exit 1 when a finding is at or above this severity: info, warning or error.
    #[arg(long)]
    fail_on: Option<String>,
    /// Report `__pycache__` dirs in site-packages.
    #[arg(long)]
    pycache: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AuditFormat {
    Text,
    Json,
    Sarif,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SbomArg {
    SpdxJson,
    CyclonedxJson,
}

pub fn lint(args: LintArgs) -> Result<i32, CliError> {
    let fail_level: FailLevel = args.fail_level.parse().map_err(CliError::Usage)?;
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths
    };
    let options = LintOptions {
        disable: args.disable,
        ..LintOptions::default()
    };
    let report = lint::lint_paths(&paths, &options)?;
    let text = match args.format {
        LintFormat::Text => lint::render_text(&report),
        LintFormat::Json => lint::render_json(&report),
        LintFormat::Sarif => lint::render_sarif(&report),
        LintFormat::Github => lint::render_github(&report),
    };
    print!("{text}");
    Ok(report.exit_code(fail_level))
}

pub fn audit(store: &Store, args: AuditArgs) -> Result<i32, CliError> {
    let fail_on = args
        .fail_on
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(CliError::Usage)?;
    let targets = if args.targets.is_empty() {
        vec![".".to_owned()]
    } else {
        args.targets
    };
    let mut reports = Vec::new();
    let mut family_images: Vec<(String, Option<String>)> = Vec::new();
    for target in &targets {
        let dir = PathBuf::from(target);
        if dir.join(family::MANIFEST).exists() {
            let family = Family::load(&dir)?;
            let lowest = family.tiers.first().cloned().unwrap_or_default();
            for (name, image) in &family.images {
                let tag = format!("{name}:latest");
                let options = AuditOptions {
                    base_tier: image.tier == lowest,
                    pycache: args.pycache,
                    budgets: budgets(&image.policy),
                    sources: layer_sources(store, &tag, &image.parsed, &family),
                    ..AuditOptions::default()
                };
                reports.push(audit::audit_image(store, &tag, &options)?);
                family_images.push((tag, image.parents.first().map(|p| format!("{p}:latest"))));
            }
        } else {
            let options = AuditOptions {
                pycache: args.pycache,
                ..AuditOptions::default()
            };
            reports.push(audit::audit_image(store, target, &options)?);
        }
    }
    if let Some(format) = args.sbom {
        let format = match format {
            SbomArg::SpdxJson => SbomFormat::SpdxJson,
            SbomArg::CyclonedxJson => SbomFormat::CycloneDxJson,
        };
        for report in &reports {
            println!("{}", audit::render_sbom(report, format));
        }
        return Ok(audit::exit_code(&reports, fail_on));
    }
    // The family-wide sharing report goes with the text and JSON reports of a family.
    let sharing = if family_images.is_empty() || matches!(args.format, AuditFormat::Sarif) {
        None
    } else {
        let pairs: Vec<(&str, Option<&str>)> = family_images
            .iter()
            .map(|(n, p)| (n.as_str(), p.as_deref()))
            .collect();
        Some(audit::sharing(store, &pairs)?)
    };
    let text = match (args.format, &sharing) {
        (AuditFormat::Text, None) => audit::render_text(&reports),
        (AuditFormat::Text, Some(sharing)) => {
            audit::render_text(&reports) + &audit::render_sharing_text(sharing)
        }
        (AuditFormat::Json, None) => audit::render_json(&reports),
        (AuditFormat::Json, Some(sharing)) => audit::render_family_json(&reports, sharing),
        (AuditFormat::Sarif, _) => audit::render_sarif(&reports),
    };
    print!("{text}");
    Ok(audit::exit_code(&reports, fail_on))
}

/// The budgets of an image's policy (its own over its tier's).
fn budgets(policy: &family::Policy) -> Budgets {
    Budgets {
        max_size: policy.max_size.map(|s| s.0),
        min_efficiency: policy.min_efficiency.map(|e| e.0),
        max_wasted: policy.max_wasted.map(|s| s.0),
    }
}

/// The Dockerfile line of each layer the image's own stages added, by layer index: the
/// tail of the history belongs to the instructions of the final stage and the stages it is
/// built FROM, one entry per instruction, and each entry with a layer is the next layer.
fn layer_sources(
    store: &Store,
    tag: &str,
    dockerfile: &Dockerfile,
    family: &Family,
) -> BTreeMap<usize, SourceLocation> {
    let Ok(image) = store.image(tag) else {
        return BTreeMap::new();
    };
    let mut chain = Vec::new();
    let mut stage = dockerfile.stages.last();
    while let Some(s) = stage {
        chain.push(s);
        stage = dockerfile
            .stage_by_name(&s.base)
            .filter(|p| p.index < s.index);
    }
    let instructions: Vec<_> = chain
        .iter()
        .rev()
        .flat_map(|s| s.instructions.iter())
        .collect();
    let history = &image.config.history;
    let Some(start) = history.len().checked_sub(instructions.len()) else {
        return BTreeMap::new();
    };
    let layers_before = history[..start].iter().filter(|h| !h.empty_layer).count();
    let file = family.display_path(&dockerfile.source.path);
    let mut sources = BTreeMap::new();
    let mut layer = layers_before;
    for (entry, instruction) in history[start..].iter().zip(instructions) {
        if !entry.empty_layer {
            if matches!(
                instruction.value,
                Instruction::Run(_)
                    | Instruction::Copy(_)
                    | Instruction::Add(_)
                    | Instruction::Workdir(_)
            ) {
                sources.insert(
                    layer,
                    SourceLocation {
                        file: file.clone(),
                        line: instruction.span.line as u32,
                    },
                );
            }
            layer += 1;
        }
    }
    sources
}

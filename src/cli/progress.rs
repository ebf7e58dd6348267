//! How build progress is shown: on a terminal a live view (indicatif), one line per image
//! with its current step, above which every finished step stays listed as BuildKit's view
//! keeps it (`=> CACHED [stage 2/5] RUN ...  0.0s`); elsewhere (CI, pipes, `--progress
//! plain`) one line per event.
//! A successful build ends with a summary: images built, rebased and reused, steps run,
//! rebased and cached, time, bytes (the rebased counts only when there are any).
//! [`Progress::finish`] also returns what happened to each image ([`Rollout`]), for the
//! rollout summary of a family `build --push`.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::rawjson::RawJson;
use crate::builder::Event;

/// How progress is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// A live view redrawn in place.
    Live,
    /// One line per event.
    Plain,
    /// Nothing but errors (and the digest, which the caller prints).
    Quiet,
}

/// The progress printer of one command (one image, or a whole family).
pub struct Progress {
    style: Style,
    explain: bool,
    multi: MultiProgress,
    bars: HashMap<String, ProgressBar>,
    started: Instant,
    summary: Summary,
    /// Per image: the first reason a step missed, and the rebased steps' proofs.
    seen: BTreeMap<String, Seen>,
    /// The live view's running steps, by image, stage and number, until they are listed.
    running: HashMap<(String, String, usize), Running>,
    /// `--progress rawjson`: every event also goes out as a JSON line (see [`RawJson`]).
    raw: Option<RawJson>,
}

/// A step of the live view between its start and its line in the finished list.
struct Running {
    total: usize,
    text: String,
    /// `CACHED` or `REBASED` once the cache said so.
    mark: Option<&'static str>,
}

/// The longest instruction text a finished step's line shows.
const LISTED_TEXT: usize = 100;

#[derive(Default)]
struct Seen {
    first_miss: Option<String>,
    proofs: Vec<String>,
}

/// What a build did to one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A step ran: why the first one missed the cache.
    Rebuilt(String),
    /// Steps were rebased onto a changed parent (and none ran): their proofs.
    Rebased(Vec<String>),
    /// Every step came from the cache.
    Unchanged,
}

/// What a build did, image by image, and how long it took.
#[derive(Clone, Debug)]
pub struct Rollout {
    /// Each image built, by name (`""` for a lone Dockerfile).
    pub images: BTreeMap<String, Outcome>,
    /// When the printer was made (the build started).
    pub started: Instant,
}

#[derive(Default)]
struct Summary {
    built: usize,
    rebased: usize,
    reused: usize,
    steps_run: usize,
    steps_rebased: usize,
    steps_cached: usize,
    bytes: u64,
}

impl Progress {
    /// A printer in `style`; `explain` also prints why each step missed the cache.
    pub fn new(style: Style, explain: bool) -> Progress {
        let multi = MultiProgress::with_draw_target(match style {
            Style::Live => ProgressDrawTarget::stderr(),
            _ => ProgressDrawTarget::hidden(),
        });
        Progress {
            style,
            explain,
            multi,
            bars: HashMap::new(),
            started: Instant::now(),
            summary: Summary::default(),
            seen: BTreeMap::new(),
            running: HashMap::new(),
            raw: None,
        }
    }

    /// A quiet printer that writes every event as a JSON line instead (`--progress
    /// rawjson`).
    pub fn raw_json(explain: bool) -> Progress {
        Progress {
            raw: Some(RawJson::default()),
            ..Progress::new(Style::Quiet, explain)
        }
    }

    /// Shows one event of the build of `image` (`""` for a lone Dockerfile).
    pub fn event(&mut self, image: &str, event: &Event<'_>) {
        if let Some(raw) = &mut self.raw {
            raw.event(image, event);
        }
        let prefix = if image.is_empty() {
            String::new()
        } else {
            format!("{image} ")
        };
        match event {
            Event::Step {
                stage,
                number,
                total,
                text,
            } => {
                self.seen.entry(image.to_owned()).or_default();
                let line = format!("[{prefix}{stage} {number}/{total}] {text}");
                match self.style {
                    Style::Live => {
                        self.bar(image).set_message(line);
                        self.running.insert(
                            (image.to_owned(), stage.to_string(), *number),
                            Running {
                                total: *total,
                                text: text.to_string(),
                                mark: None,
                            },
                        );
                    }
                    Style::Plain => self.line(&line),
                    Style::Quiet => {}
                }
            }
            Event::Cached { stage, number } => {
                self.summary.steps_cached += 1;
                self.mark(image, stage, *number, "CACHED");
                if self.style == Style::Plain {
                    self.line(&format!("[{prefix}{stage} {number}] CACHED"));
                }
            }
            Event::Miss {
                stage,
                number,
                reason,
            } => {
                self.summary.steps_run += 1;
                let seen = self.seen.entry(image.to_owned()).or_default();
                seen.first_miss
                    .get_or_insert_with(|| format!("{stage} step {number}: {reason}"));
                if self.explain && self.style != Style::Quiet {
                    self.line(&format!("[{prefix}{stage} {number}] not cached: {reason}"));
                }
            }
            Event::Rebased {
                stage,
                number,
                proof,
            } => {
                self.summary.steps_rebased += 1;
                self.mark(image, stage, *number, "REBASED");
                let seen = self.seen.entry(image.to_owned()).or_default();
                seen.proofs.push(format!("{stage} step {number}: {proof}"));
                if self.style != Style::Quiet && (self.explain || self.style == Style::Plain) {
                    self.line(&format!("[{prefix}{stage} {number}] REBASED: {proof}"));
                }
            }
            Event::Output {
                stage,
                number,
                line,
            } => {
                if self.style != Style::Quiet {
                    let text = String::from_utf8_lossy(line);
                    self.line(&format!("[{prefix}{stage} {number}] {text}"));
                }
            }
            Event::StepDone {
                stage,
                number,
                elapsed,
                bytes,
            } => {
                self.summary.bytes += bytes;
                if let Some(step) =
                    self.running
                        .remove(&(image.to_owned(), stage.to_string(), *number))
                {
                    self.line(&listed(&prefix, stage, *number, &step, *elapsed));
                }
                if self.style == Style::Plain
                    && (*bytes > 0 || *elapsed > Duration::from_millis(500))
                {
                    self.line(&format!(
                        "[{prefix}{stage} {number}] done in {:.2}s, {}",
                        elapsed.as_secs_f64(),
                        human_size(*bytes)
                    ));
                }
            }
            Event::Done { digest, tags } => {
                let stepped = self.seen.contains_key(image);
                let seen = self.seen.entry(image.to_owned()).or_default();
                if !stepped || seen.first_miss.is_some() {
                    self.summary.built += 1;
                    seen.first_miss
                        .get_or_insert_with(|| "no step to cache".into());
                } else if !seen.proofs.is_empty() {
                    self.summary.rebased += 1;
                } else {
                    self.summary.reused += 1;
                }
                let what = if tags.is_empty() {
                    digest.short().to_owned()
                } else {
                    tags.join(", ")
                };
                match self.style {
                    Style::Live => {
                        if let Some(bar) = self.bars.remove(image) {
                            bar.finish_and_clear();
                        }
                        let done = if tags.is_empty() {
                            format!("=> {prefix}built {digest}")
                        } else {
                            format!("=> {prefix}tagged {what} ({})", digest.short())
                        };
                        self.line(&done);
                    }
                    // Without tags, nothing was tagged: say what was built.
                    Style::Plain if tags.is_empty() => {
                        self.line(&format!("{prefix}built {digest}"))
                    }
                    Style::Plain => self.line(&format!("{prefix}tagged {what} ({digest})")),
                    Style::Quiet => {}
                }
            }
        }
    }

    /// Clears the live view and, after a build that `succeeded`, prints the closing
    /// summary (a failed build's error says what there is to say). Returns what
    /// happened to each image.
    pub fn finish(self, succeeded: bool) -> Rollout {
        let rollout = Rollout {
            images: self
                .seen
                .iter()
                .map(|(name, seen)| {
                    let outcome = match (&seen.first_miss, seen.proofs.is_empty()) {
                        (Some(why), _) => Outcome::Rebuilt(why.clone()),
                        (None, false) => Outcome::Rebased(seen.proofs.clone()),
                        (None, true) => Outcome::Unchanged,
                    };
                    (name.clone(), outcome)
                })
                .collect(),
            started: self.started,
        };
        if self.style == Style::Quiet {
            return rollout;
        }
        let _ = self.multi.clear();
        if !succeeded {
            return rollout;
        }
        let s = &self.summary;
        let images = s.built + s.rebased + s.reused;
        let (rebased, steps_rebased) = if s.steps_rebased > 0 {
            (
                format!("{} rebased, ", s.rebased),
                format!("{} rebased, ", s.steps_rebased),
            )
        } else {
            (String::new(), String::new())
        };
        let _ = writeln!(
            std::io::stderr(),
            "{images} image{} ({} built, {rebased}{} reused); {} steps run, {steps_rebased}{} cached; {} written in {:.2}s",
            if images == 1 { "" } else { "s" },
            s.built,
            s.reused,
            s.steps_run,
            s.steps_cached,
            human_size(s.bytes),
            self.started.elapsed().as_secs_f64()
        );
        rollout
    }

    /// Marks a running step of the live view as served without running.
    fn mark(&mut self, image: &str, stage: &str, number: usize, mark: &'static str) {
        if let Some(step) = self
            .running
            .get_mut(&(image.to_owned(), stage.to_owned(), number))
        {
            step.mark = Some(mark);
        }
    }

    fn bar(&mut self, image: &str) -> ProgressBar {
        let multi = &self.multi;
        self.bars
            .entry(image.to_owned())
            .or_insert_with(|| {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {elapsed:>4} {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            })
            .clone()
    }

    fn line(&self, text: &str) {
        if self.style == Style::Live {
            let _ = self.multi.println(text);
        } else {
            let _ = writeln!(std::io::stderr(), "{text}");
        }
    }
}

/// A finished step's line in the live view's list: mark, step, instruction (cut to
/// [`LISTED_TEXT`] characters) and time, as BuildKit lists them.
fn listed(prefix: &str, stage: &str, number: usize, step: &Running, elapsed: Duration) -> String {
    let mark = step.mark.map(|m| format!("{m} ")).unwrap_or_default();
    let text = match step.text.char_indices().nth(LISTED_TEXT) {
        Some((cut, _)) => format!("{}…", &step.text[..cut]),
        None => step.text.clone(),
    };
    format!(
        "=> {mark}[{prefix}{stage} {number}/{}] {text}  {:.1}s",
        step.total,
        elapsed.as_secs_f64()
    )
}

/// Blob counts of several pushes, for a closing summary.
#[derive(Clone, Copy, Debug, Default)]
pub struct PushTotals {
    /// Tags pushed.
    pub tags: usize,
    /// Blobs uploaded.
    pub uploaded: usize,
    /// Blobs mounted from another repository of the registry.
    pub mounted: usize,
    /// Blobs the registry already had.
    pub skipped: usize,
}

/// The closing summary of a family `build --push`: each image rebuilt (with why its
/// first step ran), rebased (with the proof of each step moved), or unchanged, what the
/// pushes uploaded, and the time from the start of the build.
pub fn rollout_summary(family: &str, rollout: &Rollout, pushed: &PushTotals) -> String {
    let mut rebuilt = Vec::new();
    let mut rebased = Vec::new();
    let mut unchanged = Vec::new();
    for (name, outcome) in &rollout.images {
        match outcome {
            Outcome::Rebuilt(why) => rebuilt.push(format!("  rebuilt   {name}: {why}\n")),
            Outcome::Rebased(proofs) => {
                let mut text = format!(
                    "  rebased   {name}: {} steps moved, no step run\n",
                    proofs.len()
                );
                for proof in proofs {
                    text.push_str(&format!("              {proof}\n"));
                }
                rebased.push(text);
            }
            Outcome::Unchanged => unchanged.push(name.as_str()),
        }
    }
    let mut text = format!(
        "rollout of {family}: {} rebuilt, {} rebased, {} unchanged, {} tags pushed in {:.2}s\n",
        rebuilt.len(),
        rebased.len(),
        unchanged.len(),
        pushed.tags,
        rollout.started.elapsed().as_secs_f64()
    );
    text.extend(rebuilt);
    text.extend(rebased);
    if !unchanged.is_empty() {
        text.push_str(&format!("  unchanged {}\n", unchanged.join(", ")));
    }
    text.push_str(&format!(
        "  pushed    {} tags: {} blobs uploaded, {} mounted, {} already there\n",
        pushed.tags, pushed.uploaded, pushed.mounted, pushed.skipped
    ));
    text
}

/// Sizes as people read them: `1.5 MB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1_500_000), "1.5 MB");
    }
}

//! How build progress is shown: on a terminal a live view (indicatif), one line per image
//! with its current step; elsewhere (CI, pipes, `--progress plain`) one line per event.
//! A successful build ends with a summary: images built, rebased and reused, steps run,
//! rebased and cached, time, bytes (the rebased counts only when there are any).

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

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
    missed: HashMap<String, bool>,
    /// Images with a step rebased onto a changed parent.
    rebased: HashMap<String, bool>,
    started: Instant,
    summary: Summary,
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
            missed: HashMap::new(),
            rebased: HashMap::new(),
            started: Instant::now(),
            summary: Summary::default(),
        }
    }

    /// Shows one event of the build of `image` (`""` for a lone Dockerfile).
    pub fn event(&mut self, image: &str, event: &Event<'_>) {
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
                self.missed.entry(image.to_owned()).or_insert(false);
                let line = format!("[{prefix}{stage} {number}/{total}] {text}");
                match self.style {
                    Style::Live => self.bar(image).set_message(line),
                    Style::Plain => self.line(&line),
                    Style::Quiet => {}
                }
            }
            Event::Cached { stage, number } => {
                self.summary.steps_cached += 1;
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
                self.missed.insert(image.to_owned(), true);
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
                self.rebased.insert(image.to_owned(), true);
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
                if self.missed.get(image).copied().unwrap_or(true) {
                    self.summary.built += 1;
                } else if self.rebased.get(image).copied().unwrap_or(false) {
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
                        let bar = self.bar(image);
                        bar.finish_with_message(format!("{prefix}done: {what}"));
                    }
                    Style::Plain => self.line(&format!("{prefix}tagged {what} ({digest})")),
                    Style::Quiet => {}
                }
            }
        }
    }

    /// Clears the live view and, after a build that `succeeded`, prints the closing
    /// summary (a failed build's error says what there is to say).
    pub fn finish(self, succeeded: bool) {
        if self.style == Style::Quiet {
            return;
        }
        let _ = self.multi.clear();
        if !succeeded {
            return;
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

//! `build --progress rawjson`: the build's events as JSON lines on stderr, in the shape of
//! BuildKit's solve status (what `docker buildx build --progress rawjson` prints), so a
//! program that reads buildx's stream reads strata's.
//!
//! Each line is one object with `vertexes` (each step: `digest`, `name`, `started`,
//! `completed`, `cached`) or `logs` (a RUN's output: `vertex`, `stream` 1, `data` base64,
//! `timestamp`). A step's vertex is printed when it starts and again when it completes.
//! The digest of a vertex names the step (image, stage, number) within this build.

use std::collections::HashMap;
use std::io::Write;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::builder::Event;
use crate::digest::Digest;

/// A vertex as it stands: what the next line about it repeats.
struct Vertex {
    digest: String,
    name: String,
    started: String,
    cached: bool,
}

/// The rawjson printer of one command.
#[derive(Default)]
pub struct RawJson {
    vertexes: HashMap<(String, String, usize), Vertex>,
}

impl RawJson {
    /// Prints what `event` of the build of `image` (`""` for a lone Dockerfile) changes.
    pub fn event(&mut self, image: &str, event: &Event<'_>) {
        let now = timestamp();
        let key = |stage: &str, number: usize| (image.to_owned(), stage.to_owned(), number);
        match event {
            Event::Step {
                stage,
                number,
                total,
                text,
            } => {
                let prefix = if image.is_empty() {
                    String::new()
                } else {
                    format!("{image} ")
                };
                let vertex = Vertex {
                    digest: Digest::of(format!("{image}\0{stage}\0{number}").as_bytes())
                        .to_string(),
                    name: format!("[{prefix}{stage} {number}/{total}] {text}"),
                    started: now,
                    cached: false,
                };
                print(&json!({ "vertexes": [vertex_json(&vertex, None)] }));
                self.vertexes.insert(key(stage, *number), vertex);
            }
            Event::Cached { stage, number } => {
                if let Some(vertex) = self.vertexes.get_mut(&key(stage, *number)) {
                    vertex.cached = true;
                }
            }
            Event::Output {
                stage,
                number,
                line,
            } => {
                if let Some(vertex) = self.vertexes.get(&key(stage, *number)) {
                    let mut data = line.to_vec();
                    data.push(b'\n');
                    print(&json!({ "logs": [{
                        "vertex": vertex.digest,
                        "stream": 1,
                        "data": base64::engine::general_purpose::STANDARD.encode(&data),
                        "timestamp": now,
                    }] }));
                }
            }
            Event::StepDone { stage, number, .. } => {
                if let Some(vertex) = self.vertexes.remove(&key(stage, *number)) {
                    print(&json!({ "vertexes": [vertex_json(&vertex, Some(&now))] }));
                }
            }
            Event::Done { digest, tags } => {
                let vertex = Vertex {
                    digest: Digest::of(format!("{image}\0export\0{digest}").as_bytes()).to_string(),
                    name: if tags.is_empty() {
                        format!("exporting to image {digest}")
                    } else {
                        format!("exporting to image {digest}, naming to {}", tags.join(", "))
                    },
                    started: now.clone(),
                    cached: false,
                };
                print(&json!({ "vertexes": [vertex_json(&vertex, Some(&now))] }));
            }
            Event::Miss { .. } | Event::Rebased { .. } => {}
        }
    }
}

/// A vertex as BuildKit's JSON writes it (`cached` and `completed` left out when unset).
fn vertex_json(vertex: &Vertex, completed: Option<&str>) -> Value {
    let mut object = json!({
        "digest": vertex.digest,
        "name": vertex.name,
        "started": vertex.started,
    });
    if let Some(completed) = completed {
        object["completed"] = json!(completed);
    }
    if vertex.cached {
        object["cached"] = json!(true);
    }
    object
}

fn print(line: &Value) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Now, in RFC 3339 with nanoseconds (Go's `time.Time` JSON form).
fn timestamp() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

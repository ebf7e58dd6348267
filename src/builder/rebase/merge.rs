//! The three-way merge of a container config: old parent -> new parent -> image.

use std::collections::{BTreeMap, BTreeSet};

use crate::image::ContainerConfig;

/// A config value for a message: its debug form (strings quoted), or `none`.
pub(super) fn shown<T: std::fmt::Debug>(value: Option<&T>) -> String {
    value.map_or_else(|| "none".to_owned(), |v| format!("{v:?}"))
}

/// The three-way merge of a container config: for every field (and every Env, Label,
/// port and volume entry), what the image has as the old parent had it follows the new
/// parent, unless an own step set it (`own`, see [`Steps::own`]); what the image changed
/// stays; a change in both is a conflict, named.
pub(super) fn merge_config(
    old: &ContainerConfig,
    new: &ContainerConfig,
    image: &ContainerConfig,
    own: &BTreeSet<String>,
) -> (ContainerConfig, Vec<String>) {
    let mut conflicts = Vec::new();
    let mut merged = image.clone();
    fn pick<T: Clone + PartialEq + std::fmt::Debug>(
        name: &str,
        own: &BTreeSet<String>,
        old: &Option<T>,
        new: &Option<T>,
        image: &Option<T>,
        conflicts: &mut Vec<String>,
    ) -> Option<T> {
        let (old, new, image) = (old.as_ref(), new.as_ref(), image.as_ref());
        merge_value(
            name,
            "sets",
            own.contains(name),
            [old, new, image],
            conflicts,
        )
        .cloned()
    }
    merged.user = pick(
        "User",
        own,
        &old.user,
        &new.user,
        &image.user,
        &mut conflicts,
    );
    merged.working_dir = pick(
        "WorkingDir",
        own,
        &old.working_dir,
        &new.working_dir,
        &image.working_dir,
        &mut conflicts,
    );
    merged.entrypoint = pick(
        "Entrypoint",
        own,
        &old.entrypoint,
        &new.entrypoint,
        &image.entrypoint,
        &mut conflicts,
    );
    merged.cmd = pick("Cmd", own, &old.cmd, &new.cmd, &image.cmd, &mut conflicts);
    merged.healthcheck = pick(
        "Healthcheck",
        own,
        &old.healthcheck,
        &new.healthcheck,
        &image.healthcheck,
        &mut conflicts,
    );
    merged.stop_signal = pick(
        "StopSignal",
        own,
        &old.stop_signal,
        &new.stop_signal,
        &image.stop_signal,
        &mut conflicts,
    );
    merged.shell = pick(
        "Shell",
        own,
        &old.shell,
        &new.shell,
        &image.shell,
        &mut conflicts,
    );
    merged.env = merge_env(old, new, image, own, &mut conflicts);
    merged.labels = merge_map(
        "Labels",
        own,
        &old.labels,
        &new.labels,
        &image.labels,
        &mut conflicts,
    );
    merged.exposed_ports = merge_map(
        "ExposedPorts",
        own,
        &old.exposed_ports,
        &new.exposed_ports,
        &image.exposed_ports,
        &mut conflicts,
    );
    merged.volumes = merge_map(
        "Volumes",
        own,
        &old.volumes,
        &new.volumes,
        &image.volumes,
        &mut conflicts,
    );
    (merged, conflicts)
}

/// One value merged three ways (`None`: unset): the new parent's where the image has the
/// old parent's and did not set it itself (`own`), else the image's; a conflict, named
/// `what`, when the image and the new parent both changed it.
///
/// Regression: `own` once did not exist, so a value an own step set to what the old
/// parent had (`LABEL tier=base` over a base with that label, `CMD ["sh"]` over one
/// with that CMD) followed the new parent, which no rebuild does.
fn merge_value<'v, T: PartialEq + std::fmt::Debug>(
    what: &str,
    verb: &str,
    own: bool,
    [old, new, image]: [Option<&'v T>; 3],
    conflicts: &mut Vec<String>,
) -> Option<&'v T> {
    if image == old && !own {
        new
    } else if new == old || new == image {
        image
    } else {
        conflicts.push(format!(
            "{what}: the image {verb} {}, the old parent had {}, the new parent has {}",
            shown(image),
            shown(old),
            shown(new)
        ));
        image
    }
}

/// Env as a map merged by name, in the order a rebuild gives: the new parent's
/// variables first, then those the image added.
fn merge_env(
    old: &ContainerConfig,
    new: &ContainerConfig,
    image: &ContainerConfig,
    own: &BTreeSet<String>,
    conflicts: &mut Vec<String>,
) -> Option<Vec<String>> {
    let as_map = |c: &ContainerConfig| -> Option<BTreeMap<String, String>> {
        c.env.as_ref().map(|env| {
            env.iter()
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (k.to_owned(), v.to_owned())
                })
                .collect()
        })
    };
    let merged = merge_map(
        "Env",
        own,
        &as_map(old),
        &as_map(new),
        &as_map(image),
        conflicts,
    )?;
    let order: Vec<&String> = new
        .env
        .iter()
        .chain(image.env.iter())
        .flatten()
        .map(|kv| kv.split_once('=').map_or(kv.as_str(), |(k, _)| k))
        .fold(Vec::new(), |mut seen: Vec<&str>, k| {
            if !seen.contains(&k) {
                seen.push(k);
            }
            seen
        })
        .into_iter()
        .filter_map(|k| merged.get_key_value(k).map(|(k, _)| k))
        .collect();
    Some(
        order
            .into_iter()
            .map(|k| format!("{k}={}", merged[k]))
            .collect(),
    )
}

/// A map merged key by key, three ways; `own` holds `NAME key` for each key an own step
/// set, `NAME` when they set keys it cannot tell.
fn merge_map<V: Clone + PartialEq + std::fmt::Debug>(
    name: &str,
    own: &BTreeSet<String>,
    old: &Option<BTreeMap<String, V>>,
    new: &Option<BTreeMap<String, V>>,
    image: &Option<BTreeMap<String, V>>,
    conflicts: &mut Vec<String>,
) -> Option<BTreeMap<String, V>> {
    let empty = BTreeMap::new();
    let (o, n, i) = (
        old.as_ref().unwrap_or(&empty),
        new.as_ref().unwrap_or(&empty),
        image.as_ref().unwrap_or(&empty),
    );
    let keys: BTreeSet<&String> = o.keys().chain(n.keys()).chain(i.keys()).collect();
    let mut merged = BTreeMap::new();
    for key in keys {
        let set =
            i.contains_key(key) && (own.contains(name) || own.contains(&format!("{name} {key}")));
        let value = merge_value(
            &format!("{name} {key}"),
            "has",
            set,
            [o.get(key), n.get(key), i.get(key)],
            conflicts,
        );
        if let Some(v) = value {
            merged.insert(key.clone(), v.clone());
        }
    }
    if merged.is_empty() && image.is_none() && new.is_none() {
        None
    } else {
        Some(merged)
    }
}

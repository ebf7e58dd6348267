//! [`Plan`]: the images to build, in waves.
//!
//! A wave is a list of images whose parents are all in earlier waves, so the images of
//! one wave can be built in parallel. An image's wave is the length of the longest chain
//! of selected parents above it; names are sorted within a wave, so the same family and
//! selection always give the same plan.

use std::collections::{BTreeMap, BTreeSet};

use super::{Family, FamilyError};

/// The build order of a selection of a family's images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The waves, first to build first; each sorted by name, none empty.
    pub waves: Vec<Vec<String>>,
}

impl Plan {
    /// The plan for `strata build --only ONLY... [--with-descendants]`: every image when
    /// `only` is empty; else those images and the ones they need, plus (with
    /// `with_descendants`) every image below them and what those need in turn.
    pub fn new(
        family: &Family,
        only: &[String],
        with_descendants: bool,
    ) -> Result<Plan, FamilyError> {
        if only.is_empty() {
            return Ok(Plan::of(family, &family.images.keys().cloned().collect()));
        }
        for name in only {
            family.image(name)?;
        }
        let mut wanted: BTreeSet<String> = only.iter().cloned().collect();
        if with_descendants {
            wanted = family.descendants(wanted.iter().map(String::as_str));
        }
        let selected = family.ancestors(wanted.iter().map(String::as_str));
        Ok(Plan::of(family, &selected))
    }

    /// The plan for exactly `images` (names not in the family are ignored): parents
    /// outside the set are taken as already built, as `--changed-since` wants.
    pub fn of(family: &Family, images: &BTreeSet<String>) -> Plan {
        // Load refused cycles, so this recursion ends.
        fn depth_of<'a>(
            family: &'a Family,
            images: &BTreeSet<String>,
            name: &'a str,
            depth: &mut BTreeMap<&'a str, usize>,
        ) -> usize {
            if let Some(&d) = depth.get(name) {
                return d;
            }
            let d = family.images[name]
                .parents
                .iter()
                .filter(|p| images.contains(*p))
                .map(|p| depth_of(family, images, p, depth) + 1)
                .max()
                .unwrap_or(0);
            depth.insert(name, d);
            d
        }
        let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
        let mut waves: Vec<Vec<String>> = Vec::new();
        for name in images.iter().filter(|n| family.images.contains_key(*n)) {
            let d = depth_of(family, images, name, &mut depth);
            if waves.len() <= d {
                waves.resize_with(d + 1, Vec::new);
            }
            // `images` is sorted, so each wave is too.
            waves[d].push(name.clone());
        }
        Plan { waves }
    }

    /// Every image of the plan, wave after wave.
    pub fn images(&self) -> impl Iterator<Item = &str> {
        self.waves.iter().flatten().map(String::as_str)
    }

    /// The wave `image` is in, if it is planned.
    pub fn wave_of(&self, image: &str) -> Option<usize> {
        self.waves.iter().position(|w| w.iter().any(|n| n == image))
    }
}

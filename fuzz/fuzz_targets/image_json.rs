//! The image values strata reads from stores, archives and registries: manifest, index
//! and config JSON, parsed and written back (a value read must serialise and read back
//! equal), plus the config's platform and the digests, image names and references found
//! inside.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata::digest::Digest;
use strata::image::{Descriptor, ImageConfig, ImageName, Index, Manifest};
use strata::registry::Reference;

fn names(descriptor: &Descriptor) {
    for value in descriptor.annotations.values() {
        let _ = ImageName::parse(value);
        let _ = Reference::parse(value);
        let _ = value.parse::<Digest>();
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = serde_json::from_slice::<Manifest>(data) {
        let bytes = serde_json::to_vec(&manifest).expect("a manifest serialises");
        let again: Manifest = serde_json::from_slice(&bytes).expect("a manifest reads back");
        assert_eq!(manifest, again);
        names(&manifest.config);
        manifest.layers.iter().for_each(names);
    }
    if let Ok(index) = serde_json::from_slice::<Index>(data) {
        let bytes = serde_json::to_vec(&index).expect("an index serialises");
        let again: Index = serde_json::from_slice(&bytes).expect("an index reads back");
        assert_eq!(index, again);
        index.manifests.iter().for_each(names);
    }
    if let Ok(config) = serde_json::from_slice::<ImageConfig>(data) {
        let _ = config.platform();
        let bytes = serde_json::to_vec(&config).expect("a config serialises");
        let _: ImageConfig = serde_json::from_slice(&bytes).expect("a config reads back");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = text.parse::<Digest>();
        let _ = ImageName::parse(text);
        let _ = Reference::parse(text);
    }
});

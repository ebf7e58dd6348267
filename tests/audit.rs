//! `strata::audit` over real images built by the `strata` binary: each image carries one
//! known problem (and one is clean), and the report must find exactly that problem at
//! the right layer; wasted bytes and efficiency are checked against a hand computation;
//! the family test checks the sharing report of two siblings.

mod common;

use std::collections::BTreeMap;
use std::fs;

use common::{context_with, require_environment, Store, BASE, BUSYBOX};
use serde_json::Value;
use strata::audit::{self, AuditOptions, Budgets, Report, SbomFormat, Severity, SourceLocation};

/// Builds `body` (a Dockerfile) as `reference`, with `files` written into the context.
fn build(store: &Store, reference: &str, body: &str, files: &[(&str, &[u8])]) {
    let ctx = context_with(body);
    for (name, content) in files {
        fs::write(ctx.path().join(name), content).unwrap();
    }
    store.build(ctx.path(), reference, &[]);
}

fn audit_with(store: &Store, reference: &str, options: &AuditOptions) -> Report {
    let lib_store = strata::image::Store::open(store.path()).unwrap();
    audit::audit_image(&lib_store, reference, options).unwrap()
}

fn audit(store: &Store, reference: &str) -> Report {
    audit_with(store, reference, &AuditOptions::default())
}

/// (rule id, layer) of every finding.
fn findings(report: &Report) -> Vec<(&str, Option<usize>)> {
    report
        .findings
        .iter()
        .map(|f| (f.id.as_str(), f.layer))
        .collect()
}

/// Dockerfile of a busybox image that runs as a non-root user.
fn clean_base() -> String {
    format!("{BASE}USER 1000\n")
}

/// The case of the module doc of `strata::audit`, by hand:
///
/// | layer | instruction            | copies written                         |
/// |-------|------------------------|----------------------------------------|
/// | 0     | COPY busybox           | /bin/busybox: B bytes                  |
/// | 1     | RUN busybox --install  | symlinks in /bin: 0 bytes each         |
/// | 2     | RUN ... > /big         | /big: 3,000,000                        |
/// | 3     | RUN ... > /f           | /f: 100                                |
/// | 4     | RUN rm /big; ... > /f  | /big deleted (copy of 0); /f: 10       |
///
/// /big: copies {3,000,000, 0}: reclaimable 3,000,000, smallest 0.
/// /f:   copies {100, 10}:      reclaimable 100 + 10 - 10 = 100, smallest 10.
/// Every other path has one copy (reclaimable 0, smallest = its size).
/// wasted = 3,000,100; efficiency = (B + 10) / (B + 3,000,000 + 110).
#[test]
#[ignore = "needs root: make test"]
fn wasted_bytes_and_efficiency_match_the_hand_computation() {
    require_environment();
    let store = Store::new();
    let body = format!(
        "{BASE}RUN head -c 3000000 /dev/zero > /big\nRUN head -c 100 /dev/zero > /f\nRUN rm /big && head -c 10 /dev/zero > /f\nUSER 1000\n"
    );
    build(&store, "waste:1", &body, &[]);
    let report = audit(&store, "waste:1");

    let b = fs::metadata(BUSYBOX).unwrap().len();
    assert_eq!(report.layers.len(), 5);
    assert_eq!(report.wasted_bytes, 3_000_100, "{:#?}", report.wasted);
    let expected = (b + 10) as f64 / (b + 3_000_000 + 110) as f64;
    assert!(
        (report.efficiency - expected).abs() < 1e-12,
        "efficiency {} vs {expected}",
        report.efficiency
    );

    let big = &report.wasted[0];
    assert_eq!(
        (
            big.path.as_str(),
            big.wasted_bytes,
            big.copies,
            big.added_in,
            big.last_changed_in,
            big.deleted
        ),
        ("/big", 3_000_000, 2, 2, 4, true)
    );
    let f = &report.wasted[1];
    assert_eq!(
        (
            f.path.as_str(),
            f.wasted_bytes,
            f.added_in,
            f.last_changed_in,
            f.deleted
        ),
        ("/f", 100, 3, 4, false)
    );
    assert_eq!(report.wasted.len(), 2, "{:#?}", report.wasted);

    // Per-layer figures: files, instructions, sizes and shares.
    let l2 = &report.layers[2];
    assert_eq!(l2.files_size, 3_000_000);
    assert!(
        l2.size > 3_000_000 && l2.size % 512 == 0,
        "tar size {}",
        l2.size
    );
    assert!(
        l2.instruction.as_deref().unwrap().contains("/big"),
        "{:?}",
        l2.instruction
    );
    assert_eq!(report.layers[4].whiteouts, 1);
    assert_eq!(report.layers[0].files_size, b);
    let shares: f64 = report.layers.iter().map(|l| l.share).sum();
    assert!((shares - 1.0).abs() < 1e-9);
    assert_eq!(
        report.size,
        report.layers.iter().map(|l| l.size).sum::<u64>()
    );
    assert_eq!(
        (report.inherited_bytes, report.added_bytes),
        (0, report.size)
    );
    assert!(findings(&report).is_empty(), "{:#?}", report.findings);

    // The text report shows the figures.
    let text = audit::render_text(std::slice::from_ref(&report));
    assert!(text.contains("wasted 2.9 MiB"), "{text}");
    assert!(text.contains("/big"), "{text}");

    // Budgets: exceeded ones are findings and fail the exit code.
    let options = AuditOptions {
        budgets: Budgets {
            max_size: Some(1),
            min_efficiency: Some(0.99),
            max_wasted: Some(3_000_099),
        },
        ..AuditOptions::default()
    };
    let budgeted = audit_with(&store, "waste:1", &options);
    assert_eq!(
        findings(&budgeted),
        [
            ("budget-efficiency", None),
            ("budget-size", None),
            ("budget-wasted", None)
        ]
    );
    assert_eq!(budgeted.exit_code(None), 1);
    assert_eq!(report.exit_code(Some(Severity::Info)), 0);
}

#[test]
#[ignore = "needs root: make test"]
fn apt_lists_left_behind_are_found_at_their_layer() {
    require_environment();
    let store = Store::new();
    let body = format!(
        "{BASE}RUN mkdir -p /var/lib/apt/lists/partial && echo data > /var/lib/apt/lists/x && touch /var/lib/apt/lists/lock\nUSER 1000\n"
    );
    build(&store, "apt:1", &body, &[]);
    let report = audit(&store, "apt:1");
    assert_eq!(findings(&report), [("junk-apt-lists", Some(2))]);
    let f = &report.findings[0];
    assert_eq!(f.path.as_deref(), Some("/var/lib/apt/lists"));
    assert!(f.message.contains("1 file(s), 5 B"), "{}", f.message);
    assert_eq!(report.exit_code(Some(Severity::Warning)), 1);
    assert_eq!(report.exit_code(Some(Severity::Error)), 0);

    // SARIF locates it at the Dockerfile line the integrator gives for layer 2.
    let options = AuditOptions {
        sources: BTreeMap::from([(
            2,
            SourceLocation {
                file: "apps/apt/Dockerfile".into(),
                line: 4,
            },
        )]),
        ..AuditOptions::default()
    };
    let located = audit_with(&store, "apt:1", &options);
    let sarif: Value = serde_json::from_str(&audit::render_sarif(&[located])).unwrap();
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "junk-apt-lists");
    assert_eq!(result["level"], "warning");
    let physical = &result["locations"][0]["physicalLocation"];
    assert_eq!(physical["artifactLocation"]["uri"], "apps/apt/Dockerfile");
    assert_eq!(physical["region"]["startLine"], 4);
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    let index = result["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[index]["id"], "junk-apt-lists");
}

#[test]
#[ignore = "needs root: make test"]
fn a_root_user_is_a_finding() {
    require_environment();
    let store = Store::new();
    build(&store, "root:1", BASE, &[]);
    let report = audit(&store, "root:1");
    assert_eq!(report.user, "");
    assert_eq!(findings(&report), [("user-root", None)]);

    build(&store, "root:2", &format!("{BASE}USER 0:0\n"), &[]);
    assert_eq!(findings(&audit(&store, "root:2")), [("user-root", None)]);
}

#[test]
#[ignore = "needs root: make test"]
fn setuid_binaries_added_in_the_app_tier_are_found() {
    require_environment();
    let store = Store::new();
    build(&store, "base:1", &clean_base(), &[]);
    let app = "FROM base:1\nUSER 0\nRUN mkdir -p /usr/bin && cp /bin/busybox /usr/bin/tool && chmod 4755 /usr/bin/tool\nUSER 1000\n";
    build(&store, "app:1", app, &[]);

    let report = audit(&store, "app:1");
    assert_eq!(findings(&report), [("setuid-added", Some(2))]);
    assert!(report.findings[0]
        .message
        .contains("/usr/bin/tool: setuid (mode 4755)"));
    let parent = report.parent.as_ref().unwrap();
    assert!(parent.found);
    assert_eq!(parent.name.as_deref(), Some("base:1"));
    assert!(
        report.layers[0].inherited && report.layers[1].inherited && !report.layers[2].inherited
    );
    assert_eq!(
        report.inherited_bytes,
        report.layers[0].size + report.layers[1].size
    );
    assert_eq!(report.added_bytes, report.layers[2].size);

    // In the base tier, setuid binaries are expected.
    let base_tier = AuditOptions {
        base_tier: true,
        ..AuditOptions::default()
    };
    assert!(audit_with(&store, "app:1", &base_tier).findings.is_empty());
}

/// A PEM-looking private key made at test time (random base64, not a real key).
fn fake_private_key() -> Vec<u8> {
    let mut body = String::new();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let seed = std::process::id() as usize;
    for i in 0..(64 * 20) {
        body.push(alphabet[(seed.wrapping_mul(31).wrapping_add(i * 7919)) % 64] as char);
        if i % 64 == 63 {
            body.push('\n');
        }
    }
    format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{body}-----END OPENSSH PRIVATE KEY-----\n")
        .into_bytes()
}

#[test]
#[ignore = "needs root: make test"]
fn a_private_key_is_found_even_once_deleted() {
    require_environment();
    let store = Store::new();
    let key = fake_private_key();
    let body = format!("{BASE}COPY id_ed25519 /home/app/.ssh/id_ed25519\nUSER 1000\n");
    build(&store, "key:1", &body, &[("id_ed25519", &key)]);
    let report = audit(&store, "key:1");
    assert_eq!(findings(&report), [("secret-private-key", Some(2))]);
    assert_eq!(report.findings[0].severity, Severity::Error);
    assert!(report.findings[0].message.contains("OPENSSH PRIVATE KEY"));
    assert_eq!(report.exit_code(Some(Severity::Error)), 1);

    // Deleting it in a later layer leaves it readable in layer 2's blob.
    let deleted = format!("{BASE}COPY id_ed25519 /k\nRUN rm /k\nUSER 1000\n");
    build(&store, "key:2", &deleted, &[("id_ed25519", &key)]);
    assert_eq!(
        findings(&audit(&store, "key:2")),
        [("secret-private-key", Some(2))]
    );
}

#[test]
#[ignore = "needs root: make test"]
fn a_world_writable_directory_is_found() {
    require_environment();
    let store = Store::new();
    let body = format!("{BASE}RUN mkdir /data && chmod 777 /data && mkdir /shared && chmod 1777 /shared\nUSER 1000\n");
    build(&store, "ww:1", &body, &[]);
    let report = audit(&store, "ww:1");
    assert_eq!(findings(&report), [("world-writable", Some(2))]);
    assert_eq!(report.findings[0].path.as_deref(), Some("/data"));
}

#[test]
#[ignore = "needs root: make test"]
fn a_clean_image_has_no_findings() {
    require_environment();
    let store = Store::new();
    build(&store, "clean:1", &clean_base(), &[]);
    let report = audit(&store, "clean:1");
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert_eq!(report.user, "1000");
    assert_eq!(report.exit_code(Some(Severity::Info)), 0);
    assert_eq!(report.wasted_bytes, 0);
    assert_eq!(report.efficiency, 1.0);

    // JSON carries the documented fields.
    let json: Value =
        serde_json::from_str(&audit::render_json(std::slice::from_ref(&report))).unwrap();
    for field in [
        "image",
        "digest",
        "size",
        "efficiency",
        "wasted_bytes",
        "user",
        "layers",
        "findings",
    ] {
        assert!(json[0].get(field).is_some(), "{field} missing from {json}");
    }
    assert_eq!(json[0]["image"], "clean:1");
    assert_eq!(json[0]["layers"].as_array().unwrap().len(), 2);

    // SARIF is valid with zero results.
    let sarif: Value = serde_json::from_str(&audit::render_sarif(&[report])).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 0);
    assert_eq!(sarif["runs"][0]["tool"]["driver"]["name"], "strata");
}

/// Validates `sbom` with `tests/sbom_check.py` (the spec's own tooling from PyPI) as
/// `format` (`spdx-json` or `cyclonedx-json`), failing with what it found.
fn validate_sbom(sbom: &str, format: &str) {
    let dir = tempfile::tempdir().unwrap();
    // spdx-tools picks its parser by the file name's extension.
    let file = dir.path().join("sbom.spdx.json");
    std::fs::write(&file, sbom).unwrap();
    let out = std::process::Command::new("python3")
        .args(["tests/sbom_check.py", format])
        .arg(&file)
        .output()
        .expect("python3 with spdx-tools and cyclonedx-python-lib (make test installs them)");
    assert!(
        out.status.success(),
        "the {format} SBOM does not validate: {}\n{sbom}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "needs root: make test"]
fn packages_are_listed_and_written_as_sboms() {
    require_environment();
    let store = Store::new();
    let status = b"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\n\nPackage: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4+deb12u5\n";
    let apk = b"P:musl\nV:1.2.4-r2\nA:x86_64\n\n";
    let metadata = b"Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n\nbody\n";
    let body = format!(
        "{BASE}COPY status /var/lib/dpkg/status\nCOPY installed /lib/apk/db/installed\nCOPY METADATA /usr/lib/python3/site-packages/requests-2.31.0.dist-info/METADATA\nUSER 1000\n"
    );
    build(
        &store,
        "pkgs:1",
        &body,
        &[
            ("status", status),
            ("installed", apk),
            ("METADATA", metadata),
        ],
    );
    let report = audit(&store, "pkgs:1");
    let names: Vec<&str> = report.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["base-files", "libc6", "musl", "requests"]);

    let spdx: Value =
        serde_json::from_str(&audit::render_sbom(&report, SbomFormat::SpdxJson)).unwrap();
    assert_eq!(spdx["spdxVersion"], "SPDX-2.3");
    assert_eq!(spdx["dataLicense"], "CC0-1.0");
    assert_eq!(spdx["SPDXID"], "SPDXRef-DOCUMENT");
    assert!(spdx["documentNamespace"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
    assert!(spdx["creationInfo"]["created"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    let packages = spdx["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 5, "the image plus four packages");
    for p in packages {
        for field in ["name", "SPDXID", "downloadLocation"] {
            assert!(p.get(field).is_some(), "{field} missing from {p}");
        }
    }
    let purls: Vec<&str> = packages[1..]
        .iter()
        .map(|p| p["externalRefs"][0]["referenceLocator"].as_str().unwrap())
        .collect();
    assert!(
        purls.contains(&"pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64"),
        "{purls:?}"
    );
    assert_eq!(spdx["relationships"].as_array().unwrap().len(), 5);

    validate_sbom(
        &audit::render_sbom(&report, SbomFormat::SpdxJson),
        "spdx-json",
    );

    let cdx_text = audit::render_sbom(&report, SbomFormat::CycloneDxJson);
    validate_sbom(&cdx_text, "cyclonedx-json");
    let cdx: Value = serde_json::from_str(&cdx_text).unwrap();
    assert_eq!(cdx["bomFormat"], "CycloneDX");
    assert_eq!(cdx["specVersion"], "1.5");
    let serial = cdx["serialNumber"].as_str().unwrap();
    assert!(
        serial.starts_with("urn:uuid:") && serial.len() == 45,
        "{serial}"
    );
    assert_eq!(cdx["metadata"]["component"]["type"], "container");
    let components = cdx["components"].as_array().unwrap();
    assert_eq!(components.len(), 4);
    assert!(components
        .iter()
        .any(|c| c["purl"] == "pkg:pypi/requests@2.31.0"));
}

#[test]
#[ignore = "needs root: make test"]
fn siblings_duplicating_a_file_are_told_where_to_hoist_it() {
    require_environment();
    let store = Store::new();
    build(&store, "fam-base:1", &clean_base(), &[]);
    let shared: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let sibling = |own: &str| {
        format!("FROM fam-base:1\nUSER 0\nRUN echo {own} > /own\nCOPY shared.bin /opt/lib/shared.bin\nUSER 1000\n")
    };
    build(&store, "fam-a:1", &sibling("a"), &[("shared.bin", &shared)]);
    build(&store, "fam-b:1", &sibling("b"), &[("shared.bin", &shared)]);

    let lib_store = strata::image::Store::open(store.path()).unwrap();
    let report = audit::sharing(
        &lib_store,
        &[
            ("fam-a:1", Some("fam-base:1")),
            ("fam-b:1", Some("fam-base:1")),
            ("fam-base:1", None),
        ],
    )
    .unwrap();
    assert_eq!(report.groups.len(), 1);
    let group = &report.groups[0];
    assert_eq!(group.parent, "fam-base:1");
    assert_eq!(group.duplicates.len(), 1, "{:#?}", group.duplicates);
    let dup = &group.duplicates[0];
    assert_eq!(dup.path, "/opt/lib/shared.bin");
    assert_eq!(dup.size, 1024 * 1024);
    assert_eq!(dup.images, ["fam-a:1", "fam-b:1"]);
    assert_eq!(dup.bytes_saved, 1024 * 1024);
    assert_eq!(group.bytes_saved, 1024 * 1024);
    let parent_bytes: u64 = audit(&store, "fam-base:1").compressed_size;
    for s in &group.siblings {
        assert_eq!(s.shared_bytes, parent_bytes);
        assert_eq!(s.duplicated_bytes, 1024 * 1024);
    }
    let text = audit::render_sharing_text(&report);
    assert!(text.contains("/opt/lib/shared.bin"), "{text}");
    assert!(text.contains("saves 1.0 MiB"), "{text}");
    let json: Value = serde_json::from_str(&audit::render_sharing_json(&report)).unwrap();
    assert_eq!(
        json["groups"][0]["duplicates"][0]["bytes_saved"],
        1024 * 1024
    );
}

/// An image the store does not hold is an error naming it, not an empty report.
#[test]
fn unknown_images_are_errors_that_name_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = strata::image::Store::open(dir.path()).unwrap();
    let err = audit::audit_image(&store, "nope:1", &AuditOptions::default()).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

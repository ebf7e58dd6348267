//! The rule registry: every rule strata lint knows, as data.
//!
//! [`RuleId`] names a rule as a type: the checks emit findings by variant
//! (`RuleId::AptListsLeft`), so a misspelt rule does not compile. Its row of the table,
//! a [`Rule`], holds the stable id (`STR002`, what every output format and `strata.toml`
//! use), a short name, a default [`Severity`], a one-line summary, a full description, a
//! bad and a good example, a fix hint and the hadolint rules it covers. The renderers
//! take names, descriptions and help URIs from here; `docs/rules.md` is generated from
//! it (`render::rules_markdown`) and a test keeps the two equal.

use crate::severity::Severity;

/// Declares [`RuleId`] and [`RuleId::ALL`] from one list, so no variant can be left out
/// of `ALL`, nor of the table, which has `ALL.len()` rows.
macro_rules! rule_ids {
    ($($(#[$doc:meta])* $variant:ident,)*) => {
        /// A lint rule, as a type: every finding is emitted under one, and its id, severity
        /// and docs are its row of the rule table ([`RuleId::rule`]). Variants are named
        /// after the rules' kebab-case names.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum RuleId {
            $($(#[$doc])* $variant,)*
        }

        impl RuleId {
            /// Every rule, in table order.
            pub const ALL: &'static [RuleId] = &[$(RuleId::$variant,)*];
        }
    };
}

rule_ids! {
    /// STR000: The Dockerfile or strata.toml cannot be read or parsed.
    ParseError,
    /// STR001: The final stage of an app-tier image runs as root.
    AppRunsAsRoot,
    /// STR002: `apt-get update` leaves /var/lib/apt/lists in the layer.
    AptListsLeft,
    /// STR003: `apk add` without `--no-cache` (or `apk update`) leaves /var/cache/apk in
    /// the layer.
    ApkCacheLeft,
    /// STR004: `pip install` without `--no-cache-dir` leaves ~/.cache/pip in the layer.
    PipCacheLeft,
    /// STR005: npm, yarn, gem or composer leaves its download cache in the layer.
    LanguageCacheLeft,
    /// STR006: yum, dnf or microdnf install without `clean all` in the same RUN.
    RpmCacheLeft,
    /// STR007: zypper install without `zypper clean` in the same RUN.
    ZypperCacheLeft,
    /// STR010: `apt-get update` not followed by an install in the same RUN.
    AptUpdateAlone,
    /// STR011: `apt-get install` without `-y`.
    AptInstallNoYes,
    /// STR012: `apt-get install` without `--no-install-recommends`.
    AptInstallRecommends,
    /// STR013: `apt-get upgrade`/`dist-upgrade` (or `apk upgrade`, `dnf upgrade`) outside
    /// the base tier.
    UpgradeOutsideBase,
    /// STR020: A RUN deletes, uninstalls or re-owns what an earlier step added.
    LaterLayerCleanup,
    /// STR021: A multi-line package list is not sorted alphabetically.
    UnsortedPackages,
    /// STR022: A package is listed twice in one install.
    DuplicatePackages,
    /// STR023: Consecutive RUNs that could be one layer.
    ConsecutiveRuns,
    /// STR030: An external base image without a tag, or tagged `latest`.
    BaseUntagged,
    /// STR031: An external base image without a digest.
    BaseNotPinned,
    /// STR040: ADD of local files that are not archives: COPY does the job.
    AddInsteadOfCopy,
    /// STR041: ADD of a URL.
    AddUrl,
    /// STR042: `curl | sh` or `wget -O- | sh`: running a script straight from the network.
    PipeToShell,
    /// STR050: A likely secret in ENV or ARG.
    SecretInEnvOrArg,
    /// STR060: Shell-form ENTRYPOINT or CMD in the final stage.
    ShellFormEntrypoint,
    /// STR061: A relative WORKDIR.
    RelativeWorkdir,
    /// STR062: `cd` in a RUN instead of WORKDIR.
    CdInRun,
    /// STR070: `sudo` in a RUN.
    SudoInRun,
    /// STR071: MAINTAINER is deprecated.
    MaintainerDeprecated,
    /// STR072: An app-tier image without HEALTHCHECK.
    AppWithoutHealthcheck,
    /// STR073: COPY or ADD of the whole context without a .dockerignore.
    CopyContextWithoutDockerignore,
    /// STR074: A RUN with a pipe, without `set -o pipefail`.
    PipeWithoutPipefail,
    /// STR080: An OS package installed by two or more sibling images.
    PackageBelongsInParent,
    /// STR081: A runtime-tier image copies application code.
    RuntimeCopiesAppCode,
    /// STR082: A base-tier image installs a language runtime.
    BaseInstallsRuntime,
    /// STR083: An app image installs a language runtime that a runtime-tier image already
    /// provides.
    AppSkipsRuntimeTier,
    /// STR084: The final USER differs from the `user` policy in strata.toml.
    PolicyUserMismatch,
    /// STR085: A reference that names no family image but looks like one (a misspelt
    /// name, a tag the image does not have).
    UnknownFamilyParent,
}

impl RuleId {
    /// The rule's row of the table.
    pub fn rule(self) -> &'static Rule {
        &RULES[self as usize]
    }

    /// The stable id (`STR001`), as printed in every output format and written in
    /// `strata.toml` and `# strata:ignore=` comments.
    pub fn as_str(self) -> &'static str {
        self.rule().id
    }

    /// The rule with the stable id `id`.
    pub fn parse(id: &str) -> Option<RuleId> {
        RuleId::ALL.iter().copied().find(|r| r.as_str() == id)
    }
}

/// One lint rule's metadata.
#[derive(Debug)]
pub struct Rule {
    /// Stable id, e.g. `STR001` ([`RuleId::as_str`]).
    pub id: &'static str,
    /// Short kebab-case name, e.g. `app-runs-as-root`.
    pub name: &'static str,
    /// Severity unless `[lint] severity` says otherwise.
    pub severity: Severity,
    /// One line: what is wrong.
    pub summary: &'static str,
    /// Why it matters, and what the rule accepts.
    pub description: &'static str,
    /// A Dockerfile (or strata.toml) fragment that triggers the rule.
    pub bad: &'static str,
    /// The same fragment fixed.
    pub good: &'static str,
    /// How to fix it, in one sentence.
    pub hint: &'static str,
    /// The hadolint rules this one covers (fully or partly).
    pub hadolint: &'static [&'static str],
}

impl Rule {
    /// Where the rule is documented, relative to the repository root.
    pub fn help_uri(&self) -> String {
        format!("docs/rules.md#{}", self.id)
    }
}

/// Every rule, in id order.
pub fn rules() -> &'static [Rule] {
    &RULES
}

/// The rule with the stable id `id` (`STR001`), if there is one.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RuleId::parse(id).map(RuleId::rule)
}

use Severity::{Error, Info, Warning};

/// The rule table, one row per [`RuleId`] in declaration order (a unit test checks the
/// order by name).
static RULES: [Rule; RuleId::ALL.len()] = [
    Rule {
        id: "STR000",
        name: "parse-error",
        severity: Error,
        summary: "The Dockerfile or strata.toml cannot be read or parsed",
        description: "Nothing else can be checked in a file that does not parse. The finding points at the line and column the parser stopped at. Unknown rule ids and bad severities in a `[lint]` table are reported here too.",
        bad: "FROM debian:12\nRUNN apt-get update",
        good: "FROM debian:12\nRUN apt-get update",
        hint: "fix the syntax error shown",
        hadolint: &["DL1000"],
    },
    Rule {
        id: "STR001",
        name: "app-runs-as-root",
        severity: Warning,
        summary: "The final stage of an app-tier image runs as root",
        description: "An application that runs as root turns any code execution bug into root in the container, and often on the host. The rule looks at the final stage: no USER (inherited through stages and family parents), or a last USER of root, 0, 0:0 or root:root. Only the top tier (`app` by default) is checked: base and runtime images may stay root so their children can install things. A Dockerfile outside a family is taken as an app image, but reported at `info` since its role is unknown.",
        bad: "FROM debian:12-slim\nCOPY app /srv/app\nCMD [\"/srv/app\"]",
        good: "FROM debian:12-slim\nCOPY app /srv/app\nUSER 1000:1000\nCMD [\"/srv/app\"]",
        hint: "add `USER <non-root user>` after the steps that need root",
        hadolint: &["DL3002"],
    },
    Rule {
        id: "STR002",
        name: "apt-lists-left",
        severity: Warning,
        summary: "`apt-get update` leaves /var/lib/apt/lists in the layer",
        description: "The package index (tens of MB) stays in the layer that downloaded it; removing it in a later RUN does not shrink the image. Clean in the same RUN, or use a cache mount on /var/lib/apt/lists.",
        bad: "RUN apt-get update && apt-get install -y --no-install-recommends curl",
        good: "RUN apt-get update \\\n && apt-get install -y --no-install-recommends curl \\\n && rm -rf /var/lib/apt/lists/*",
        hint: "end the same RUN with `&& rm -rf /var/lib/apt/lists/*`",
        hadolint: &["DL3009"],
    },
    Rule {
        id: "STR003",
        name: "apk-cache-left",
        severity: Warning,
        summary: "`apk add` without `--no-cache` (or `apk update`) leaves /var/cache/apk in the layer",
        description: "apk keeps its index under /var/cache/apk. `apk add --no-cache` fetches the index to a temporary place; otherwise remove /var/cache/apk/* in the same RUN or use a cache mount.",
        bad: "RUN apk add curl",
        good: "RUN apk add --no-cache curl",
        hint: "use `apk add --no-cache`",
        hadolint: &["DL3019"],
    },
    Rule {
        id: "STR004",
        name: "pip-cache-left",
        severity: Warning,
        summary: "`pip install` without `--no-cache-dir` leaves ~/.cache/pip in the layer",
        description: "pip caches every wheel it downloads or builds. Use `--no-cache-dir`, set `PIP_NO_CACHE_DIR=1`, remove the cache in the same RUN or mount a cache on /root/.cache/pip.",
        bad: "RUN pip install flask",
        good: "RUN pip install --no-cache-dir flask",
        hint: "add `--no-cache-dir`",
        hadolint: &["DL3042"],
    },
    Rule {
        id: "STR005",
        name: "language-cache-left",
        severity: Warning,
        summary: "npm, yarn, gem or composer leaves its download cache in the layer",
        description: "`npm install/ci` fills ~/.npm, `yarn install/add` the yarn cache, `gem install` the gem cache, `composer install/require` ~/.composer/cache. Clean in the same RUN (`npm cache clean --force`, `yarn cache clean`, `rm -rf` of the cache dir, `composer --no-cache`) or use a cache mount.",
        bad: "RUN npm ci",
        good: "RUN npm ci && npm cache clean --force",
        hint: "clean the cache in the same RUN, or use `RUN --mount=type=cache,target=<cache dir>`",
        hadolint: &["DL3060"],
    },
    Rule {
        id: "STR006",
        name: "rpm-cache-left",
        severity: Warning,
        summary: "yum, dnf or microdnf install without `clean all` in the same RUN",
        description: "yum/dnf keep metadata and packages under /var/cache/yum or /var/cache/dnf. Run `<tool> clean all` (or remove the cache dir) in the same RUN.",
        bad: "RUN dnf install -y httpd",
        good: "RUN dnf install -y httpd && dnf clean all",
        hint: "end the same RUN with `&& dnf clean all` (yum, microdnf alike)",
        hadolint: &["DL3032", "DL3040"],
    },
    Rule {
        id: "STR007",
        name: "zypper-cache-left",
        severity: Warning,
        summary: "zypper install without `zypper clean` in the same RUN",
        description: "zypper keeps repository metadata and packages under /var/cache/zypp.",
        bad: "RUN zypper install -y curl",
        good: "RUN zypper install -y curl && zypper clean -a",
        hint: "end the same RUN with `&& zypper clean -a`",
        hadolint: &["DL3036"],
    },
    Rule {
        id: "STR010",
        name: "apt-update-alone",
        severity: Warning,
        summary: "`apt-get update` not followed by an install in the same RUN",
        description: "An update in its own layer is cached by itself: a later install runs against a stale index (and fails when the mirror drops old versions), and the index stays in the image.",
        bad: "RUN apt-get update\nRUN apt-get install -y --no-install-recommends curl",
        good: "RUN apt-get update \\\n && apt-get install -y --no-install-recommends curl \\\n && rm -rf /var/lib/apt/lists/*",
        hint: "run `apt-get update && apt-get install ...` in one RUN",
        hadolint: &[],
    },
    Rule {
        id: "STR011",
        name: "apt-install-no-yes",
        severity: Warning,
        summary: "`apt-get install` without `-y`",
        description: "A build has no terminal: without `-y` apt asks for confirmation and the build fails.",
        bad: "RUN apt-get update && apt-get install --no-install-recommends curl && rm -rf /var/lib/apt/lists/*",
        good: "RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*",
        hint: "add `-y`",
        hadolint: &["DL3014"],
    },
    Rule {
        id: "STR012",
        name: "apt-install-recommends",
        severity: Info,
        summary: "`apt-get install` without `--no-install-recommends`",
        description: "Recommended packages are rarely needed in an image and often double its size.",
        bad: "RUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*",
        good: "RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*",
        hint: "add `--no-install-recommends`",
        hadolint: &["DL3015"],
    },
    Rule {
        id: "STR013",
        name: "upgrade-outside-base",
        severity: Warning,
        summary: "`apt-get upgrade`/`dist-upgrade` (or `apk upgrade`, `dnf upgrade`) outside the base tier",
        description: "Upgrading in every image duplicates the upgraded files in each image's layers and makes siblings differ. Upgrade once, in the base tier (or rebuild on a newer base).",
        bad: "# tier: app\nRUN apt-get update && apt-get upgrade -y && rm -rf /var/lib/apt/lists/*",
        good: "# in the base image\nRUN apt-get update && apt-get upgrade -y && rm -rf /var/lib/apt/lists/*",
        hint: "upgrade in the family's base image and rebuild the children",
        hadolint: &[],
    },
    Rule {
        id: "STR020",
        name: "later-layer-cleanup",
        severity: Warning,
        summary: "A RUN deletes, uninstalls or re-owns what an earlier step added",
        description: "Layers only add: deleting files in a later layer hides them but the earlier layer still ships them, and `chown -R`/`chmod -R` copies every file into a new layer. Covers `apk del`/`apt-get remove`/`dnf remove`/`pip uninstall` of packages an earlier RUN installed, `rm` of a COPY/ADD destination or of a file an earlier RUN downloaded, removal of a package cache an earlier RUN left, and `chown -R`/`chmod -R` over a COPY destination.",
        bad: "RUN apk add --no-cache --virtual .build gcc musl-dev\nRUN make\nRUN apk del .build",
        good: "RUN apk add --no-cache --virtual .build gcc musl-dev \\\n && make \\\n && apk del .build",
        hint: "do it in the RUN that added the files (or use COPY --chown/--chmod)",
        hadolint: &[],
    },
    Rule {
        id: "STR021",
        name: "unsorted-packages",
        severity: Info,
        summary: "A multi-line package list is not sorted alphabetically",
        description: "Sorted lists make diffs small and duplicates obvious.",
        bad: "RUN apt-get update && apt-get install -y --no-install-recommends \\\n    git \\\n    curl \\\n && rm -rf /var/lib/apt/lists/*",
        good: "RUN apt-get update && apt-get install -y --no-install-recommends \\\n    curl \\\n    git \\\n && rm -rf /var/lib/apt/lists/*",
        hint: "sort the packages, one per line",
        hadolint: &[],
    },
    Rule {
        id: "STR022",
        name: "duplicate-packages",
        severity: Warning,
        summary: "A package is listed twice in one install",
        description: "A duplicate is a merge accident; with different version pins, the install fails or picks one silently.",
        bad: "RUN apk add --no-cache curl git curl",
        good: "RUN apk add --no-cache curl git",
        hint: "remove the duplicate",
        hadolint: &[],
    },
    Rule {
        id: "STR023",
        name: "consecutive-runs",
        severity: Info,
        summary: "Consecutive RUNs that could be one layer",
        description: "Each RUN is a layer with its own tar overhead and cache entry; files created in one and changed in the next are stored twice.",
        bad: "RUN mkdir -p /srv/app\nRUN chown 1000 /srv/app",
        good: "RUN mkdir -p /srv/app \\\n && chown 1000 /srv/app",
        hint: "join them with `&&` in one RUN",
        hadolint: &["DL3059"],
    },
    Rule {
        id: "STR030",
        name: "base-untagged",
        severity: Warning,
        summary: "An external base image without a tag, or tagged `latest`",
        description: "`latest` moves: the same Dockerfile builds different images over time and cache keys lie. Family parents are exempt: strata pins them to the digest it just built.",
        bad: "FROM debian",
        good: "FROM debian:12.7-slim@sha256:<digest>",
        hint: "name a version tag, and pin the digest",
        hadolint: &["DL3006", "DL3007"],
    },
    Rule {
        id: "STR031",
        name: "base-not-pinned",
        severity: Info,
        summary: "An external base image without a digest",
        description: "A tag can be re-pushed; only a digest names exactly one image. Raise to `warning` or `error` with `[lint] severity = { STR031 = \"error\" }` where reproducibility matters.",
        bad: "FROM debian:12-slim",
        good: "FROM debian:12-slim@sha256:<digest>",
        hint: "append `@sha256:<digest>` (skopeo inspect docker://IMAGE gives it)",
        hadolint: &[],
    },
    Rule {
        id: "STR040",
        name: "add-instead-of-copy",
        severity: Warning,
        summary: "ADD of local files that are not archives: COPY does the job",
        description: "ADD also extracts archives and fetches URLs; using it for plain files hides that magic from readers. COPY says what it does.",
        bad: "ADD app.conf /etc/app.conf",
        good: "COPY app.conf /etc/app.conf",
        hint: "use COPY",
        hadolint: &["DL3020"],
    },
    Rule {
        id: "STR041",
        name: "add-url",
        severity: Warning,
        summary: "ADD of a URL",
        description: "ADD downloads without checking what it got, always into a layer of its own, and cannot remove the file afterwards.",
        bad: "ADD https://example.com/tool.tar.gz /tmp/",
        good: "RUN curl -fsSLo /tmp/tool.tgz https://example.com/tool.tar.gz \\\n && echo \"<sha256>  /tmp/tool.tgz\" | sha256sum -c - \\\n && tar -xzf /tmp/tool.tgz -C /usr/local && rm /tmp/tool.tgz",
        hint: "download with curl in a RUN, verify the checksum, unpack and delete in the same RUN",
        hadolint: &[],
    },
    Rule {
        id: "STR042",
        name: "pipe-to-shell",
        severity: Warning,
        summary: "`curl | sh` or `wget -O- | sh`: running a script straight from the network",
        description: "Whatever the server sends runs as root in the build, unverified and differently on each build.",
        bad: "RUN curl -fsSL https://example.com/install.sh | sh",
        good: "RUN curl -fsSLo /tmp/install.sh https://example.com/install.sh \\\n && echo \"<sha256>  /tmp/install.sh\" | sha256sum -c - \\\n && sh /tmp/install.sh && rm /tmp/install.sh",
        hint: "download to a file, verify its checksum, then run it",
        hadolint: &[],
    },
    Rule {
        id: "STR050",
        name: "secret-in-env-or-arg",
        severity: Warning,
        summary: "A likely secret in ENV or ARG",
        description: "ENV values are stored in the image config and ARG values in its history: anyone who can pull the image can read them. Flags names such as PASSWORD, TOKEN, SECRET, API_KEY, PRIVATE_KEY (not `*_FILE`/`*_PATH` names, nor public GPG keys) and values that look like credentials (AWS, GitHub, GitLab, Slack, Stripe keys, PEM blocks, long random strings).",
        bad: "ENV DB_PASSWORD=hunter2",
        good: "RUN --mount=type=secret,id=db_password ./configure",
        hint: "pass secrets with `RUN --mount=type=secret` or at run time",
        hadolint: &["DL3064"],
    },
    Rule {
        id: "STR060",
        name: "shell-form-entrypoint",
        severity: Warning,
        summary: "Shell-form ENTRYPOINT or CMD in the final stage",
        description: "The shell form runs `/bin/sh -c`, which becomes PID 1: SIGTERM does not reach the application, so stops wait for the kill timeout.",
        bad: "CMD java -jar /srv/app.jar",
        good: "CMD [\"java\", \"-jar\", \"/srv/app.jar\"]",
        hint: "use the JSON (exec) form: [\"prog\", \"arg\"]",
        hadolint: &["DL3025"],
    },
    Rule {
        id: "STR061",
        name: "relative-workdir",
        severity: Warning,
        summary: "A relative WORKDIR",
        description: "A relative WORKDIR depends on every WORKDIR before it, including the base image's.",
        bad: "WORKDIR app",
        good: "WORKDIR /srv/app",
        hint: "use an absolute path",
        hadolint: &["DL3000"],
    },
    Rule {
        id: "STR062",
        name: "cd-in-run",
        severity: Info,
        summary: "`cd` in a RUN instead of WORKDIR",
        description: "A `cd` lasts for one RUN; the next instruction starts elsewhere, which surprises readers. `cd` inside a subshell `( ... )` is not reported.",
        bad: "RUN cd /src && make",
        good: "WORKDIR /src\nRUN make",
        hint: "set the directory with WORKDIR",
        hadolint: &["DL3003"],
    },
    Rule {
        id: "STR070",
        name: "sudo-in-run",
        severity: Warning,
        summary: "`sudo` in a RUN",
        description: "RUN already has the rights of the current USER; sudo adds a setuid binary and unpredictable TTY and environment behaviour.",
        bad: "RUN sudo apt-get update",
        good: "USER root\nRUN apt-get update\nUSER app",
        hint: "switch USER around the steps that need root",
        hadolint: &["DL3004"],
    },
    Rule {
        id: "STR071",
        name: "maintainer-deprecated",
        severity: Info,
        summary: "MAINTAINER is deprecated",
        description: "Docker deprecated MAINTAINER; labels are what tools read.",
        bad: "MAINTAINER ops@example.com",
        good: "LABEL org.opencontainers.image.authors=\"ops@example.com\"",
        hint: "use LABEL org.opencontainers.image.authors=...",
        hadolint: &["DL4000"],
    },
    Rule {
        id: "STR072",
        name: "app-without-healthcheck",
        severity: Info,
        summary: "An app-tier image without HEALTHCHECK",
        description: "Without a health check, a hung service stays `running`. Only images of the top tier of a family are checked (HEALTHCHECK NONE counts as a decision).",
        bad: "FROM jre\nCMD [\"java\", \"-jar\", \"/srv/app.jar\"]",
        good: "FROM jre\nHEALTHCHECK CMD [\"wget\", \"-qO-\", \"http://127.0.0.1:8080/health\"]\nCMD [\"java\", \"-jar\", \"/srv/app.jar\"]",
        hint: "add HEALTHCHECK CMD [...] (or HEALTHCHECK NONE)",
        hadolint: &[],
    },
    Rule {
        id: "STR073",
        name: "copy-context-without-dockerignore",
        severity: Warning,
        summary: "COPY or ADD of the whole context without a .dockerignore",
        description: "`COPY . .` takes everything: .git, local builds, .env files with secrets; any change to any file also invalidates the cache of this step and every later one.",
        bad: "COPY . /srv/app   # and no .dockerignore",
        good: "COPY . /srv/app   # with a .dockerignore listing .git, target/, .env",
        hint: "add a .dockerignore next to the Dockerfile (or COPY only what is needed)",
        hadolint: &[],
    },
    Rule {
        id: "STR074",
        name: "pipe-without-pipefail",
        severity: Info,
        summary: "A RUN with a pipe, without `set -o pipefail`",
        description: "`/bin/sh -c` only looks at the last command of a pipe: `curl ... | tar x` succeeds when curl fails.",
        bad: "RUN wget -qO- https://example.com/x.tgz | tar xz",
        good: "SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\nRUN wget -qO- https://example.com/x.tgz | tar xz",
        hint: "use SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"] or start the RUN with `set -o pipefail &&`",
        hadolint: &["DL4006"],
    },
    Rule {
        id: "STR080",
        name: "package-belongs-in-parent",
        severity: Warning,
        summary: "An OS package installed by two or more sibling images",
        description: "Each sibling ships its own copy of the package in its own layer. Installed once in their common parent, it is stored and pulled once.",
        bad: "# shop and billing, both FROM jre:\nRUN apk add --no-cache curl",
        good: "# in jre:\nRUN apk add --no-cache curl",
        hint: "install it in the common parent",
        hadolint: &[],
    },
    Rule {
        id: "STR081",
        name: "runtime-copies-app-code",
        severity: Warning,
        summary: "A runtime-tier image copies application code",
        description: "Runtime images are shared by many applications; code in them couples every child to one app's releases. Copies of the whole context, of source/archive files (.py, .js, .jar, .war, .rb, .php, .go) or into app dirs (/app, /srv, /usr/src/app, /var/www) are reported.",
        bad: "# tier: runtime\nCOPY shop.jar /srv/shop.jar",
        good: "# tier: app, FROM the runtime\nCOPY shop.jar /srv/shop.jar",
        hint: "move the COPY into the app image",
        hadolint: &[],
    },
    Rule {
        id: "STR082",
        name: "base-installs-runtime",
        severity: Warning,
        summary: "A base-tier image installs a language runtime",
        description: "Every image of the family inherits the base, including those that need another runtime or none: the runtime belongs in a runtime-tier image.",
        bad: "# tier: base\nRUN apk add --no-cache python3",
        good: "# tier: runtime, FROM base\nRUN apk add --no-cache python3",
        hint: "install the runtime in a runtime-tier image built FROM the base",
        hadolint: &[],
    },
    Rule {
        id: "STR083",
        name: "app-skips-runtime-tier",
        severity: Warning,
        summary: "An app image installs a language runtime that a runtime-tier image already provides",
        description: "The app builds FROM the base and installs its own copy of a runtime the family already ships in a runtime image: the copy is duplicated and drifts.",
        bad: "# app FROM base:\nRUN apk add --no-cache python3",
        good: "FROM python-runtime",
        hint: "build FROM the runtime-tier image instead",
        hadolint: &[],
    },
    Rule {
        id: "STR084",
        name: "policy-user-mismatch",
        severity: Error,
        summary: "The final USER differs from the `user` policy in strata.toml",
        description: "`user = \"app\"` on an image or `[policy.TIER]` says which user the image must run as.",
        bad: "# strata.toml: [policy.app] user = \"app\"\nUSER root",
        good: "USER app",
        hint: "set USER to the user the policy names",
        hadolint: &[],
    },
    Rule {
        id: "STR085",
        name: "unknown-family-parent",
        severity: Warning,
        summary: "A FROM or `--from` names no family image but looks like one",
        description: "A reference means a family image only when its repository and tag are one of the image's tags or `refs`. One that is close to such a name (`jer` for `jre`, a tag the image does not have) is taken as an external image: the build then fails to find it, or pulls an unrelated image of that name.",
        bad: "# family image jre\nFROM jer",
        good: "FROM jre",
        hint: "correct the name, or add it to the image's `tags` or `refs` in strata.toml",
        hadolint: &[],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    /// `AptListsLeft` -> `apt-lists-left`.
    fn kebab(variant: RuleId) -> String {
        let mut out = String::new();
        for c in format!("{variant:?}").chars() {
            if c.is_ascii_uppercase() && !out.is_empty() {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        }
        out
    }

    #[test]
    fn every_rule_id_is_its_table_row_and_round_trips() {
        assert_eq!(RuleId::ALL.len(), RULES.len());
        for (index, &id) in RuleId::ALL.iter().enumerate() {
            assert_eq!(id as usize, index);
            assert_eq!(
                id.rule().name,
                kebab(id),
                "table row {index} is out of order"
            );
            assert_eq!(RuleId::parse(id.as_str()), Some(id));
            assert_eq!(rule(id.as_str()).map(|r| r.id), Some(id.as_str()));
        }
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        let sorted = ids.clone();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids, sorted, "ids are unique and in table order");
        assert_eq!(RuleId::parse("STR999"), None);
    }

    #[test]
    fn every_rule_has_docs() {
        for r in rules() {
            let id_shape = r.id.len() == 6
                && r.id.starts_with("STR")
                && r.id[3..].bytes().all(|b| b.is_ascii_digit());
            assert!(id_shape, "{}", r.id);
            for (field, text) in [
                ("summary", r.summary),
                ("description", r.description),
                ("bad", r.bad),
                ("good", r.good),
                ("hint", r.hint),
            ] {
                assert!(!text.trim().is_empty(), "{} has no {field}", r.id);
            }
            assert!(
                !r.summary.ends_with('.'),
                "{}: the docs add the period",
                r.id
            );
        }
    }
}

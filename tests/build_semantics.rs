//! Dockerfile semantics of current BuildKit that a corpus case cannot show, through the
//! CLI: errors (a global ARG that must be given, `--from` with variables or naming a
//! later stage), the proxy build args (in every RUN, outside the cache key and history),
//! ONBUILD triggers with heredocs, cache mounts under `--no-cache`, and the process a RUN
//! (or `strata run`) gets: capabilities, supplementary groups, `/dev/shm`.
//!
//! Each test names the BuildKit source or test it follows; buildah 1.28 differs on all of
//! them (it has no TARGETSTAGE or heredocs, keeps the full capability set in chroot
//! isolation, and sets only the proxy spelling it is given).

mod common;

use common::{context_with, image_config, require_environment, run_ok, Store, BASE};

/// `strata build -t TAG FLAGS CONTEXT` of a context holding `dockerfile`.
fn build(store: &Store, dockerfile: &str, tag: &str, flags: &[&str]) -> String {
    let ctx = context_with(dockerfile);
    let flags: Vec<String> = flags.iter().map(|f| (*f).to_owned()).collect();
    let out = store.build(ctx.path(), tag, &flags);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
#[ignore = "needs root: make test"]
fn a_global_arg_that_must_be_given_fails_even_when_unused() {
    // convert.go buildMetaArgs: every global ARG default is expanded, used or not, unless
    // a --build-arg overrides it.
    require_environment();
    let store = Store::seeded();
    let dockerfile = format!("ARG NEED=\"${{MISSING:?give NEED}}\"\n{BASE}RUN true\n");
    let ctx = context_with(&dockerfile);
    let stderr = store.build_fails(ctx.path(), &[]);
    assert!(
        stderr.contains("Dockerfile:1:5") && stderr.contains("MISSING: give NEED"),
        "{stderr}"
    );
    store.build(
        ctx.path(),
        "given:1",
        &["--build-arg".into(), "NEED=x".into()],
    );
}

#[test]
#[ignore = "needs root: make test"]
fn from_with_variables_or_a_later_stage_is_an_error() {
    require_environment();
    let store = Store::seeded();
    let fails = |dockerfile: &str, wanted: &str| {
        let ctx = context_with(dockerfile);
        let stderr = store.build_fails(ctx.path(), &[]);
        assert!(stderr.contains(wanted), "wanted {wanted:?} in:\n{stderr}");
    };
    // instructions/commands_runmount.go: `from` is checked before any expansion, in every
    // stage, used or not.
    fails(
        &format!(
            "ARG SRC=base\n{BASE}FROM scratch AS unused\nRUN --mount=from=$SRC,target=/x true\n"
        ),
        "'from' doesn't support variable expansion, define alias stage instead",
    );
    // convert.go toCommand: a --from that expansion would change, even to nothing.
    fails(
        &format!("{BASE}ARG EMPTY=\nCOPY --from=$EMPTY /bin/busybox /b\n"),
        "variable expansion is not supported for --from",
    );
    // convert.go dispatchCopy / convert_runmount.go: stages are dispatched in file order,
    // so a later stage is an error, not an image to pull.
    fails(
        "FROM scratch AS first\nCOPY --from=later /bin/busybox /b\nFROM scratch AS later\nFROM first\n",
        "cannot copy from stage \"later\", it needs to be defined before current stage \"first\"",
    );
    fails(
        "FROM scratch AS first\nCOPY busybox /bin/busybox\nRUN --mount=from=later,target=/x [\"/bin/busybox\",\"true\"]\nFROM scratch AS later\nFROM first\n",
        "cannot mount from stage \"later\" to \"/x\", stage needs to be defined before current command",
    );
}

#[test]
#[ignore = "needs root: make test"]
fn proxy_args_reach_run_in_both_cases_outside_key_and_history() {
    // convert.go proxyEnvFromBuildArgs and llbsolver/ops/exec.go proxyEnvList: each proxy
    // given in either case is set in both; ExecOp's CacheMap drops ProxyEnv.
    require_environment();
    let store = Store::new();
    let dockerfile = format!("{BASE}RUN env | grep -i _proxy= | sort > /proxies\n");
    let proxy = |value: &str| {
        vec![
            "--build-arg".to_owned(),
            format!("http_proxy={value}"),
            "--build-arg".to_owned(),
            "NO_PROXY=localhost".to_owned(),
        ]
    };
    let ctx = context_with(&dockerfile);
    store.build(ctx.path(), "proxy:1", &proxy("http://one.invalid:3128"));
    assert_eq!(
        store.sh("proxy:1", "cat /proxies"),
        "HTTP_PROXY=http://one.invalid:3128\nNO_PROXY=localhost\n\
         http_proxy=http://one.invalid:3128\nno_proxy=localhost\n"
    );
    let config = image_config(store.path(), "proxy:1");
    assert!(
        !config.to_string().contains("one.invalid"),
        "proxy recorded in the config or history: {config:#}"
    );
    // Another proxy value is a cache hit: the layer (and so the file) is the first one.
    let out = store.build(ctx.path(), "proxy:2", &proxy("http://two.invalid:3128"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("0 steps run"), "{stderr}");
    assert_eq!(store.tagged("proxy:1"), store.tagged("proxy:2"));
}

#[test]
#[ignore = "needs root: make test"]
fn onbuild_triggers_carry_their_heredocs() {
    // instructions/parse.go parseOnBuild records the trigger with each body and
    // delimiter; dockerfile_heredoc_test.go testOnBuildHeredoc.
    require_environment();
    let store = Store::new();
    build(
        &store,
        &format!(
            "{BASE}ENV WHO=parent\nONBUILD RUN <<EOF\necho \"hello world\" >> /dest\nEOF\n\
             ONBUILD COPY <<-EOF /copied\n\tfrom ${{WHO}}\n\tEOF\n"
        ),
        "parent:1",
        &[],
    );
    let config = image_config(store.path(), "parent:1");
    assert_eq!(
        config["config"]["OnBuild"],
        serde_json::json!([
            "RUN <<EOF\necho \"hello world\" >> /dest\nEOF",
            "COPY <<-EOF /copied\n\tfrom ${WHO}\nEOF"
        ]),
        "{config:#}"
    );
    build(&store, "FROM parent:1\n", "child:1", &[]);
    assert_eq!(
        store.sh("child:1", "cat /dest /copied"),
        "hello world\nfrom parent\n"
    );
}

#[test]
#[ignore = "needs root: make test"]
fn no_cache_starts_cache_mounts_fresh_and_keeps_what_it_wrote() {
    // llbsolver/vertex.go detectPrunedCacheID + worker PruneCacheMounts: the cache mounts
    // of ops that ignore the cache are pruned before the build;
    // dockerfile_cache_test.go testCacheMountModeNoCache.
    require_environment();
    let store = Store::new();
    let dockerfile = format!(
        "{BASE}ARG FOO\nRUN --mount=type=cache,target=/cache touch /cache/$FOO && ls /cache > /out\n"
    );
    let arg = |v: &str| format!("FOO={v}");
    build(&store, &dockerfile, "c:1", &["--build-arg", &arg("abc")]);
    assert_eq!(store.sh("c:1", "cat /out"), "abc\n");
    build(
        &store,
        &dockerfile,
        "c:2",
        &["--no-cache", "--build-arg", &arg("def")],
    );
    assert_eq!(store.sh("c:2", "cat /out"), "def\n");
    build(&store, &dockerfile, "c:3", &["--build-arg", &arg("ghi")]);
    assert_eq!(store.sh("c:3", "cat /out"), "def\nghi\n");
    // --no-cache-filter does the same for the stages it names only.
    build(
        &store,
        &dockerfile,
        "c:4",
        &["--no-cache-filter", "other", "--build-arg", &arg("jkl")],
    );
    assert_eq!(store.sh("c:4", "cat /out"), "def\nghi\njkl\n");
}

/// `/etc/passwd` and `/etc/group` with a root in `wheel` and `app` in `wheel` and `staff`.
const USERS: &str = "RUN mkdir -p /etc /out && printf 'root:x:0:0:root:/root:/bin/sh\\napp:x:1000:1000::/home/app:/bin/sh\\n' > /etc/passwd \\\n \
     && printf 'root:x:0:\\nwheel:x:10:root,app\\nstaff:x:50:app\\napp:x:1000:\\n' > /etc/group && chmod 777 /out\n";

/// What RUN records about its process: `id` and the capability lines of
/// /proc/self/status.
const PROCESS: &str = "id; grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status";

/// Capabilities of a root process: docker's default set (containerd's defaultUnixCaps,
/// which BuildKit's spec keeps), no inheritable or ambient ones.
const ROOT_CAPS: &str = "CapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\n\
     CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\n";

/// A non-root process keeps the bounding set only.
const USER_CAPS: &str = "CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n\
     CapEff:\t0000000000000000\nCapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\n";

#[test]
#[ignore = "needs root: make test"]
fn run_gets_default_capabilities_and_supplementary_groups() {
    // executor/oci/user.go GetUser + ensureAdditionalGids: the primary gid first, then
    // the groups listing the user, none besides the explicit group of `USER u:g`.
    require_environment();
    let store = Store::new();
    let dockerfile = format!(
        "{BASE}{USERS}RUN ({PROCESS}) > /out/root\nUSER app\nRUN ({PROCESS}) > /out/app\n\
         USER 1000\nRUN id > /out/uid\nUSER app:staff\nRUN id > /out/app-staff\n\
         USER 1000:1000\nRUN id > /out/ids\nUSER app\n"
    );
    build(&store, &dockerfile, "users:1", &[]);
    let app = "uid=1000(app) gid=1000(app) groups=10(wheel),50(staff),1000(app)\n";
    assert_eq!(
        store.sh("users:1", "cat /out/root"),
        format!("uid=0(root) gid=0(root) groups=0(root),10(wheel)\n{ROOT_CAPS}")
    );
    assert_eq!(
        store.sh("users:1", "cat /out/app"),
        format!("{app}{USER_CAPS}")
    );
    assert_eq!(store.sh("users:1", "cat /out/uid"), app);
    assert_eq!(
        store.sh("users:1", "cat /out/app-staff"),
        "uid=1000(app) gid=50(staff) groups=50(staff)\n"
    );
    assert_eq!(
        store.sh("users:1", "cat /out/ids"),
        "uid=1000(app) gid=1000(app) groups=1000(app)\n"
    );
    // `strata run` gets the same process.
    assert_eq!(store.sh("users:1", PROCESS), format!("{app}{USER_CAPS}"));
    let out = run_ok(
        store
            .strata()
            .args(["run", "--user", "0", "users:1", "--", "sh", "-c", PROCESS]),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("uid=0(root) gid=0(root) groups=0(root),10(wheel)\n{ROOT_CAPS}")
    );
}

#[test]
#[ignore = "needs root: make test"]
fn a_tmpfs_mount_on_dev_shm_replaces_the_sandboxs() {
    // executor/oci/mounts.go dedupMounts: a mount at the destination of a default one
    // replaces it.
    require_environment();
    let store = Store::new();
    let shm = "mount | grep -c ' /dev/shm ' > /out/$N; df -k /dev/shm | awk 'NR==2 {print $2}' >> /out/$N";
    let dockerfile = format!(
        "{BASE}RUN mkdir /out\nRUN N=default; {shm}\n\
         RUN --mount=type=tmpfs,target=/dev/shm,size=1m N=mounted; {shm}\n"
    );
    build(&store, &dockerfile, "shm:1", &[]);
    assert_eq!(store.sh("shm:1", "cat /out/default"), "1\n65536\n");
    assert_eq!(store.sh("shm:1", "cat /out/mounted"), "1\n1024\n");
}

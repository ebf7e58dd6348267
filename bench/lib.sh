# Shared preamble and helpers of the bench/ scripts. Sourced, not run:
#   source "$(dirname "$0")/lib.sh"
# Sets ROOT (the repository) and STRATA (the binary; the caller's STRATA overrides it).
# Each script keeps its own `set -euo pipefail`.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STRATA=${STRATA:-$ROOT/target/release/strata}
# The background daemons (dockerd, docker-registry) a script started: killed on exit, the
# last started first. Add one with bg_started PID.
BG_PIDS=()

# need_root: exits unless root. strata, buildah and dockerd build with namespaces and
# overlayfs, and audit.sh drops the page cache.
need_root() {
    [ "$(id -u)" = 0 ] || { echo "bench/$(basename "$0") must run as root" >&2; exit 1; }
}

# need_strata: exits unless $STRATA is an executable, so a bench never times a missing binary.
need_strata() {
    [ -x "$STRATA" ] || { echo "$STRATA missing: run make build (or set STRATA)" >&2; exit 1; }
}

# need_tools HINT TOOL...: exits at the first TOOL not on PATH, saying HINT (how to get it;
# may be empty), before any time is spent generating data.
need_tools() {
    local hint=$1 tool
    shift
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "$tool missing${hint:+: $hint}" >&2; exit 1; }
    done
}

# make_work: WORK, a fresh directory /var/tmp/strata-bench-NAME.XXXXXX (NAME: the script's),
# removed by bench_cleanup on exit, Ctrl-C or TERM. /var/tmp, not /tmp: the data can be a
# GiB, and tmpfs would measure memory, not the disk the builders use.
make_work() {
    WORK=$(mktemp -d "/var/tmp/strata-bench-$(basename "$0" .sh).XXXXXX")
    trap bench_cleanup EXIT
    # A signal ends the script through exit, so the EXIT trap cleans up after it too.
    trap 'exit 130' INT
    trap 'exit 143' TERM HUP
}

# bg_started PID: records a daemon the script started in the background, for bench_cleanup.
bg_started() { BG_PIDS+=("$1"); }

# bench_cleanup: the EXIT trap. Stops each of BG_PIDS and waits for it (so it stops writing
# under WORK), unmounts the overlays buildah may leave under WORK/buildah-root, removes WORK.
bench_cleanup() {
    local i pid
    for ((i = ${#BG_PIDS[@]} - 1; i >= 0; i--)); do
        pid=${BG_PIDS[i]}
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ -d "$WORK/buildah-root" ]; then
        grep -o "$WORK/buildah-root[^ ]*" /proc/mounts | sort -r | xargs -r umount -l 2>/dev/null || true
    fi
    rm -rf "$WORK"
}

# bench_init: the preamble of the scripts that build: need_root, need_strata, make_work.
bench_init() {
    need_root
    need_strata
    make_work
}

# now: the wall clock in seconds, with nanoseconds, for the timings.
now() { date +%s.%N; }

# seconds START END: END - START to 0.01 s (the wall times the scripts print).
seconds() { awk -v s="$1" -v e="$2" 'BEGIN { printf "%.2f", e - s }'; }

# elapsed START: seconds from START until now, to 0.001 s (for sub-second steps).
elapsed() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.3f", e - s }'; }

# ratio A B [SUFFIX]: A / B to 0.01, then SUFFIX; "-" when B is not positive (a step that
# was skipped or took no measurable time).
ratio() { awk -v a="$1" -v b="$2" -v x="${3:-}" 'BEGIN { if (b > 0) printf "%.2f%s", a / b, x; else print "-" }'; }

# prng IV BYTES: BYTES pseudo-random but reproducible bytes (the AES-CTR keystream of a
# fixed key over zeros, seeded by the 32-hex-digit IV): incompressible data that is the
# same on every run, so layer sizes and digests do not vary. (openssl dies of SIGPIPE
# when head has enough: not an error.)
prng() { (openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f -iv "$1" </dev/zero 2>/dev/null || true) | head -c "$2"; }

# start_dockerd: BuildKit for the comparisons, through a private dockerd (data and exec
# roots under WORK, socket DSOCK, no iptables or bridge: it must not touch the host's
# networking or a running docker). Installs docker.io if dockerd is missing, waits up to
# 30 s for `docker info`, and records it with bg_started. Returns 1, saying why on stdout,
# when BuildKit is not usable: the callers then skip it.
start_dockerd() {
    DSOCK=unix://$WORK/docker.sock
    if ! command -v dockerd >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null 2>&1 || true
    fi
    if ! command -v dockerd >/dev/null || [ ! -x /usr/bin/docker ]; then
        echo "buildkit: dockerd unavailable (apt-get install docker.io); skipped"
        return 1
    fi
    dockerd --iptables=false --bridge=none --data-root "$WORK/docker-data" --exec-root "$WORK/docker-exec" \
        --pidfile "$WORK/docker.pid" -H "$DSOCK" >"$WORK/dockerd.log" 2>&1 &
    bg_started $!
    for _ in $(seq 60); do
        DOCKER_HOST=$DSOCK /usr/bin/docker info >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    DOCKER_HOST=$DSOCK /usr/bin/docker info >/dev/null 2>&1 && return 0
    echo "buildkit: dockerd did not start (see below); skipped"
    tail -5 "$WORK/dockerd.log"
    return 1
}

# run_timed LOG CMD...: runs CMD (after a sync, so earlier writes are not billed to it)
# with its output in LOG, shown if it fails (then exits); sets LAST_S to its wall time.
run_timed() {
    local log=$1 t0
    shift
    sync
    t0=$(now)
    "$@" >"$log" 2>&1 || { cat "$log" >&2; echo "failed: $*" >&2; exit 1; }
    # shellcheck disable=SC2034 # read by the caller
    LAST_S=$(elapsed "$t0")
}

# text_files DIR COUNT SEED: COUNT text files of 64 lines (~4.5 KB) under DIR/pNN (20
# subdirectories), seeded by SEED: compressible, like code.
text_files() {
    awk -v dir="$1" -v count="$2" -v seed="$3" 'BEGIN {
        srand(seed);
        for (f = 0; f < count; f++) {
            sub_dir = sprintf("%s/p%02d", dir, f % 20);
            if (f < 20) system("mkdir -p " sub_dir);
            path = sprintf("%s/f%04d.txt", sub_dir, f);
            for (l = 0; l < 64; l++) printf "line %d of file %d: %08x %08x\n", l, f, int(rand() * 2^31), int(rand() * 2^31) > path;
            close(path);
        }
    }'
}

# bench_buildah ARG...: buildah on the bench's own storage (WORK/buildah-root, overlay),
# never the host's.
bench_buildah() {
    buildah --root "$WORK/buildah-root" --runroot "$WORK/buildah-runroot" --storage-driver overlay "$@"
}

# buildah_bud TAG CONTEXT [ARG...]: bench_buildah bud with chroot isolation, --layers and
# local images only for FROM.
buildah_bud() {
    local tag=$1 ctx=$2
    shift 2
    bench_buildah bud --isolation chroot --layers --pull=never -q -t "$tag" "$@" "$ctx" >/dev/null
}

# buildkit_build TAG CONTEXT [ARG...]: BuildKit through the dockerd of start_dockerd, RUN
# steps on the host network.
buildkit_build() {
    local tag=$1 ctx=$2
    shift 2
    DOCKER_HOST=$DSOCK DOCKER_BUILDKIT=1 /usr/bin/docker build --network host -q -t "$tag" "$@" "$ctx" >/dev/null
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_registry: a docker-registry on 127.0.0.1 (plain HTTP, a free port, storage under
# WORK/registry-data, log WORK/registry.log), recorded with bg_started; waits up to 20 s
# for it to accept connections. Sets REGISTRY (127.0.0.1:PORT).
start_registry() {
    local port
    port=$(free_port)
    REGISTRY=127.0.0.1:$port
    cat >"$WORK/registry.yml" <<YAML
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $WORK/registry-data
http:
  addr: $REGISTRY
  secret: strata-bench-secret
YAML
    docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
    local pid=$!
    bg_started "$pid"
    for _ in $(seq 400); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        kill -0 "$pid" 2>/dev/null || { cat "$WORK/registry.log" >&2; exit 1; }
        sleep 0.05
    done
    echo "registry did not start" >&2
    cat "$WORK/registry.log" >&2
    exit 1
}

# same_digests STORE REPO IMAGE...: exits unless every IMAGE:latest at docker://REPO/IMAGE
# (plain HTTP) has the manifest digest the strata store STORE holds for it.
same_digests() {
    local store=$1 repo=$2 image want got
    shift 2
    for image in "$@"; do
        want=$(skopeo inspect --format '{{.Digest}}' "oci:$store:$image:latest")
        got=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$repo/$image:latest")
        [ "$got" = "$want" ] || { echo "MISMATCH: $repo/$image is $got, the store has $want" >&2; exit 1; }
    done
}

# host_mirror: the host's Debian mirror for bookworm: the first URI of an enabled deb822
# stanza (or one-line `deb` entry) whose suites include bookworm itself. Read at run time,
# so no mirror's name is written into the repository.
host_mirror() {
    local files=() f
    [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
    for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && files+=("$f")
    done
    [ ${#files[@]} -gt 0 ] || return 1
    awk '
        # One-line format: deb [options] URI SUITE COMPONENTS...
        /^[[:space:]]*deb[[:space:]]/ {
            n = split($0, w, /[[:space:]]+/); i = 2
            if (w[i] == "") i++
            if (w[i] ~ /^\[/) { while (i <= n && w[i] !~ /\]$/) i++; i++ }
            if (w[i + 1] == "bookworm") { print w[i]; exit }
            next
        }
        # deb822: blank lines separate stanzas.
        /^[[:space:]]*$/ { flush(); next }
        /^[[:space:]]*#/ { next }
        { key = tolower($1); sub(/:$/, "", key); $1 = ""; f[key] = f[key] $0 }
        function flush(  s, n, k) {
            if (f["types"] ~ /(^|[[:space:]])deb([[:space:]]|$)/ && f["enabled"] !~ /no/) {
                n = split(f["suites"], s, /[[:space:]]+/)
                for (k = 1; k <= n; k++) if (s[k] == "bookworm") {
                    split(f["uris"], u, /[[:space:]]+/)
                    for (k = 1; k <= length(u); k++) if (u[k] != "") { print u[k]; found = 1; exit }
                }
            }
            delete f
        }
        END { if (!found) flush() }
    ' "${files[@]}" | head -n1
}

# debian_rootfs TARBALL: a bookworm minbase rootfs tarball made by mmdebstrap from the
# host's mirror (exits when the host has none); says its size and how long it took.
debian_rootfs() {
    local mirror t0
    mirror=$(host_mirror) || true
    [ -n "$mirror" ] || { echo "no bookworm mirror found in the host's apt sources" >&2; exit 1; }
    echo "mmdebstrap: bookworm minbase from the host's mirror"
    t0=$(now)
    mmdebstrap --quiet --variant=minbase bookworm "$1" "$mirror"
    echo "  rootfs tarball: $(du -h "$1" | cut -f1) in $(seconds "$t0" "$(now)")s"
}

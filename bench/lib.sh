# Shared preamble and helpers of the bench/ scripts. Sourced, not run:
#   source "$(dirname "$0")/lib.sh"
# Sets ROOT (the repository) and STRATA (the binary; the caller's STRATA overrides it).
# Each script keeps its own `set -euo pipefail`.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STRATA=${STRATA:-$ROOT/target/release/strata}
# The background daemon (dockerd or docker-registry) a script started: killed on exit.
BG_PID=""

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
# removed on exit by bench_cleanup. /var/tmp, not /tmp: the data can be a GiB, and tmpfs
# would measure memory, not the disk the builders use.
make_work() {
    WORK=$(mktemp -d "/var/tmp/strata-bench-$(basename "$0" .sh).XXXXXX")
    trap bench_cleanup EXIT
}

# bench_cleanup: the EXIT trap. Stops BG_PID and waits for it (so it stops writing under
# WORK), unmounts the overlays buildah may leave under WORK/buildah-root, removes WORK.
bench_cleanup() {
    if [ -n "$BG_PID" ]; then kill "$BG_PID" 2>/dev/null || true; wait "$BG_PID" 2>/dev/null || true; fi
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
# 30 s for `docker info`, and sets BG_PID. Returns 1, saying why on stdout, when BuildKit
# is not usable: the callers then skip it.
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
    BG_PID=$!
    for _ in $(seq 60); do
        DOCKER_HOST=$DSOCK /usr/bin/docker info >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    DOCKER_HOST=$DSOCK /usr/bin/docker info >/dev/null 2>&1 && return 0
    echo "buildkit: dockerd did not start (see below); skipped"
    tail -5 "$WORK/dockerd.log"
    return 1
}

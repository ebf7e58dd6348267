#!/usr/bin/env bash
# Cold-build benchmark: strata vs buildah vs BuildKit (docker) on one hermetic Dockerfile:
# a busybox base, a RUN creating 20,000 small files, and a COPY of ~100 MB of mixed files
# (a few large pseudo-random files plus many small text files), generated
# deterministically here. Prints each wall time and the ratios. Needs root.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bench_init
need_tools "run make bench as root (installs it)" buildah openssl

# --- the context -------------------------------------------------------------------
CTX=$WORK/ctx
mkdir -p "$CTX/data/big" "$CTX/data/small"
cp /bin/busybox "$CTX/busybox"
for i in 1 2 3 4; do prng "0000000000000000000000000000000$i" $((18 * 1024 * 1024)) >"$CTX/data/big/blob$i.bin"; done
# 6,000 small text files (~4.5 KB each, ~27 MB): compressible, like source trees.
awk -v ctx="$CTX" 'BEGIN {
    srand(42);
    for (d = 0; d < 60; d++) {
        dir = sprintf("%s/data/small/d%02d", ctx, d);
        system("mkdir -p " dir);
        for (f = 0; f < 100; f++) {
            path = sprintf("%s/f%03d.txt", dir, f);
            for (l = 0; l < 64; l++) printf "line %d of file %d in dir %d: %08x %08x\n", l, f, d, int(rand() * 2^31), int(rand() * 2^31) > path;
            close(path);
        }
    }
}'
cat >"$CTX/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /many && cd /many && i=0 && while [ $i -lt 20000 ]; do echo "$i" > "f$i"; i=$((i + 1)); done
COPY data /data
CMD ["/bin/sh"]
DOCKERFILE
echo "context: $(du -sh "$CTX" | cut -f1), $(find "$CTX" -type f | wc -l) files"

# --- strata (fresh store) ------------------------------------------------------------
sync
t0=$(now)
"$STRATA" --store "$WORK/strata-store" build -t bench:1 "$CTX" >/dev/null
t1=$(now)
STRATA_S=$(seconds "$t0" "$t1")
echo "strata:   ${STRATA_S}s"

# --- buildah (fresh storage root: cold) -------------------------------------------------
sync
t0=$(now)
buildah_bud bench:1 "$CTX"
t1=$(now)
BUILDAH_S=$(seconds "$t0" "$t1")
echo "buildah:  ${BUILDAH_S}s"
bench_buildah rmi -a -f >/dev/null 2>&1 || true

# --- BuildKit via dockerd, when it can be started ----------------------------------------
BUILDKIT_S=""
if start_dockerd; then
    sync
    t0=$(now)
    buildkit_build bench:1 "$CTX" --no-cache
    t1=$(now)
    BUILDKIT_S=$(seconds "$t0" "$t1")
    echo "buildkit: ${BUILDKIT_S}s"
fi

echo "strata/buildah:  $(ratio "$STRATA_S" "$BUILDAH_S")"
[ -z "$BUILDKIT_S" ] || echo "strata/buildkit: $(ratio "$STRATA_S" "$BUILDKIT_S")"

# The layer pipeline alone (tar -> gzip on both cores -> sha256, one pass), in MB/s of
# uncompressed tar, on the same kinds of content as the Dockerfile above.
echo "layer pipeline throughput:"
(cd "$ROOT" && cargo test -q --release --test layer throughput -- --ignored --nocapture 2>/dev/null) \
    | grep -E "MB/s|MB ->" | sed 's/^/  /'

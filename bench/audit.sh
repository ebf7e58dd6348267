#!/usr/bin/env bash
# Audit benchmark: wall time and peak RSS of auditing a ~100 MB and a ~1 GB image (built
# here from pseudo-random data, so gzip cannot shrink it), against the floor: reading the
# same layer blobs with `tar -tzvf`. Needs root (strata build).
#
# `strata audit` and the tar reads run under /usr/bin/time -v. STRATA overrides the
# binary; SIZES="100 1024" (MiB) picks the images.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SIZES=${SIZES:-"100 1024"}
bench_init
need_tools "" openssl jq /usr/bin/time

# timed_audit TIMEFILE STORE IMAGE
timed_audit() { /usr/bin/time -v -o "$1" "$STRATA" --store "$2" audit "$3"; }

# Field of /usr/bin/time -v output.
peak_kib() { awk -F': ' '/Maximum resident set size/ { print $2 }' "$1"; }
wall() { awk -F': ' '/Elapsed \(wall clock\)/ { print $2 }' "$1"; }

printf '%-8s %10s %10s %12s %10s %12s\n' "image" "blobs" "audit s" "audit RSS" "tar -tzvf" "tar RSS"
for mib in $SIZES; do
    ctx=$WORK/ctx-$mib
    store=$WORK/store-$mib
    mkdir -p "$ctx/big" "$ctx/small"
    cp /bin/busybox "$ctx/busybox"
    # Four big files per layer group, plus 2,000 small ones: 90 % in big files.
    big=$((mib * 1024 * 1024 * 9 / 10 / 4))
    for i in 1 2 3 4; do prng "$(printf '%032x' "$i")" "$big" >"$ctx/big/b$i.bin"; done
    prng "$(printf '%032x' 99)" $((mib * 1024 * 1024 / 10)) | split -b $((mib * 1024 * 1024 / 10 / 2000 + 1)) - "$ctx/small/s"
    cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY big/b1.bin big/b2.bin /data/
COPY big/b3.bin big/b4.bin /data/
COPY small /small
RUN rm /data/b1.bin
USER 1000
DOCKERFILE
    "$STRATA" --store "$store" build -q -t "bench:$mib" "$ctx" >/dev/null
    rm -rf "$ctx"
    blobs=$(jq -r '.layers[].digest' "$store/blobs/sha256/$(jq -r '.manifests[0].digest' "$store/index.json" | cut -d: -f2)" | cut -d: -f2 | tr '\n' ' ')
    total=0
    for b in $blobs; do total=$((total + $(stat -c %s "$store/blobs/sha256/$b"))); done

    sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
    timed_audit "$WORK/time-audit" "$store" "bench:$mib" >"$WORK/audit.out" 2>&1 \
        || { cat "$WORK/audit.out" >&2; exit 1; }
    sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
    /usr/bin/time -v -o "$WORK/time-tar" bash -c "for b in $blobs; do tar -tzvf '$store/blobs/sha256/'\$b >/dev/null; done"
    printf '%-8s %9sM %10s %9s KiB %10s %8s KiB\n' "${mib}M" $((total / 1024 / 1024)) \
        "$(wall "$WORK/time-audit")" "$(peak_kib "$WORK/time-audit")" "$(wall "$WORK/time-tar")" "$(peak_kib "$WORK/time-tar")"
    rm -rf "$store"
done

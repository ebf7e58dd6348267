#!/usr/bin/env bash
# Multi-platform benchmark: a hermetic two-platform family (a busybox base per platform,
# /bin/busybox for amd64 and Debian's busybox-static for arm64, a RUN in each tier, an app
# with a few MiB of files), built for linux/amd64 and linux/arm64, cold and warm (nothing
# changed), by strata (`build --platform linux/amd64,linux/arm64` of the family: an index
# per image, the platforms in parallel, arm64's RUN steps under QEMU user emulation) and
# by buildah (`bud --platform linux/amd64,linux/arm64 --manifest` per image, in dependency
# order), in one run. BuildKit in docker 20.10 builds one platform per image (no index
# without buildx), so it is left out. Needs root, qemu-user-static and the arm64 busybox
# that `make deps-test` fetches (FOREIGN_BUSYBOX).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

FOREIGN_BUSYBOX=${FOREIGN_BUSYBOX:-/var/cache/strata-tests/busybox-arm64}
APP_MB=${PLATFORMS_APP_MB:-8}
PLATFORMS=linux/amd64,linux/arm64

bench_init
need_tools "run make bench-platforms as root (installs it)" buildah qemu-aarch64-static openssl
[ -s "$FOREIGN_BUSYBOX" ] || { echo "$FOREIGN_BUSYBOX missing: run make deps-test" >&2; exit 1; }
echo "platforms benchmark: $PLATFORMS; $(nproc) cores; $("$STRATA" --version)"

FAM=$WORK/family
mkdir -p "$FAM/base" "$FAM/tools" "$FAM/app/data"
cp /bin/busybox "$FAM/base/busybox-amd64"
cp "$FOREIGN_BUSYBOX" "$FAM/base/busybox-arm64"
cat >"$FAM/strata.toml" <<'TOML'
[family]
name = "bench-platforms"
platforms = ["linux/amd64", "linux/arm64"]

[images.base]
tier = "base"
refs = ["localhost/base"]

[images.tools]
tier = "runtime"
refs = ["localhost/tools"]

[images.app]
tier = "app"
TOML
cat >"$FAM/base/Dockerfile" <<'DF'
FROM scratch
ARG TARGETARCH
COPY busybox-${TARGETARCH} /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /etc /srv && echo "app:x:1000:1000::/srv:/bin/sh" > /etc/passwd && echo "app:x:1000:" > /etc/group && chown 1000:1000 /srv
DF
# The tiers name their parent through localhost/, which is what buildah files a local
# manifest list under; strata resolves the same name to the family image.
cat >"$FAM/tools/Dockerfile" <<'DF'
FROM localhost/base
RUN for i in $(seq 200); do echo "tool $i $(uname -m)" > /srv/tool-$i; done && sha256sum /bin/busybox > /srv/sum
DF
cat >"$FAM/app/Dockerfile" <<'DF'
FROM localhost/tools
COPY data /srv/data
RUN find /srv -type f | wc -l > /srv/count && uname -m > /srv/arch
USER app
CMD ["cat", "/srv/arch"]
DF
prng 00000000000000000000000000000001 $((APP_MB * 1024 * 1024)) >"$FAM/app/data/blob"
text_files "$FAM/app/data" 300 7

STORE=$WORK/strata-store
strata_family() { "$STRATA" --store "$STORE" build --progress plain "$FAM"; }
buildah_family() {
    for image in base tools app; do
        bench_buildah bud --isolation chroot --layers --pull=never -q \
            --platform "$PLATFORMS" --manifest "localhost/$image" "$FAM/$image" >/dev/null
    done
}
buildah_reset() {
    bench_buildah rmi --all --force >/dev/null 2>&1 || true
    bench_buildah manifest rm localhost/base localhost/tools localhost/app >/dev/null 2>&1 || true
}

run_timed "$WORK/strata-cold.log" strata_family
STRATA_COLD=$LAST_S
run_timed "$WORK/strata-warm.log" strata_family
STRATA_WARM=$LAST_S
"$STRATA" --store "$STORE" run --platform linux/arm64 app | grep -qx aarch64 ||
    { echo "strata: app for arm64 does not run as aarch64" >&2; exit 1; }

buildah_reset
run_timed "$WORK/buildah-cold.log" buildah_family
BUILDAH_COLD=$LAST_S
# buildah adds to a manifest list it already has: drop the lists (not the cached layers)
# so the warm build makes the same lists again.
bench_buildah manifest rm localhost/base localhost/tools localhost/app >/dev/null 2>&1 || true
run_timed "$WORK/buildah-warm.log" buildah_family
BUILDAH_WARM=$LAST_S
# buildah's result has both platforms too.
for arch in amd64 arm64; do
    bench_buildah manifest inspect localhost/app | grep -q "\"architecture\": \"$arch\"" ||
        { echo "buildah: localhost/app has no $arch image" >&2; exit 1; }
done

printf '\n%-28s %10s %10s %12s\n' "two platforms, 3 images" strata buildah strata/buildah
printf '%-28s %9ss %9ss %12s\n' "cold" "$STRATA_COLD" "$BUILDAH_COLD" "$(ratio "$STRATA_COLD" "$BUILDAH_COLD" x)"
printf '%-28s %9ss %9ss %12s\n' "warm (nothing changed)" "$STRATA_WARM" "$BUILDAH_WARM" "$(ratio "$STRATA_WARM" "$BUILDAH_WARM" x)"

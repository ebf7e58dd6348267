#!/usr/bin/env bash
# Family benchmark: strata vs buildah (and BuildKit through dockerd when it can start) on
# one image family, in four scenarios run one after the other on the same stores:
#   cold      fresh stores, nothing cached
#   warm      the same family again, nothing changed
#   one-file  one file of one application changed
#   base      one file copied into the base changed (everything below rebuilds)
# The family, generated deterministically here: base (busybox, users, os-release); a "jre"
# runtime FROM base with a RUN creating 5,000 files and a COPY of ~20 MB; two apps FROM jre,
# each COPYing ~10 MB of app files and running a RUN. strata builds it as a family
# (strata.toml); buildah and BuildKit build each Dockerfile in dependency order, tagging
# each image so its children's `FROM base` / `FROM jre` find it. Prints wall times and
# the ratios against the goals of issue 3. Needs root.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bench_init
need_tools "run make bench-family as root (installs it)" buildah openssl

# --- the family ------------------------------------------------------------------------
FAM=$WORK/family
mkdir -p "$FAM/base/etc" "$FAM/runtimes/jre/runtime/lib" "$FAM/shop/app" "$FAM/billing/app"
cat >"$FAM/strata.toml" <<'TOML'
[family]
name = "bench"

[images.base]
tier = "base"

[images.jre]
tier = "runtime"
context = "runtimes/jre"

[images.shop]
tier = "app"

[images.billing]
tier = "app"
TOML

cp /bin/busybox "$FAM/base/busybox"
printf 'NAME="bench base"\nVERSION_ID=1\n' >"$FAM/base/etc/os-release"
cat >"$FAM/base/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /etc /tmp /home/app && chmod 1777 /tmp \
 && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd \
 && echo 'app:x:1000:1000:app:/home/app:/bin/sh' >> /etc/passwd \
 && printf 'root:x:0:\napp:x:1000:\n' > /etc/group && chown 1000:1000 /home/app
COPY etc/os-release /etc/os-release
DOCKERFILE

# runtime: ~20 MB (two 8 MB binaries and ~4.5 MB of text).
for i in 1 2; do prng "0000000000000000000000000000010$i" $((8 * 1024 * 1024)) >"$FAM/runtimes/jre/runtime/lib/rt$i.so"; done
text_files "$FAM/runtimes/jre/runtime/src" 1000 1
cat >"$FAM/runtimes/jre/Dockerfile" <<'DOCKERFILE'
FROM base
RUN mkdir -p /opt/jre/modules && cd /opt/jre/modules && i=0 \
 && while [ $i -lt 5000 ]; do echo "module $i" > "m$i.txt"; i=$((i + 1)); done
COPY runtime/ /opt/jre/
ENV JAVA_HOME=/opt/jre
DOCKERFILE

# applications: ~10 MB each (one 6 MB archive and ~4.5 MB of text).
seed=10
for app in shop billing; do
    seed=$((seed + 1))
    prng "000000000000000000000000000002$seed" $((6 * 1024 * 1024)) >"$FAM/$app/app/$app.jar"
    text_files "$FAM/$app/app/src" 1000 "$seed"
    cat >"$FAM/$app/Dockerfile" <<DOCKERFILE
FROM jre
WORKDIR /srv/$app
COPY app/ /srv/$app/
RUN find /srv/$app -type f | wc -l > /srv/$app.files && chown -R 1000:1000 /srv/$app
USER app
CMD ["cat", "/srv/$app.files"]
DOCKERFILE
done
echo "family: $(du -sh "$FAM" | cut -f1), $(find "$FAM" -type f | wc -l) files"

# Images in dependency order and their contexts, for the one-at-a-time builders.
ORDER="base jre shop billing"
context_of() { case $1 in jre) echo "$FAM/runtimes/jre" ;; *) echo "$FAM/$1" ;; esac; }

# --- the builders: each prints its wall time ---------------------------------------------
SSTORE=$WORK/strata-store
strata_family() {
    sync
    local t0 log=$WORK/strata-$1.log
    t0=$(now)
    "$STRATA" --store "$SSTORE" build --progress plain "$FAM" >/dev/null 2>"$log"
    elapsed "$t0"
}

buildah_family() {
    sync
    local t0 img
    t0=$(now)
    for img in $ORDER; do
        buildah_bud "localhost/$img" "$(context_of "$img")"
    done
    elapsed "$t0"
}

buildkit_family() {
    sync
    local t0 img
    t0=$(now)
    for img in $ORDER; do
        buildkit_build "$img" "$(context_of "$img")"
    done
    elapsed "$t0"
}

# BuildKit through dockerd, when it can be started (a fresh data root: cold).
HAVE_BUILDKIT=""
start_dockerd && HAVE_BUILDKIT=yes

# --- the scenarios -----------------------------------------------------------------------
declare -A S B K
run_scenario() {
    local name=$1
    S[$name]=$(strata_family "$name")
    B[$name]=$(buildah_family)
    [ -z "$HAVE_BUILDKIT" ] || K[$name]=$(buildkit_family)
    printf '%-9s strata %7ss  buildah %7ss' "$name" "${S[$name]}" "${B[$name]}"
    [ -z "$HAVE_BUILDKIT" ] || printf '  buildkit %7ss' "${K[$name]}"
    printf '   (strata: %s)\n' "$(grep -h 'steps run' "$WORK/strata-$name.log" | tail -1)"
}

run_scenario cold
run_scenario warm
echo "changed in shop" >>"$FAM/shop/app/src/p00/f0000.txt"
run_scenario one-file
printf 'PATCH=1\n' >>"$FAM/base/etc/os-release"
run_scenario base

# --- ratios and goals --------------------------------------------------------------------
verdict() { awk -v r="$1" -v g="$2" 'BEGIN { print (r <= g ? "met" : "MISSED") }'; }
echo
printf '%-9s %14s %15s   %s\n' scenario strata/buildah strata/buildkit "goal (vs buildah)"
for name in cold warm one-file base; do
    rb=$(ratio "${S[$name]}" "${B[$name]}")
    rk=-
    [ -z "$HAVE_BUILDKIT" ] || rk=$(ratio "${S[$name]}" "${K[$name]}")
    case $name in
        cold) goal="<= 0.6x: $(verdict "$rb" 0.6)" ;;
        warm) goal="<= 0.1x: $(verdict "$rb" 0.1); < 0.3 s: $(verdict "${S[$name]}" 0.2999)" ;;
        one-file) goal="<= 0.5x: $(verdict "$rb" 0.5)" ;;
        base) goal="(none)" ;;
    esac
    printf '%-9s %14s %15s   %s\n' "$name" "$rb" "$rk" "$goal"
done

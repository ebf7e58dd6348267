#!/usr/bin/env bash
# Rebase benchmark: how long a family takes to rebuild after its base changed, when strata
# rebases the steps that do not read their parent's files (COPY, ADD, WORKDIR, metadata,
# no RUN before them in the stage) instead of running them again. Three parts, all by
# default, or those named: bench/rebase.sh [example] [big] [debian]
#   example  examples/family (base, jre, shop, billing) with a registry on 127.0.0.1: a cold
#            `strata build --push`, then one file of the base's context changes and the
#            whole family is rebuilt (or rebased), tagged and pushed: goal < 10 s. Then the
#            same with --no-rebase. Prints the images strata rebased and rebuilt.
#   big      a COPY-only app with one big layer of incompressible files over a busybox base,
#            at REBASE_BIG_MB (default 1024) and REBASE_SMALL_MB (default a quarter of it):
#            after a base change, strata's rebase (goal < 1 s, whatever the size) vs strata
#            --no-rebase, buildah and BuildKit rebuilding the same; and, for scale, strata
#            again with nothing changed (the floor of any build of the family).
#   debian   a Debian family: a bookworm minbase rootfs made by mmdebstrap from the host's
#            apt mirror (as bench/mounts.sh), a python tier (apt-get install $PACKAGES, by
#            default "python3 ca-certificates") and REBASE_DEBIAN_APPS (default 3) apps that
#            only copy files, REBASE_DEBIAN_APP_MB (default 100) MiB of data plus ~4.5 MB of
#            text each: after a base change, strata vs strata --no-rebase, buildah, BuildKit,
#            each timed whole and for the apps alone (after the python tier, whose apt-get
#            is network-bound: strata builds `--only=python` first, then the family).
# "A base change" is a new content of a one-line marker file the base COPYs last: its
# earlier steps stay cached, every image below it has a new parent. Each builder starts
# from its own cold build of the same family and rebuilds after the same kind of change;
# buildah and BuildKit build the family's images one after the other, in dependency order
# (as bench/family.sh). Timings are wall times after a sync. BuildKit runs in a private
# dockerd and is skipped when it cannot start. Needs root.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BIG_MB=${REBASE_BIG_MB:-1024}
SMALL_MB=${REBASE_SMALL_MB:-$((BIG_MB / 4))}
DEBIAN_APPS=${REBASE_DEBIAN_APPS:-3}
DEBIAN_APP_MB=${REBASE_DEBIAN_APP_MB:-100}
PACKAGES=${PACKAGES:-"python3 ca-certificates"}

PARTS=("$@")
[ ${#PARTS[@]} -gt 0 ] || PARTS=(example big debian)
for part in "${PARTS[@]}"; do
    case $part in
        example | big | debian) ;;
        *) echo "usage: bench/rebase.sh [example] [big] [debian]  (unknown part: $part)" >&2; exit 2 ;;
    esac
done
wants() { [[ " ${PARTS[*]} " == *" $1 "* ]]; }
[ "$SMALL_MB" -ge 1 ] || SMALL_MB=1

bench_init
need_tools "run make bench-rebase as root (installs it)" openssl python3
wants example && need_tools "run make bench-rebase as root (installs it)" docker-registry skopeo
{ wants big || wants debian; } && need_tools "run make bench-rebase as root (installs it)" buildah
wants debian && need_tools "run make bench-rebase as root (installs it)" mmdebstrap
[ -x /bin/busybox ] || { echo "/bin/busybox missing: apt-get install busybox-static" >&2; exit 1; }

MIB=$((1024 * 1024))
echo "rebase benchmark: parts ${PARTS[*]}; $(nproc) cores; $("$STRATA" --version)"

# --- helpers ---------------------------------------------------------------------------
# bump FILE: a base change: FILE holds a number, now one more.
bump() { echo $(($(cat "$1") + 1)) >"$1"; }

# strata_build STORE FAMILY LOG [ARG...]: a timed `strata build --progress plain` of the
# family (LAST_S), its progress in LOG.
strata_build() {
    local store=$1 fam=$2 log=$3
    shift 3
    run_timed "$log" "$STRATA" --store "$store" build --progress plain "$@" "$fam"
}

# summary LOG: sets SUMMARY to the counts of strata's closing summary line in LOG, as
# "images I built, R rebased, U reused; steps S run, T rebased, C cached" (the rebased
# counts 0 when strata leaves them out), and REBASED_IMAGES to the images with a REBASED
# step ("none" if none).
summary() {
    local line
    line=$(grep -E '^[0-9]+ images? \(' "$1" | tail -n1) || { echo "no summary line in $1" >&2; exit 1; }
    REBASED_IMAGES=$(sed -nE 's/^\[([^] ]+) [^]]*\] REBASED: .*/\1/p' "$1" | sort -u | paste -sd ' ')
    REBASED_IMAGES=${REBASED_IMAGES:-none}
    SUMMARY=$(awk -v line="$line" 'BEGIN {
        img = line; sub(/\).*/, "", img); sub(/.*\(/, "", img)
        steps = line; sub(/^[^;]*; /, "", steps); sub(/;.*/, "", steps)
        printf "images %s built, %s rebased, %s reused; steps %s run, %s rebased, %s cached\n",
            count(img, "built"), count(img, "rebased"), count(img, "reused"),
            count(steps, "steps run"), count(steps, "rebased"), count(steps, "cached")
    }
    function count(s, what) { return match(s, "[0-9]+ " what) ? substr(s, RSTART, RLENGTH - length(what) - 1) : 0 }')
}

# part A B: A / B to 0.001 (to 0.01 from 0.1 up), and for a ratio below 0.5 its inverse,
# "0.012 (1/83)"; "-" when B was not measured.
part() {
    awk -v a="$1" -v b="${2:--}" 'BEGIN {
        if (b == "-" || b <= 0) { print "-"; exit }
        r = a / b
        if (r < 0.1) printf "%.3f", r; else printf "%.2f", r
        if (r < 0.5 && r > 0) printf " (1/%.0f)", 1 / r
        printf "\n"
    }'
}

# verdict VALUE LIMIT: "met" when VALUE < LIMIT, else "MISSED".
verdict() { awk -v v="$1" -v l="$2" 'BEGIN { print (v < l ? "met" : "MISSED") }'; }

# prng_files DIR MIB CHUNK SEED: MIB MiB of incompressible prng data (seeded by SEED) in
# DIR/partN.bin, files of CHUNK MiB (the last one may be smaller).
prng_files() {
    local dir=$1 left=$2 chunk=$3 seed=$4 i=0 n
    while [ "$left" -gt 0 ]; do
        n=$((left < chunk ? left : chunk))
        i=$((i + 1))
        prng "$(printf '%016x%016x' "$seed" "$i")" $((n * MIB)) >"$dir/part$i.bin"
        left=$((left - n))
    done
}

# plus A B: A + B, to 0.001.
plus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a + b }'; }

# peer_family BUILDER FAMILY IMAGE...: builds the images, in that order, with buildah or
# buildkit, each from FAMILY/IMAGE (tagged so its children's FROM IMAGE find it).
peer_family() {
    local builder=$1 fam=$2 img
    shift 2
    for img in "$@"; do
        case $builder in
            buildah) buildah_bud "localhost/$img" "$fam/$img" ;;
            buildkit) buildkit_build "$img" "$fam/$img" ;;
        esac
    done
}

# peer_rebuild BUILDER FAMILY MARKER "LOWER..." "APP...": the builder's cold build of the
# family (its lower images, then its apps), a base change (bump MARKER), and its timed
# rebuild, the lower images and the apps timed apart. Sets PEER_COLD, PEER_S (the whole
# rebuild) and PEER_APPS_S (the apps' part).
peer_rebuild() {
    local builder=$1 fam=$2 marker=$3 lower=$4 apps=$5 lower_s
    # shellcheck disable=SC2086 # the image lists are words
    run_timed "$WORK/$builder-cold.log" peer_family "$builder" "$fam" $lower $apps
    PEER_COLD=$LAST_S
    bump "$marker"
    # shellcheck disable=SC2086
    run_timed "$WORK/$builder-rebuild-lower.log" peer_family "$builder" "$fam" $lower
    lower_s=$LAST_S
    # shellcheck disable=SC2086
    run_timed "$WORK/$builder-rebuild-apps.log" peer_family "$builder" "$fam" $apps
    PEER_APPS_S=$LAST_S PEER_S=$(plus "$lower_s" "$LAST_S")
}

# The peers, when a part needs them: buildah always, BuildKit if its dockerd starts.
HAVE_BUILDKIT=""
if wants big || wants debian; then
    start_dockerd && HAVE_BUILDKIT=yes
fi

# peers FAMILY MARKER "LOWER..." "APP...": peer_rebuild with buildah, then BuildKit (when
# there is one), printing both. Sets BUILDAH_{COLD,S,APPS_S} and BUILDKIT_{COLD,S,APPS_S}
# ("-": skipped).
peers() {
    peer_rebuild buildah "$@"
    BUILDAH_COLD=$PEER_COLD BUILDAH_S=$PEER_S BUILDAH_APPS_S=$PEER_APPS_S
    echo "  buildah:  cold ${BUILDAH_COLD} s; after the base change ${BUILDAH_S} s (apps ${BUILDAH_APPS_S} s)"
    BUILDKIT_COLD=- BUILDKIT_S=- BUILDKIT_APPS_S=-
    if [ -n "$HAVE_BUILDKIT" ]; then
        peer_rebuild buildkit "$@"
        BUILDKIT_COLD=$PEER_COLD BUILDKIT_S=$PEER_S BUILDKIT_APPS_S=$PEER_APPS_S
        echo "  buildkit: cold ${BUILDKIT_COLD} s; after the base change ${BUILDKIT_S} s (apps ${BUILDKIT_APPS_S} s)"
    fi
}

# strata_rebuild STORE FAMILY LOG SPLIT [ARG...]: one timed rebuild of the family by
# strata: one `strata build` when SPLIT is empty; else `strata build --only SPLIT` (the
# images up to the last lower one, log LOG-lower.log) and then the whole family (the apps,
# LOG.log), timed apart. Sets LAST_S (all of it) and APPS_S (the second build, or "-").
# summary reads LOG.log.
strata_rebuild() {
    local store=$1 fam=$2 log=$3 split=$4 lower_s
    shift 4
    APPS_S=-
    if [ -n "$split" ]; then
        # --only=NAME: `--only NAME DIR` would take DIR for a second image name.
        strata_build "$store" "$fam" "$log-lower.log" "--only=$split" "$@"
        lower_s=$LAST_S
        strata_build "$store" "$fam" "$log.log" "$@"
        APPS_S=$LAST_S LAST_S=$(plus "$lower_s" "$LAST_S")
    else
        strata_build "$store" "$fam" "$log.log" "$@"
    fi
    summary "$log.log"
}

# strata_rebuilds STORE FAMILY MARKER NAME [SPLIT]: strata's cold build; a base change and
# the timed rebuild (rebase); the same again with nothing changed; another base change and
# the timed rebuild with --no-rebase (each a strata_rebuild with SPLIT; logs
# WORK/NAME-*.log). Sets COLD_S, REBASE_S and REBASE_APPS_S, WARM_S, NO_REBASE_S and
# NO_REBASE_APPS_S, REBASE_SUMMARY (with the images rebased) and NO_REBASE_SUMMARY.
strata_rebuilds() {
    local store=$1 fam=$2 marker=$3 name=$4 split=${5:-} apps=""
    strata_build "$store" "$fam" "$WORK/$name-cold.log"
    COLD_S=$LAST_S
    bump "$marker"
    strata_rebuild "$store" "$fam" "$WORK/$name-rebase" "$split"
    REBASE_S=$LAST_S REBASE_APPS_S=$APPS_S
    REBASE_SUMMARY="$SUMMARY; images with a step rebased: $REBASED_IMAGES"
    strata_build "$store" "$fam" "$WORK/$name-warm.log"
    WARM_S=$LAST_S
    bump "$marker"
    strata_rebuild "$store" "$fam" "$WORK/$name-no-rebase" "$split" --no-rebase
    NO_REBASE_S=$LAST_S NO_REBASE_APPS_S=$APPS_S NO_REBASE_SUMMARY=$SUMMARY
    [ -z "$split" ] || apps=" (apps $REBASE_APPS_S s, $NO_REBASE_APPS_S s)"
    echo "  strata:   cold ${COLD_S} s; after the base change ${REBASE_S} s (rebase), ${NO_REBASE_S} s (--no-rebase)$apps; no change ${WARM_S} s"
    echo "            rebase${split:+ (apps)}:      $REBASE_SUMMARY"
    echo "            --no-rebase${split:+ (apps)}: $NO_REBASE_SUMMARY"
}

# The final report, printed after every part ran: report FORMAT ARG... adds to it.
REPORT=()
# shellcheck disable=SC2059 # report FORMAT ARG...: printf's own arguments
report() { REPORT+=("$(printf "$@")"); }

# --- 1. the example family, built and pushed -------------------------------------------
example_part() {
    local fam=$WORK/example store=$WORK/example-store images=(base jre shop billing)
    echo
    echo "== example: examples/family, build --push after a base change"
    start_registry
    cp -a "$ROOT/examples/family" "$fam"
    cp /bin/busybox "$fam/base/busybox"
    sed -i -e '/^registry *=/d' -e "/^\[family\]/a registry = \"$REGISTRY\"" "$fam/strata.toml"
    # The base change: a file of the base's context, copied last (its other steps stay cached).
    echo 'COPY base-release /etc/base-release' >>"$fam/base/Dockerfile"
    echo 1 >"$fam/base/base-release"

    strata_build "$store" "$fam" "$WORK/example-cold.log" --push
    local cold=$LAST_S
    same_digests "$store" "$REGISTRY" "${images[@]}"
    bump "$fam/base/base-release"
    strata_build "$store" "$fam" "$WORK/example-rebase.log" --push
    local rebase=$LAST_S counts
    summary "$WORK/example-rebase.log"
    counts="$SUMMARY; images with a step rebased: $REBASED_IMAGES"
    same_digests "$store" "$REGISTRY" "${images[@]}"
    bump "$fam/base/base-release"
    strata_build "$store" "$fam" "$WORK/example-no-rebase.log" --push --no-rebase
    local no_rebase=$LAST_S no_counts
    summary "$WORK/example-no-rebase.log"
    no_counts=$SUMMARY
    same_digests "$store" "$REGISTRY" "${images[@]}"
    echo "  cold build + push ${cold} s; after the base change ${rebase} s, with --no-rebase ${no_rebase} s"

    report '%s\n' "example family (base < jre < shop, billing), strata build --push to $REGISTRY:"
    report '  %-34s %8s s\n' "cold build + push" "$cold"
    report '  %-34s %8s s   goal < 10 s: %s\n' "base changed: build + push" "$rebase" "$(verdict "$rebase" 10)"
    report '    %s\n' "$counts"
    report '  %-34s %8s s   rebase/no-rebase %s\n' "base changed: --no-rebase" "$no_rebase" "$(part "$rebase" "$no_rebase")"
    report '    %s\n' "$no_counts"
    report '  %s\n' "every pushed manifest digest equals the store's"
}

# --- 2. a big COPY-only layer over a busybox base --------------------------------------
# big_family MB: WORK/big-MB, a family of bMB-base (busybox, marker) and bMB-app (MB MiB of
# incompressible files, in files of 64 MiB at most, COPYed in one layer).
big_family() {
    local mb=$1 fam=$WORK/big-$1
    mkdir -p "$fam/b$mb-base" "$fam/b$mb-app/data"
    cat >"$fam/strata.toml" <<TOML
[family]
name = "big$mb"

[images.b$mb-base]
tier = "base"

[images.b$mb-app]
tier = "app"
TOML
    cp /bin/busybox "$fam/b$mb-base/busybox"
    echo 1 >"$fam/b$mb-base/marker"
    cat >"$fam/b$mb-base/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY marker /etc/base-marker
DOCKERFILE
    prng_files "$fam/b$mb-app/data" "$mb" 64 "$mb"
    cat >"$fam/b$mb-app/Dockerfile" <<DOCKERFILE
FROM b$mb-base
WORKDIR /srv/app
COPY data/ /srv/app/data/
CMD ["ls", "-l", "/srv/app/data"]
DOCKERFILE
}

big_part() {
    local mb sizes=("$BIG_MB")
    [ "$SMALL_MB" = "$BIG_MB" ] || sizes+=("$SMALL_MB")
    declare -A rebase no_rebase warm buildah buildkit
    for mb in "${sizes[@]}"; do
        echo
        echo "== big: a COPY-only app of $mb MiB over a busybox base, rebuilt after a base change"
        big_family "$mb"
        local fam=$WORK/big-$mb
        strata_rebuilds "$WORK/big-$mb-store" "$fam" "$fam/b$mb-base/marker" "big-$mb"
        rebase[$mb]=$REBASE_S no_rebase[$mb]=$NO_REBASE_S warm[$mb]=$WARM_S
        peers "$fam" "$fam/b$mb-base/marker" "b$mb-base" "b$mb-app"
        buildah[$mb]=$BUILDAH_S buildkit[$mb]=$BUILDKIT_S
        # The builders keep their copies; the context goes, to spare the disk.
        rm -rf "$fam/b$mb-app/data"
    done

    local row='  %-9s %8s %8s %11s %9s %9s   %-12s %-16s %-16s %s\n'
    report '\n%s\n' "COPY-only app over a busybox base, whole family rebuilt after a base change (s):"
    report "$row" layer strata "(no chg)" --no-rebase buildah buildkit \
        "goal < 1 s" rebase/no-rebase strata/buildah strata/buildkit
    for mb in "${sizes[@]}"; do
        report "$row" "$mb MiB" "${rebase[$mb]}" "(${warm[$mb]})" "${no_rebase[$mb]}" \
            "${buildah[$mb]}" "${buildkit[$mb]}" "$(verdict "${rebase[$mb]}" 1)" \
            "$(part "${rebase[$mb]}" "${no_rebase[$mb]}")" "$(part "${rebase[$mb]}" "${buildah[$mb]}")" \
            "$(part "${rebase[$mb]}" "${buildkit[$mb]}")"
    done
    report '  %s\n' "(no chg): strata again with nothing changed, for scale: what every build pays before any step."
    if [ ${#sizes[@]} = 2 ]; then
        report '  %s\n' "independence of the layer's size: strata's rebase at $BIG_MB MiB / at $SMALL_MB MiB = $(part "${rebase[$BIG_MB]}" "${rebase[$SMALL_MB]}") (--no-rebase: $(part "${no_rebase[$BIG_MB]}" "${no_rebase[$SMALL_MB]}"); the data is $(awk -v a="$BIG_MB" -v b="$SMALL_MB" 'BEGIN { printf "%.1f", a / b }')x as big)"
    fi
}

# --- 3. a Debian family whose apps only copy files --------------------------------------
debian_part() {
    local fam=$WORK/debian store=$WORK/debian-store i app apps=""
    echo
    echo "== debian: bookworm base < python < $DEBIAN_APPS COPY-only apps, rebuilt after a base change"
    mkdir -p "$fam/debian-base" "$fam/python"
    debian_rootfs "$fam/debian-base/base.tar"
    echo 1 >"$fam/debian-base/marker"
    cat >"$fam/debian-base/Dockerfile" <<'DOCKERFILE'
FROM scratch
ADD base.tar /
COPY marker /etc/strata-base-marker
CMD ["/bin/bash"]
DOCKERFILE
    cat >"$fam/python/Dockerfile" <<DOCKERFILE
FROM debian-base
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PACKAGES \\
 && apt-get clean && rm -rf /var/lib/apt/lists/*
DOCKERFILE
    cat >"$fam/strata.toml" <<'TOML'
[family]
name = "debian"

[images.debian-base]
tier = "base"

[images.python]
tier = "runtime"
TOML
    for i in $(seq "$DEBIAN_APPS"); do
        app=app$i
        apps="${apps:+$apps }$app"
        printf '\n[images.%s]\ntier = "app"\n' "$app" >>"$fam/strata.toml"
        mkdir -p "$fam/$app/data"
        text_files "$fam/$app/src" 1000 "$((100 + i))"
        prng_files "$fam/$app/data" "$DEBIAN_APP_MB" 16 $((1000 + i))
        cat >"$fam/$app/Dockerfile" <<DOCKERFILE
FROM python
WORKDIR /srv/$app
COPY src/ /srv/$app/src/
COPY data/ /srv/$app/data/
ENV APP=$app
USER 65534:65534
CMD ["python3", "-c", "import os; print(len(os.listdir('/srv/$app/src')))"]
DOCKERFILE
    done
    echo "  apps: $(du -sh --total "$fam"/app* | tail -n1 | cut -f1), $(find "$fam"/app* -type f | wc -l) files"

    strata_rebuilds "$store" "$fam" "$fam/debian-base/marker" debian python
    peers "$fam" "$fam/debian-base/marker" "debian-base python" "$apps"

    local row='  %-20s %14s %14s\n'
    report '\n%s\n' "Debian family (bookworm base < python < $DEBIAN_APPS COPY-only apps of ~$DEBIAN_APP_MB MiB), rebuilt after a base change (s):"
    report "$row" builder "whole family" "apps alone"
    report "$row" "strata (rebase)" "$REBASE_S" "$REBASE_APPS_S"
    report "$row" "strata --no-rebase" "$NO_REBASE_S" "$NO_REBASE_APPS_S"
    report "$row" buildah "$BUILDAH_S" "$BUILDAH_APPS_S"
    report "$row" buildkit "$BUILDKIT_S" "$BUILDKIT_APPS_S"
    report "$row" "rebase/no-rebase" "$(part "$REBASE_S" "$NO_REBASE_S")" "$(part "$REBASE_APPS_S" "$NO_REBASE_APPS_S")"
    report "$row" "strata/buildah" "$(part "$REBASE_S" "$BUILDAH_S")" "$(part "$REBASE_APPS_S" "$BUILDAH_APPS_S")"
    report "$row" "strata/buildkit" "$(part "$REBASE_S" "$BUILDKIT_S")" "$(part "$REBASE_APPS_S" "$BUILDKIT_APPS_S")"
    report '  %s\n' "whole family: the base and python (apt-get from the mirror: network-bound) then the apps;" \
        "apps alone: the second half, after the python tier is done (strata: build --only=python, then the family)." \
        "strata, apps: $REBASE_SUMMARY" "strata --no-rebase, apps: $NO_REBASE_SUMMARY" \
        "cold builds: strata $COLD_S s, buildah $BUILDAH_COLD s, buildkit $BUILDKIT_COLD s; strata with nothing changed: $WARM_S s"
}

wants example && example_part
wants big && big_part
wants debian && debian_part

echo
echo "== results (wall times; ratios below 1: strata is faster; (1/N): N times faster)"
for line in "${REPORT[@]}"; do printf '%s\n' "$line"; done

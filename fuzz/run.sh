#!/usr/bin/env bash
# Builds the fuzz targets once and runs each for SECONDS.
#
#   fuzz/run.sh SECONDS [TARGET...]     (default: every target)
#
# Corpus: fuzz/corpus/<target> (new inputs go there), seeded from fuzz/seeds/<target>.
# Crashes, timeouts and out-of-memory inputs: fuzz/artifacts/<target>/.
# Exits non-zero when any target found one.
#
# Environment: CARGO_TARGET_DIR (default fuzz/target), FUZZ_TOOLCHAIN (nightly),
# FUZZ_SANITIZER (none: vitals forbids unsafe code; `address` to check its dependencies),
# CARGO_BUILD_JOBS (1), FUZZ_ARGS (extra libFuzzer flags).
set -euo pipefail

ALL=(otlp_wire otlp_json config rule_file promql gotemplate promtool_test query_params am_v2_json checkpoint)

if [[ $# -lt 1 || ! $1 =~ ^[0-9]+$ ]]; then
    echo "usage: $0 SECONDS [TARGET...]  (targets: ${ALL[*]})" >&2
    exit 2
fi
seconds=$1
shift
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${ALL[@]}")
for t in "${targets[@]}"; do
    [[ " ${ALL[*]} " == *" $t "* ]] || { echo "unknown target: $t" >&2; exit 2; }
done

fuzz_dir=$(cd "$(dirname "$0")" && pwd)
cd "$fuzz_dir"
toolchain=${FUZZ_TOOLCHAIN:-nightly}
sanitizer=${FUZZ_SANITIZER:-none}
target_dir=${CARGO_TARGET_DIR:-$fuzz_dir/target}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}

cargo +"$toolchain" fuzz build --release --debug-assertions --sanitizer "$sanitizer" \
    --target-dir "$target_dir"
host=$(rustc +"$toolchain" -vV | sed -n 's/^host: //p')
bin_dir=$target_dir/$host/release

# Longest input per target, and the per-input timeout (s).
max_len() {
    case $1 in
        otlp_wire | otlp_json | checkpoint) echo 65536 ;;
        config | rule_file | promtool_test | gotemplate | am_v2_json) echo 16384 ;;
        promql | query_params) echo 4096 ;;
    esac
}
timeout_s() {
    case $1 in
        promtool_test | config) echo 30 ;;
        *) echo 10 ;;
    esac
}

# Scratch files the targets write (fixtures, checkpoints), removed at the end.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/vitals-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export VITALS_FUZZ_TMP=$scratch

failed=()
summary=()
for t in "${targets[@]}"; do
    # Absolute paths: some targets change their working directory.
    corpus=$fuzz_dir/corpus/$t
    artifacts=$fuzz_dir/artifacts/$t
    mkdir -p "$corpus" "$artifacts" "$scratch/$t"
    before=$scratch/$t.before
    find "$artifacts" -type f | sort >"$before"
    log=$scratch/$t.log
    # Every input that ever crashed this target runs first: a regression fails the run.
    if compgen -G "$fuzz_dir/regressions/$t/*" >/dev/null; then
        if ! "$bin_dir/$t" -runs=1 "$fuzz_dir/regressions/$t"/* >"$log" 2>&1; then
            echo "== $t: a kept regression input crashes again (log: $artifacts/last-run.log)"
            cp "$log" "$artifacts/last-run.log"
            failed+=("$t")
            summary+=("$(printf '%-14s REGRESSION' "$t")")
            continue
        fi
    fi
    echo "== $t: ${seconds}s"
    set +e
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    "$bin_dir/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
        -timeout="$(timeout_s "$t")" -artifact_prefix="$artifacts/" -print_final_stats=1 \
        ${FUZZ_ARGS:-} "$corpus" "$fuzz_dir/seeds/$t" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    units=$(find "$corpus" -type f | wc -l)
    bytes=$(du -sb "$corpus" | cut -f1)
    added=$(find "$artifacts" -type f | sort | comm -13 "$before" -)
    new=$(grep -E '/(crash|timeout|oom|leak)-' <<<"$added" || true)
    slow=$(grep -E '/slow-unit-' <<<"$added" || true)
    echo "   executions: ${execs:-?} (${rate:-?}/s), peak RSS ${rss:-?} MB, corpus: $units files ($bytes bytes), exit $rc"
    [[ -z $slow ]] || echo "   slow inputs (not failures): $(echo $slow)"
    if [[ -n $new || $rc -ne 0 ]]; then
        failed+=("$t")
        echo "   FOUND (exit $rc):"
        for a in $new; do echo "     $a"; done
        grep -E 'ERROR: libFuzzer|panicked at|SUMMARY|deadly signal|timeout after|out-of-memory|overflowed its stack' "$log" \
            | head -5 | sed 's/^/     /'
        cp "$log" "$artifacts/last-run.log"
        echo "     log: $artifacts/last-run.log"
    fi
    summary+=("$(printf '%-14s %10s execs %8s/s %6s corpus files %s' "$t" "${execs:-?}" "${rate:-?}" "$units" \
        "$([[ -n $new || $rc -ne 0 ]] && echo "FOUND: $(echo $new | tr '\n' ' ')" || echo ok)")")
done

echo
echo "== summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "targets with findings: ${failed[*]}" >&2
    exit 1
fi

#!/usr/bin/env bash
# Differential verdicts of rule unit tests: promtool (the reference, Prometheus 2.42 from
# Debian) and vitals must agree on every file. Run from anywhere; run.sh sets VITALS_BIN and
# installs promtool (this script installs nothing):
#
#   VITALS_BIN=target/debug/vitals tests/interop/rules_differential.sh
#
# - tests/promtool/*.yml and rules/tests/*_test.yml must pass both `promtool test rules F` and
#   `$VITALS_BIN test rules F` (exit 0);
# - tests/promtool/must_fail/*.yml are deliberately wrong: both must exit 1 (a crash, a usage
#   error or a hang is not a failing verdict);
# - `promtool check rules` and `$VITALS_BIN check rules` must both accept the shipped rule
#   files (rules/*.yml) and the suite's rule files (tests/promtool/rules/*.yml).
# Prints one line per file (file, expected, promtool, vitals) and exits 1 on any
# disagreement, 2 when a tool is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

vitals_bin=${VITALS_BIN:-}
if [ -z "$vitals_bin" ] && [ -x target/debug/vitals ]; then vitals_bin=target/debug/vitals; fi
if [ -z "$vitals_bin" ] || [ ! -x "$vitals_bin" ]; then
  echo "rules_differential: set VITALS_BIN to the vitals binary (cargo build --bin vitals)" >&2
  exit 2
fi
command -v promtool >/dev/null || { echo "rules_differential: promtool is required (apt-get install prometheus)" >&2; exit 2; }
echo "promtool: $(promtool --version 2>&1 | head -n 1)"
echo "vitals:   $vitals_bin"

# A hung run counts as a disagreement, not as a stuck CI job.
limit=${RULES_DIFF_TIMEOUT:-120}
run() { timeout --kill-after=10 "$limit" "$@"; }

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

verdict() {
  case "$1" in
    0) echo pass ;;
    1) echo fail ;;
    124 | 137) echo timeout ;;
    *) echo "error($1)" ;;
  esac
}

shopt -s nullglob
pass_files=(tests/promtool/*.yml rules/tests/*_test.yml)
fail_files=(tests/promtool/must_fail/*.yml)
[ ${#pass_files[@]} -gt 0 ] || { echo "rules_differential: no test files found" >&2; exit 2; }
[ ${#fail_files[@]} -gt 0 ] || { echo "rules_differential: no must_fail files found" >&2; exit 2; }

status=0
mismatches=()
n=0
row() { printf '%-52s %-9s %-10s %-10s %s\n' "$@"; }
row FILE EXPECTED PROMTOOL VITALS RESULT
check_file() {
  local file=$1 expected=$2 prc vrc key
  key=$(printf '%s' "$file" | tr '/' '_')
  if run promtool test rules "$file" >"$logs/$key.promtool" 2>&1; then prc=0; else prc=$?; fi
  if run "$vitals_bin" test rules "$file" >"$logs/$key.vitals" 2>&1; then vrc=0; else vrc=$?; fi
  n=$((n + 1))
  local result=ok
  if [ "$prc" -ne "$expected" ] || [ "$vrc" -ne "$expected" ]; then
    result=MISMATCH
    status=1
    mismatches+=("$file")
  fi
  row "$file" "$(verdict "$expected")" "$(verdict "$prc")" "$(verdict "$vrc")" "$result"
}
for f in "${pass_files[@]}"; do check_file "$f" 0; done
for f in "${fail_files[@]}"; do check_file "$f" 1; done

# Rule file validation: both tools accept the same files.
rule_files=()
for f in rules/*.yml tests/promtool/rules/*.yml; do
  case "$f" in *_test.yml) ;; *) rule_files+=("$f") ;; esac
done
if run promtool check rules "${rule_files[@]}" >"$logs/check.promtool" 2>&1; then prc=0; else prc=$?; fi
if run "$vitals_bin" check rules "${rule_files[@]}" >"$logs/check.vitals" 2>&1; then vrc=0; else vrc=$?; fi
check_result=ok
if [ "$prc" -ne 0 ] || [ "$vrc" -ne 0 ]; then check_result=MISMATCH; status=1; fi
row "check rules (${#rule_files[@]} rule files)" pass "$(verdict "$prc")" "$(verdict "$vrc")" "$check_result"

for f in "${mismatches[@]}"; do
  key=$(printf '%s' "$f" | tr '/' '_')
  echo
  echo "== $f: promtool said"
  tail -n 40 "$logs/$key.promtool"
  echo "== $f: vitals said"
  tail -n 40 "$logs/$key.vitals"
done
if [ "$check_result" != ok ]; then
  echo
  echo "== check rules: promtool said"; tail -n 40 "$logs/check.promtool"
  echo "== check rules: vitals said"; tail -n 40 "$logs/check.vitals"
fi

echo
if [ "$status" -eq 0 ]; then
  echo "rules_differential: promtool and vitals agree on all $n test files and the rule check"
else
  echo "rules_differential: ${#mismatches[@]} of $n test files disagree (rule check: $check_result)" >&2
fi
exit "$status"

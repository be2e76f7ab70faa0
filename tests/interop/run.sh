#!/usr/bin/env bash
# Interop tier: the debug binary `cargo test` built, against the real peers people run beside
# it. Installs them from Debian's packages when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v promtool >/dev/null || need+=(prometheus)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
cargo build --quiet --bin vitals
export VITALS_BIN="$PWD/target/debug/vitals"

status=0
for t in tests/interop/*.sh; do
  [[ $(basename "$t") == run.sh ]] && continue
  echo "-- $t"
  if bash "$t"; then echo "ok: $t"; else echo "FAILED: $t"; status=1; fi
done
exit $status

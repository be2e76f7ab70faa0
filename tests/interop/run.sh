#!/usr/bin/env bash
# Interop tier: the debug binary `cargo test` built, against the real peers people run beside
# it. Installs them from Debian's packages when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v promtool >/dev/null || need+=(prometheus)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
# amtool and the Alertmanager binary (the alerting_* scripts).
command -v amtool >/dev/null || need+=(prometheus-alertmanager)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The SMTP server alerting_email.sh mails to: pip as otlp_python.sh uses it, or, on a
# Debian python3 (externally managed), with --break-system-packages.
python3 -c 'import aiosmtpd' 2>/dev/null || { python3 -m pip install -q --disable-pip-version-check aiosmtpd 2>/dev/null \
  || python3 -m pip install -q --disable-pip-version-check --break-system-packages aiosmtpd; } >/dev/null
cargo build --quiet --bin vitals
export VITALS_BIN="$PWD/target/debug/vitals"

status=0
for t in tests/interop/*.sh; do
  [[ $(basename "$t") == run.sh ]] && continue
  echo "-- $t"
  if bash "$t"; then echo "ok: $t"; else echo "FAILED: $t"; status=1; fi
done
exit $status

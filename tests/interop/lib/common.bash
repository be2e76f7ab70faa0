# Sourced by the interop scripts (run.sh runs only tests/interop/*.sh, not this) and the
# load benches: a temp dir `$work` removed on exit, background processes listed in `pids`
# killed on exit, `port`, which prints a free port on 127.0.0.1 (never the same one twice), and `kib PID FIELD`, which
# prints a /proc/PID/status field (VmRSS, VmHWM) in KiB.
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
# A port is free when asked for but not yet bound, so two calls in a row can get the same one
# (alerting_forward.sh once gave vitals and Alertmanager one port); each is remembered in
# $work/.ports and never handed out twice by one script.
port() {
  python3 - "$work/.ports" <<'PY'
import socket, sys
path = sys.argv[1]
try:
    used = set(open(path).read().split())
except FileNotFoundError:
    used = set()
while True:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = str(s.getsockname()[1])
    s.close()
    if p not in used:
        break
with open(path, "a") as f:
    f.write(p + "\n")
print(p)
PY
}
kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

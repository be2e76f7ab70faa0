# Sourced by the interop scripts (run.sh runs only tests/interop/*.sh, not this) and the
# load benches: a temp dir `$work` removed on exit, background processes listed in `pids`
# killed on exit, `port`, which prints a free port on 127.0.0.1, and `kib PID FIELD`, which
# prints a /proc/PID/status field (VmRSS, VmHWM) in KiB.
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# Sourced by the interop scripts (run.sh runs only tests/interop/*.sh, not this): a temp dir
# `$work` removed on exit, background processes listed in `pids` killed on exit, and `port`,
# which prints a free port on 127.0.0.1.
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

#!/usr/bin/env bash
# OpenAI-SDK conformance suite: drives a running omnivox server with the
# official `openai` Python SDK (pinned in requirements.txt), checks the curl
# examples of docs/api.md, and checks that SIGTERM drains and exits cleanly.
#
#   tools/conformance/run.sh                 # against the scripted test server
#   OMNIVOX_CONFORMANCE_SERVER=omnivox tools/conformance/run.sh
#                                            # against `omnivox serve` (the demo model)
#
# Needs python3 (with venv), ffmpeg and curl. Installs its Python packages
# into tools/conformance/.venv. Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
HERE="$ROOT/tools/conformance"
cd "$ROOT"

VENV="${OMNIVOX_CONFORMANCE_VENV:-$HERE/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"

KIND="${OMNIVOX_CONFORMANCE_SERVER:-scripted}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$KIND" in
  scripted)
    cargo build --quiet -p omnivox-serve --example scripted_server
    SERVER=("$TARGET_DIR/debug/examples/scripted_server")
    ;;
  omnivox)
    cargo build --quiet -p omnivox-serve --bin omnivox
    SERVER=("$TARGET_DIR/debug/omnivox" serve)
    ;;
  *) echo "OMNIVOX_CONFORMANCE_SERVER must be 'scripted' or 'omnivox'" >&2; exit 2 ;;
esac

WORK="$(mktemp -d)"
KEY="sk-conformance-$RANDOM$RANDOM"
PORT="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat > "$WORK/omnivox.toml" <<EOF
[server]
host = "127.0.0.1"
api_keys = ["$KEY"]
shutdown_grace_secs = 10
[limits]
max_audio_seconds = 60.0
EOF

"${SERVER[@]}" --config "$WORK/omnivox.toml" --port "$PORT" >"$WORK/server.log" 2>&1 &
PID=$!
cleanup() {
  if kill -0 "$PID" 2>/dev/null; then kill -9 "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 600); do
  if curl -fsS "$BASE/ready" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$PID" 2>/dev/null; then cat "$WORK/server.log" >&2; echo "the server exited" >&2; exit 1; fi
  sleep 1
done
curl -fsS "$BASE/ready" >/dev/null || { cat "$WORK/server.log" >&2; echo "not ready after 600 s" >&2; exit 1; }

status=0
OMNIVOX_BASE_URL="$BASE" OMNIVOX_API_KEY="$KEY" OMNIVOX_DOCS="$ROOT/docs/api.md" \
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$HERE" "$@" || status=$?

# SIGTERM: /ready turns 503 and the process exits 0 within the grace period.
kill -TERM "$PID"
for _ in $(seq 1 150); do
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$PID" 2>/dev/null; then
  echo "the server did not exit within 15 s of SIGTERM" >&2; status=1
else
  wait "$PID" || { echo "the server exited non-zero after SIGTERM" >&2; status=1; }
fi
if [ "$status" -ne 0 ]; then
  echo "== server log" >&2; tail -n 50 "$WORK/server.log" >&2
fi
exit "$status"

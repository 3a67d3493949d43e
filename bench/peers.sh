#!/bin/sh
# Sets up the throwaway venv with the Python peers the harness compares against (never committed).
set -eu
PEERS_DIR="${BENCH_PEERS_DIR:-/tmp/bench-peers}"
if [ ! -x "$PEERS_DIR/bin/python" ]; then
  python3 -m venv "$PEERS_DIR"
fi
"$PEERS_DIR/bin/pip" install -q \
  pycrdt-websocket==0.16.5 pycrdt==0.14.13 \
  daphne==4.2.3 uvicorn==0.54.0 websockets==15.0.1
echo "peers ready in $PEERS_DIR"

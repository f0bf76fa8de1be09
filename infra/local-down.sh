#!/usr/bin/env bash
# Stops what local-up started, by PID.
set -uo pipefail
local_dir=$(cd "$(dirname "$0")/.." && pwd)/target/local
for name in runner simulators moto; do
  pid_file=$local_dir/$name.pid
  [ -f "$pid_file" ] || continue
  pid=$(cat "$pid_file")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    echo "stopped $name ($pid)"
  fi
  rm -f "$pid_file"
done

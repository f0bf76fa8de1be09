#!/usr/bin/env bash
# Starts the local stack on 127.0.0.1: moto server (DynamoDB, Secrets Manager, EventBridge,
# SQS; IAM enforced), the API simulators (ConnectWise, two Acronis data centres: the
# secret's connections `default` and `us`) and the local runner; creates the table, bus, rules,
# queues, secret and one IAM user per function (its template role); writes target/local/env
# (sourceable). Ports can be overridden from the environment.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
local_dir=$root/target/local
mkdir -p "$local_dir"

MOTO_PORT=${MOTO_PORT:-4566}
CW_SIM_PORT=${CW_SIM_PORT:-4580}
ACRONIS_SIM_PORT=${ACRONIS_SIM_PORT:-4581}
# The second Acronis data centre (the secret's connection `us`).
ACRONIS2_SIM_PORT=${ACRONIS2_SIM_PORT:-4582}
WEBHOOK_PORT=${WEBHOOK_PORT:-4590}

"$root/infra/local-down.sh" >/dev/null 2>&1 || true

wait_for() { # url name pid_file
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$(cat "$3")" 2>/dev/null || { echo "$2 exited; see $local_dir/$2.log" >&2; return 1; }
    sleep 0.2
  done
  echo "$2 did not start within 30 s; see $local_dir/$2.log" >&2
  return 1
}

echo "building the simulators and the local runner..."
cargo build --quiet --locked -p simulators -p local-runner

# IAM enforced: every request is judged by its signer's policies, and each decision recorded.
MOTO_IAM_RECORD="$local_dir/iam-record.jsonl" \
  "$root/.venv/bin/python" "$root/infra/moto_server.py" -H 127.0.0.1 -p "$MOTO_PORT" >"$local_dir/moto.log" 2>&1 &
echo $! >"$local_dir/moto.pid"
"$root/target/debug/simulators" --cw-port "$CW_SIM_PORT" --acronis-port "$ACRONIS_SIM_PORT" \
  --acronis2-port "$ACRONIS2_SIM_PORT" >"$local_dir/simulators.log" 2>&1 &
echo $! >"$local_dir/simulators.pid"

wait_for "http://127.0.0.1:$MOTO_PORT/moto-api/" moto "$local_dir/moto.pid"
wait_for "http://127.0.0.1:$CW_SIM_PORT/_sim/counts" simulators "$local_dir/simulators.pid"
wait_for "http://127.0.0.1:$ACRONIS_SIM_PORT/_sim/counts" simulators "$local_dir/simulators.pid"
wait_for "http://127.0.0.1:$ACRONIS2_SIM_PORT/_sim/counts" simulators "$local_dir/simulators.pid"

export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT AWS_REGION=eu-west-1 \
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
"$root/target/debug/local-runner" setup \
  --env-file "$local_dir/env" \
  --cw-url "http://127.0.0.1:$CW_SIM_PORT" \
  --acronis-url "http://127.0.0.1:$ACRONIS_SIM_PORT" \
  --acronis2-url "http://127.0.0.1:$ACRONIS2_SIM_PORT" \
  --webhook-url "http://127.0.0.1:$WEBHOOK_PORT/webhook"

# One IAM user per function, with its template role's policies (keys appended to the env file).
"$root/.venv/bin/python" "$root/infra/local_iam.py" users "$root/template.yaml" >>"$local_dir/env"

set -a; source "$local_dir/env"; set +a
# RUNNER_INSTANCES: instances per bus consumer (Lambda's concurrency; 8 unless set).
"$root/target/debug/local-runner" run --listen "127.0.0.1:$WEBHOOK_PORT" \
  --instances "${RUNNER_INSTANCES:-8}" >"$local_dir/runner.log" 2>&1 &
echo $! >"$local_dir/runner.pid"
wait_for "http://127.0.0.1:$WEBHOOK_PORT/healthz" runner "$local_dir/runner.pid"

echo "local stack up; environment in $local_dir/env"

#!/usr/bin/env bash
# The calls issue 32 holds unchanged, per simulator, method and route template, from the
# simulators' request counters: the 3-day month over 20 companies (`make test`'s
# tests/integration/tests/month.rs: with and without outages), `make bench-provisioning`'s
# six runs, `bench_tickets 120` and `bench_usage 300` (its cold, settle and steady cycles).
# Prints the sorted lines `calls <scenario> <simulator> <METHOD> <route> <n>` on stdout
# (each bench prints them with BENCH_CALLS=1); progress, wall times and each scenario's log
# (target/call-counts/) on stderr.
#
# Usage: infra/call-counts.sh [month] [month-clean] [tickets] [usage] [provisioning]
# (all five if none; `month-clean` is the month without faults or outages, whose calls per
# route vary only with the wall clock, where the faulted month's vary from run to run)
# Ports as for local-up (MOTO_PORT, CW_SIM_PORT, ACRONIS_SIM_PORT, WEBHOOK_PORT); every
# build and run under `nice -n $CALLS_NICENESS` (19 unless set); bench_usage built with
# `--release` unless CALLS_USAGE_PROFILE says otherwise (`month`, or `dev` to reuse the
# debug build of the other three: the same calls). About 30 minutes on the 2-core machine
# (the month 10, provisioning's two 500-company bursts 12).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=$root/target/call-counts
mkdir -p "$out"
nice=(nice -n "${CALLS_NICENESS:-19}")
profile=${CALLS_USAGE_PROFILE:-release}
[ "$profile" = dev ] && usage_dir=debug || usage_dir=$profile

wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(month month-clean tickets usage provisioning)
want() { [[ " ${wanted[*]} " == *" $1 "* ]]; }

log() { echo "call-counts: $*" >&2; }
# timed <name> <command...>: runs it with BENCH_CALLS=1, its output to target/call-counts/<name>.log
timed() {
  local name=$1 t0=$SECONDS
  shift
  log "$name ..."
  if BENCH_CALLS=1 "${nice[@]}" "$@" >"$out/$name.log" 2>&1; then
    log "$name done in $((SECONDS - t0)) s"
  else # its lines so far are printed all the same; the script fails at the end
    log "$name FAILED after $((SECONDS - t0)) s; see $out/$name.log"
    tail -20 "$out/$name.log" >&2
    echo "$name" >>"$out/failed"
  fi
}

log "building ..."
"${nice[@]}" cargo build --quiet --locked -p simulators -p local-runner
want tickets && "${nice[@]}" cargo build --quiet --locked -p integration-tests --bin bench_tickets
{ want month || want month-clean; } && "${nice[@]}" cargo test --quiet --locked -p integration-tests --test month --no-run
want usage && "${nice[@]}" cargo build --quiet --locked --profile "$profile" -p integration-tests --bin bench_usage

trap '"${nice[@]}" ./infra/local-down.sh >/dev/null 2>&1 || true' EXIT
up() { "${nice[@]}" ./infra/local-up.sh >"$out/local-up.log" 2>&1 || { cat "$out/local-up.log" >&2; return 1; }; }
rm -f "$out"/*.log "$out/failed"

provisioning() { # the Makefile's three runs on the stack that is up
  local run=(./target/debug/local-runner bench-provisioning --latency-ms 100)
  timed "provisioning-$1-50-paced" "${run[@]}" --companies 50 --pace-ms 1000
  timed "provisioning-$1-50-burst" "${run[@]}" --companies 50
  timed "provisioning-$1-500-burst" "${run[@]}" --companies 500
}

# As `make test` and `make bench-provisioning`: the local runner's 8 instances per consumer.
(
  export RUNNER_INSTANCES=8
  up
  set -a; source target/local/env; set +a
  if want month; then
    timed month cargo test --quiet --locked -p integration-tests --test month -- --nocapture
  fi
  if want month-clean; then # the same 3 days without faults: the per-route comparison
    timed month-clean cargo test --quiet --locked -p integration-tests --test month -- \
      --ignored --nocapture three_days_without_faults
  fi
  if want tickets; then timed tickets ./target/debug/bench_tickets 120; fi
  if want usage; then timed usage "./target/$usage_dir/bench_usage" 300; fi
  if want provisioning; then provisioning i8; fi
  "${nice[@]}" ./infra/local-down.sh >/dev/null
)
# bench-provisioning again at the template's defaults.
if want provisioning; then
  (
    export RUNNER_INSTANCES=2 CW_MAX_CONCURRENCY=2
    up
    set -a; source target/local/env; set +a
    provisioning i2
    "${nice[@]}" ./infra/local-down.sh >/dev/null
  )
fi
cat "$out"/*.log | grep '^calls ' | LC_ALL=C sort
if [ -f "$out/failed" ]; then
  log "failed: $(tr '\n' ' ' <"$out/failed")"
  exit 1
fi

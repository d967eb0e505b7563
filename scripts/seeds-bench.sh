#!/usr/bin/env bash
# The cpu and sleep workloads across strategies and presets: a Markdown table per workload, one
# `concur run --json` per row (median of RUNS by wall time). A benchmark, not a test.
#
# Usage: scripts/seeds-bench.sh cpu|sleep [RUNS]
# Env:   CONCUR=path/to/concur (default: target/release/concur, built if missing)
#        ITEMS (cpu: 16, sleep: 10000), WORKERS (the pool size given to strategies that take
#        one; cpu: 2 = the cores here, sleep: 100)
#
# Columns: wall (harness clock), CPU user+sys, peak RSS and PSS of the whole process tree, and
# for sleep the memory per in-flight job: (peak RSS - RSS of the child before the strategy) /
# peak jobs in flight (counted where jobs run in the measured process, else min(workers, items)).
set -euo pipefail
cd "$(dirname "$0")/.."
WORKLOAD=${1:?usage: scripts/seeds-bench.sh cpu|sleep [RUNS]}
RUNS=${2:-1}
CONCUR=${CONCUR:-target/release/concur}
[ -x "$CONCUR" ] || cargo build --release -q
case "$WORKLOAD" in
  cpu)   ITEMS=${ITEMS:-16};    WORKERS=${WORKERS:-2};   EXTRA=() ;;
  sleep) ITEMS=${ITEMS:-10000}; WORKERS=${WORKERS:-100}; EXTRA=() ;;
  *) echo "workload must be cpu or sleep" >&2; exit 2 ;;
esac

# strategy and its worker flags ("" = the strategy fixes its own count)
ROWS=(
  "sequential|"
  "threads|"
  "pool|--workers $WORKERS"
  "rayon|--workers $WORKERS"
  "actors|--workers $WORKERS"
  "futures|--workers 1"
  "futures|--workers 2"
  "fork|--workers $WORKERS"
  "prefork|--workers $WORKERS"
  "rpc|--workers $WORKERS"
  "redis|--workers $WORKERS"
  "sqlite|--workers $WORKERS"
  "sqlite-fork|--workers $WORKERS"
  "resque|--workers $WORKERS"
  "sidekiq|--workers $WORKERS"
  "delayed-job|--workers $WORKERS"
  "sucker-punch|--workers $WORKERS"
)

if [ "$WORKLOAD" = sleep ]; then
  echo "| strategy | workers | wall | cpu | peak RSS | peak PSS | in flight | per in-flight job |"
  echo "|---|---|---|---|---|---|---|---|"
else
  echo "| strategy | workers | wall | cpu | peak RSS | peak PSS | check |"
  echo "|---|---|---|---|---|---|---|"
fi
for row in "${ROWS[@]}"; do
  s=${row%%|*}; flags=${row#*|}
  # sequential sleeps 10000 x 10 ms = 100 s by construction: not worth running.
  if [ "$WORKLOAD" = sleep ] && [ "$s" = sequential ]; then
    echo "| sequential | 1 | ≈ items × wait-ms (not run) | | | | 1 | |"; continue
  fi
  best=""
  for _ in $(seq "$RUNS"); do
    # shellcheck disable=SC2086
    j=$("$CONCUR" run -s "$s" -w "$WORKLOAD" --items "$ITEMS" $flags --json 2>/dev/null) || { j=""; break; }
    best=$(printf '%s\n%s\n' "$best" "$j" | grep . | jq -s -c 'sort_by(.wall_s) | .[(length-1)/2|floor]')
  done
  if [ -z "$best" ]; then echo "| $s | $flags | failed | | | | |"; continue; fi
  echo "$best" | jq -r --arg w "$WORKLOAD" '
    def mib: (. / 1048576 * 10 | round / 10 | tostring) + " MiB";
    def kib: if . >= 1048576 then mib else ((. / 1024 * 10 | round / 10 | tostring) + " KiB") end;
    def secs: if . >= 1 then ((. * 100 | round / 100 | tostring) + " s") else ((. * 10000 | round / 10 | tostring) + " ms") end;
    if $w == "sleep" then
      "| \(.strategy) | \(.workers) | \(.wall_s|secs) | \((.cpu_user_s + .cpu_sys_s)|secs) | \(.peak_rss_bytes|mib) | \(.peak_pss_bytes|mib) | \(.peak_in_flight // "-") | \(if .mem_per_in_flight_bytes then (.mem_per_in_flight_bytes|kib) else "-" end) |"
    else
      "| \(.strategy) | \(.workers) | \(.wall_s|secs) | \((.cpu_user_s + .cpu_sys_s)|secs) | \(.peak_rss_bytes|mib) | \(.peak_pss_bytes|mib) | \(if .correct then "ok" else "FAIL" end) |"
    end'
done

#!/usr/bin/env bash
# No-op job throughput of `concur run -s redis`, next to `redis-benchmark -t lpop` on the same
# server at the same connection counts. A benchmark, not a test: it prints a Markdown table.
#
# Usage: scripts/redis-bench.sh [ITEMS] [RUNS]
#   ITEMS   jobs per run (default 200000)
#   RUNS    runs per cell; the median is shown (default 3)
# Env:     CONCUR=path/to/concur (default: cargo build --release, target/release/concur)
#          WORKERS="1 4 16" (connection counts), BATCH=64 (the --batch column)
#
# What is measured:
# - concur: the "drain" note of `concur run -s redis -w noop --json`: from the moment all
#   workers are connected and released to the moment the last one finds the list empty. Each
#   job is fetched with LPOP (or `LPOP key BATCH`), parsed from Sidekiq JSON and run (a no-op).
#   Enqueueing (RPUSH) and process start-up are excluded; the whole-run rate is shown beside it.
# - redis-benchmark: `-t lpush,lpop -c N -n ITEMS`, the LPOP line: N connections each with one
#   request in flight, the same shape as N concur workers without --batch; and with `-P BATCH`
#   (BATCH requests pipelined per connection) as a reference for the batched column.
# Both talk to one private redis-server on a Unix socket in a temp dir (never port 6379), which
# this script starts and stops.
set -euo pipefail

ITEMS=${1:-200000}
RUNS=${2:-3}
WORKERS=${WORKERS:-"1 4 16"}
BATCH=${BATCH:-64}

cd "$(dirname "$0")/.."
for tool in redis-server redis-benchmark redis-cli jq; do
    if ! command -v "$tool" >/dev/null; then
        echo "redis-bench: $tool not found (apt-get install redis-server redis-tools jq)" >&2
        exit 2
    fi
done
if [ -z "${CONCUR:-}" ]; then
    cargo build --release --quiet
    CONCUR=target/release/concur
fi

DIR=$(mktemp -d /tmp/concur-bench-XXXXXX)
SOCK="$DIR/redis.sock"
redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --save '' --appendonly no \
    --dir "$DIR" --logfile "$DIR/redis.log" </dev/null >/dev/null 2>&1 &
SERVER=$!
cleanup() {
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for _ in $(seq 100); do
    redis-cli -s "$SOCK" ping >/dev/null 2>&1 && break
    sleep 0.05
done
redis-cli -s "$SOCK" ping >/dev/null

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# concur: "<drain jobs/s> <whole-run jobs/s>" for WORKERS BATCH
concur_rates() {
    REDIS_URL="unix://$SOCK" "$CONCUR" run -s redis -w noop --items "$ITEMS" \
        --workers "$1" --batch "$2" --json |
        jq -r '[(.notes[] | select(startswith("drain:")) | capture(" = (?<r>[0-9]+) jobs/s").r),
                (.jobs_per_s | floor)] | @tsv'
}

# redis-benchmark: LPOP requests/s for CONNECTIONS PIPELINE
bench_rate() {
    redis-benchmark -s "$SOCK" -c "$1" -n "$ITEMS" -P "$2" -t lpush,lpop --csv |
        awk -F, '$1 == "\"LPOP\"" { gsub(/"/, "", $2); printf "%d\n", $2 }'
}

k() { awk -v n="$1" 'BEGIN { printf "%.0fk", n / 1000 }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", 100 * a / b }'; }

echo "$ITEMS no-op jobs, median of $RUNS runs; $(nproc) cores; redis $(redis-server --version | cut -d' ' -f3 | cut -d= -f2); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| workers = connections | concur LPOP | (whole run) | redis-benchmark lpop | concur / bench | concur --batch $BATCH | (whole run) | / bench | redis-benchmark -P $BATCH |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for w in $WORKERS; do
    c1=() w1=() cb=() wb=() b1=() bp=()
    for _ in $(seq "$RUNS"); do
        read -r d r < <(concur_rates "$w" 1); c1+=("$d"); w1+=("$r")
        read -r d r < <(concur_rates "$w" "$BATCH"); cb+=("$d"); wb+=("$r")
        b1+=("$(bench_rate "$w" 1)")
        bp+=("$(bench_rate "$w" "$BATCH")")
    done
    C1=$(printf '%s\n' "${c1[@]}" | median); W1=$(printf '%s\n' "${w1[@]}" | median)
    CB=$(printf '%s\n' "${cb[@]}" | median); WB=$(printf '%s\n' "${wb[@]}" | median)
    B1=$(printf '%s\n' "${b1[@]}" | median); BP=$(printf '%s\n' "${bp[@]}" | median)
    echo "| $w | $(k "$C1")/s | $(k "$W1")/s | $(k "$B1")/s | $(pct "$C1" "$B1") | $(k "$CB")/s | $(k "$WB")/s | $(pct "$CB" "$B1") | $(k "$BP")/s |"
done

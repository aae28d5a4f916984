#!/usr/bin/env bash
# The rendezvous under load (docs/benchmarks.md, "The directory at scale"): a release
# rendezvous with mutual TLS on loopback and `locusctl bench` on the same machine.
#   1. AnnounceGroup: 10,000 groups filled through the authenticated path, then refreshed by
#      1,000 of their leaders at once.
#   2. GetBootList with those 10,000 groups in the directory, 16 and 64 calls in flight.
#   3. GetBootList again beside 1,000 refresh announcements a second and 100 WatchOverlay
#      subscribers; and beside 1,000 announcements a second that are all changes, which each
#      of the 100 subscribers receives (100,000 events a second).
# Then the rendezvous' peak and current resident set. Outputs go to $OUT (default
# /tmp/locus-load), one JSON report per run; the script prints a summary line per run.
# RV=path/to/locus-rendezvous runs the same load against another build (an older commit's).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/locus-load}
T=${CARGO_TARGET_DIR:-target}
REQUESTS=${REQUESTS:-300000}
cargo build --release -p locus-rendezvous -p locusctl
RV=${RV:-"$T/release/locus-rendezvous"}
CTL="$T/release/locusctl"
rm -rf "$OUT" && mkdir -p "$OUT"
"$CTL" ca init --dir "$OUT/ca" >/dev/null
"$CTL" cert operator --ca-dir "$OUT/ca" --name bench --out-dir "$OUT/op" >/dev/null
# Entries live an hour: the synthetic groups are announced once and must not expire mid-run.
"$RV" --ca "$OUT/ca/ca.pem" --ca-key "$OUT/ca/ca-key.pem" --listen 127.0.0.1:7300 \
  --metrics-listen 127.0.0.1:9300 --entry-ttl-ms 3600000 2>"$OUT/rendezvous.log" &
RV_PID=$!
trap 'kill $RV_PID 2>/dev/null || true' EXIT
export LOCUS_CA="$OUT/ca/ca.pem" LOCUS_CERT="$OUT/op/bench.pem" LOCUS_KEY="$OUT/op/bench-key.pem"
for _ in $(seq 50); do "$CTL" --rendezvous 127.0.0.1:7300 health >/dev/null 2>&1 && break; sleep 0.2; done
bench() {
  local name=$1; shift
  "$CTL" --rendezvous 127.0.0.1:7300 --timeout 10s -o json bench "$@" >"$OUT/$name.json"
  python3 - "$OUT/$name.json" "$name" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latency_us"] or {}
line = f'{sys.argv[2]}: {r["rpc"]} {r["concurrency"]} tasks/{r["connections"]} conns: ' \
       f'{r["ok"]} ok, {r["errors"]} errors, {r["requests_per_s"]:.0f} req/s, ' \
       f'p50 {l.get("p50", 0)/1000:.2f} p99 {l.get("p99", 0)/1000:.2f} p99.9 {l.get("p99_9", 0)/1000:.2f} ms'
if r.get("fill"):
    f = r["fill"]
    line += f' | fill {f["groups"]} groups: minted {f["mint_s"]:.1f} s, announced {f["announce_s"]:.1f} s ({f["announces_per_s"]:.0f}/s)'
if r.get("background"):
    b = r["background"]
    line += f' | beside: {b["announces_per_s"]:.0f} announces/s ({b["announce_errors"]} failed), {b["watchers"]} watchers read {b["watch_events"]} events ({b["watchers_lost"]} lost)'
print(line)
PY
}
bench announce --rpc announce-group --fill 10000 --ca-dir "$OUT/ca" --connections 1000 \
  --concurrency 1000 --requests "$REQUESTS" --duration-s 30
bench bootlist-16 --rpc get-boot-list --connections 4 --concurrency 16 --requests "$REQUESTS"
bench bootlist-64 --rpc get-boot-list --connections 4 --concurrency 64 --requests "$REQUESTS"
bench bootlist-16-beside-load --rpc get-boot-list --connections 4 --concurrency 16 \
  --requests "$REQUESTS" --fill 200 --ca-dir "$OUT/ca" --background-announce-rate 1000 --watchers 100
bench bootlist-16-beside-changes --rpc get-boot-list --connections 4 --concurrency 16 \
  --requests "$REQUESTS" --fill 200 --ca-dir "$OUT/ca" --background-announce-rate 1000 \
  --background-changes --watchers 100
grep -E 'VmHWM|VmRSS' "/proc/$RV_PID/status" | tr -s ' \t' ' ' | sed 's/^/rendezvous /'

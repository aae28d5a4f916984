#!/usr/bin/env bash
# Reruns every benchmark in docs/benchmarks.md. Outputs go to $OUT (default /tmp/locus-bench);
# the plots used by the document are copied to docs/plots/. Takes about 45 minutes on 2 busy cores.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/locus-bench}
DATA=${DATA:-../shared/data/latency}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release -p locus-sim
SIM="$CARGO_TARGET_DIR/release/locus-sim"
T="/usr/bin/time -f %e_s_wall_%M_KB_peak_RSS"
PL="$DATA/planetlab490_median_ms.tsv"
SEA="$DATA/seattle99_median_ms.tsv"
# Synthetic worlds keep 100 peers per metro at every size; see docs/benchmarks.md for why the
# synthetic runs raise max_intra_group_links.
SYN="--max-intra-group-links 32"

run() { local name=$1; shift; echo "== $name"; $T "$SIM" run --out "$OUT/$name" "$@"; }

run planetlab-sequential --matrix "$PL" --arrival sequential --seed 1
run planetlab-all-at-once --matrix "$PL" --arrival all-at-once --seed 1
run seattle-sequential --matrix "$SEA" --arrival sequential --seed 1
run planetlab-poisson --matrix "$PL" --arrival poisson:50 --seed 1
run planetlab-partition --matrix "$PL" --arrival sequential --partition 30s:60s:0.3 --seed 1
"$SIM" ablate --matrix "$PL" --arrival sequential --seed 1 --out "$OUT/ablate-planetlab-sequential"
"$SIM" ablate --matrix "$PL" --arrival all-at-once --seed 1 --out "$OUT/ablate-planetlab-all-at-once"
run synthetic-1k --synthetic continents=5,metros=2,seed=7 --peers 1000 --arrival poisson:100 --seed 1 $SYN
run synthetic-3k --synthetic continents=5,metros=6,seed=7 --peers 3000 --arrival poisson:100 --seed 1 $SYN
run synthetic-10k --synthetic continents=5,metros=20,seed=7 --peers 10000 --arrival poisson:100 --seed 1 $SYN
run synthetic-2k-churn --synthetic continents=5,metros=4,seed=7 --peers 2000 --arrival poisson:100 --churn 20:10m --crash 0.05 --leave 0.05 --seed 1 $SYN
run synthetic-2k-partition --synthetic continents=5,metros=4,seed=7 --peers 2000 --arrival poisson:100 --partition 30s:60s:0.2 --seed 1 $SYN
run synthetic-2k-partition-settle180 --synthetic continents=5,metros=4,seed=7 --peers 2000 --arrival poisson:100 --partition 30s:60s:0.2 --settle 180s --seed 1 $SYN
# The default max_intra_group_links, for the call counts of the referral loop.
run synthetic-3k-defaults --synthetic continents=5,metros=6,seed=7 --peers 3000 --arrival poisson:100 --seed 1
# 100k: arrivals only (about 15 minutes here); the join-cost point, not a settled overlay.
run synthetic-100k-arrivals --synthetic continents=5,metros=200,seed=7 --peers 100000 --arrival poisson:1000 --settle 5s --seed 1 $SYN
"$SIM" scaling docs/plots/join_cost_vs_n.svg "$OUT/synthetic-1k" "$OUT/synthetic-3k" "$OUT/synthetic-10k" "$OUT/synthetic-100k-arrivals"
for r in planetlab-sequential planetlab-all-at-once seattle-sequential synthetic-10k synthetic-2k-churn synthetic-100k-arrivals; do
  for p in link_rtt_cdf group_sizes join_probes; do cp "$OUT/$r/$p.svg" "docs/plots/$r-$p.svg"; done
done

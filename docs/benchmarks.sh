#!/usr/bin/env bash
# Reruns every benchmark in docs/benchmarks.md. Outputs go to $OUT (default /tmp/locus-bench);
# the plots used by the document are copied to docs/plots/. Takes about 10 minutes on 2 cores
# (the 100k run about 2 of them).
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
# Every run uses the default protocol settings (Config::wan()).

run() { local name=$1; shift; echo "== $name"; $T "$SIM" run --out "$OUT/$name" "$@"; }

for seed in 1 2 3; do
  run planetlab-sequential-s$seed --matrix "$PL" --arrival sequential --seed $seed
  run planetlab-all-at-once-s$seed --matrix "$PL" --arrival all-at-once --seed $seed
done
run seattle-sequential --matrix "$SEA" --arrival sequential --seed 1
run planetlab-poisson --matrix "$PL" --arrival poisson:50 --seed 1
run planetlab-partition --matrix "$PL" --arrival sequential --partition 30s:60s:0.3 --seed 1
"$SIM" ablate --matrix "$PL" --arrival sequential --seed 1 --out "$OUT/ablate-planetlab-sequential"
"$SIM" ablate --matrix "$PL" --arrival all-at-once --seed 1 --out "$OUT/ablate-planetlab-all-at-once"
run synthetic-1k --synthetic continents=5,metros=2,seed=7 --peers 1000 --arrival poisson:100 --seed 1
run synthetic-3k --synthetic continents=5,metros=6,seed=7 --peers 3000 --arrival poisson:100 --seed 1
run synthetic-10k --synthetic continents=5,metros=20,seed=7 --peers 10000 --arrival poisson:100 --seed 1
# The 100k run's world (1,000 metros) with a fifth of its peers and no churn, arriving as the
# smaller synthetic runs do: the Vivaldi baseline's synthetic data set beside the 100k run.
run synthetic-20k --synthetic continents=5,metros=200,seed=7 --peers 20000 --arrival poisson:100 --seed 1
# Issue #14: groups against metros where metros are many and close together (40 metros of
# ~100 peers on one continent; the 100k run's world at 20k peers arriving as fast as there),
# and every locality rule off in turn.
run synthetic-4k-40metros --synthetic continents=1,metros=40,seed=7 --peers 4000 --arrival poisson:1000 --seed 1
run synthetic-20k-fast --synthetic continents=5,metros=200,seed=7 --peers 20000 --arrival poisson:1000 --seed 1
# Samples that agree end a measurement (sample_agreement): with queueing modelled (5% of the
# RTT on average per call), against every measurement taking all three samples.
run synthetic-20k-fast-queueing --synthetic continents=5,metros=200,seed=7 --peers 20000 --arrival poisson:1000 --queueing 0.05 --seed 1
run synthetic-20k-fast-queueing-all-samples --synthetic continents=5,metros=200,seed=7 --peers 20000 --arrival poisson:1000 --queueing 0.05 --sample-agreement 0 --seed 1
"$SIM" ablate --synthetic continents=1,metros=40,seed=7 --peers 4000 --arrival poisson:1000 --seed 1 --out "$OUT/ablate-synthetic-4k-40metros"
"$SIM" ablate --synthetic continents=5,metros=200,seed=7 --peers 20000 --arrival poisson:1000 --seed 1 --out "$OUT/ablate-synthetic-20k-fast"
run synthetic-20k-fast-settle180 --synthetic continents=5,metros=200,seed=7 --peers 20000 --arrival poisson:1000 --settle 180s --seed 1
run synthetic-2k-churn --synthetic continents=5,metros=4,seed=7 --peers 2000 --arrival poisson:100 --churn 20:10m --crash 0.05 --leave 0.05 --seed 1
run synthetic-2k-partition --synthetic continents=5,metros=4,seed=7 --peers 2000 --arrival poisson:100 --partition 30s:60s:0.2 --seed 1
run synthetic-2k-partition-settle180 --synthetic continents=5,metros=4,seed=7 --peers 2000 --arrival poisson:100 --partition 30s:60s:0.2 --settle 180s --seed 1
# Probes per join against N in the 100k run's own world (1,000 metros, 1,000 arrivals a second):
# 1k and 5k beside synthetic-20k-fast and the 100k run (issue #14's growth from 1k to 100k).
run synthetic-1k-world1000 --synthetic continents=5,metros=200,seed=7 --peers 1000 --arrival poisson:1000 --seed 1
run synthetic-5k-world1000 --synthetic continents=5,metros=200,seed=7 --peers 5000 --arrival poisson:1000 --seed 1
# 100k peers joining, then 10 virtual minutes of churn (1000 joins and 1000 crashes a minute).
# Synthetic worlds keep about 100 peers per metro at every size, so 1k/3k/10k/100k compare.
run synthetic-100k-churn --synthetic continents=5,metros=200,seed=7 --peers 100000 --arrival poisson:1000 --settle 30s --churn 1000:10m --seed 1
"$SIM" scaling docs/plots/join_cost_vs_n.svg "$OUT/synthetic-1k" "$OUT/synthetic-3k" "$OUT/synthetic-10k" "$OUT/synthetic-100k-churn"
"$SIM" scaling docs/plots/join_cost_vs_n_one_world.svg "$OUT/synthetic-1k-world1000" "$OUT/synthetic-5k-world1000" "$OUT/synthetic-20k-fast" "$OUT/synthetic-100k-churn"
for r in planetlab-sequential-s1 planetlab-all-at-once-s1 seattle-sequential synthetic-10k synthetic-20k synthetic-2k-churn synthetic-100k-churn; do
  for p in link_rtt_cdf group_sizes join_probes; do cp "$OUT/$r/$p.svg" "docs/plots/${r%-s1}-$p.svg"; done
done
# Issue #14's plots: intra- against inter-group link RTT, path stretch against the k-NN graph
# and landmark binning, group purity against size.
for r in planetlab-sequential-s1 synthetic-100k-churn; do
  for p in link_rtt_intra_inter path_stretch_cdf purity_vs_size; do cp "$OUT/$r/$p.svg" "docs/plots/${r%-s1}-$p.svg"; done
done
python3 docs/bench_table.py "$OUT" planetlab-sequential-s1 planetlab-sequential-s2 planetlab-sequential-s3 \
  planetlab-all-at-once-s1 planetlab-all-at-once-s2 planetlab-all-at-once-s3 planetlab-poisson \
  seattle-sequential synthetic-1k synthetic-3k synthetic-10k synthetic-20k synthetic-100k-churn
python3 docs/ablation_table.py "$OUT"

#!/usr/bin/env python3
"""Prints the ablation table of docs/benchmarks.md ("Locality at scale") from the outputs of
`locus-sim ablate` that docs/benchmarks.sh writes.

Usage: python3 docs/ablation_table.py OUT_DIR   (OUT_DIR as in benchmarks.sh)
"""
import json
import sys

out = sys.argv[1]
RUNS = [
    ("ablate-synthetic-4k-40metros", "synthetic 4k, 40 metros"),
    ("ablate-synthetic-20k-fast", "synthetic 20k, `metros=200`, 1,000 arrivals/s"),
    ("ablate-planetlab-sequential", "PlanetLab sequential"),
    ("ablate-planetlab-all-at-once", "PlanetLab all at once"),
]

print("| run | variant | components | random_ratio | gap | stretch | groups | purity "
      "| intra / inter ms | probes/join | calls/peer/min |")
print("|" + " --- |" * 11)
for d, label in RUNS:
    for k, row in enumerate(json.load(open(f"{out}/{d}/ablation.json"))):
        purity = "—" if row.get("purity") is None else f'{row["purity"]:.3f}'
        inter = row.get("inter_mean_rtt_ms")
        inter = "—" if inter is None or row["groups"] <= 1 else f"{inter:.1f}"
        name = row["variant"].replace("-", " ")
        if name == "before issue 14":
            name = "all fifteen off (before issue #14)"
        print(f'| {label if k == 0 else ""} | {name} | {row["components"]} '
              f'| {row["random_ratio"]:.3f} | {row["optimality_gap"]:.2f} '
              f'| {row["stretch_median"]:.2f} / {row["stretch_p90"]:.2f} | {row["groups"]} '
              f'| {purity} | {row["intra_mean_rtt_ms"]:.1f} / {inter} '
              f'| {row["probes_mean"]:.1f} | {row["steady_calls_per_peer_minute"]:.1f} |')

#!/usr/bin/env python3
"""Prints the markdown result rows of docs/benchmarks.md from the runs of docs/benchmarks.sh.

Usage: python3 docs/bench_table.py OUT_DIR RUN...   (OUT_DIR as in benchmarks.sh)
"""
import json
import sys

out, runs = sys.argv[1], sys.argv[2:]
print("| run | peers | components | mean link RTT | random_ratio | knn bound | gap | stretch median / p90 "
      "| links intra / inter / random | groups (singletons, max) | intra / inter RTT | purity "
      "| probes/join mean (p99) | join time mean (p99) | calls/peer/s | wall sim + metrics | landmark ratio |")
print("|" + " --- |" * 17)
for r in runs:
    m = json.load(open(f"{out}/{r}/metrics.json"))
    run = json.load(open(f"{out}/{r}/run.json"))
    g, j, s, lm = m["groups"], m["join"], m["path_stretch"], m["landmark"]
    purity = g.get("purity")
    calls = run["counters"]["calls"] / max(1, run["peers"]) / max(1e-9, run["end_s"])
    knn = f'{m["knn_bound_ms"]:.2f} ms' + ("" if m["knn_exact"] else "*")
    print(f'| {r} | {m["peers"]} | {m["components"]} | {m["mean_link_rtt_ms"]:.2f} ms '
          f'| **{m["random_ratio"]:.3f}** | {knn} | {m["optimality_gap"]:.2f} '
          f'| {s["median"]:.2f} / {s["p90"]:.2f} '
          f'| {m["intra_links"]} / {m["inter_links"]} / {m.get("random_links", 0)} '
          f'| {g["count"]} ({g["singletons"]}, {g["size_max"]}) '
          f'| {g["intra_mean_rtt_ms"]:.1f} / {g["inter_mean_rtt_ms"]:.1f} ms '
          f'| {"—" if purity is None else f"{purity:.3f}"} '
          f'| {j["probes_mean"]:.1f} ({j["probes_p99"]:.0f}) '
          f'| {j["time_mean_ms"] / 1000:.2f} s ({j["time_p99_ms"] / 1000:.1f} s) '
          f'| {calls:.2f} | {run["wall_simulation_s"]:.1f} + {run["wall_metrics_s"]:.1f} s '
          f'| {lm["random_ratio"]:.3f} |')

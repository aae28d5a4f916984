#!/usr/bin/env python3
"""Prints the markdown result tables of docs/benchmarks.md from the runs of docs/benchmarks.sh:
the results table (Vivaldi at locus's probe budget in its last columns), then locus against
Vivaldi at 1x, 2x and 4x that budget.

Usage: python3 docs/bench_table.py OUT_DIR RUN...   (OUT_DIR as in benchmarks.sh)
"""
import json
import sys

out, runs = sys.argv[1], sys.argv[2:]


def vivaldi_cells(v):
    s = v["path_stretch"]
    return (f'| {v["samples_per_peer"]} | {v["median_relative_error"]:.3f} | {v["random_ratio"]:.3f} '
            f'| {v["optimality_gap"]:.2f} | {s["median"]:.2f} / {s["p90"]:.2f} '
            f'| {v["components"]} ({v["components_before_bridging"]}) ')


print("| run | peers | components | mean link RTT | random_ratio | knn bound | gap | stretch median / p90 "
      "| links intra / inter / random / cross | groups (singletons, max) | intra / inter RTT | purity "
      "| probes/join mean (p99) | join time mean (p99) | calls/peer/s | wall sim + metrics | landmark ratio "
      "| Vivaldi samples/peer | Vivaldi error | Vivaldi ratio | Vivaldi gap | Vivaldi stretch median / p90 "
      "| Vivaldi components (before bridging) |")
print("|" + " --- |" * 23)
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
          f'| {m["intra_links"]} / {m["inter_links"]} / {m.get("random_links", 0)} / {m.get("cross_links", 0)} '
          f'| {g["count"]} ({g["singletons"]}, {g["size_max"]}) '
          f'| {g["intra_mean_rtt_ms"]:.1f} / {g["inter_mean_rtt_ms"]:.1f} ms '
          f'| {"—" if purity is None else f"{purity:.3f}"} '
          f'| {j["probes_mean"]:.1f} ({j["probes_p99"]:.0f}) '
          f'| {j["time_mean_ms"] / 1000:.2f} s ({j["time_p99_ms"] / 1000:.1f} s) '
          f'| {calls:.2f} | {run["wall_simulation_s"]:.1f} + {run["wall_metrics_s"]:.1f} s '
          f'| {lm["random_ratio"]:.3f} '
          + vivaldi_cells(m["vivaldi"][0]) + "|")


print()
print("| run | locus random_ratio / gap / stretch median, p90 | Vivaldi budget | samples/peer | k (mean degree) "
      "| median relative error | random_ratio | gap | stretch median / p90 | components (before bridging) |")
print("|" + " --- |" * 10)
for r in runs:
    m = json.load(open(f"{out}/{r}/metrics.json"))
    s = m["path_stretch"]
    for v in m["vivaldi"]:
        vs = v["path_stretch"]
        print(f'| {r} | {m["random_ratio"]:.3f} / {m["optimality_gap"]:.2f} / {s["median"]:.2f}, {s["p90"]:.2f} '
              f'| {v["budget_factor"]}x | {v["samples_per_peer"]} | {v["k"]} ({v["mean_degree"]:.2f}) '
              f'| {v["median_relative_error"]:.3f} | **{v["random_ratio"]:.3f}** | {v["optimality_gap"]:.2f} '
              f'| {vs["median"]:.2f} / {vs["p90"]:.2f} | {v["components"]} ({v["components_before_bridging"]}) |')

#!/usr/bin/env python3
"""Offline what-ifs on a finished PlanetLab overlay (docs/decisions.md, "What still stands
between PlanetLab and its floors"): the figures of the overlay as `locus-sim run` wrote it, and
of the same overlay changed one way, without rerunning the protocol.

Usage:
  python3 docs/planetlab_offline.py RUN_DIR MATRIX cross X K
      adds a link from every peer to its K nearest hosts of other groups within X ms
  python3 docs/planetlab_offline.py RUN_DIR MATRIX prune BETA
      drops, longest first, each inter-group link whose two ends share a neighbour through
      which the way is at most BETA times the link, both hops shorter

RUN_DIR is a `locus-sim run --matrix MATRIX --out RUN_DIR` output (its overlay.json).
Printed for both overlays: links, mean link RTT, its ratio to the mean RTT of all pairs (an
approximation of `random_ratio`, which compares with random graphs of the same degrees), the
optimality gap against the k-nearest bound at each peer's degree (as `metrics.json` computes
it), and path stretch median / p90 over 64 × 64 sampled pairs.
"""
import collections
import heapq
import json
import random
import sys


def load(run_dir, matrix):
    o = json.load(open(f"{run_dir}/overlay.json"))
    rows = [[float(x) for x in line.split()] for line in open(matrix) if line.strip()]
    site = [p["site"] for p in o["peers"]]
    return o, (lambda a, b: rows[site[a]][site[b]])


def figures(n, links, rtt, label):
    adj = collections.defaultdict(dict)
    for a, b in links:
        adj[a][b] = adj[b][a] = rtt(a, b)
    mean = sum(rtt(a, b) for a, b in links) / len(links)
    pairs = sum(rtt(a, b) for a in range(n) for b in range(n) if a != b) / (n * (n - 1))
    have = best = 0.0
    for i in range(n):
        near = sorted(rtt(i, j) for j in range(n) if j != i)
        have += sum(adj[i].values())
        best += sum(near[: len(adj[i])])
    gen = random.Random(1)
    stretch = []
    for a in gen.sample(range(n), 64):
        dist, queue = {a: 0.0}, [(0.0, a)]
        while queue:
            d, u = heapq.heappop(queue)
            if d > dist[u]:
                continue
            for v, w in adj[u].items():
                if d + w < dist.get(v, float("inf")):
                    dist[v] = d + w
                    heapq.heappush(queue, (d + w, v))
        for b in gen.sample(range(n), 64):
            if b != a and rtt(a, b) > 0 and b in dist:
                stretch.append(dist[b] / rtt(a, b))
    stretch.sort()
    print(f"{label}: {len(links)} links, mean {mean:.2f} ms, ratio to all pairs {mean / pairs:.3f}, "
          f"gap {have / best:.2f}, stretch {stretch[len(stretch) // 2]:.2f} / "
          f"{stretch[int(len(stretch) * 0.9)]:.2f}")


def main():
    run_dir, matrix, what = sys.argv[1:4]
    o, rtt = load(run_dir, matrix)
    n = len(o["peers"])
    group = [p["group"] for p in o["peers"]]
    links = {(min(a, b), max(a, b)) for a, b, _ in o["links"]}
    figures(n, links, rtt, "as run")
    if what == "cross":
        x, k = float(sys.argv[4]), int(sys.argv[5])
        changed = set(links)
        for a in range(n):
            near = sorted((rtt(a, b), b) for b in range(n) if group[b] != group[a] and rtt(a, b) <= x)
            changed.update((min(a, b), max(a, b)) for _, b in near[:k])
        figures(n, changed, rtt, f"with cross-group links (K {k}, within {x} ms)")
    elif what == "prune":
        beta = float(sys.argv[4])
        adj = collections.defaultdict(set)
        for a, b in links:
            adj[a].add(b)
            adj[b].add(a)
        inter = sorted(((rtt(a, b), a, b) for a, b, kind in o["links"] if kind == "inter"), reverse=True)
        for w, a, b in inter:
            if any(rtt(a, c) < w and rtt(c, b) < w and rtt(a, c) + rtt(c, b) <= beta * w
                   for c in adj[a] & adj[b]):
                adj[a].discard(b)
                adj[b].discard(a)
        changed = {(a, b) for a in adj for b in adj[a] if a < b}
        figures(n, changed, rtt, f"with detours pruned (beta {beta})")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

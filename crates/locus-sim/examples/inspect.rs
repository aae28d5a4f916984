//! Looks inside a run's `overlay.json`: the components other than the largest (who is in
//! them, in what role, with which links), and how groups spread over the model's localities.
//!
//! `cargo run --release -p locus-sim --example inspect -- OUT_DIR`

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use locus_sim::overlay::LinkKind;
use locus_sim::{ModelSpec, Overlay};

fn main() -> Result<()> {
    let dir = std::env::args().nth(1).context("usage: inspect OUT_DIR")?;
    let text = std::fs::read_to_string(format!("{dir}/overlay.json"))?;
    let overlay: Overlay = serde_json::from_str(&text)?;
    let spec: ModelSpec = overlay.model.parse()?;
    let loaded = spec.load()?;
    let model = loaded.model.as_ref();
    let rtt = |a: usize, b: usize| model.rtt_us(a, b).unwrap_or(0) as f64 / 1e3;

    let index: BTreeMap<usize, usize> = overlay
        .peers
        .iter()
        .enumerate()
        .map(|(i, p)| (p.site, i))
        .collect();
    let n = overlay.peers.len();
    let mut adj = vec![Vec::new(); n];
    for l in &overlay.links {
        let (a, b) = (index[&l.0], index[&l.1]);
        adj[a].push((b, l.2));
        adj[b].push((a, l.2));
    }
    // Components.
    let mut comp = vec![usize::MAX; n];
    let mut comps: Vec<Vec<usize>> = Vec::new();
    for s in 0..n {
        if comp[s] != usize::MAX {
            continue;
        }
        let c = comps.len();
        let mut stack = vec![s];
        comp[s] = c;
        let mut members = Vec::new();
        while let Some(v) = stack.pop() {
            members.push(v);
            for &(w, _) in &adj[v] {
                if comp[w] == usize::MAX {
                    comp[w] = c;
                    stack.push(w);
                }
            }
        }
        comps.push(members);
    }
    comps.sort_by_key(|c| std::cmp::Reverse(c.len()));
    println!("{} peers, {} components", n, comps.len());
    let mut roles: BTreeMap<&str, usize> = BTreeMap::new();
    for c in comps.iter().skip(1) {
        for &v in c {
            *roles.entry(overlay.peers[v].role.as_str()).or_default() += 1;
        }
    }
    println!("peers outside the largest component by role: {roles:?}");
    for (k, c) in comps.iter().enumerate().skip(1).take(12) {
        let groups: BTreeSet<&str> = c
            .iter()
            .filter_map(|&v| overlay.peers[v].group.as_deref())
            .collect();
        let inter: usize = c
            .iter()
            .map(|&v| adj[v].iter().filter(|(_, k)| *k != LinkKind::Intra).count())
            .sum();
        let p = &overlay.peers[c[0]];
        println!(
            "  component {k}: {} peers, {} groups, {} inter/random link ends; first: site {} role {} group {:?} metro {:?}",
            c.len(),
            groups.len(),
            inter,
            p.site,
            p.role,
            p.group.as_deref().map(|g| &g[..8]),
            model.locality(p.site)
        );
    }

    // Groups against localities.
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, p) in overlay.peers.iter().enumerate() {
        if let Some(g) = &p.group {
            groups.entry(g.as_str()).or_default().push(i);
        }
    }
    let mut metros_per_group = Vec::new();
    let mut linkless = 0;
    let mut leader_rtts = Vec::new();
    for members in groups.values() {
        let metros: BTreeSet<Option<u32>> = members
            .iter()
            .map(|&v| model.locality(overlay.peers[v].site))
            .collect();
        metros_per_group.push(metros.len());
        if let Some(&l) = members.iter().find(|&&v| overlay.peers[v].role == "leader") {
            if !adj[l].iter().any(|(_, k)| *k != LinkKind::Intra) {
                linkless += 1;
            }
            for &v in members {
                if v != l {
                    leader_rtts.push(rtt(overlay.peers[l].site, overlay.peers[v].site));
                }
            }
        }
    }
    // Each group over several localities: how many members in each, where its leader is, and
    // which other groups the minority localities' peers are in.
    let mut metro_groups: BTreeMap<Option<u32>, BTreeMap<&str, usize>> = BTreeMap::new();
    for p in &overlay.peers {
        if let Some(g) = &p.group {
            *metro_groups
                .entry(model.locality(p.site))
                .or_default()
                .entry(g.as_str())
                .or_default() += 1;
        }
    }
    for (g, members) in &groups {
        let mut counts: BTreeMap<Option<u32>, usize> = BTreeMap::new();
        for &v in members {
            *counts
                .entry(model.locality(overlay.peers[v].site))
                .or_default() += 1;
        }
        if counts.len() < 2 {
            continue;
        }
        let leader = members
            .iter()
            .find(|&&v| overlay.peers[v].role == "leader")
            .map(|&v| model.locality(overlay.peers[v].site));
        let elsewhere: Vec<String> = counts
            .keys()
            .map(|m| {
                let others: Vec<usize> = metro_groups[m]
                    .iter()
                    .filter(|(h, _)| *h != g)
                    .map(|(_, &n)| n)
                    .collect();
                format!("metro {m:?}: other groups {others:?}")
            })
            .collect();
        println!(
            "  group {} of {}: members by metro {counts:?}, leader in {leader:?}; {}",
            &g[..8],
            members.len(),
            elsewhere.join("; ")
        );
    }
    metros_per_group.sort_unstable();
    leader_rtts.sort_by(f64::total_cmp);
    let q = |v: &[f64], p: f64| v.get(((v.len() as f64 - 1.0) * p) as usize).copied();
    let localities: BTreeSet<Option<u32>> = overlay
        .peers
        .iter()
        .map(|p| model.locality(p.site))
        .collect();
    let mut groups_per_metro: BTreeMap<Option<u32>, BTreeSet<&str>> = BTreeMap::new();
    for p in &overlay.peers {
        if let Some(g) = &p.group {
            groups_per_metro
                .entry(model.locality(p.site))
                .or_default()
                .insert(g);
        }
    }
    let split = groups_per_metro.values().filter(|s| s.len() > 1).count();
    println!(
        "{} groups over {} localities; localities per group median {} p90 {} max {}; {} localities split over several groups; {} leaders without inter-group links",
        groups.len(),
        localities.len(),
        metros_per_group[metros_per_group.len() / 2],
        metros_per_group[metros_per_group.len() * 9 / 10],
        metros_per_group.last().unwrap_or(&0),
        split,
        linkless
    );
    println!(
        "member-to-leader RTT ms: median {:?} p90 {:?} max {:?}",
        q(&leader_rtts, 0.5),
        q(&leader_rtts, 0.9),
        leader_rtts.last()
    );

    // Purity against size, with the labels the purity plot uses (the model's localities, or
    // site clusters on a matrix).
    let sites = overlay.sites();
    if let Some(labels) = locus_sim::purity::labels(model, &sites) {
        let purity = locus_sim::purity::per_group(groups.values().map(Vec::as_slice), &labels.of);
        let pure = purity.iter().filter(|g| g.purity >= 1.0).count();
        let grouped: usize = purity.iter().map(|g| g.size).sum();
        let majority: f64 = purity.iter().map(|g| g.purity * g.size as f64).sum();
        let mut split: BTreeMap<u32, BTreeSet<&str>> = BTreeMap::new();
        for (g, members) in &groups {
            for &v in members {
                split.entry(labels.of[v]).or_default().insert(g);
            }
        }
        println!(
            "{} localities ({:?}); {pure} of {} groups pure; {:.1} % of grouped peers in their group's majority locality; {} localities over several groups",
            labels.count,
            labels.source,
            purity.len(),
            100.0 * majority / grouped.max(1) as f64,
            split.values().filter(|s| s.len() > 1).count()
        );
        let mut buckets: BTreeMap<u32, (usize, f64)> = BTreeMap::new();
        for g in &purity {
            let b = buckets
                .entry(usize::BITS - g.size.leading_zeros())
                .or_default();
            b.0 += 1;
            b.1 += g.purity;
        }
        for (bits, (count, sum)) in buckets {
            println!(
                "  sizes {}-{}: {count} groups, mean purity {:.3}",
                1usize << (bits - 1),
                (1usize << bits) - 1,
                sum / count as f64
            );
        }
    }
    Ok(())
}

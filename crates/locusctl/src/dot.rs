//! The overlay as a Graphviz graph (`locusctl overlay -o dot | dot -Tsvg > overlay.svg`).
//!
//! One node per group, labelled with its short id, leader and member count; one undirected
//! edge per pair of linked groups, labelled with the RTT its leaders measured. A link that
//! both ends announced is one edge with both measurements when they differ, so the picture
//! shows each link once. Links to a group the directory no longer lists get a grey node.
//!
//! A link that either end keeps against partitions (a random link or a bridge) is dashed;
//! links kept for closeness are solid.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::output::OverlayOut;
use crate::units::{count, ms};

/// Renders `overlay` as `graph overlay { … }`, nodes and edges in group-id order so that the
/// same overlay gives the same text.
pub(crate) fn render(overlay: &OverlayOut) -> String {
    let mut out = String::from("graph overlay {\n  node [shape=box];\n");
    if overlay.truncated {
        out.push_str("  // truncated: the overlay has more groups than one snapshot carries\n");
    }
    let mut listed = BTreeSet::new();
    for g in &overlay.groups {
        listed.insert(g.group_id.as_str());
        let label = format!(
            "{}\nleader {}\n{}",
            short(&g.group_id),
            g.leader_addr,
            count(u64::from(g.member_count), "member")
        );
        let _ = writeln!(out, "  {} [label={}];", quote(&g.group_id), quote(&label));
    }
    // Each unordered pair once: the lower id first, with what each end measured, and whether
    // either end keeps it against partitions.
    let mut edges = BTreeMap::<(&str, &str), (Option<u64>, Option<u64>, bool)>::new();
    for l in &overlay.links {
        let (a, b) = (l.group_id.as_str(), l.neighbor_group_id.as_str());
        let e = edges.entry((a.min(b), a.max(b))).or_default();
        if a <= b {
            e.0 = Some(l.rtt_us);
        } else {
            e.1 = Some(l.rtt_us);
        }
        e.2 |= l.partition;
    }
    let unlisted: BTreeSet<&str> = edges
        .keys()
        .flat_map(|&(a, b)| [a, b])
        .filter(|id| !listed.contains(id))
        .collect();
    for id in unlisted {
        let label = format!("{}\n(not listed)", short(id));
        let _ = writeln!(
            out,
            "  {} [label={}, color=gray, fontcolor=gray];",
            quote(id),
            quote(&label)
        );
    }
    for ((a, b), (x, y, partition)) in &edges {
        let label = match (*x, *y) {
            (Some(x), Some(y)) if x.abs_diff(y) >= 100 => format!("{} / {}", ms(x), ms(y)),
            (Some(x), _) | (None, Some(x)) => ms(x),
            (None, None) => unreachable!("every edge comes from a link"),
        };
        let style = if *partition { ", style=dashed" } else { "" };
        let _ = writeln!(
            out,
            "  {} -- {} [label={}{style}];",
            quote(a),
            quote(b),
            quote(&label)
        );
    }
    out.push_str("}\n");
    out
}

/// The first block of a UUID, as the tables show it.
fn short(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}

/// A DOT quoted string. Inside quotes DOT reads `\"` as a quote and, in labels, `\n` as a line
/// break and `\\` as a backslash; anything else passes through. Line breaks in `text` become
/// `\n`, so a label's lines are ours and an address cannot end the string or add attributes.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{GroupOut, LinkOut};

    const A: &str = "073f1775-0000-4000-8000-000000000001";
    const B: &str = "12438035-0000-4000-8000-000000000002";
    const C: &str = "4cfee63c-0000-4000-8000-000000000003";
    const GONE: &str = "d4eda2be-0000-4000-8000-000000000004";

    fn group(id: &str, leader_addr: &str, members: u32) -> GroupOut {
        GroupOut {
            group_id: id.into(),
            leader_id: String::new(),
            leader_addr: leader_addr.into(),
            epoch: 1,
            member_count: members,
            successors: Vec::new(),
            announced_at_unix_ms: 0,
            expires_at_unix_ms: 0,
        }
    }

    fn link(from: &str, to: &str, rtt_us: u64) -> LinkOut {
        LinkOut {
            group_id: from.into(),
            neighbor_group_id: to.into(),
            neighbor_leader_addr: String::new(),
            rtt_us,
            partition: false,
        }
    }

    #[test]
    fn groups_are_nodes_and_links_are_edges_once_per_pair() {
        let overlay = OverlayOut {
            groups: vec![
                group(A, "10.0.0.5:7000", 1),
                group(B, "peer-\"b\"\\x:7000", 6),
                group(C, "10.0.0.7:7000", 2),
            ],
            links: vec![
                // Announced by both ends, alike: one edge, one RTT.
                link(A, B, 61_234),
                link(B, A, 61_200),
                // Announced by both ends, apart: both RTTs, lower id's first.
                link(C, A, 150_000),
                link(A, C, 140_000),
                // By one end only, to a group that has left the directory, kept against
                // partitions: dashed.
                LinkOut {
                    partition: true,
                    ..link(C, GONE, 2_000)
                },
            ],
            truncated: false,
        };
        let expected = [
            "graph overlay {",
            "  node [shape=box];",
            r#"  "073f1775-0000-4000-8000-000000000001" [label="073f1775\nleader 10.0.0.5:7000\n1 member"];"#,
            r#"  "12438035-0000-4000-8000-000000000002" [label="12438035\nleader peer-\"b\"\\x:7000\n6 members"];"#,
            r#"  "4cfee63c-0000-4000-8000-000000000003" [label="4cfee63c\nleader 10.0.0.7:7000\n2 members"];"#,
            r#"  "d4eda2be-0000-4000-8000-000000000004" [label="d4eda2be\n(not listed)", color=gray, fontcolor=gray];"#,
            r#"  "073f1775-0000-4000-8000-000000000001" -- "12438035-0000-4000-8000-000000000002" [label="61.2 ms"];"#,
            r#"  "073f1775-0000-4000-8000-000000000001" -- "4cfee63c-0000-4000-8000-000000000003" [label="140.0 ms / 150.0 ms"];"#,
            r#"  "4cfee63c-0000-4000-8000-000000000003" -- "d4eda2be-0000-4000-8000-000000000004" [label="2.0 ms", style=dashed];"#,
            "}",
            "",
        ]
        .join("\n");
        assert_eq!(render(&overlay), expected);
    }

    #[test]
    fn quoting_keeps_text_inside_the_string() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote("one\ntwo\r"), r#""one\ntwo""#);
        // A value that tries to close the string and add an attribute stays one string.
        assert_eq!(quote(r#"x", color="red"#), r#""x\", color=\"red""#);
    }

    #[test]
    fn an_empty_overlay_is_an_empty_graph() {
        let overlay = OverlayOut {
            groups: Vec::new(),
            links: Vec::new(),
            truncated: true,
        };
        assert_eq!(
            render(&overlay),
            "graph overlay {\n  node [shape=box];\n  // truncated: the overlay has more groups than one snapshot carries\n}\n"
        );
    }
}

//! What locusctl prints: plain shapes of the wire replies, for JSON and tables.

use locus_proto::pb;
use serde::Serialize;

use crate::now_ms;
use crate::units::count;

#[derive(Debug, Serialize)]
pub(crate) struct PeerRefOut {
    pub(crate) peer_id: String,
    pub(crate) addr: String,
}

impl From<Option<pb::PeerRef>> for PeerRefOut {
    fn from(p: Option<pb::PeerRef>) -> Self {
        let p = p.unwrap_or_default();
        PeerRefOut {
            peer_id: p.peer_id,
            addr: p.addr,
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct ViewOut {
    pub(crate) group_id: String,
    pub(crate) epoch: u64,
    pub(crate) leader: PeerRefOut,
    pub(crate) successors: Vec<PeerRefOut>,
    pub(crate) member_count: u32,
}

impl From<pb::GroupView> for ViewOut {
    fn from(g: pb::GroupView) -> Self {
        ViewOut {
            group_id: g.group_id,
            epoch: g.epoch,
            leader: g.leader.into(),
            successors: g.successors.into_iter().map(|p| Some(p).into()).collect(),
            member_count: g.member_count,
        }
    }
}

/// One directory entry: an element of `groups -o json`, and the whole of `group -o json`.
#[derive(Debug, Serialize)]
pub(crate) struct GroupOut {
    pub(crate) group_id: String,
    pub(crate) leader_id: String,
    pub(crate) leader_addr: String,
    pub(crate) epoch: u64,
    pub(crate) member_count: u32,
    pub(crate) successors: Vec<PeerRefOut>,
    pub(crate) announced_at_unix_ms: u64,
    pub(crate) expires_at_unix_ms: u64,
}

impl GroupOut {
    pub(crate) fn expires_in(&self) -> String {
        let left = self.expires_at_unix_ms.saturating_sub(now_ms());
        format!("{:.1} s", left as f64 / 1000.0)
    }
}

impl From<pb::GroupEntry> for GroupOut {
    fn from(e: pb::GroupEntry) -> Self {
        let g = e.group.unwrap_or_default();
        let leader = g.leader.unwrap_or_default();
        GroupOut {
            group_id: g.group_id,
            leader_id: leader.peer_id,
            leader_addr: leader.addr,
            epoch: g.epoch,
            member_count: g.member_count,
            successors: g.successors.into_iter().map(|p| Some(p).into()).collect(),
            announced_at_unix_ms: e.announced_at_unix_ms,
            expires_at_unix_ms: e.expires_at_unix_ms,
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct LinkOut {
    pub(crate) group_id: String,
    pub(crate) neighbor_group_id: String,
    pub(crate) neighbor_leader_addr: String,
    pub(crate) rtt_us: u64,
    /// Kept against partitions (a random link or a bridge), not for closeness.
    pub(crate) partition: bool,
}

impl From<pb::OverlayLink> for LinkOut {
    fn from(l: pb::OverlayLink) -> Self {
        LinkOut {
            group_id: l.group_id,
            neighbor_group_id: l.neighbor_group_id,
            neighbor_leader_addr: l.neighbor_leader.unwrap_or_default().addr,
            rtt_us: l.rtt_us,
            partition: l.partition,
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct OverlayOut {
    pub(crate) groups: Vec<GroupOut>,
    pub(crate) links: Vec<LinkOut>,
    pub(crate) truncated: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct PeerOut {
    pub(crate) peer_id: String,
    pub(crate) addr: String,
    pub(crate) group_id: String,
    pub(crate) role: String,
    pub(crate) rtt_to_leader_us: Option<u64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct LinkInfoOut {
    pub(crate) peer: PeerRefOut,
    pub(crate) rtt_us: u64,
}

impl From<pb::LinkInfo> for LinkInfoOut {
    fn from(l: pb::LinkInfo) -> Self {
        LinkInfoOut {
            peer: l.peer.into(),
            rtt_us: l.rtt_us,
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct NeighborOut {
    pub(crate) group_id: String,
    pub(crate) leader: PeerRefOut,
    pub(crate) rtt_us: u64,
}

#[derive(Debug, Serialize)]
pub(crate) struct StatusOut {
    pub(crate) peer: PeerRefOut,
    pub(crate) role: String,
    pub(crate) group: Option<ViewOut>,
    pub(crate) leadership: Vec<PeerRefOut>,
    pub(crate) intra: Vec<LinkInfoOut>,
    pub(crate) inter: Vec<NeighborOut>,
    pub(crate) cross: Vec<LinkInfoOut>,
}

impl From<pb::GetStatusReply> for StatusOut {
    fn from(s: pb::GetStatusReply) -> Self {
        let role = pb::Role::try_from(s.role)
            .map(|r| r.as_str_name().trim_start_matches("ROLE_").to_lowercase())
            .unwrap_or_else(|_| format!("unknown ({})", s.role));
        StatusOut {
            peer: s.peer.into(),
            role,
            group: s.group.map(ViewOut::from),
            leadership: s.leadership.into_iter().map(|p| Some(p).into()).collect(),
            intra: s.intra.into_iter().map(LinkInfoOut::from).collect(),
            inter: s
                .inter
                .into_iter()
                .map(|n| NeighborOut {
                    group_id: n.group_id,
                    leader: n.leader.into(),
                    rtt_us: n.rtt_us,
                })
                .collect(),
            cross: s.cross.into_iter().map(LinkInfoOut::from).collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct EventOut {
    pub(crate) at_unix_ms: u64,
    pub(crate) group_id: String,
    pub(crate) epoch: u64,
    pub(crate) change: String,
}

impl From<pb::OverlayEvent> for EventOut {
    fn from(e: pb::OverlayEvent) -> Self {
        use pb::overlay_event::Kind;
        let change = match e.kind {
            Some(Kind::Created(c)) => {
                let g = c.group.unwrap_or_default();
                format!(
                    "created: leader {}, {}",
                    g.leader.unwrap_or_default().addr,
                    count(u64::from(g.member_count), "member")
                )
            }
            Some(Kind::LeaderChanged(l)) => format!(
                "leader changed: {} -> {}",
                l.previous_leader.unwrap_or_default().addr,
                l.leader.unwrap_or_default().addr
            ),
            Some(Kind::MemberCountChanged(m)) => {
                format!("members: {} -> {}", m.previous_count, m.member_count)
            }
            Some(Kind::Ended(x)) => match pb::GroupEndReason::try_from(x.reason) {
                Ok(pb::GroupEndReason::Expired) => "ended: expired".into(),
                _ => "ended".into(),
            },
            None => "unknown change".into(),
        };
        EventOut {
            at_unix_ms: e.at_unix_ms,
            group_id: e.group_id,
            epoch: e.epoch,
            change,
        }
    }
}

/// `text` with every control character but line ends and tabs, and every bidirectional
/// override, written as its escape (`\u{1b}`): what a service sends cannot move the cursor,
/// recolour the terminal or reorder what the operator reads.
pub(crate) fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    escape_if(text, |c| c != '\n' && c != '\t' && unsafe_char(c))
}

/// A table cell or one value on a line: every control character escaped, line ends and tabs
/// too, so that a value cannot forge a row.
pub(crate) fn cell(text: &str) -> std::borrow::Cow<'_, str> {
    escape_if(text, unsafe_char)
}

fn unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape_if(text: &str, escape: impl Fn(char) -> bool) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(&escape) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escape(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod escaping {
    use super::*;

    #[test]
    fn control_characters_from_services_are_printed_escaped() {
        let hostile = "10.0.0.1:7000\u{1b}[2J\u{1b}]0;owned\u{7}\nforged row\u{202e}";
        let safe = terminal_safe(hostile);
        assert!(!safe.contains('\u{1b}') && !safe.contains('\u{7}') && !safe.contains('\u{202e}'));
        assert!(safe.contains("\\u{1b}[2J"), "{safe}");
        assert!(safe.contains('\n'), "line ends stay on whole lines");
        let c = cell(hostile);
        assert!(!c.contains('\n'), "a cell stays on its row: {c}");
        assert_eq!(terminal_safe("plain 1 member\n"), "plain 1 member\n");
    }
}

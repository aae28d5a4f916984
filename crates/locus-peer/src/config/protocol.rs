//! The protocol settings: a preset of `locus_core::Config` and single fields overriding it, as
//! the `protocol:` section of the file, `LOCUS_*` variables and flags.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Default protocol preset.
pub const DEFAULT_PRESET: Preset = Preset::Wan;

/// A named base for the protocol settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// The seed's values, for peers spread over the Internet.
    Wan,
    /// One data centre: timers five times faster, tighter thresholds.
    Lan,
    /// Test clusters: WAN thresholds, timers fast enough to see failover within seconds.
    Test,
}

impl Preset {
    pub(super) fn config(self) -> locus_core::Config {
        match self {
            Preset::Wan => locus_core::Config::wan(),
            Preset::Lan => locus_core::Config::lan(),
            Preset::Test => locus_core::Config::test(),
        }
    }
}

macro_rules! ms_or_num {
    (ms, to_core, $v:expr) => {
        Duration::from_millis($v)
    };
    (num, to_core, $v:expr) => {
        $v
    };
    (ms, from_core, $v:expr) => {
        $v.as_millis() as u64
    };
    (num, from_core, $v:expr) => {
        $v
    };
    (fms, to_core, $v:expr) => {
        fractional_ms($v)
    };
    (fms, from_core, $v:expr) => {
        $v.as_micros() as f64 / 1e3
    };
}

/// A setting in ms with a fraction, to the µs. What is not a finite number of ms from 0 to a
/// day becomes `Duration::MAX`, which `locus_core::Config::validate` refuses by name.
fn fractional_ms(ms: f64) -> Duration {
    if ms.is_finite() && (0.0..=86_400_000.0).contains(&ms) {
        Duration::from_micros((ms * 1e3).round() as u64)
    } else {
        Duration::MAX
    }
}

/// Declares [`ProtocolSettings`]: one optional field per `locus_core::Config` field, its flag,
/// its environment variable, and the conversions both ways.
macro_rules! protocol_settings {
    ($( $(#[doc = $doc:literal])* $field:ident: $ty:ty, $env:literal => $core:ident ($kind:ident); )*) => {
        /// The protocol settings: a preset and any fields of it to override. Durations are in
        /// milliseconds; each default is the preset's value (see `locus_core::config`).
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
        #[serde(deny_unknown_fields)]
        pub struct ProtocolSettings {
            /// Protocol preset the other protocol settings override [default: wan].
            #[arg(long, env = "LOCUS_PRESET")]
            #[serde(skip_serializing_if = "Option::is_none")]
            pub preset: Option<Preset>,
            $(
                $(#[doc = $doc])*
                #[arg(long, env = $env)]
                #[serde(skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
            /// Leader-distance guard in ms, 0 for off [preset: 20].
            #[arg(long, env = "LOCUS_MAX_LEADER_RTT_MS")]
            #[serde(skip_serializing_if = "Option::is_none")]
            pub max_leader_rtt_ms: Option<u64>,
            /// Direct pass of the locality test in ms: a leader closer than this is local
            /// without comparing distances; 0 for off [preset: 5].
            #[arg(long, env = "LOCUS_DIRECT_JOIN_RTT_MS")]
            #[serde(skip_serializing_if = "Option::is_none")]
            pub direct_join_rtt_ms: Option<u64>,
            /// Merge groups that share a locality [preset: true].
            #[arg(long, env = "LOCUS_GROUP_MERGE")]
            #[serde(skip_serializing_if = "Option::is_none")]
            pub group_merge: Option<bool>,
        }

        impl ProtocolSettings {
            pub(super) fn merge(self, over: Self) -> Self {
                Self {
                    preset: over.preset.or(self.preset),
                    $( $field: over.$field.or(self.$field), )*
                    max_leader_rtt_ms: over.max_leader_rtt_ms.or(self.max_leader_rtt_ms),
                    direct_join_rtt_ms: over.direct_join_rtt_ms.or(self.direct_join_rtt_ms),
                    group_merge: over.group_merge.or(self.group_merge),
                }
            }

            /// The core configuration: the preset with the given fields overridden.
            pub(super) fn to_core(&self) -> locus_core::Config {
                let mut c = self.preset.unwrap_or(DEFAULT_PRESET).config();
                $( if let Some(v) = self.$field { c.$core = ms_or_num!($kind, to_core, v); } )*
                if let Some(ms) = self.max_leader_rtt_ms {
                    c.max_leader_rtt = (ms > 0).then(|| Duration::from_millis(ms));
                }
                if let Some(ms) = self.direct_join_rtt_ms {
                    c.direct_join_rtt = (ms > 0).then(|| Duration::from_millis(ms));
                }
                if let Some(merge) = self.group_merge {
                    c.group_merge = merge;
                }
                c
            }

            /// Every field set, from the preset and the overrides.
            pub(super) fn complete(&self) -> Self {
                let c = self.to_core();
                Self {
                    preset: Some(self.preset.unwrap_or(DEFAULT_PRESET)),
                    $( $field: Some(ms_or_num!($kind, from_core, c.$core)), )*
                    max_leader_rtt_ms: Some(c.max_leader_rtt.map_or(0, |d| d.as_millis() as u64)),
                    direct_join_rtt_ms: Some(c.direct_join_rtt.map_or(0, |d| d.as_millis() as u64)),
                    group_merge: Some(c.group_merge),
                }
            }

            /// Fails to compile when the core gains a setting this file does not offer.
            #[allow(dead_code)]
            fn every_core_field_is_a_setting(c: locus_core::Config) {
                let locus_core::Config {
                    $( $core: _, )*
                    max_leader_rtt: _,
                    direct_join_rtt: _,
                    group_merge: _,
                } = c;
            }
        }
    };
}

protocol_settings! {
    /// Largest RTT difference of the locality test, ms [wan: 10].
    locality_threshold_ms: u64, "LOCUS_LOCALITY_THRESHOLD_MS" => locality_threshold(ms);
    /// Groups a join walk tests before founding one [wan: 10].
    max_tested_groups: u32, "LOCUS_MAX_TESTED_GROUPS" => max_tested_groups(num);
    /// Longest a join walk may take, ms [wan: 10000].
    join_deadline_ms: u64, "LOCUS_JOIN_DEADLINE_MS" => join_deadline(ms);
    /// Largest random wait before asking again when the boot list is empty, ms [wan: 10000].
    cold_start_backoff_ms: u64, "LOCUS_COLD_START_BACKOFF_MS" => cold_start_backoff(ms);
    /// Inter-group links a leader aims for, at least 2 [wan: 6].
    inter_group_target: u32, "LOCUS_INTER_GROUP_TARGET" => inter_group_target(num);
    /// Inter-group links a leader accepts [wan: 16].
    max_inter_group_links: u32, "LOCUS_MAX_INTER_GROUP_LINKS" => max_inter_group_links(num);
    /// Farthest neighbour group beyond the first two, ms [wan: 20].
    inter_group_radius_ms: u64, "LOCUS_INTER_GROUP_RADIUS_MS" => inter_group_radius(ms);
    /// Links to random groups per leader: shortcuts [wan: 1].
    random_inter_group_links: u32, "LOCUS_RANDOM_INTER_GROUP_LINKS" => random_inter_group_links(num);
    /// Random groups measured for each random link, the closest linked [wan: 8].
    random_link_sample: u32, "LOCUS_RANDOM_LINK_SAMPLE" => random_link_sample(num);
    /// Members a group needs before its leader opens a random link [wan: 8].
    random_link_min_members: u32, "LOCUS_RANDOM_LINK_MIN_MEMBERS" => random_link_min_members(num);
    /// Members per extra shortcut in large groups; 0 for one set per group [wan: 48].
    members_per_shortcut: u32, "LOCUS_MEMBERS_PER_SHORTCUT" => members_per_shortcut(num);
    /// Length of the leadership list [wan: 10].
    leadership_list_target: u32, "LOCUS_LEADERSHIP_LIST_TARGET" => leadership_list_target(num);
    /// Intra-group links a joining member opens [wan: 6].
    intra_group_target: u32, "LOCUS_INTRA_GROUP_TARGET" => intra_group_target(num);
    /// Intra-group links a peer accepts [wan: 24].
    max_intra_group_links: u32, "LOCUS_MAX_INTRA_GROUP_LINKS" => max_intra_group_links(num);
    /// How often a leader renews Alive (sent in reply to member reports), ms [wan: 5000].
    alive_interval_ms: u64, "LOCUS_ALIVE_INTERVAL_MS" => alive_interval(ms);
    /// Silence after which a member takes its leader for gone, ms [wan: 10000].
    alive_timeout_ms: u64, "LOCUS_ALIVE_TIMEOUT_MS" => alive_timeout(ms);
    /// Largest random wait before a leaderless claim, ms [wan: 10000].
    leaderless_backoff_ms: u64, "LOCUS_LEADERLESS_BACKOFF_MS" => leaderless_backoff(ms);
    /// Claims closer than this collide, ms [wan: 1000].
    collision_window_ms: u64, "LOCUS_COLLISION_WINDOW_MS" => collision_window(ms);
    /// Election rounds before the earliest claim wins anyway [wan: 5].
    max_election_rounds: u32, "LOCUS_MAX_ELECTION_ROUNDS" => max_election_rounds(num);
    /// Probes per measurement, the minimum kept [wan: 3].
    measure_samples: u32, "LOCUS_MEASURE_SAMPLES" => measure_samples(num);
    /// How often a leader re-measures its neighbours, ms [wan: 30000].
    remeasure_interval_ms: u64, "LOCUS_REMEASURE_INTERVAL_MS" => remeasure_interval(ms);
    /// How often a member reports to its leader, ms [wan: 5000].
    member_refresh_interval_ms: u64, "LOCUS_MEMBER_REFRESH_INTERVAL_MS" => member_refresh_interval(ms);
    /// Silence after which a leader drops a member, ms [wan: 15000].
    member_timeout_ms: u64, "LOCUS_MEMBER_TIMEOUT_MS" => member_timeout(ms);
    /// How often a leader refreshes its rendezvous entry, ms [wan: 10000].
    announce_interval_ms: u64, "LOCUS_ANNOUNCE_INTERVAL_MS" => announce_interval(ms);
    /// Deadline of every outgoing call, ms [wan: 2000].
    request_timeout_ms: u64, "LOCUS_REQUEST_TIMEOUT_MS" => request_timeout(ms);
    /// Groups asked for in one boot list [wan: 8].
    boot_list_size: u32, "LOCUS_BOOT_LIST_SIZE" => boot_list_size(num);
    /// Neighbour-scaled guard: share of the RTT from a leader to its nearest neighbour group
    /// beyond which a peer does not join; 0 for off [wan: 0.5].
    neighbor_guard_share: f64, "LOCUS_NEIGHBOR_GUARD_SHARE" => neighbor_guard_share(num);
    /// Members of a merging group keep their links and follow at once [wan: true].
    merge_keeps_links: bool, "LOCUS_MERGE_KEEPS_LINKS" => merge_keeps_links(num);
    /// Join walks skip probes that cannot change their next step [wan: true].
    prune_walk_probes: bool, "LOCUS_PRUNE_WALK_PROBES" => prune_walk_probes(num);
    /// Join walks take one sample of a leader beyond four times the guard [wan: true].
    single_far_walk_samples: bool, "LOCUS_SINGLE_FAR_WALK_SAMPLES" => single_far_walk_samples(num);
    /// Join walks rank candidates on one sample, confirming what fails a group [wan: true].
    rank_on_one_sample: bool, "LOCUS_RANK_ON_ONE_SAMPLE" => rank_on_one_sample(num);
    /// Shortcuts go to groups the overlay reaches only the long way round [wan: true].
    detour_shortcuts: bool, "LOCUS_DETOUR_SHORTCUTS" => detour_shortcuts(num);
    /// A measurement stops once two samples agree within this share; 0 for off [wan: 0.05].
    sample_agreement: f64, "LOCUS_SAMPLE_AGREEMENT" => sample_agreement(num);
    /// Members close their links to peers the leader's Alive lists as lost [wan: true].
    drop_lost_links: bool, "LOCUS_DROP_LOST_LINKS" => drop_lost_links(num);
    /// Members move their intra-group links to the nearest group-mates they measure
    /// [wan: true].
    nearest_intra_links: bool, "LOCUS_NEAREST_INTRA_LINKS" => nearest_intra_links(num);
    /// Members farther from their leader than the locality threshold walk again and move to
    /// a group less than half as far [wan: true].
    relocate_far_members: bool, "LOCUS_RELOCATE_FAR_MEMBERS" => relocate_far_members(num);
    /// Join walks start from the rendezvous' landmark groups and ask for the groups nearest
    /// by the RTTs to them [wan: true].
    landmark_boot: bool, "LOCUS_LANDMARK_BOOT" => landmark_boot(num);
    /// Cross links each peer opens to near peers of other groups; 0 for none [wan: 3].
    cross_group_links: u32, "LOCUS_CROSS_GROUP_LINKS" => cross_group_links(num);
    /// Farthest peer a cross link goes to, ms (a fraction allowed) [wan: 11.5].
    cross_group_radius_ms: f64, "LOCUS_CROSS_GROUP_RADIUS_MS" => cross_group_radius(fms);
}

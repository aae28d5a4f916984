//! Protocol settings: the seed's defaults as named constants, presets, and validation.
//!
//! Every default below is the example the seed gives, with its paragraph; settings the seed does
//! not name say why they have the value they have. Drivers (the peer service, the simulator) map
//! their configuration files onto [`Config`] and call [`Config::validate`].

use std::time::Duration;

use thiserror::Error;

/// Largest RTT difference at which a group is in the joining peer's locality [0043][0050].
pub const DEFAULT_LOCALITY_THRESHOLD: Duration = Duration::from_millis(10);
/// Groups a join walk tests before it founds a group of its own [0051][0054].
pub const DEFAULT_MAX_TESTED_GROUPS: u32 = 10;
/// Longest a join walk may take before it founds a group of its own [0054].
pub const DEFAULT_JOIN_DEADLINE: Duration = Duration::from_secs(10);
/// Upper bound of the random wait before a peer whose boot list came back empty asks again
/// rather than founding a group at once (beyond the seed). An empty directory means either the
/// very first peer or many peers starting together (a cluster's cold start); in the second case
/// founding at once leaves every peer alone in a group of its own and merges take minutes to
/// undo it. Waiting a random time up to one join deadline spreads the walks out as if the peers
/// had arrived over that time: the first one founds, the others find it and its neighbours.
/// The very first peer of an overlay pays this once (5 s on average).
pub const DEFAULT_COLD_START_BACKOFF: Duration = Duration::from_secs(10);
/// Inter-group connections a leader aims for; at least 2 [0055][0057].
pub const DEFAULT_INTER_GROUP_TARGET: u32 = 6;
/// Groups farther than this are not taken as neighbours by the search of Figure 11 [0055],
/// beyond a group's first two links, which go to the closest groups found however far
/// (`link::MIN_LINKS`, [0057]). The seed's example is 1000 ms, which bounds nothing on Earth;
/// 50 ms is a continent: a group links to its neighbours within a continent, and a remote
/// group keeps two links out instead of six far ones. On PlanetLab 490 the third to sixth
/// links beyond 50 ms were a third of the total link RTT (docs/decisions.md). With cross links
/// ([`DEFAULT_CROSS_GROUP_LINKS`]) joining near peers of neighbouring groups, 20 ms: the third
/// to sixth links between 20 and 50 ms no longer shorten paths enough to pay for their length
/// (docs/decisions.md, "Members linked across groups").
pub const DEFAULT_INTER_GROUP_RADIUS: Duration = Duration::from_millis(20);
/// Links to random groups, on top of the nearest ones [0039] (the seed says "may"). One, the
/// closest of a sample ([`DEFAULT_RANDOM_LINK_SAMPLE`]): a shortcut that shortens paths, held
/// only by groups of at least [`DEFAULT_RANDOM_LINK_MIN_MEMBERS`] (docs/decisions.md, "Shortcuts
/// for groups that can afford them"). Partitions are the rendezvous' bridges' business: it
/// finds them in the announced neighbour lists and asks one leader per cut-off part for a
/// bridge (`rendezvous::Directory`).
pub const DEFAULT_RANDOM_INTER_GROUP_LINKS: u32 = 1;
/// Random groups a leader measures for each random link, linking to the closest of them
/// (issue #14). 1 is the seed's uniformly random group; more give shortcuts: still groups
/// beyond the leader's own neighbours, drawn at random across the overlay, but the nearest of
/// a sample, so that a path skips a run of neighbour hops without paying for a link across the
/// planet. At most [`crate::message::MAX_BOOT_LIST`] (one boot list).
pub const DEFAULT_RANDOM_LINK_SAMPLE: u32 = 8;
/// Members a group needs before its leader opens a random link: a shortcut serves every
/// member's paths and costs one link, which in a group of 8 (6 intra-group links per member)
/// is under 4 % of the links the group holds, and in a group of 2 a quarter of them. On
/// PlanetLab 490 groups are 2–3 peers and already link far; in the synthetic worlds 20–100
/// (docs/decisions.md, "Shortcuts for groups that can afford them"). 0 or 1: every group.
pub const DEFAULT_RANDOM_LINK_MIN_MEMBERS: u32 = 8;
/// Members per shortcut in large groups (issue #14; docs/decisions.md "A shortcut per 48
/// members"): a group's leader keeps `random_inter_group_links` random links for each full 48
/// members, and at least that many, up to [`MAX_SHORTCUTS`]. A shortcut serves every member's
/// paths, so a group of a hundred with one shortcut pays less for it per member than a group
/// of twenty and gets fewer of the paths shortened; its long paths stretched past the synthetic
/// worlds' floor (100,000 peers: stretch p90 2.54 with one, 2.33 with two). 0 keeps one set per
/// group whatever its size. PlanetLab's groups (at most 17 members) keep one.
pub const DEFAULT_MEMBERS_PER_SHORTCUT: u32 = 48;
/// Most random links a group keeps however large (`members_per_shortcut`).
pub const MAX_SHORTCUTS: u32 = 4;
/// Length of the leadership list: the leader and its successors [0062].
pub const DEFAULT_LEADERSHIP_LIST_TARGET: u32 = 10;
/// How often a leader renews `Alive` [0063]; members get it in reply to their reports.
pub const DEFAULT_ALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// Silence after which a member takes its leader for gone [0063].
pub const DEFAULT_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bound of the random wait before a leaderless member claims leadership [0064].
pub const DEFAULT_LEADERLESS_BACKOFF: Duration = Duration::from_secs(10);
/// Claims closer together than this collide and start another election round [0064].
pub const DEFAULT_COLLISION_WINDOW: Duration = Duration::from_secs(1);
/// Election rounds after which the earliest claim wins even if it collided: rounds only repeat
/// while backoffs keep colliding, and five in a row is already improbable.
pub const DEFAULT_MAX_ELECTION_ROUNDS: u32 = 5;
/// Probes per measurement; the minimum is kept, as the least-queued sample.
pub const DEFAULT_MEASURE_SAMPLES: u32 = 3;
/// How often a leader re-measures its neighbour groups [0048].
pub const DEFAULT_REMEASURE_INTERVAL: Duration = Duration::from_secs(30);
/// Intra-group connections a joining member opens (the leader among them). Six random links
/// per member keep the group's mesh connected with high probability even after a few members
/// crash, and links inside a locality are the cheapest the overlay has: since `Alive` rides
/// on member reports rather than being flooded over every link each interval, a link costs
/// nothing once open. On PlanetLab 490 six rather than four links take `random_ratio` from
/// 0.112-0.115 to 0.108-0.109 (docs/decisions.md).
pub const DEFAULT_INTRA_GROUP_TARGET: u32 = 6;
/// Intra-group connections a peer accepts before it refuses and names other members: four
/// times the target, since each member opens `intra_group_target` links and so averages twice
/// that many, and the leader, which every newcomer tries first, fills before the others.
pub const DEFAULT_MAX_INTRA_GROUP_LINKS: u32 = 24;
/// Inter-group connections a leader accepts before it refuses and names its neighbours: room
/// for the target plus links that other groups open towards it.
pub const DEFAULT_MAX_INTER_GROUP_LINKS: u32 = 16;
/// How often a member reports to its leader (which keeps the member roster) and refreshes its
/// intra-group link candidates: twice per alive timeout, so one lost report is not fatal.
pub const DEFAULT_MEMBER_REFRESH_INTERVAL: Duration = Duration::from_secs(5);
/// Silence after which a leader drops a member from its roster: three missed reports.
pub const DEFAULT_MEMBER_TIMEOUT: Duration = Duration::from_secs(15);
/// How often a leader refreshes its entry at the rendezvous; entries live three intervals.
pub const DEFAULT_ANNOUNCE_INTERVAL: Duration = Duration::from_secs(10);
/// Deadline the driver puts on every outgoing call.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Groups asked for in one boot list [0044].
pub const DEFAULT_BOOT_LIST_SIZE: u32 = 8;
/// The leader-distance guard: a peer joins a group only if its leader is at most this far
/// (DESIGN §3, beyond the seed). Without it a group with no neighbours passes any peer.
pub const DEFAULT_MAX_LEADER_RTT: Duration = Duration::from_millis(20);
/// The direct pass (DESIGN §3, beyond the seed): a leader closer than this is in the joining
/// peer's locality without comparing distances. Half the locality threshold: closer than that,
/// the triangle inequality already bounds every difference below the threshold, and a failed
/// comparison is measurement noise (co-located PlanetLab hosts disagree by 10 ms or more on
/// about a fifth of third hosts).
pub const DEFAULT_DIRECT_JOIN_RTT: Duration = Duration::from_millis(5);
/// The neighbour-scaled guard (beyond the seed, docs/decisions.md "Locality that holds at
/// scale"): a peer joins a group only if its leader is closer than this share of the distance
/// from that leader to its nearest neighbour group (bounded below by the direct pass, above by
/// `max_leader_rtt`). ½ makes a group's locality the peers closer to its leader than to any
/// neighbour's. With the fixed 20 ms guard alone, in a world of metros 10–20 ms apart a group
/// took in peers of every metro within 20 ms of its leader: the relative test cannot tell them
/// apart, since a metro's fixed exit cost cancels out of every difference it compares.
pub const DEFAULT_NEIGHBOR_GUARD_SHARE: f64 = 0.5;
/// Members of a merging group keep their links (beyond the seed, docs/decisions.md "Locality
/// that holds at scale"): each asks the absorbing group's leader to take it in at once and keeps
/// its intra-group links, which all lead to members moving into the same group. Without it a
/// member leaves (closing its links) and walks from the absorbing group, linkless until it
/// enters: at 20,000 peers a merge wave at a re-measurement left dozens of peers cut off at the
/// snapshot.
pub const DEFAULT_MERGE_KEEPS_LINKS: bool = true;
/// A join walk's measurement whose first sample is beyond four times the leader guard
/// (`max_leader_rtt`: 80 ms in the wan preset) takes no more samples (beyond the seed, issue
/// #14): such a leader can neither take the peer in nor be near enough for its few ms of
/// queueing to change the walk's order, and most of a walk's candidates at scale are that far
/// (other continents, from the boot list). Twice the guard saved no more probes at 20,000
/// peers and made path stretch worse (docs/decisions.md). The other samples of a measurement are there to filter queueing out of
/// RTTs that decide something.
pub const DEFAULT_SINGLE_FAR_WALK_SAMPLES: bool = true;
/// A leader's shortcut is drawn from groups the overlay reaches only the long way round
/// (beyond the seed, issue #14): it asks the rendezvous for groups whose path over the announced
/// links is at least [`crate::rendezvous::SHORTCUT_DETOUR`] times the landmark bound on their
/// distance, and links to the closest of them, where a uniform sample often linked beside a
/// group two hops away. On PlanetLab 490 the stretch median swung with which groups the
/// uniform sample drew (docs/decisions.md, "Shortcuts where the overlay goes the long way
/// round").
pub const DEFAULT_DETOUR_SHORTCUTS: bool = true;
/// A join walk ranks its candidates on one sample each and takes the rest of a measurement's
/// samples only of the RTTs that would fail a group (beyond the seed, issue #14): the leader
/// of the group under test when it is beyond the guard, and the neighbours the locality test
/// compares. Queueing only ever adds to a sample, so one sample that passes a group (within the
/// guard, the direct pass) would pass it confirmed too; what it can do is rank a near leader
/// below a farther one, which the tests after it still check. At 100,000 peers most of a
/// walk's probes are candidates that are only ranked (docs/decisions.md, "One sample ranks, a
/// decision takes them all").
pub const DEFAULT_RANK_ON_ONE_SAMPLE: bool = true;
/// A measurement stops once two of its samples agree (beyond the seed, issue #14): a sample
/// within this share (or [`SAMPLE_AGREEMENT_FLOOR`]) of the least one before it. More samples
/// can only lower the minimum, and two that agree saw no queueing worth filtering: a third
/// would change the RTT by less than the agreement. Samples that disagree go on to
/// `measure_samples`. 0 turns it off (every measurement takes `measure_samples`).
pub const DEFAULT_SAMPLE_AGREEMENT: f64 = 0.05;
/// Two samples closer than this agree whatever their share: on a LAN a few tens of µs of
/// scheduling noise are a large share of the RTT and decide nothing.
pub const SAMPLE_AGREEMENT_FLOOR: Duration = Duration::from_micros(100);
/// Members close their intra-group links to the peers their leader's `Alive` lists as lost
/// (beyond the seed, issue #14). Without it a member counts a link to a crashed peer for ever:
/// at 100,000 peers with churn, cliques of five to seven members whose links out all led to
/// crashed peers stayed at their link target, asked for no other, and were cut off.
pub const DEFAULT_DROP_LOST_LINKS: bool = true;
/// Cross links each grouped peer opens to the nearest peers of other groups it has measured
/// (beyond the seed, issue #14; docs/decisions.md "Members linked across groups"): groups are
/// cut by thresholds, and two peers a few ms apart in neighbouring groups were linked only
/// through their leaders. 0 turns them off.
pub const DEFAULT_CROSS_GROUP_LINKS: u32 = 3;
/// The farthest peer a cross link goes to: a cross link is for what is near, not a shortcut.
/// On PlanetLab 490, 15 ms against 20 ms: `random_ratio` 0.079–0.087 against 0.086–0.094,
/// the optimality gap and stretch within noise. With intra-group links to the nearest members
/// ([`DEFAULT_NEAREST_INTRA_LINKS`]), 11.5 ms: `random_ratio` 0.072–0.078 against
/// 0.077–0.084, the gap 1.34–1.46 against 1.31–1.40 (docs/decisions.md, "Intra-group links to
/// the nearest members", where 10, 11, 12 and 13 ms are measured too).
pub const DEFAULT_CROSS_GROUP_RADIUS: Duration = Duration::from_micros(11_500);
/// The largest `cross_group_radius` accepted: a second bounds nothing on Earth.
pub const MAX_CROSS_GROUP_RADIUS: Duration = Duration::from_secs(1);
/// Members move their intra-group links to the nearest group-mates they measure (beyond the
/// seed, issue #14; docs/decisions.md "Intra-group links to the nearest members"): a member
/// measures up to a dozen members its leader names, one report at a time, and replaces the
/// farthest link it opened with one to a member nearer than 0.8 of it, keeping its link to the
/// leader and one random link. On PlanetLab a group's members need not be near each other
/// (hosts 3 ms from their leader and 60–120 ms apart), and random links crossed the distance.
pub const DEFAULT_NEAREST_INTRA_LINKS: bool = true;
/// Join walks measure only what can change their next step (beyond the seed, docs/decisions.md
/// "Locality that holds at scale"): a tested group whose leader is beyond the guard fails,
/// and one whose leader is within the direct pass passes, before its neighbours are measured; a candidate whose RTT is bounded below (triangle
/// inequality: the distance a measured leader supplied for it, less the RTT to that leader)
/// by no less than the closest measured untested candidate is left unmeasured. The walk tests
/// the same groups in the same order with the same verdicts; it probes fewer.
pub const DEFAULT_PRUNE_WALK_PROBES: bool = true;
/// Join walks start near (beyond the seed, docs/decisions.md "Joins that start near"): the
/// rendezvous' boot list starts with its landmark groups; the walk measures them, sends the
/// RTTs back, and gets the groups whose leaders measured the most similar RTTs to the same
/// landmarks. Leaders announce the RTTs their own walk measured. Without it a walk descends
/// group by group from a random sample, more groups the larger the overlay.
pub const DEFAULT_LANDMARK_BOOT: bool = true;
/// Members far from their leader walk again (beyond the seed, docs/decisions.md "Members far
/// from their leader walk again"): a follower whose RTT to its leader is over
/// `locality_threshold` walks at doubling intervals, staying a member, and moves to the group
/// that walk enters if its leader is less than half as far.
pub const DEFAULT_RELOCATE_FAR_MEMBERS: bool = true;

/// The settings of one peer's protocol engine. Build one from a preset and adjust fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// See [`DEFAULT_LOCALITY_THRESHOLD`].
    pub locality_threshold: Duration,
    /// See [`DEFAULT_MAX_TESTED_GROUPS`].
    pub max_tested_groups: u32,
    /// See [`DEFAULT_JOIN_DEADLINE`].
    pub join_deadline: Duration,
    /// See [`DEFAULT_COLD_START_BACKOFF`].
    pub cold_start_backoff: Duration,
    /// See [`DEFAULT_INTER_GROUP_TARGET`].
    pub inter_group_target: u32,
    /// See [`DEFAULT_MAX_INTER_GROUP_LINKS`].
    pub max_inter_group_links: u32,
    /// See [`DEFAULT_INTER_GROUP_RADIUS`].
    pub inter_group_radius: Duration,
    /// See [`DEFAULT_RANDOM_INTER_GROUP_LINKS`].
    pub random_inter_group_links: u32,
    /// See [`DEFAULT_RANDOM_LINK_SAMPLE`].
    pub random_link_sample: u32,
    /// See [`DEFAULT_RANDOM_LINK_MIN_MEMBERS`].
    pub random_link_min_members: u32,
    /// See [`DEFAULT_MEMBERS_PER_SHORTCUT`].
    pub members_per_shortcut: u32,
    /// See [`DEFAULT_LEADERSHIP_LIST_TARGET`].
    pub leadership_list_target: u32,
    /// See [`DEFAULT_INTRA_GROUP_TARGET`].
    pub intra_group_target: u32,
    /// See [`DEFAULT_MAX_INTRA_GROUP_LINKS`].
    pub max_intra_group_links: u32,
    /// See [`DEFAULT_ALIVE_INTERVAL`].
    pub alive_interval: Duration,
    /// See [`DEFAULT_ALIVE_TIMEOUT`].
    pub alive_timeout: Duration,
    /// See [`DEFAULT_LEADERLESS_BACKOFF`].
    pub leaderless_backoff: Duration,
    /// See [`DEFAULT_COLLISION_WINDOW`].
    pub collision_window: Duration,
    /// See [`DEFAULT_MAX_ELECTION_ROUNDS`].
    pub max_election_rounds: u32,
    /// See [`DEFAULT_MEASURE_SAMPLES`].
    pub measure_samples: u32,
    /// See [`DEFAULT_REMEASURE_INTERVAL`].
    pub remeasure_interval: Duration,
    /// See [`DEFAULT_MEMBER_REFRESH_INTERVAL`].
    pub member_refresh_interval: Duration,
    /// See [`DEFAULT_MEMBER_TIMEOUT`].
    pub member_timeout: Duration,
    /// See [`DEFAULT_ANNOUNCE_INTERVAL`].
    pub announce_interval: Duration,
    /// See [`DEFAULT_REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// See [`DEFAULT_BOOT_LIST_SIZE`].
    pub boot_list_size: u32,
    /// The leader-distance guard: `Some(max)` joins a group only if its leader is at most `max`
    /// away; `None` is the seed's behaviour. See [`DEFAULT_MAX_LEADER_RTT`].
    pub max_leader_rtt: Option<Duration>,
    /// The direct pass: `Some(rtt)` takes a group whose leader is closer than `rtt` as local
    /// without comparing distances; `None` is the seed's behaviour. See
    /// [`DEFAULT_DIRECT_JOIN_RTT`].
    pub direct_join_rtt: Option<Duration>,
    /// The neighbour-scaled guard: the share of the RTT from a group's leader to its nearest
    /// neighbour group beyond which a peer does not join it; 0 turns it off. See
    /// [`DEFAULT_NEIGHBOR_GUARD_SHARE`].
    pub neighbor_guard_share: f64,
    /// Group merge (DESIGN §3, beyond the seed): a leader whose neighbour group is in its
    /// locality and larger merges its group into that one.
    pub group_merge: bool,
    /// Members of a merging group move into the absorbing group with their links kept instead
    /// of leaving and walking. See [`DEFAULT_MERGE_KEEPS_LINKS`].
    pub merge_keeps_links: bool,
    /// Join walks skip measurements that cannot change their next step. See
    /// [`DEFAULT_PRUNE_WALK_PROBES`].
    pub prune_walk_probes: bool,
    /// See [`DEFAULT_LANDMARK_BOOT`].
    pub landmark_boot: bool,
    /// See [`DEFAULT_SINGLE_FAR_WALK_SAMPLES`].
    pub single_far_walk_samples: bool,
    /// See [`DEFAULT_SAMPLE_AGREEMENT`]; 0 is off.
    pub sample_agreement: f64,
    /// See [`DEFAULT_RANK_ON_ONE_SAMPLE`].
    pub rank_on_one_sample: bool,
    /// See [`DEFAULT_DETOUR_SHORTCUTS`].
    pub detour_shortcuts: bool,
    /// See [`DEFAULT_DROP_LOST_LINKS`].
    pub drop_lost_links: bool,
    /// See [`DEFAULT_NEAREST_INTRA_LINKS`].
    pub nearest_intra_links: bool,
    /// See [`DEFAULT_CROSS_GROUP_LINKS`]; 0 is off.
    pub cross_group_links: u32,
    /// See [`DEFAULT_CROSS_GROUP_RADIUS`].
    pub cross_group_radius: Duration,
    /// See [`DEFAULT_RELOCATE_FAR_MEMBERS`].
    pub relocate_far_members: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self::wan()
    }
}

impl Config {
    /// The seed's values, for peers spread over the Internet.
    pub fn wan() -> Self {
        Self {
            locality_threshold: DEFAULT_LOCALITY_THRESHOLD,
            max_tested_groups: DEFAULT_MAX_TESTED_GROUPS,
            join_deadline: DEFAULT_JOIN_DEADLINE,
            cold_start_backoff: DEFAULT_COLD_START_BACKOFF,
            inter_group_target: DEFAULT_INTER_GROUP_TARGET,
            max_inter_group_links: DEFAULT_MAX_INTER_GROUP_LINKS,
            inter_group_radius: DEFAULT_INTER_GROUP_RADIUS,
            random_inter_group_links: DEFAULT_RANDOM_INTER_GROUP_LINKS,
            random_link_sample: DEFAULT_RANDOM_LINK_SAMPLE,
            random_link_min_members: DEFAULT_RANDOM_LINK_MIN_MEMBERS,
            members_per_shortcut: DEFAULT_MEMBERS_PER_SHORTCUT,
            leadership_list_target: DEFAULT_LEADERSHIP_LIST_TARGET,
            intra_group_target: DEFAULT_INTRA_GROUP_TARGET,
            max_intra_group_links: DEFAULT_MAX_INTRA_GROUP_LINKS,
            alive_interval: DEFAULT_ALIVE_INTERVAL,
            alive_timeout: DEFAULT_ALIVE_TIMEOUT,
            leaderless_backoff: DEFAULT_LEADERLESS_BACKOFF,
            collision_window: DEFAULT_COLLISION_WINDOW,
            max_election_rounds: DEFAULT_MAX_ELECTION_ROUNDS,
            measure_samples: DEFAULT_MEASURE_SAMPLES,
            remeasure_interval: DEFAULT_REMEASURE_INTERVAL,
            member_refresh_interval: DEFAULT_MEMBER_REFRESH_INTERVAL,
            member_timeout: DEFAULT_MEMBER_TIMEOUT,
            announce_interval: DEFAULT_ANNOUNCE_INTERVAL,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            boot_list_size: DEFAULT_BOOT_LIST_SIZE,
            max_leader_rtt: Some(DEFAULT_MAX_LEADER_RTT),
            direct_join_rtt: Some(DEFAULT_DIRECT_JOIN_RTT),
            neighbor_guard_share: DEFAULT_NEIGHBOR_GUARD_SHARE,
            group_merge: true,
            merge_keeps_links: DEFAULT_MERGE_KEEPS_LINKS,
            prune_walk_probes: DEFAULT_PRUNE_WALK_PROBES,
            landmark_boot: DEFAULT_LANDMARK_BOOT,
            single_far_walk_samples: DEFAULT_SINGLE_FAR_WALK_SAMPLES,
            sample_agreement: DEFAULT_SAMPLE_AGREEMENT,
            rank_on_one_sample: DEFAULT_RANK_ON_ONE_SAMPLE,
            detour_shortcuts: DEFAULT_DETOUR_SHORTCUTS,
            drop_lost_links: DEFAULT_DROP_LOST_LINKS,
            nearest_intra_links: DEFAULT_NEAREST_INTRA_LINKS,
            cross_group_links: DEFAULT_CROSS_GROUP_LINKS,
            cross_group_radius: DEFAULT_CROSS_GROUP_RADIUS,
            relocate_far_members: DEFAULT_RELOCATE_FAR_MEMBERS,
        }
    }

    /// One data centre or campus: the same structure with timers five times faster, since
    /// round trips are short and failures should be noticed quickly.
    pub fn lan() -> Self {
        Self {
            locality_threshold: Duration::from_millis(2),
            max_leader_rtt: Some(Duration::from_millis(4)),
            direct_join_rtt: Some(Duration::from_millis(1)),
            join_deadline: Duration::from_secs(5),
            cold_start_backoff: Duration::from_secs(2),
            alive_interval: Duration::from_secs(1),
            alive_timeout: Duration::from_secs(2),
            leaderless_backoff: Duration::from_secs(2),
            collision_window: Duration::from_millis(200),
            remeasure_interval: Duration::from_secs(10),
            member_refresh_interval: Duration::from_secs(1),
            member_timeout: Duration::from_secs(3),
            announce_interval: Duration::from_secs(2),
            request_timeout: Duration::from_millis(500),
            ..Self::wan()
        }
    }

    /// Test clusters and deterministic tests: WAN thresholds (emulated distances are WAN-like)
    /// with timers fast enough that failover is visible within seconds.
    pub fn test() -> Self {
        Self {
            join_deadline: Duration::from_secs(5),
            cold_start_backoff: Duration::from_secs(1),
            alive_interval: Duration::from_millis(500),
            alive_timeout: Duration::from_millis(1500),
            leaderless_backoff: Duration::from_millis(1000),
            collision_window: Duration::from_millis(100),
            remeasure_interval: Duration::from_secs(2),
            member_refresh_interval: Duration::from_millis(500),
            member_timeout: Duration::from_millis(1600),
            announce_interval: Duration::from_millis(1000),
            request_timeout: Duration::from_millis(1000),
            ..Self::wan()
        }
    }

    /// A preset by name: `wan`, `lan` or `test`.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "wan" => Some(Self::wan()),
            "lan" => Some(Self::lan()),
            "test" => Some(Self::test()),
            _ => None,
        }
    }

    /// Checks that the settings make sense together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn positive(name: &'static str, d: Duration) -> Result<(), ConfigError> {
            if d.is_zero() {
                return Err(ConfigError::Invalid {
                    field: name,
                    reason: "must be greater than zero".into(),
                });
            }
            Ok(())
        }
        for (name, d) in [
            ("locality_threshold", self.locality_threshold),
            ("join_deadline", self.join_deadline),
            ("inter_group_radius", self.inter_group_radius),
            ("alive_interval", self.alive_interval),
            ("alive_timeout", self.alive_timeout),
            ("leaderless_backoff", self.leaderless_backoff),
            ("collision_window", self.collision_window),
            ("remeasure_interval", self.remeasure_interval),
            ("member_refresh_interval", self.member_refresh_interval),
            ("member_timeout", self.member_timeout),
            ("announce_interval", self.announce_interval),
            ("request_timeout", self.request_timeout),
        ] {
            positive(name, d)?;
        }
        let invalid =
            |field: &'static str, reason: String| Err(ConfigError::Invalid { field, reason });
        if self.cross_group_radius > MAX_CROSS_GROUP_RADIUS {
            return invalid(
                "cross_group_radius",
                format!(
                    "must be at most {MAX_CROSS_GROUP_RADIUS:?}: a cross link is for what is near"
                ),
            );
        }
        if self.alive_timeout <= self.alive_interval {
            return invalid(
                "alive_timeout",
                format!(
                    "must exceed alive_interval ({:?}), or every member times out between two Alives",
                    self.alive_interval
                ),
            );
        }
        if self.member_timeout <= self.member_refresh_interval {
            return invalid(
                "member_timeout",
                "must exceed member_refresh_interval".into(),
            );
        }
        if self.inter_group_target < 2 {
            return invalid("inter_group_target", "must be at least 2 [0057]".into());
        }
        if self.max_inter_group_links < self.inter_group_target + self.random_inter_group_links {
            return invalid(
                "max_inter_group_links",
                "must be at least inter_group_target + random_inter_group_links".into(),
            );
        }
        if self.random_link_sample == 0
            || self.random_link_sample as usize > crate::message::MAX_BOOT_LIST
        {
            return invalid(
                "random_link_sample",
                format!(
                    "must be between 1 and {} (one boot list)",
                    crate::message::MAX_BOOT_LIST
                ),
            );
        }
        if self.intra_group_target == 0 || self.max_intra_group_links < self.intra_group_target {
            return invalid(
                "max_intra_group_links",
                "intra_group_target must be at least 1 and at most max_intra_group_links".into(),
            );
        }
        if self.leadership_list_target == 0
            || self.leadership_list_target as usize > crate::message::MAX_LEADERSHIP
        {
            return invalid(
                "leadership_list_target",
                format!("must be between 1 and {}", crate::message::MAX_LEADERSHIP),
            );
        }
        if self.measure_samples == 0 || self.measure_samples > 16 {
            return invalid("measure_samples", "must be between 1 and 16".into());
        }
        if !(0.0..=1.0).contains(&self.sample_agreement) {
            return invalid("sample_agreement", "must be between 0 (off) and 1".into());
        }
        if self.cross_group_links as usize > crate::peer::MAX_CROSS_GROUP_LINKS {
            return invalid(
                "cross_group_links",
                format!("must be at most {}", crate::peer::MAX_CROSS_GROUP_LINKS),
            );
        }
        if self.max_tested_groups == 0 {
            return invalid("max_tested_groups", "must be at least 1".into());
        }
        if self.max_election_rounds == 0 {
            return invalid("max_election_rounds", "must be at least 1".into());
        }
        if self.boot_list_size == 0 || self.boot_list_size as usize > crate::message::MAX_BOOT_LIST
        {
            return invalid(
                "boot_list_size",
                format!("must be between 1 and {}", crate::message::MAX_BOOT_LIST),
            );
        }
        if let Some(max) = self.max_leader_rtt {
            positive("max_leader_rtt", max)?;
        }
        if !(0.0..=1.0).contains(&self.neighbor_guard_share) {
            return invalid(
                "neighbor_guard_share",
                "must be between 0 (off) and 1".into(),
            );
        }
        if let (Some(direct), Some(max)) = (self.direct_join_rtt, self.max_leader_rtt)
            && direct > max
        {
            return invalid(
                "direct_join_rtt",
                format!("must not exceed max_leader_rtt ({max:?})"),
            );
        }
        Ok(())
    }
}

/// A setting that cannot work.
#[derive(Debug, Error, PartialEq)]
pub enum ConfigError {
    /// One field has a value outside what the protocol can run with.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The setting's name, as in the configuration file.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid() {
        for name in ["wan", "lan", "test"] {
            Config::preset(name).unwrap().validate().unwrap();
        }
        assert!(Config::preset("fast").is_none());
    }

    #[test]
    fn rejects_alive_timeout_not_above_interval() {
        let cfg = Config {
            alive_timeout: Duration::from_secs(5),
            ..Config::wan()
        };
        let err = cfg.validate().unwrap_err();
        assert!(
            err.to_string().starts_with("invalid alive_timeout"),
            "{err}"
        );
    }

    #[test]
    fn rejects_a_neighbor_guard_share_outside_zero_to_one() {
        for share in [-0.1, 1.5, f64::NAN] {
            let cfg = Config {
                neighbor_guard_share: share,
                ..Config::wan()
            };
            assert!(
                matches!(
                    cfg.validate(),
                    Err(ConfigError::Invalid {
                        field: "neighbor_guard_share",
                        ..
                    })
                ),
                "{share}"
            );
        }
        for share in [0.0, 0.5, 1.0] {
            let cfg = Config {
                neighbor_guard_share: share,
                ..Config::wan()
            };
            cfg.validate().unwrap();
        }
    }

    #[test]
    fn rejects_single_inter_group_link() {
        let cfg = Config {
            inter_group_target: 1,
            ..Config::wan()
        };
        assert!(matches!(
            cfg.validate(),
            Err(ConfigError::Invalid {
                field: "inter_group_target",
                ..
            })
        ));
    }
}

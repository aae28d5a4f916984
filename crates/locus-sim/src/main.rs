//! `locus-sim`: run the locus protocol at scale on a latency model and report the figures.
//!
//! - `locus-sim run …` — one scenario; writes `overlay.json`, `metrics.json`, `run.json` and
//!   SVG plots to `--out`, and prints a one-screen summary.
//! - `locus-sim ablate …` — the same scenario with each locality rule off in turn (seven runs).
//! - `locus-sim recompute DIR` — recomputes `metrics.json` of a run from its `overlay.json`.
//! - `locus-sim scaling OUT.svg DIR…` — join cost against N from several runs.

/// A run allocates and frees millions of small messages a second on every thread; mimalloc's
/// per-thread pages do that faster than the system allocator (docs/decisions.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use locus_core::Config;
use locus_sim::scenario::{Arrival, Churn, Partition, Scenario, parse_duration, parse_share};
use locus_sim::{Metrics, ModelSpec, Outcome, metrics, plot};
use locus_topology::SyntheticSpec;

#[derive(Parser, Debug)]
#[command(version, about = "Discrete-event simulator for the locus overlay")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one scenario and write the overlay, metrics and plots.
    Run(RunArgs),
    /// Run the scenario with the defaults, each locality rule off alone (neighbour-scaled
    /// guard, merged members keeping links, walk pruning, leader guard, merge), and issue
    /// #14's rules all off.
    Ablate(RunArgs),
    /// Recompute a run's metrics.json from its overlay.json and the model it names.
    Recompute {
        /// The run's output directory.
        dir: PathBuf,
    },
    /// Plot join cost against N from the metrics.json of several runs.
    Scaling {
        /// Where to write the SVG.
        out: PathBuf,
        /// Run directories.
        dirs: Vec<PathBuf>,
    },
}

#[derive(Args, Debug, Clone)]
struct RunArgs {
    /// A measured RTT matrix (the format of the shared data folder).
    #[arg(
        long,
        conflicts_with = "synthetic",
        required_unless_present = "synthetic"
    )]
    matrix: Option<PathBuf>,
    /// A synthetic world, e.g. `continents=5,metros=200,seed=7`; its `peers` is set to what
    /// the run needs (the arriving peers plus vacant sites for churn).
    #[arg(long)]
    synthetic: Option<String>,
    /// Peers that arrive (default: every row of a matrix, the spec's peers for synthetic).
    #[arg(long)]
    peers: Option<usize>,
    /// `sequential[:INTERVAL]`, `all-at-once` or `poisson:RATE_PER_S`.
    #[arg(long, default_value = "sequential")]
    arrival: Arrival,
    /// Quiet time after the arrivals and after the disturbance.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    settle: Duration,
    /// Share of peers that leave gracefully after the arrivals.
    #[arg(long, default_value_t = 0.0)]
    leave: f64,
    /// Share of peers that crash after the arrivals.
    #[arg(long, default_value_t = 0.0)]
    crash: f64,
    /// Steady joins and crashes: `RATE_PER_MIN:DURATION`, e.g. `1000:10m`.
    #[arg(long)]
    churn: Option<Churn>,
    /// Cut a region off and repair it: `AT:DURATION:FRACTION`, e.g. `30s:60s:0.2`.
    #[arg(long)]
    partition: Option<Partition>,
    /// RTT between peers and the rendezvous.
    #[arg(long, default_value = "20ms", value_parser = parse_duration)]
    rendezvous_rtt: Duration,
    /// Mean queueing delay per call between peers, as a share of its RTT (exponential; 0 is
    /// none, every sample the model's RTT).
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    queueing: f64,
    /// The run's seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Threads for the event loop (default: every core). The run is the same for any number.
    #[arg(long)]
    threads: Option<usize>,
    /// Landmarks for the landmark-binning baseline.
    #[arg(long, default_value_t = locus_sim::baseline::DEFAULT_LANDMARKS)]
    landmarks: usize,
    /// Protocol preset: `wan`, `lan` or `test`.
    #[arg(long, default_value = "wan")]
    preset: String,
    /// Locality threshold, ms.
    #[arg(long)]
    locality_threshold_ms: Option<f64>,
    /// Turn the leader-distance guard off.
    #[arg(long, conflicts_with = "max_leader_rtt_ms")]
    no_guard: bool,
    /// Leader-distance guard, ms.
    #[arg(long)]
    max_leader_rtt_ms: Option<f64>,
    /// Turn group merge off.
    #[arg(long)]
    no_merge: bool,
    /// Neighbour-scaled guard: share of the RTT from a leader to its nearest neighbour group
    /// beyond which a peer does not join; 0 is off.
    #[arg(long)]
    neighbor_guard_share: Option<f64>,
    /// Members of a merging group leave and walk (the behaviour before
    /// `merge_keeps_links`).
    #[arg(long)]
    no_merge_keeps_links: bool,
    /// Join walks measure every candidate (the behaviour before `prune_walk_probes`).
    #[arg(long)]
    no_prune_walk_probes: bool,
    /// Join walks take every sample of a far candidate (before `single_far_walk_samples`).
    #[arg(long)]
    no_single_far_walk_samples: bool,
    /// Shortcuts are the closest of a uniform sample (before `detour_shortcuts`).
    #[arg(long)]
    no_detour_shortcuts: bool,
    /// Join walks take every sample of every candidate (before `rank_on_one_sample`).
    #[arg(long)]
    no_rank_on_one_sample: bool,
    /// Share within which two samples of a measurement agree and end it; 0 takes every
    /// sample (the behaviour before `sample_agreement`).
    #[arg(long, value_parser = parse_share)]
    sample_agreement: Option<f64>,
    /// Members keep links to peers their leader lost (the behaviour before `drop_lost_links`).
    #[arg(long)]
    no_drop_lost_links: bool,
    /// Members far from their leader stay where they are (before `relocate_far_members`).
    #[arg(long)]
    no_relocate_far_members: bool,
    /// Members keep their intra-group links to the random members their leader named (the
    /// behaviour before `nearest_intra_links`).
    #[arg(long)]
    no_nearest_intra_links: bool,
    /// Join walks start from a random boot list and descend from it (the behaviour before
    /// `landmark_boot`).
    #[arg(long)]
    no_landmark_boot: bool,
    /// The rendezvous asks the first group behind a cut to announce for its second link,
    /// towards the groups next to the cut (the behaviour before `near_cut_links`).
    #[arg(long)]
    no_near_cut_links: bool,
    /// Inter-group links a leader aims for.
    #[arg(long)]
    inter_group_target: Option<u32>,
    /// Cross links each grouped peer opens to near peers of other groups (0: none, the
    /// behaviour before `cross_group_links`).
    #[arg(long)]
    cross_group_links: Option<u32>,
    /// Farthest peer a cross link goes to, ms.
    #[arg(long)]
    cross_group_radius_ms: Option<f64>,
    /// Farthest group the neighbour search links beyond a leader's first two links, ms.
    #[arg(long)]
    inter_group_radius_ms: Option<f64>,
    /// Links to random groups per leader.
    #[arg(long)]
    random_inter_group_links: Option<u32>,
    /// Random groups measured for each random link, the closest linked (1: uniform).
    #[arg(long)]
    random_link_sample: Option<u32>,
    /// Members a group needs before its leader opens a random link (0: every group).
    #[arg(long)]
    random_link_min_members: Option<u32>,
    /// Members per extra shortcut in large groups (0: one set per group whatever its size).
    #[arg(long)]
    members_per_shortcut: Option<u32>,
    /// Groups a join walk tests before founding.
    #[arg(long)]
    max_tested_groups: Option<u32>,
    /// Intra-group links a member opens.
    #[arg(long)]
    intra_group_target: Option<u32>,
    /// Intra-group links a peer accepts before it refuses and refers.
    #[arg(long)]
    max_intra_group_links: Option<u32>,
    /// Inter-group links a leader accepts.
    #[arg(long)]
    max_inter_group_links: Option<u32>,
    /// Probes per measurement.
    #[arg(long)]
    measure_samples: Option<u32>,
    /// Groups per boot list.
    #[arg(long)]
    boot_list_size: Option<u32>,
}

fn ms(v: f64) -> Duration {
    Duration::from_secs_f64(v / 1e3)
}

impl RunArgs {
    fn config(&self) -> Result<Config> {
        let mut c = Config::preset(&self.preset)
            .with_context(|| format!("unknown preset `{}`", self.preset))?;
        if let Some(v) = self.locality_threshold_ms {
            c.locality_threshold = ms(v);
        }
        if self.no_guard {
            c.max_leader_rtt = None;
        }
        if let Some(v) = self.max_leader_rtt_ms {
            c.max_leader_rtt = Some(ms(v));
        }
        if self.no_merge {
            c.group_merge = false;
        }
        if self.no_merge_keeps_links {
            c.merge_keeps_links = false;
        }
        if self.no_single_far_walk_samples {
            c.single_far_walk_samples = false;
        }
        if self.no_rank_on_one_sample {
            c.rank_on_one_sample = false;
        }
        if self.no_detour_shortcuts {
            c.detour_shortcuts = false;
        }
        if self.no_prune_walk_probes {
            c.prune_walk_probes = false;
        }
        if let Some(v) = self.sample_agreement {
            c.sample_agreement = v;
        }
        if self.no_drop_lost_links {
            c.drop_lost_links = false;
        }
        if self.no_relocate_far_members {
            c.relocate_far_members = false;
        }
        if self.no_nearest_intra_links {
            c.nearest_intra_links = false;
        }
        if self.no_landmark_boot {
            c.landmark_boot = false;
        }
        if let Some(v) = self.inter_group_radius_ms {
            c.inter_group_radius = ms(v);
        }
        if let Some(v) = self.cross_group_radius_ms {
            c.cross_group_radius = ms(v);
        }
        macro_rules! set {
            ($($f:ident),*) => { $(if let Some(v) = self.$f { c.$f = v; })* };
        }
        set!(
            inter_group_target,
            cross_group_links,
            random_inter_group_links,
            random_link_sample,
            random_link_min_members,
            members_per_shortcut,
            max_tested_groups,
            intra_group_target,
            max_intra_group_links,
            max_inter_group_links,
            measure_samples,
            boot_list_size,
            neighbor_guard_share
        );
        c.validate()?;
        Ok(c)
    }

    /// The model and how many peers arrive.
    fn model(&self) -> Result<(ModelSpec, usize)> {
        let churn_joins = self
            .churn
            .map_or(0.0, |c| c.per_minute * c.duration.as_secs_f64() / 60.0);
        match (&self.matrix, &self.synthetic) {
            (Some(p), _) => {
                let spec = ModelSpec::Matrix(p.clone());
                let len = spec.load()?.model.len();
                let peers = self.peers.unwrap_or(len);
                if peers > len {
                    bail!("the matrix has {len} rows: a matrix run uses at most that many peers");
                }
                Ok((spec, peers))
            }
            (None, Some(s)) => {
                let mut spec: SyntheticSpec = s
                    .parse()
                    .map_err(|e| anyhow::anyhow!("synthetic spec `{s}`: {e}"))?;
                let peers = self.peers.unwrap_or(spec.peers);
                // Churn places newcomers on vacant sites: leave room for every expected join,
                // plus the Poisson process' spread.
                let headroom = if churn_joins > 0.0 {
                    (churn_joins * 1.2 + 10.0).ceil() as usize
                } else {
                    0
                };
                spec.peers = peers + headroom;
                Ok((ModelSpec::Synthetic(spec), peers))
            }
            (None, None) => bail!("give --matrix FILE or --synthetic SPEC"),
        }
    }

    fn scenario(&self, peers: usize) -> Scenario {
        Scenario {
            peers,
            arrival: self.arrival,
            settle: self.settle,
            leave: self.leave,
            crash: self.crash,
            churn: self.churn,
            partition: self.partition,
            rendezvous_rtt: self.rendezvous_rtt,
            queueing: self.queueing,
            near_cut_links: !self.no_near_cut_links,
        }
    }
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run(args) => {
            let (outcome, m) = run(&args)?;
            print_summary(&args, &outcome, &m);
            if !outcome.violations.is_empty() {
                eprintln!(
                    "{} invariant violations, first: {}",
                    outcome.violations.len(),
                    outcome.violations[0]
                );
            }
        }
        Command::Ablate(args) => ablate(&args)?,
        Command::Recompute { dir } => {
            let overlay: locus_sim::Overlay = read_json(&dir.join("overlay.json"))?;
            let spec: ModelSpec = overlay.model.parse()?;
            let loaded = spec.load()?;
            let run: serde_json::Value = read_json(&dir.join("run.json"))?;
            let landmarks = run["landmarks"].as_u64().unwrap_or(8) as usize;
            let (m, _) = metrics::compute(&overlay, loaded.model.as_ref(), landmarks);
            let old: Metrics = read_json(&dir.join("metrics.json"))?;
            println!("{}", serde_json::to_string_pretty(&m)?);
            // A run written before the k-NN graph was added has no `knn_graph`: everything
            // else must still match.
            let predates_knn = old.knn_graph.is_none() && m.knn_graph.is_some();
            let comparable = Metrics {
                knn_graph: if predates_knn {
                    None
                } else {
                    m.knn_graph.clone()
                },
                ..m
            };
            if old != comparable {
                bail!(
                    "recomputed metrics differ from {}",
                    dir.join("metrics.json").display()
                );
            }
            eprintln!(
                "metrics.json recomputed from overlay.json: identical{}",
                if predates_knn {
                    " (it predates knn_graph)"
                } else {
                    ""
                }
            );
        }
        Command::Scaling { out, dirs } => {
            let mut points = Vec::new();
            for d in &dirs {
                let m: Metrics = read_json(&d.join("metrics.json"))?;
                points.push((
                    m.join.joins,
                    m.join.probes_mean,
                    m.join.probes_p99,
                    m.join.rpcs_mean,
                ));
                println!(
                    "{}: N={} probes mean {:.1} p99 {:.0}, calls mean {:.1}",
                    d.display(),
                    m.join.joins,
                    m.join.probes_mean,
                    m.join.probes_p99,
                    m.join.rpcs_mean
                );
            }
            points.sort_by_key(|p| p.0);
            plot::join_cost_vs_n(&out, &points)?;
        }
    }
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn run(args: &RunArgs) -> Result<(Outcome, Metrics)> {
    let cfg = args.config()?;
    let (spec, peers) = args.model()?;
    let loaded = spec.load()?;
    if let Some(note) = &loaded.note {
        eprintln!("note: {note}");
    }
    let scenario = args.scenario(peers);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(1)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} virtual s  {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    // Without a terminal (nohup, CI) a line every 15 s of wall time says how far the run is.
    let tty = std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let mut last_line = started;
    let outcome = locus_sim::simulate(
        cfg.clone(),
        scenario,
        loaded.model.as_ref(),
        &spec.to_string(),
        args.seed,
        args.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        }),
        |now, end, live| {
            bar.set_length(end.as_micros() / 1_000_000);
            bar.set_position(now.as_micros() / 1_000_000);
            bar.set_message(format!("{live} peers"));
            if !tty && last_line.elapsed() >= Duration::from_secs(15) {
                last_line = std::time::Instant::now();
                eprintln!(
                    "[{:.0} s wall] virtual {:.0}/{:.0} s, {live} peers",
                    started.elapsed().as_secs_f64(),
                    now.as_micros() as f64 / 1e6,
                    end.as_micros() as f64 / 1e6
                );
            }
        },
    );
    bar.finish_and_clear();
    let started = std::time::Instant::now();
    let (m, samples) = metrics::compute(&outcome.overlay, loaded.model.as_ref(), args.landmarks);
    let metrics_wall = started.elapsed();
    write_json(&args.out.join("overlay.json"), &outcome.overlay)?;
    write_json(&args.out.join("metrics.json"), &m)?;
    write_json(
        &args.out.join("run.json"),
        &serde_json::json!({
            "model": spec.to_string(),
            "model_note": loaded.note,
            "seed": args.seed,
            "peers": peers,
            "landmarks": args.landmarks,
            "threads": outcome.threads,
            "config": format!("{cfg:?}"),
            "scenario": format!("{:?}", args.scenario(peers)),
            "disturb_at_s": outcome.disturb_at.as_micros() as f64 / 1e6,
            "end_s": outcome.overlay.time_us as f64 / 1e6,
            "counters": outcome.counters,
            "violations": outcome.violations.len(),
            "first_violations": outcome.violations.iter().take(20).collect::<Vec<_>>(),
            "wall_simulation_s": outcome.wall.as_secs_f64(),
            "wall_metrics_s": metrics_wall.as_secs_f64(),
        }),
    )?;
    let name = args
        .out
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    plot::link_rtt_cdf(
        &args.out.join("link_rtt_cdf.svg"),
        &format!("{name}: CDF of link RTT"),
        &samples,
    )?;
    plot::link_rtt_by_kind(
        &args.out.join("link_rtt_intra_inter.svg"),
        &format!("{name}: CDF of link RTT, intra- and inter-group"),
        &samples,
    )?;
    plot::stretch_cdf(
        &args.out.join("path_stretch_cdf.svg"),
        &format!("{name}: CDF of path stretch on the sampled pairs"),
        &samples,
    )?;
    plot::purity_vs_size(
        &args.out.join("purity_vs_size.svg"),
        &format!("{name}: group purity against size"),
        samples.group_purity.as_ref(),
    )?;
    plot::group_sizes(
        &args.out.join("group_sizes.svg"),
        &format!("{name}: group sizes"),
        &samples.group_sizes,
    )?;
    plot::join_probes(
        &args.out.join("join_probes.svg"),
        &format!("{name}: probes per join"),
        &samples.join_probes,
    )?;
    Ok((outcome, m))
}

fn print_summary(args: &RunArgs, o: &Outcome, m: &Metrics) {
    let c = &o.counters;
    let (g, j, l) = (&m.groups, &m.join, &m.landmark);
    println!("locus-sim: {} -> {}", o.overlay.model, args.out.display());
    println!(
        "  virtual {:.0} s in {:.1} s wall; {} events, {} calls ({} timed out)",
        o.overlay.time_us as f64 / 1e6,
        o.wall.as_secs_f64(),
        c.events,
        c.calls,
        c.timeouts
    );
    println!(
        "  {} thread(s), {} regions ({} events crossed between them), {} windows, {} shared out",
        o.threads, c.regions, c.cross_region_events, c.windows, c.parallel_windows
    );
    println!(
        "  churn: {} joins, {} crashes, {} leaves; {} rejoins, {} merges, {} new leaders, {} relocations",
        c.churn_joins, c.crashes, c.leaves, c.rejoins, c.merges, c.new_leaders, c.relocations
    );
    println!(
        "  overlay: {} peers, {} links ({} intra, {} inter, {} random, {} cross), mean degree {:.2}, components {}",
        m.peers,
        m.links,
        m.intra_links,
        m.inter_links,
        m.random_links,
        m.cross_links,
        m.mean_degree,
        m.components
    );
    println!(
        "  mean link RTT {:.2} ms; random {:.2} ms -> random_ratio {:.3}",
        m.mean_link_rtt_ms, m.random_mean_link_rtt_ms, m.random_ratio
    );
    println!(
        "  knn bound {:.2} ms{} -> optimality_gap {:.2}; path stretch median {:.2} p90 {:.2}",
        m.knn_bound_ms,
        if m.knn_exact { "" } else { " (sampled)" },
        m.optimality_gap,
        m.path_stretch.median,
        m.path_stretch.p90
    );
    println!(
        "  landmark binning ({} landmarks, {} bins): mean link RTT {:.2} ms, random_ratio {:.3}, gap {:.2}, stretch {:.2}/{:.2}",
        l.landmarks,
        l.bins,
        l.mean_link_rtt_ms,
        l.random_ratio,
        l.optimality_gap,
        l.path_stretch.median,
        l.path_stretch.p90
    );
    if let Some(k) = &m.knn_graph {
        println!(
            "  k-nearest-neighbour graph ({}, mean degree {:.2}, {} components before bridging): stretch {:.2}/{:.2}",
            if k.exact {
                "exact"
            } else {
                "within localities"
            },
            k.mean_degree,
            k.components_before_bridging,
            k.path_stretch.median,
            k.path_stretch.p90
        );
    }
    for v in &m.vivaldi {
        println!(
            "  vivaldi {}x ({} samples/peer, k {}, mean degree {:.2}): median relative error {:.3}; mean link RTT {:.2} ms, random_ratio {:.3}, gap {:.2}, stretch {:.2}/{:.2}, components {} ({} before bridging)",
            v.budget_factor,
            v.samples_per_peer,
            v.k,
            v.mean_degree,
            v.median_relative_error,
            v.mean_link_rtt_ms,
            v.random_ratio,
            v.optimality_gap,
            v.path_stretch.median,
            v.path_stretch.p90,
            v.components,
            v.components_before_bridging
        );
    }
    println!(
        "  groups: {} (mean {:.1}, median {:.0}, max {}, {} singletons, {} ungrouped); intra {:.2} ms vs inter {:.2} ms{}",
        g.count,
        g.size_mean,
        g.size_median,
        g.size_max,
        g.singletons,
        g.ungrouped,
        g.intra_mean_rtt_ms,
        g.inter_mean_rtt_ms,
        g.purity
            .map(|p| format!(
                "; purity {p:.3} over {} true localities",
                g.true_localities.unwrap_or(0)
            ))
            .unwrap_or_default()
    );
    println!(
        "  join: {} joins, probes mean {:.1} p99 {:.0}, calls mean {:.1} p99 {:.0}, time mean {:.0} ms p99 {:.0} ms, {:.0}% founded",
        j.joins,
        j.probes_mean,
        j.probes_p99,
        j.rpcs_mean,
        j.rpcs_p99,
        j.time_mean_ms,
        j.time_p99_ms,
        j.founded_share * 100.0
    );
    println!(
        "  steady state: {:.1} calls per peer per minute (last {:.0} s)",
        steady_rate(c),
        c.steady_s
    );
    println!(
        "  invariants: {}",
        if o.violations.is_empty() {
            "hold".to_string()
        } else {
            format!("{} violations", o.violations.len())
        }
    );
}

/// Steady-state calls per running peer per minute: the second half of the final settle.
fn steady_rate(c: &locus_sim::Counters) -> f64 {
    if c.steady_s <= 0.0 || c.steady_peers == 0 {
        return 0.0;
    }
    c.steady_calls as f64 / c.steady_peers as f64 / (c.steady_s / 60.0)
}

/// The ablation's variants: the defaults, each rule of `Config` turned off alone, all of
/// issue #14's rules (fifteen) off together (the protocol before them), and the shortcut held by
/// every group, however small.
const VARIANTS: [&str; 21] = [
    "default",
    "no-shortcuts",
    "shortcuts-every-group",
    "one-shortcut-per-group",
    "no-detour-shortcuts",
    "no-neighbor-guard",
    "no-merge-keeps-links",
    "no-prune-walk-probes",
    "no-single-far-walk-samples",
    "no-rank-on-one-sample",
    "no-sample-agreement",
    "no-drop-lost-links",
    "no-landmark-boot",
    "no-near-cut-links",
    "no-cross-links",
    "no-nearest-intra-links",
    "no-relocate-far-members",
    "inter-radius-50",
    "before-issue-14",
    "no-guard",
    "no-merge",
];

fn ablate(args: &RunArgs) -> Result<()> {
    let mut rows = Vec::new();
    for name in VARIANTS {
        let mut a = args.clone();
        let before = name == "before-issue-14";
        if name == "no-neighbor-guard" || before {
            a.neighbor_guard_share = Some(0.0);
        }
        a.no_merge_keeps_links |= name == "no-merge-keeps-links" || before;
        a.no_prune_walk_probes |= name == "no-prune-walk-probes" || before;
        a.no_single_far_walk_samples |= name == "no-single-far-walk-samples" || before;
        a.no_rank_on_one_sample |= name == "no-rank-on-one-sample" || before;
        a.no_detour_shortcuts |= name == "no-detour-shortcuts" || before;
        a.no_drop_lost_links |= name == "no-drop-lost-links" || before;
        a.no_landmark_boot |= name == "no-landmark-boot" || before;
        a.no_near_cut_links |= name == "no-near-cut-links" || before;
        a.no_nearest_intra_links |= name == "no-nearest-intra-links" || before;
        a.no_relocate_far_members |= name == "no-relocate-far-members" || before;
        if name == "no-cross-links" || before {
            a.cross_group_links = Some(0);
        }
        if name == "inter-radius-50" || before {
            a.inter_group_radius_ms = Some(50.0);
        }
        if name == "no-sample-agreement" || before {
            a.sample_agreement = Some(0.0);
        }
        if name == "no-guard" {
            a.no_guard = true;
            a.max_leader_rtt_ms = None;
        }
        a.no_merge |= name == "no-merge";
        if name == "no-shortcuts" || before {
            a.random_inter_group_links = Some(0);
            a.random_link_sample = Some(1);
        }
        if name == "one-shortcut-per-group" {
            a.members_per_shortcut = Some(0);
        }
        if name == "shortcuts-every-group" {
            a.random_link_min_members = Some(0);
        }
        a.out = args.out.join(name);
        eprintln!("ablation {name}");
        let (o, m) = run(&a)?;
        print_summary(&a, &o, &m);
        rows.push(serde_json::json!({
            "variant": name,
            "components": m.components, "random_ratio": m.random_ratio,
            "optimality_gap": m.optimality_gap, "mean_link_rtt_ms": m.mean_link_rtt_ms,
            "stretch_median": m.path_stretch.median, "stretch_p90": m.path_stretch.p90,
            "groups": m.groups.count, "purity": m.groups.purity,
            "intra_mean_rtt_ms": m.groups.intra_mean_rtt_ms,
            "inter_mean_rtt_ms": m.groups.inter_mean_rtt_ms,
            "probes_mean": m.join.probes_mean,
            "steady_calls_per_peer_minute": steady_rate(&o.counters),
            "violations": o.violations.len(),
        }));
    }
    write_json(&args.out.join("ablation.json"), &rows)?;
    println!(
        "\n| variant | components | random_ratio | optimality_gap | stretch median/p90 | groups | purity | intra/inter ms | probes/join | calls/peer/min (steady) |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in &rows {
        println!(
            "| {} | {} | {:.3} | {:.2} | {:.2} / {:.2} | {} | {} | {:.1} / {:.1} | {:.1} | {:.1} |",
            r["variant"].as_str().unwrap_or(""),
            r["components"],
            r["random_ratio"].as_f64().unwrap_or(0.0),
            r["optimality_gap"].as_f64().unwrap_or(0.0),
            r["stretch_median"].as_f64().unwrap_or(0.0),
            r["stretch_p90"].as_f64().unwrap_or(0.0),
            r["groups"],
            r["purity"]
                .as_f64()
                .map_or_else(|| "-".to_string(), |p| format!("{p:.3}")),
            r["intra_mean_rtt_ms"].as_f64().unwrap_or(0.0),
            r["inter_mean_rtt_ms"].as_f64().unwrap_or(0.0),
            r["probes_mean"].as_f64().unwrap_or(0.0),
            r["steady_calls_per_peer_minute"].as_f64().unwrap_or(0.0),
        );
    }
    Ok(())
}

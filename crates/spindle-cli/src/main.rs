//! `spindle`: the command-line companion of the spindle crate.
//!
//! `spindle lab` measures, on the machine it runs on, the claims that the classic
//! threading tutorials make (see `lab`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod cluster;
mod lab;
mod trace_render;

#[derive(Parser)]
#[command(name = "spindle", version, about = "spindle's command-line tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every classic threading claim, measured on your machine.
    ///
    /// Runs every experiment (or the one named) and prints, for each, the claim, what was
    /// measured here, and its verdict: holds, does not hold, not measured (the run could
    /// not decide: a thread failed, or the machine cannot show it, as one core cannot show
    /// a speed-up), or skipped (the machine lacks a program the experiment needs: `remote`
    /// needs redis-server, and says how to install it). Skipped experiments do not change
    /// the exit status.
    #[command(after_help = lab::help_listing())]
    Lab(LabArgs),
    /// Work with recorded traces (Chrome trace-event JSON, as `spindle::trace::Recorder` writes).
    #[command(subcommand)]
    Trace(TraceCommand),
    /// Tasks on many machines, through Redis (spindle::cluster).
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// A worker of the cluster demonstration (started by `spindle lab remote`).
    #[command(name = "__cluster-worker", hide = true)]
    ClusterWorker {
        #[arg(long)]
        url: String,
        #[arg(long)]
        pool: String,
        #[arg(long)]
        processes: usize,
        #[arg(long)]
        lease_ms: u64,
    },
    /// The child program of the daemon experiment (started by `spindle lab daemon`).
    #[command(name = "__child", hide = true)]
    Child {
        /// What the child does.
        #[arg(value_enum)]
        what: lab::daemon::ChildKind,
        /// How long its worker thread works, in milliseconds.
        #[arg(long)]
        work_ms: u64,
    },
}

/// What `spindle trace` does.
#[derive(Subcommand)]
enum TraceCommand {
    /// Draws a recorded trace as an SVG timeline: a row per thread, a colour per state.
    Render {
        /// The trace: Chrome trace-event JSON.
        file: PathBuf,
        /// Where to write the SVG.
        #[arg(short, long, value_name = "SVG")]
        output: PathBuf,
    },
}

/// What `spindle cluster` does.
#[derive(Subcommand)]
enum ClusterCommand {
    /// The pools on a Redis server: their workers (host, pid, tasks held, last
    /// heartbeat) and their tasks (queued, running, done, failed after max_deliveries).
    Status {
        /// The server, as `redis://[:password@]host[:port]` or `rediss://...` (TLS).
        url: String,
        /// Only this pool.
        #[arg(long, value_name = "NAME")]
        pool: Option<String>,
        /// Print JSON, {"pools": [...]}, instead of tables.
        #[arg(long)]
        json: bool,
    },
}

/// The options of `spindle lab`.
#[derive(clap::Args)]
struct LabArgs {
    /// Run only this experiment.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(lab::names()))]
    name: Option<String>,
    /// Scale durations and counts down (for CI): a few seconds per experiment.
    #[arg(long)]
    quick: bool,
    /// Print one JSON object, {"experiments": [...]}, instead of tables.
    #[arg(long)]
    json: bool,
    /// Also write a self-contained HTML report to this file: each experiment's table,
    /// chart and a timeline of its threads. Checked before anything runs.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Also write the whole run's Chrome trace (JSON) to this file: open it in
    /// Perfetto (ui.perfetto.dev) to zoom into any experiment. Checked before anything runs.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// For `download`: fetch the URLs listed in this file (one per line) instead of the
    /// images of its local server.
    #[arg(long, value_name = "FILE")]
    urls: Option<PathBuf>,
    /// Make this experiment panic on purpose: how a failing experiment is reported.
    #[arg(long, value_name = "EXPERIMENT", hide = true)]
    fail_in: Option<String>,
}

fn main() -> ExitCode {
    // First: in a worker of the gil experiment's process pool, this serves tasks and
    // never returns.
    spindle::process::init();
    let cli = Cli::parse();
    match cli.command {
        Command::Lab(args) => lab::run(&lab::Options {
            name: args.name,
            scale: if args.quick {
                lab::Scale::Quick
            } else {
                lab::Scale::Full
            },
            json: args.json,
            report: args.report,
            trace: args.trace,
            urls: args.urls,
            fail_in: args.fail_in,
        }),
        Command::Trace(TraceCommand::Render { file, output }) => trace_render::run(&file, &output),
        Command::Cluster(ClusterCommand::Status { url, pool, json }) => {
            cluster::status::run(&url, pool.as_deref(), json)
        }
        Command::ClusterWorker {
            url,
            pool,
            processes,
            lease_ms,
        } => cluster::worker::run(&url, &pool, processes, Duration::from_millis(lease_ms)),
        Command::Child { what, work_ms } => {
            lab::daemon::child_main(what, Duration::from_millis(work_ms))
        }
    }
}

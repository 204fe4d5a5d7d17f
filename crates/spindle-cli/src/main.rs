//! `spindle`: the command-line companion of the spindle crate.
//!
//! `spindle lab` measures, on the machine it runs on, the claims that the classic
//! threading tutorials make (see `lab`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod lab;

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
    /// measured here, and whether the claim holds.
    #[command(after_help = lab::help_listing())]
    Lab(LabArgs),
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
    /// Also write a self-contained HTML report to this file.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

fn main() -> ExitCode {
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
        }),
        Command::Child { what, work_ms } => {
            lab::daemon::child_main(what, Duration::from_millis(work_ms))
        }
    }
}

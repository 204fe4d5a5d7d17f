//! `spindle cluster status URL [--pool NAME] [--json]`: the pools on a Redis server,
//! their workers and their tasks.

use std::process::ExitCode;

use comfy_table::{ContentArrangement, Table, presets};
use spindle::cluster::PoolStatus;

/// Prints the status of the pools at `url` (only `pool`, if given); exit status 1,
/// with the error on stderr, when nothing answers there.
pub fn run(url: &str, pool: Option<&str>, json: bool) -> ExitCode {
    let pools = match spindle::cluster::status(url, pool) {
        Ok(pools) => pools,
        Err(e) => {
            eprintln!("spindle cluster status: {e}");
            return ExitCode::FAILURE;
        }
    };
    if json {
        let doc = serde_json::json!({ "pools": pools });
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("status encodes")
        );
    } else {
        print!("{}", render(&pools));
    }
    ExitCode::SUCCESS
}

/// The status as text: a table of task counts per pool, then each pool's workers.
pub fn render(pools: &[PoolStatus]) -> String {
    if pools.is_empty() {
        return "no pools on this server\n".to_owned();
    }
    let mut out = String::new();
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "pool",
            "workers",
            "queued",
            "running",
            "done",
            "cancelled",
            "failed after max_deliveries",
            "taken over",
        ]);
    for p in pools {
        table.add_row([
            p.pool.clone(),
            p.workers.len().to_string(),
            p.queued.to_string(),
            p.running.to_string(),
            p.done.to_string(),
            p.cancelled.to_string(),
            p.failed_after_max_deliveries.to_string(),
            p.taken_over.to_string(),
        ]);
    }
    out.push_str(&format!("{table}\n"));
    for p in pools.iter().filter(|p| !p.workers.is_empty()) {
        let mut workers = Table::new();
        workers
            .load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header([
                "worker",
                "host",
                "pid",
                "processes",
                "tasks held",
                "last heartbeat",
            ]);
        for w in &p.workers {
            workers.add_row([
                w.name.clone(),
                w.host.clone(),
                w.pid.to_string(),
                w.processes.to_string(),
                w.tasks_held.to_string(),
                format!("{:.1} s ago", w.seconds_since_heartbeat),
            ]);
        }
        out.push_str(&format!("\nworkers of {}:\n{workers}\n", p.pool));
    }
    out
}

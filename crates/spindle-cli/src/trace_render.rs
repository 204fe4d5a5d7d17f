//! `spindle trace render FILE.json -o timeline.svg`.

use std::fs;
use std::path::Path;
use std::process::ExitCode;

use spindle::trace::Timeline;

/// Reads a Chrome trace, draws it, writes the SVG; explains any failure on stderr, and
/// warns about the events it could not draw.
pub fn run(input: &Path, output: &Path) -> ExitCode {
    match render(input, output) {
        Ok(rows) => {
            let threads = if rows == 1 { "thread" } else { "threads" };
            eprintln!("wrote {} ({rows} {threads})", output.display());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("spindle trace render: {message}");
            ExitCode::FAILURE
        }
    }
}

fn render(input: &Path, output: &Path) -> Result<usize, String> {
    let json =
        fs::read_to_string(input).map_err(|e| format!("cannot read {}: {e}", input.display()))?;
    let read = Timeline::read_chrome_json(&json)
        .map_err(|e| format!("{} is not a trace spindle can draw: {e}", input.display()))?;
    if let Some((first, why)) = read.first_skipped {
        eprintln!(
            "warning: skipped {} of {} trace events that spindle cannot draw (first: event {first}: {why})",
            read.skipped, read.events
        );
        if read.reasons.len() > 1 {
            for (why, n) in &read.reasons {
                eprintln!("  {n} × {why}");
            }
        }
    }
    let timeline = read.timeline;
    let drawable = timeline
        .rows
        .iter()
        .any(|row| !row.states.is_empty() || !row.tasks.is_empty());
    if !drawable {
        return Err(format!(
            "{} holds no thread spindle can draw: no state or task span in its {} events \
             ({} skipped, {} of kinds a timeline does not draw)",
            input.display(),
            read.events,
            read.skipped,
            read.ignored
        ));
    }
    fs::write(output, timeline.to_svg())
        .map_err(|e| format!("cannot write {}: {e}", output.display()))?;
    Ok(timeline.rows.len())
}

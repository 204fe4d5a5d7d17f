//! `spindle trace render FILE.json -o timeline.svg`.

use std::fs;
use std::path::Path;
use std::process::ExitCode;

use spindle::trace::Timeline;

/// Reads a Chrome trace, draws it, writes the SVG; explains any failure on stderr.
pub fn run(input: &Path, output: &Path) -> ExitCode {
    match render(input, output) {
        Ok(rows) => {
            eprintln!("wrote {} ({rows} threads)", output.display());
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
    let timeline = Timeline::from_chrome_json(&json)
        .map_err(|e| format!("{} is not a trace spindle can draw: {e}", input.display()))?;
    fs::write(output, timeline.to_svg())
        .map_err(|e| format!("cannot write {}: {e}", output.display()))?;
    Ok(timeline.rows.len())
}

//! The files `spindle lab` writes (`--report`, `--trace`), checked before any experiment
//! runs: a typo in a path should cost a second, not the minute the experiments take.

use std::fs::OpenOptions;
use std::path::Path;

/// Checks that `path` can be written, for the option `option`, without changing
/// anything that is there: an existing file is opened to append (and left as it is), a
/// new one is created and removed again.
pub fn check_writable(option: &str, path: &Path) -> Result<(), String> {
    let problem = |why: String| format!("{option} {}: {why}", path.display());
    if path.as_os_str().is_empty() {
        return Err(format!("{option} needs a file name"));
    }
    if path.is_dir() {
        return Err(problem("is a directory".to_owned()));
    }
    let existed = path.exists();
    OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| problem(format!("cannot be written ({e})")))?;
    if !existed {
        // Nothing is left behind if the run is interrupted before writing it.
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Checks every output path, and that no two of them are the same file.
pub fn check_all(outputs: &[(&str, &Path)]) -> Result<(), String> {
    for (i, (option, path)) in outputs.iter().enumerate() {
        check_writable(option, path)?;
        if let Some((other, _)) = outputs[..i].iter().find(|(_, p)| p == path) {
            return Err(format!(
                "{other} and {option} name the same file, {}",
                path.display()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("spindle-outputs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn a_missing_folder_is_refused_naming_the_option() {
        let err = check_writable("--report", Path::new("/no/such/folder/r.html")).unwrap_err();
        assert!(
            err.starts_with("--report /no/such/folder/r.html: cannot be written"),
            "{err}"
        );
    }

    #[test]
    fn a_directory_is_refused() {
        let err = check_writable("--trace", &std::env::temp_dir()).unwrap_err();
        assert!(err.ends_with("is a directory"), "{err}");
    }

    #[test]
    fn checking_leaves_no_file_behind_and_keeps_an_existing_one() {
        let fresh = scratch("fresh.html");
        let _ = std::fs::remove_file(&fresh);
        check_writable("--report", &fresh).unwrap();
        assert!(!fresh.exists());

        let kept = scratch("kept.html");
        std::fs::write(&kept, "old").unwrap();
        check_writable("--report", &kept).unwrap();
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "old");
    }

    #[test]
    fn two_outputs_cannot_share_a_file() {
        let p = scratch("same.out");
        let err = check_all(&[("--report", &p), ("--trace", &p)]).unwrap_err();
        assert!(
            err.contains("--report and --trace name the same file"),
            "{err}"
        );
    }
}

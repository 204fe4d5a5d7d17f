//! The crate's layers are true: every source file of `src/` says which layer it belongs
//! to in its first line (`// Layer N (name): ...`, or `//! Layer N ...` when that is the
//! start of its docs), and no file refers to a file of a higher layer (`use crate::...`,
//! `super::...`, or a `crate::` path in code; its `#[cfg(test)]` module aside). A file may
//! use files of its own layer and of every lower one. This is how DESIGN.md's "each
//! depends only on the ones listed before it" is checked, file by file, on every run.
//!
//! To see it fail: add `use crate::futures::Future;` to `src/wait.rs`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// A source file, by its module path (`["sync", "raw_mutex"]`; `[]` for `lib.rs`).
struct Module {
    path: PathBuf,
    module: Vec<String>,
    layer: u32,
    code: String,
}

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `Layer N` from the file's first line.
fn declared_layer(path: &Path, text: &str) -> Result<u32, String> {
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| format!("{}: empty", path.display()))?;
    let rest = first
        .trim_start_matches("//!")
        .trim_start_matches("//")
        .trim()
        .strip_prefix("Layer ")
        .ok_or_else(|| {
            format!(
                "{}: its first line must name its layer (`// Layer N (name): ...`), found {first:?}",
                path.display()
            )
        })?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .map_err(|_| format!("{}: no layer number in {first:?}", path.display()))
}

/// The file's code without comments, string literals (doc links name any layer) and its
/// `#[cfg(test)]` module (tests may reach anywhere).
fn code_only(text: &str) -> String {
    let test_module = ["#[cfg(test)]\nmod ", "#[cfg(test)]\npub(crate) mod "]
        .iter()
        .filter_map(|start| text.find(start))
        .min();
    let text = &text[..test_module.unwrap_or(text.len())];
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                let mut prev = ' ';
                for c in chars.by_ref() {
                    if prev == '*' && c == '/' {
                        break;
                    }
                    prev = c;
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            // A char literal such as '"' or '{' must not open a string or a group.
            '\'' => {
                let rest: String = chars.clone().take(3).collect();
                let mut it = rest.chars();
                match (it.next(), it.next(), it.next()) {
                    (Some('\\'), Some(_), Some('\'')) => {
                        chars.nth(2);
                    }
                    (Some(_), Some('\''), _) => {
                        chars.nth(1);
                    }
                    _ => out.push(c),
                }
            }
            _ => out.push(c),
        }
    }
    out
}

fn load() -> Vec<Module> {
    let root = source_root();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut errors = Vec::new();
    let mut modules = Vec::new();
    for path in files {
        let rel = path.strip_prefix(&root).unwrap();
        let mut module: Vec<String> = rel
            .with_extension("")
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        let is_mod_file = matches!(module.last().map(String::as_str), Some("mod" | "lib"));
        if is_mod_file {
            module.pop();
        }
        let text = fs::read_to_string(&path).unwrap();
        match declared_layer(&path, &text) {
            Ok(layer) => modules.push(Module {
                path: rel.to_path_buf(),
                module,
                layer,
                code: code_only(&text),
            }),
            Err(e) => errors.push(e),
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    modules
}

/// Every module path the code refers to: `crate::a::b`, `super::c`, `self::d`, with the
/// groups of a `use` expanded one level (`crate::a::{b, c::D}` is `a::b` and `a::c::D`).
fn references(m: &Module) -> Vec<Vec<String>> {
    let mut refs = Vec::new();
    let code = &m.code;
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let starts_word = i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'_'
                || bytes[i - 1] == b':');
        let prefix = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|p| starts_word && code[i..].starts_with(p));
        let Some(prefix) = prefix else {
            i += 1;
            continue;
        };
        let mut base: Vec<String> = match prefix {
            "crate::" => Vec::new(),
            "self::" => m.module.clone(),
            _ => {
                // `super` of `a/mod.rs` (module `a`) is the root; of `a/b.rs`, `a`.
                let mut p = m.module.clone();
                p.pop();
                p
            }
        };
        i += prefix.len();
        // Further `super::` segments.
        while code[i..].starts_with("super::") {
            base.pop();
            i += "super::".len();
        }
        let (paths, end) = parse_path(&code[i..]);
        for p in paths {
            let mut full = base.clone();
            full.extend(p);
            refs.push(full);
        }
        i += end.max(1);
    }
    refs
}

/// Parses `a::b::{c, d::e}` (or `a::b::C`) at the start of `s`: the paths and where it ends.
fn parse_path(s: &str) -> (Vec<Vec<String>>, usize) {
    let mut segments = Vec::new();
    let mut i = 0;
    let bytes = s.as_bytes();
    loop {
        let start = i;
        while i < s.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if i > start {
            segments.push(s[start..i].to_owned());
        }
        if s[i..].starts_with("::{") {
            i += 3;
            let mut depth = 1;
            let open = i;
            while i < s.len() && depth > 0 {
                match bytes[i] {
                    b'{' => depth += 1,
                    b'}' => depth -= 1,
                    _ => {}
                }
                i += 1;
            }
            let inner = &s[open..i.saturating_sub(1)];
            let mut out = Vec::new();
            for item in split_top_level(inner) {
                let item = item.trim();
                if item.is_empty() || item == "self" {
                    out.push(segments.clone());
                    continue;
                }
                let (sub, _) = parse_path(item);
                for p in sub {
                    let mut full = segments.clone();
                    full.extend(p);
                    out.push(full);
                }
            }
            return (out, i);
        }
        if s[i..].starts_with("::") && i > start {
            i += 2;
            continue;
        }
        return (vec![segments], i);
    }
}

fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// The longest prefix of `path` that is a source file's module.
fn resolve<'a>(
    path: &[String],
    by_module: &'a BTreeMap<Vec<String>, &'a Module>,
) -> Option<&'a Module> {
    (0..=path.len())
        .rev()
        .find_map(|n| by_module.get(&path[..n].to_vec()).copied())
}

#[test]
fn every_source_file_names_its_layer_and_uses_no_higher_one() {
    let modules = load();
    let by_module: BTreeMap<Vec<String>, &Module> =
        modules.iter().map(|m| (m.module.clone(), m)).collect();
    let mut violations = Vec::new();
    for m in &modules {
        for r in references(m) {
            // The root is only where exported macros live (`crate::task!`).
            let Some(target) = resolve(&r, &by_module).filter(|t| !t.module.is_empty()) else {
                continue;
            };
            if target.layer > m.layer {
                violations.push(format!(
                    "{} (layer {}) uses {} (layer {}) through `{}`",
                    m.path.display(),
                    m.layer,
                    target.path.display(),
                    target.layer,
                    r.join("::")
                ));
            }
        }
    }
    violations.sort();
    violations.dedup();
    assert!(
        violations.is_empty(),
        "imports from a higher layer:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_sees_an_upward_import() {
    let module = |name: &str, layer, code: &str| Module {
        path: PathBuf::from(format!("{name}.rs")),
        module: vec![name.to_owned()],
        layer,
        code: code_only(code),
    };
    let low = module(
        "wait",
        4,
        "use crate::futures::{Future, state::Core};\n// crate::queue in a comment",
    );
    let refs = references(&low);
    assert!(
        refs.contains(&vec!["futures".to_owned(), "Future".to_owned()]),
        "{refs:?}"
    );
    assert!(refs.contains(&vec![
        "futures".to_owned(),
        "state".to_owned(),
        "Core".to_owned()
    ]));
    assert!(
        !refs.iter().any(|r| r.first().is_some_and(|s| s == "queue")),
        "comments are not code"
    );
}

//! The project documents itself: no file points to a document outside the repository (the
//! specification it was built from). Comments and documents name the page of docs/ instead;
//! `python3 scripts/docs_references.py --fix` rewrites any reference that comes back.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Spelled apart, so that this file does not find itself.
fn needles() -> [String; 3] {
    let spec = ["SP", "EC"].concat();
    [
        format!("{spec} §"),
        format!("{spec}.md"),
        ["steering", " repo"].concat(),
    ]
}

/// Every file the project ships: sources, tests, documents, the chart, the scripts; not build
/// output, virtual environments or installed tools.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') && name != ".ci"
            || ["target", "node_modules"].contains(&name.as_str())
        {
            continue;
        }
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn nothing_points_to_a_document_outside_the_repository() {
    let mut all = Vec::new();
    files(Path::new(ROOT), &mut all);
    assert!(
        all.iter().any(|p| p.ends_with("docs/runbook.md")),
        "the walk must see docs/"
    );
    let needles = needles();
    let mut found = Vec::new();
    for path in all {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // not text
        };
        for (number, line) in text.lines().enumerate() {
            if needles.iter().any(|n| line.contains(n.as_str())) {
                let name = path.strip_prefix(ROOT).unwrap().display().to_string();
                found.push(format!("{name}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "references to a document outside the repository; point them to docs/ \
         (`python3 scripts/docs_references.py --fix` does it):\n{}",
        found.join("\n")
    );
}

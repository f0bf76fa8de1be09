//! One direction between layers: `domain/` decides on plain values and depends on nothing
//! that does I/O, so a decision can be tested and reused without the table, the API
//! clients or the services. This reads every file under `shared/src/domain` and fails on a
//! reference to one of them (comments included: a doc link would pull the layer back in).

use std::path::{Path, PathBuf};

/// What no domain file may name.
const FORBIDDEN: [&str; 5] = [
    "use crate::store",
    "crate::store::",
    "crate::connectwise::client",
    "crate::acronis::client",
    "crate::services",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).expect("the domain folder is readable");
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn domain_imports_nothing_from_the_store_the_clients_or_the_services() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    assert!(
        files.len() > 10,
        "expected the domain's files under {dir:?}"
    );
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a domain file is readable");
        for (n, line) in text.lines().enumerate() {
            for pattern in FORBIDDEN {
                if line.contains(pattern) {
                    found.push(format!("{}:{}: {pattern}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "domain/ must not depend on the store, the clients or the services:\n{}",
        found.join("\n")
    );
}

//! No product file a reader must scroll through: at most 600 lines before its first
//! `#[cfg(test)]` (a file's own unit tests are not counted), in every product crate
//! (`shared`, `cli`, `functions`, `infra/local-runner`; the simulators and the test crates
//! are not product). A file that is a test module as a whole (`tests.rs`) is not counted.
//! Functions are held to 120 lines by clippy (`too_many_lines`, `clippy.toml`), and
//! `cli/src/main.rs` to under 150 lines in all.

use std::path::{Path, PathBuf};

const MAX_LINES: usize = 600;
const PRODUCT: [&str; 4] = [
    "shared/src",
    "cli/src",
    "functions",
    "infra/local-runner/src",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).expect("a product folder is readable");
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            // Build output and integration tests are not product code.
            if !path.ends_with("target") && !path.ends_with("tests") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
}

/// The lines of `text` before its first `#[cfg(test)]`.
fn product_lines(text: &str) -> usize {
    text.lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .count()
}

#[test]
fn no_product_file_is_over_600_lines_before_its_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace");
    let mut files = Vec::new();
    for dir in PRODUCT {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(
        files.len() > 100,
        "expected the product's files under {root:?}"
    );
    let mut long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let text = std::fs::read_to_string(f).expect("a product file is readable");
            let n = product_lines(&text);
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    long.sort();
    assert!(
        long.is_empty(),
        "split these (at most {MAX_LINES} lines before the first #[cfg(test)]):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_count_stops_at_the_tests() {
    let text = "fn a() {}\n\n#[cfg(test)]\nmod tests {}\n";
    assert_eq!(product_lines(text), 2);
    assert_eq!(product_lines("fn a() {}\n"), 1);
}

/// `acw`'s entry point stays a table of its commands: each one's clap types and work live in
/// its own file under `cli/src/cmd/`.
#[test]
fn the_cli_entry_point_is_under_150_lines() {
    let main = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/src/main.rs");
    let n = std::fs::read_to_string(&main)
        .expect("cli/src/main.rs is readable")
        .lines()
        .count();
    assert!(n < 150, "cli/src/main.rs has {n} lines (fewer than 150)");
}

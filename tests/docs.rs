//! The documentation kept true: nothing in the repository points outside it, every relative
//! Markdown link resolves, `docs/outcomes.md` lists every error code with its `retryable`,
//! `docs/configuration.md` documents every default setting, and each vendor kind's README (which
//! that page links) every key of the kind.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use config::{Config, File, FileFormat};
use regex::Regex;
use signgate::model::{ErrorCode, Outcome, ALL_ERROR_CODES};
use signgate::settings::DEFAULTS;
use signgate::vendors::KINDS;

/// Directories never walked: build output, git's own files, benchmark output.
const SKIPPED_DIRS: [&str; 3] = ["target", ".git", "bench/out"];

/// Files that may cite what this test forbids, and why. This file names the forbidden words.
/// The first migrations are applied already: sqlx stores a checksum of each migration's whole
/// text, comments included, so editing one would stop every existing database from starting.
const EXEMPT: [&str; 3] = [
    "tests/docs.rs",
    "migrations/postgres/0001_init.sql",
    "migrations/sqlite/0001_init.sql",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    fs::read_to_string(root().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// Every text file of the repository, as a path relative to its root and its contents.
fn text_files() -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut dirs = vec![root().to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("the repository can be listed") {
            let path = entry.expect("a directory entry").path();
            let relative = relative_name(&path);
            if path.is_dir() {
                let cache = path.file_name().is_some_and(|n| n == "__pycache__");
                if !cache && !SKIPPED_DIRS.contains(&relative.as_str()) {
                    dirs.push(path);
                }
            } else if let Ok(text) = fs::read_to_string(&path) {
                files.push((relative, text));
            }
        }
    }
    files.sort();
    files
}

fn relative_name(path: &Path) -> String {
    let relative = path.strip_prefix(root()).expect("inside the repository");
    relative.to_string_lossy().replace('\\', "/")
}

#[test]
fn nothing_in_the_repository_points_outside_it() {
    let forbidden = Regex::new(r"\.\./shared|\bSPEC\b").expect("valid pattern");
    let mut found = Vec::new();
    let files = text_files();
    assert!(
        files.iter().any(|(name, _)| name == "src/lib.rs"),
        "the walk must see the sources"
    );
    for (name, text) in files.iter().filter(|(n, _)| !EXEMPT.contains(&n.as_str())) {
        for (i, line) in text.lines().enumerate() {
            if forbidden.is_match(line) {
                found.push(format!("{name}:{}: {line}", i + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "cite a page under docs/ instead:\n{}",
        found.join("\n")
    );
}

/// The pages whose relative links must resolve.
fn linked_pages() -> Vec<String> {
    let mut pages = vec!["README.md".to_owned()];
    for (dir, file) in [("docs", None), ("src/vendors", Some("README.md"))] {
        for entry in fs::read_dir(root().join(dir)).expect("the folder exists") {
            let path = entry.expect("a directory entry").path();
            let page = match file {
                None => path,
                Some(file) => path.join(file),
            };
            if page.extension().is_some_and(|e| e == "md") && page.is_file() {
                pages.push(relative_name(&page));
            }
        }
    }
    pages.sort();
    pages
}

/// The Markdown outside fenced blocks and code spans, where links are links.
fn prose(markdown: &str) -> String {
    let span = Regex::new(r"`[^`\n]*`").expect("valid pattern");
    let mut fenced = false;
    let mut out = String::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push_str(&span.replace_all(line, "code"));
            out.push('\n');
        }
    }
    out
}

/// The anchors GitHub gives a page's headings.
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut anchors = BTreeSet::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if let Some(heading) = line.strip_prefix('#').filter(|_| !fenced) {
            let text = heading.trim_start_matches('#').trim().to_lowercase();
            let slug: String = text
                .chars()
                .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
                .map(|c| if c == ' ' { '-' } else { c })
                .collect();
            anchors.insert(slug);
        }
    }
    anchors
}

/// `target` of a link on `page`, as a path relative to the root (`..` resolved).
fn resolve(page: &str, target: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let base = Path::new(page).parent().unwrap_or(Path::new(""));
    for component in base.join(target).components() {
        match component {
            Component::ParentDir => {
                parts.pop();
            }
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    parts.join("/")
}

/// Why the link `target` on `page` does not resolve, if it does not.
fn broken(page: &str, text: &str, target: &str) -> Option<String> {
    let (path, fragment) = match target.split_once('#') {
        Some((path, fragment)) => (path, Some(fragment)),
        None => (target, None),
    };
    let file = match path {
        "" => page.to_owned(),
        path => resolve(page, path),
    };
    let full: PathBuf = root().join(&file);
    if !full.exists() {
        return Some(format!("{page}: ({target}): {file} does not exist"));
    }
    let fragment = fragment?;
    if !file.ends_with(".md") {
        return None;
    }
    let linked = if file == page {
        text.to_owned()
    } else {
        read(&file)
    };
    (!anchors(&linked).contains(fragment))
        .then(|| format!("{page}: ({target}): {file} has no heading #{fragment}"))
}

#[test]
fn every_relative_markdown_link_resolves() {
    let link = Regex::new(r"\]\(([^)\s]+)\)").expect("valid pattern");
    let mut checked = 0;
    let mut problems = Vec::new();
    for page in linked_pages() {
        let text = read(&page);
        for target in link.captures_iter(&prose(&text)).map(|c| c[1].to_owned()) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            problems.extend(broken(&page, &text, &target));
        }
    }
    assert!(
        checked > 50,
        "only {checked} links found: is the parser broken?"
    );
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
}

/// The rows of the outcome table: error code to (status, retryable), as the page writes them.
fn outcome_rows(page: &str) -> Vec<(String, String, String)> {
    let row = Regex::new(r"^\|\s*`([a-z_]+)`\s*\|\s*`([a-z_]+)`\s*\|\s*([a-z]+)\s*\|")
        .expect("valid pattern");
    page.lines()
        .filter_map(|line| row.captures(line))
        .map(|c| (c[2].to_owned(), c[1].to_owned(), c[3].to_owned()))
        .collect()
}

#[test]
fn the_outcome_table_lists_every_error_code_with_its_retryable() {
    let rows = outcome_rows(&read("docs/outcomes.md"));
    let mut table: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (code, status, retryable) in rows {
        assert!(
            ErrorCode::from_wire(&code).is_some(),
            "docs/outcomes.md lists `{code}`, which is no error code"
        );
        let previous = table.insert(code.clone(), (status, retryable));
        assert!(previous.is_none(), "docs/outcomes.md lists `{code}` twice");
    }
    for code in ALL_ERROR_CODES {
        let (status, retryable) = table
            .get(code.as_str())
            .unwrap_or_else(|| panic!("docs/outcomes.md has no row for `{}`", code.as_str()));
        let expected = Outcome::failed(code, "").status();
        assert_eq!(status, expected.as_str(), "status of `{}`", code.as_str());
        assert_eq!(
            retryable,
            &code.retryable().to_string(),
            "retryable of `{}`",
            code.as_str()
        );
    }
}

/// Every `section.key` of `config/default.toml`: the keys it sets, and those it shows
/// commented out (`# rate_limit_burst = 100`).
fn default_keys() -> BTreeSet<String> {
    let config = Config::builder()
        .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
        .build()
        .expect("the defaults parse");
    let sections: BTreeMap<String, config::Value> =
        config.try_deserialize().expect("the defaults are tables");
    let mut keys = BTreeSet::new();
    for (section, value) in sections {
        let table = value.into_table().expect("a section is a table");
        keys.extend(table.keys().map(|key| format!("{section}.{key}")));
    }
    let header = Regex::new(r"^\[([a-z_]+)\]").expect("valid pattern");
    let commented = Regex::new(r"^#\s*([a-z_]+)\s*=").expect("valid pattern");
    let mut section = None;
    for line in DEFAULTS.lines() {
        if let Some(c) = header.captures(line) {
            section = Some(c[1].to_owned());
        } else if let (Some(section), Some(c)) = (&section, commented.captures(line)) {
            keys.insert(format!("{section}.{}", &c[1]));
        }
    }
    keys
}

#[test]
fn every_default_setting_is_documented() {
    let page = read("docs/configuration.md");
    let keys = default_keys();
    assert!(keys.contains("server.listen") && keys.contains("server.rate_limit_burst"));
    let missing: Vec<&String> = keys
        .iter()
        .filter(|key| !page.contains(&format!("| `{key}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md has no row for {missing:?}"
    );
}

#[test]
fn every_vendor_kinds_keys_are_documented() {
    let page = read("docs/configuration.md");
    for kind in KINDS {
        let path = format!("src/vendors/{}/README.md", kind.name());
        assert!(
            page.contains(&format!("(../{path})")),
            "docs/configuration.md does not link {path}"
        );
        let readme = read(&path);
        for key in kind.keys() {
            assert!(
                readme.contains(&format!("| `{key}` |")),
                "{path} has no row for its key `{key}`"
            );
        }
    }
}

#[test]
fn docs_vendors_md_lists_every_kind_and_its_simulator_prefix() {
    let page = read("docs/vendors.md");
    for kind in KINDS {
        let name = kind.name();
        let prefix = kind.simulator().prefix();
        assert!(
            page.contains(&format!("| `{name}` | ")),
            "docs/vendors.md has no row for the kind `{name}`"
        );
        assert!(
            page.contains(&format!("| `{name}` | `{prefix}`")),
            "docs/vendors.md's simulator table does not give `{name}` its prefix `{prefix}`"
        );
    }
}

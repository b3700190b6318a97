//! Every configuration example in the documentation starts: each ```toml block of README.md,
//! docs/*.md and the vendor kinds' READMEs, written to a file as an operator would copy it, is
//! accepted by `check-config` and `serve` listens with it. A kind's "Minimal configuration"
//! block turns its vendor on. A secret a block names by its variable (`SIGNGATE__JOBS__CALLBACK_SECRET`)
//! is set, as an operator would; vendor credentials are left out (the vendor is on without them,
//! its documents fail `vendor_not_configured`). (Examples of other programs' configuration are
//! ```text blocks.)

use std::path::{Path, PathBuf};
use std::process::Command;

use regex::Regex;

use crate::helpers::API_KEY;
use crate::process::Gateway;

/// Every ```toml block of the documentation, with the file it is in.
fn documented_tables() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    for dir in ["docs", "src/vendors"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .expect("listed")
            .map(|entry| entry.expect("an entry").path())
            .map(|path| match path.is_dir() {
                true => path.join("README.md"),
                false => path,
            })
            .filter(|path| path.extension().is_some_and(|e| e == "md") && path.exists())
            .collect();
        found.sort();
        files.extend(found);
    }
    let mut blocks = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        let name = file
            .strip_prefix(root)
            .expect("inside")
            .display()
            .to_string();
        let mut block: Option<String> = None;
        for line in text.lines() {
            match (&mut block, line.trim_start()) {
                (None, "```toml") => block = Some(String::new()),
                (Some(body), fence) if fence.starts_with("```") => {
                    blocks.push((name.clone(), std::mem::take(body)));
                    block = None;
                }
                (Some(body), _) => {
                    body.push_str(line);
                    body.push('\n');
                }
                (None, _) => {}
            }
        }
    }
    blocks
}

/// The vendor a kind README's block is about: `src/vendors/<kind>/README.md` names it.
fn kind_of(file: &str) -> Option<&str> {
    file.strip_prefix("src/vendors/")?
        .strip_suffix("/README.md")
}

/// The gateway's variables for `config`, with every non-vendor variable `block` names set.
fn vars(config: &Path, block: &str) -> Vec<(String, String)> {
    let named = Regex::new(r"SIGNGATE__[A-Z0-9_]*[A-Z0-9]").expect("valid");
    let secrets = named
        .find_iter(block)
        .map(|m| m.as_str())
        .filter(|name| !name.starts_with("SIGNGATE__VENDORS__"))
        .map(|name| (name.to_owned(), "documented-secret-0123456789".to_owned()));
    [
        ("SIGNGATE_CONFIG", config.display().to_string()),
        ("SIGNGATE__AUTH__API_KEY", API_KEY.to_owned()),
        ("SIGNGATE__SERVER__LISTEN", "127.0.0.1:0".to_owned()),
        ("SIGNGATE__STORE__URL", "sqlite::memory:".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .chain(secrets)
    .collect()
}

#[test]
fn every_documented_configuration_example_starts_the_gateway() {
    let blocks = documented_tables();
    let kinds: Vec<&str> = blocks
        .iter()
        .filter_map(|(file, _)| kind_of(file))
        .collect();
    for kind in signgate::vendors::KINDS.iter().map(|k| k.name()) {
        assert!(
            kind == "example" || kinds.contains(&kind),
            "src/vendors/{kind}/README.md has no ```toml minimal configuration"
        );
    }
    let dir = std::env::temp_dir().join(format!("signgate-documented-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a directory");
    for (i, (file, block)) in blocks.iter().enumerate() {
        let config = dir.join(format!("example-{i}.toml"));
        std::fs::write(&config, block).expect("written");
        let checked = Command::new(env!("CARGO_BIN_EXE_signgate"))
            .args(["check-config", "--config"])
            .arg(&config)
            .env_clear()
            .envs(
                vars(&config, block)
                    .into_iter()
                    .filter(|(k, _)| k != "SIGNGATE_CONFIG"),
            )
            .output()
            .expect("check-config runs");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
        assert!(checked.status.success(), "{file}:\n{block}\n{said}");
        if let Some(kind) = kind_of(file) {
            assert!(
                said.contains(&format!("vendor `{kind}` (kind {kind}): on")),
                "{file} does not turn `{kind}` on:\n{block}\n{said}"
            );
        }
        let (mut gateway, _address) = Gateway::listening(&vars(&config, block));
        gateway.terminate();
        let (code, output) = gateway.finish();
        assert_eq!(code, Some(0), "{file}:\n{block}\n{output}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

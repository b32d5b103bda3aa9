//! The compile errors of `#[haiway::cache]`, each in `tests/ui/` with the message it
//! gives (`.stderr`), checked with trybuild. Only on stable: rustc's messages change
//! between channels. Rewrite the `.stderr` files with `TRYBUILD=overwrite`.
#![cfg(feature = "macros")]

use std::process::Command;

/// Whether `rustc` (the one cargo would run) is a stable release.
fn stable() -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    !version.is_empty()
        && !["nightly", "beta", "dev"]
            .iter()
            .any(|c| version.contains(c))
}

#[test]
#[cfg_attr(miri, ignore = "runs rustc")]
fn compile_errors() {
    if !stable() {
        eprintln!("skipped: the .stderr files are written for stable rustc");
        return;
    }
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}

//! The Rust SDK's example binaries, for tests that run them as users do.

use std::path::PathBuf;

/// The example `name`, built (or found up to date) by cargo first: `cargo
/// test` of this crate alone does not build another package's examples,
/// and a stale binary would test old code.
pub fn example(name: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built =
        std::process::Command::new(cargo).args(["build", "-p", "weftflow", "--examples"]).status().expect("cargo runs");
    assert!(built.success(), "building the SDK examples failed");
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>");
    profile_dir.join("examples").join(name)
}

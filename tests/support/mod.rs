//! What the integration tests share, one module by concept; every test file takes
//! it with `mod support;` (each test binary uses a part, hence `dead_code` allowed).
//!
//! - [`spec`]: the spec builder (also used by the benches).
//! - [`cli`]: running the `collsynth` binary.
//! - [`sim`]: the independent simulator and the rank convention of docs/design.md.
//! - [`synth`]: abstract programs through the reference interpreter; rule checks.
//! - [`verify`]: program mutants and the SMT-vs-interpreter agreement check.
//! - [`e2e`]: MPI, JAX and torch end-to-end helpers, and the tools they need.
//! - [`rng`]: a small deterministic generator; [`par`]: checks on every core.

#![allow(dead_code)]

pub mod cli;
pub mod e2e;
pub mod par;
pub mod rng;
pub mod sim;
pub mod spec;
pub mod synth;
pub mod verify;

use std::path::{Path, PathBuf};

use collsynth::placement::Placement;
use collsynth::program::DimRef;
use collsynth::spec::Spec;

/// The dims of a placement as references, in the placement's order.
pub fn dim_refs(p: &Placement) -> Vec<DimRef> {
    p.dims
        .iter()
        .map(|d| DimRef {
            level: d.level,
            axis: d.axis,
        })
        .collect()
}

/// The repository's root (where `specs/` is).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A path as `&str`, for argument lists (test paths are UTF-8).
pub fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// A fresh temporary directory, removed when dropped (never the working tree).
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("collsynth-test-")
        .tempdir()
        .expect("a temporary directory")
}

/// Writes `text` to `dir/name` and returns the path as a string.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write into the tempdir");
    path(&p).to_string()
}

/// A spec file, by its path relative to the repository root.
pub fn load(relative: impl AsRef<Path>) -> Spec {
    let p = root().join(relative);
    Spec::load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The `.toml` files of a folder of the repository (like "specs/e2e"), sorted, as
/// paths relative to the root.
pub fn spec_files(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| Path::new(dir).join(e.expect("a readable entry").file_name()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    v
}

/// The example spec files, `specs/*.toml` then `specs/e2e/*.toml`, each sorted,
/// relative to the root.
pub fn example_spec_files() -> Vec<PathBuf> {
    let mut v = spec_files("specs");
    v.extend(spec_files("specs/e2e"));
    v
}

/// Snapshots named `tests/snapshots/<name>.snap`, without the test file's prefix,
/// while the guard lives.
pub fn flat_snapshot_names() -> insta::internals::SettingsBindDropGuard {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.bind_to_scope()
}

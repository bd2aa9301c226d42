//! Fuzz targets for the parsers that read client input: the definition
//! compiler (every dialect), conditions and JSONPath, `{{ }}` templates, and
//! the REST gateway's JSON decoding.
//!
//! Each target is a plain function of fuzzer bytes that panics when an
//! invariant breaks (the fuzzer's failure signal); `tests/targets.rs` runs
//! each under bolero, a bounded time on stable in `cargo test` and without a
//! bound under libFuzzer with `cargo bolero` (see `fuzz/README.md`).
//!
//! # Layout
//!
//! - [`input`]: structure read from fuzzer bytes (choices, strings).
//! - [`json_gen`]: arbitrary JSON documents (run states, schema bodies).
//! - [`seeds`]: realistic definitions in every dialect, the starting points
//!   of structure-aware mutation.
//! - [`definition`]: the compiler, from raw bytes and from mutated seeds.
//! - [`expr`]: conditions and JSONPath queries against arbitrary state.
//! - [`template`]: template parsing and rendering.
//! - [`rest`]: REST JSON bodies to protobuf and back.
//! - [`budget`]: how long a target runs, and what a run reports.

pub mod budget;
pub mod definition;
pub mod expr;
pub mod input;
pub mod json_gen;
pub mod rest;
pub mod seeds;
pub mod template;

// cargo bolero builds every test binary of the crate with coverage
// instrumentation, whose hooks libFuzzer (linked through bolero) defines:
// the lib's test binary has no fuzz target but must link it too.
#[cfg(test)]
extern crate bolero as _;

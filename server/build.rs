//! Rebuilds the server when the console bundle changes: rust-embed embeds
//! every file of `console/dist/` at compile time, but cargo only notices
//! files it was told about, and the bundle's file names change with each
//! build.
fn main() {
    println!("cargo:rerun-if-changed=../console/dist");
}

//! Rust client for Weft.

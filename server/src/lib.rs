//! weft-server

//! The `weft` command line for people: workflows, runs, approvals and
//! estimates, as a client of a running server over gRPC. The `weft` binary
//! (in `server/`) flattens these subcommands beside `serve` and `keys`.

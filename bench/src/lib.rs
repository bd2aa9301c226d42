//! Benchmarks live in `benches/`; this library holds what a bench needs
//! beyond its own workloads: a `weft serve` child process
//! ([`server_process`]), the SDK workers ([`sdk_workers`]) and another
//! process's CPU time and context switches ([`proc_stats`]).

pub mod proc_stats;
pub mod sdk_workers;
pub mod server_process;

/// Errors a bench reports and goes on past.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Sends SIGTERM to process `pid`, the signal an operator's shutdown sends:
/// the server drains, and the SDK workers finish their tasks and stop.
#[allow(unsafe_code)] // one libc call on plain integers
pub fn terminate(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return };
    // SAFETY: kill takes no pointers; at worst the process is already gone (ESRCH).
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}

//! What the kernel counts for another process, read from `/proc`: its CPU
//! time (`/proc/<pid>/stat`, utime + stime) and its threads' context
//! switches (`/proc/<pid>/task/*/status`), so a bench can charge a server
//! running as a separate process for the work done between two samples.

use std::collections::HashMap;
use std::io;
use std::time::Duration;

/// One reading of a process's counters.
#[derive(Debug, Clone)]
pub struct Sample {
    /// utime + stime of the whole process, dead threads included, in clock ticks.
    cpu_ticks: u64,
    /// Voluntary + involuntary context switches of each live thread, by tid.
    switches: HashMap<u32, u64>,
}

/// What a process used between two samples.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// CPU time, user and system.
    pub cpu: Duration,
    /// Context switches of its threads.
    pub context_switches: u64,
}

/// Reads the counters of process `pid` now.
pub fn sample(pid: u32) -> io::Result<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let cpu_ticks = cpu_ticks(&stat).ok_or_else(|| io::Error::other(format!("unexpected /proc/{pid}/stat")))?;
    let mut switches = HashMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let entry = entry?;
        let Some(tid) = entry.file_name().to_str().and_then(|name| name.parse().ok()) else { continue };
        // A thread may end between listing and reading: it is simply not counted.
        if let Ok(status) = std::fs::read_to_string(entry.path().join("status")) {
            switches.insert(tid, context_switches(&status));
        }
    }
    Ok(Sample { cpu_ticks, switches })
}

impl Sample {
    /// What the process used from `before` to this sample. The kernel keeps
    /// a process's CPU time after its threads end, but not their context
    /// switches: a thread that ended in between loses the switches it made
    /// since `before` (an undercount; the server's threads are long-lived),
    /// and a thread born in between counts all of its own.
    pub fn since(&self, before: &Sample) -> Usage {
        let context_switches = self
            .switches
            .iter()
            .map(|(tid, now)| now.saturating_sub(before.switches.get(tid).copied().unwrap_or(0)))
            .sum();
        let ticks = self.cpu_ticks.saturating_sub(before.cpu_ticks);
        Usage { cpu: Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second() as f64), context_switches }
    }
}

/// utime + stime from the text of `/proc/<pid>/stat`. The command name (field
/// 2) is in parentheses and may hold spaces or parentheses itself, so fields
/// are counted from the last `)`: the state is field 3, utime 14, stime 15.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let utime: u64 = fields.nth(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// voluntary_ctxt_switches + nonvoluntary_ctxt_switches from the text of a
/// thread's `status` file.
fn context_switches(status: &str) -> u64 {
    status
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(':')?;
            matches!(key, "voluntary_ctxt_switches" | "nonvoluntary_ctxt_switches")
                .then(|| value.trim().parse::<u64>().ok())?
        })
        .sum::<u64>()
}

/// The unit of `/proc/<pid>/stat`'s times (USER_HZ; 100 on Linux).
#[allow(unsafe_code)] // a libc call with no arguments and no pointers
fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a constant of the C library.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_counted_from_the_last_parenthesis() {
        let stat = "42 (we ird) (x)) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 3 0 1 1 1";
        assert_eq!(cpu_ticks(stat), Some(12));
    }

    #[test]
    fn switches_add_both_kinds() {
        let status = "Name:\tweft\nvoluntary_ctxt_switches:\t10\nnonvoluntary_ctxt_switches:\t3\n";
        assert_eq!(context_switches(status), 13);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let before = sample(std::process::id()).unwrap();
        let after = sample(std::process::id()).unwrap();
        assert!(after.since(&before).cpu < Duration::from_secs(60));
    }
}

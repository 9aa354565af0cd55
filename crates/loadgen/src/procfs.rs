//! What the server process costs, read from `/proc` (proc(5)): resident memory (`VmRSS` of
//! `/proc/PID/status`) and CPU time (`utime` + `stime` of `/proc/PID/stat`, in clock ticks),
//! summed over the process and its descendants (a server that forks a worker, as SoftEther's
//! `execsvc` does, is measured whole).

use core::time::Duration;
use std::fs;
use std::io;

/// One reading of a process tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Resident set size, KiB.
    pub rss_kib: u64,
    /// User + system CPU time, clock ticks.
    pub cpu_ticks: u64,
    /// How many processes were read.
    pub processes: usize,
}

/// `VmRSS` in KiB from the text of `/proc/PID/status`.
pub fn parse_status_rss(status: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        let rest = l.strip_prefix("VmRSS:")?;
        let mut it = rest.split_whitespace();
        let v = it.next()?.parse().ok()?;
        (it.next() == Some("kB")).then_some(v)
    })
}

/// `utime + stime` (fields 14 and 15, clock ticks) from the text of `/proc/PID/stat`. The
/// command name (field 2) is in parentheses and may itself contain spaces and parentheses, so
/// fields are counted from the last `)`.
pub fn parse_stat_cpu(stat: &str) -> Option<u64> {
    let after = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = after.split_whitespace();
    // After the command name: field 3 (state) is index 0, so utime (14) is index 11.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    utime.checked_add(stime)
}

/// The children listed in the text of `/proc/PID/task/TID/children`.
pub fn parse_children(text: &str) -> impl Iterator<Item = u32> + '_ {
    text.split_whitespace().filter_map(|t| t.parse().ok())
}

/// `pid` and all its descendants (children of every thread, transitively).
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut out = vec![pid];
    let mut i = 0;
    while let Some(&p) = out.get(i) {
        i += 1;
        let Ok(tasks) = fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let path = t.path().join("children");
            if let Ok(text) = fs::read_to_string(path) {
                for c in parse_children(&text) {
                    if !out.contains(&c) {
                        out.push(c);
                    }
                }
            }
        }
    }
    out
}

/// Reads the process trees of `pids` now.
pub fn sample(pids: &[u32]) -> io::Result<Sample> {
    let mut s = Sample {
        rss_kib: 0,
        cpu_ticks: 0,
        processes: 0,
    };
    let mut seen = Vec::new();
    for &root in pids {
        for p in process_tree(root) {
            if seen.contains(&p) {
                continue;
            }
            seen.push(p);
            let status = fs::read_to_string(format!("/proc/{p}/status"))?;
            let stat = fs::read_to_string(format!("/proc/{p}/stat"))?;
            let bad =
                |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("{what} of {p}"));
            s.rss_kib += parse_status_rss(&status).ok_or_else(|| bad("VmRSS"))?;
            s.cpu_ticks += parse_stat_cpu(&stat).ok_or_else(|| bad("utime/stime"))?;
            s.processes += 1;
        }
    }
    Ok(s)
}

/// The CPU time of this process (all threads), clock ticks.
pub fn self_cpu_ticks() -> Option<u64> {
    fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| parse_stat_cpu(&s))
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
pub fn ticks_per_second() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .filter(|v| *v > 0)
        .unwrap_or(100)
}

/// CPU use in percent of one core: `ticks` of CPU time over `wall` time.
pub fn cpu_percent(ticks: u64, ticks_per_second: u64, wall: Duration) -> f64 {
    let secs = wall.as_secs_f64();
    if secs <= 0.0 || ticks_per_second == 0 {
        return 0.0;
    }
    ticks as f64 / ticks_per_second as f64 / secs * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tl2tpd-rs\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t  123456 kB\n\
                          VmRSS:\t   10240 kB\nRssAnon:\t    4096 kB\nThreads:\t3\n";

    #[test]
    fn rss_from_status() {
        assert_eq!(parse_status_rss(STATUS), Some(10_240));
        assert_eq!(parse_status_rss("Name:\tx\n"), None);
        assert_eq!(parse_status_rss("VmRSS:\t12 MB\n"), None);
        assert_eq!(parse_status_rss("VmRSS:\tlots kB\n"), None);
    }

    #[test]
    fn cpu_from_stat_with_a_hostile_command_name() {
        // Fields 14 and 15 are 250 and 50.
        let stat = "4242 (l2tpd-rs) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 3 0 \
                    1000 123456789 2560 18446744073709551615";
        assert_eq!(parse_stat_cpu(stat), Some(300));
        // A command name with spaces and a closing parenthesis.
        let odd = "77 (a) b (c)) R 1 77 77 0 -1 0 1 2 3 4 7 8 0 0 20 0 1 0 5 6 7";
        assert_eq!(parse_stat_cpu(odd), Some(15));
        assert_eq!(parse_stat_cpu("1 (x) S 1 2 3"), None);
        assert_eq!(parse_stat_cpu("no parenthesis"), None);
    }

    #[test]
    fn children_list() {
        assert_eq!(parse_children("12 34 \n").collect::<Vec<_>>(), vec![12, 34]);
        assert_eq!(parse_children("").count(), 0);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let me = std::process::id();
        let s = sample(&[me]).unwrap();
        assert!(s.rss_kib > 0);
        assert!(s.processes >= 1);
        assert!(process_tree(me).contains(&me));
        assert!(self_cpu_ticks().is_some());
        assert!(ticks_per_second() > 0);
    }

    #[test]
    fn percent_of_one_core() {
        assert_eq!(cpu_percent(50, 100, Duration::from_secs(10)), 5.0);
        assert_eq!(cpu_percent(200, 100, Duration::from_secs(1)), 200.0);
        assert_eq!(cpu_percent(1, 100, Duration::ZERO), 0.0);
    }
}

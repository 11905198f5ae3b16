//! Process accounting from `/proc`, for the tests that bound how much CPU the server burns.

/// utime + stime of `pid`, in clock ticks (`/proc/<pid>/stat` fields 14 and 15). Panics if the
/// process is gone: a bound measured on a dead process would pass for the wrong reason.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

//! Container metrics from the process's own cgroup, v2 or v1 — what Part 3's resource limits
//! do to the pod, seen from inside: CFS throttling, the CPU and memory limits, usage, OOM kills.
//!
//! Finding the files: `/proc/self/cgroup` names the cgroup per hierarchy (`0::/path` for v2,
//! `4:memory:/path` for a v1 controller) and `/proc/self/mountinfo` says where each hierarchy
//! is mounted and which part of it (`root`) the mount shows — inside a container that is
//! usually the container's own cgroup, so the path relative to the mount root is `/`. A v1
//! hierarchy that carries the controller wins over v2: on a *hybrid* host (systemd's
//! `unified` mount) the v2 tree exists but holds no controllers. Membership is re-read at
//! every scrape, because a process can be moved to another cgroup while it runs.
//!
//! | metric                                  | v2                     | v1                          |
//! |-----------------------------------------|------------------------|-----------------------------|
//! | `container_cpu_periods_total`           | cpu.stat nr_periods    | cpu.stat nr_periods         |
//! | `container_cpu_throttled_periods_total` | cpu.stat nr_throttled  | cpu.stat nr_throttled       |
//! | `container_cpu_throttled_seconds_total` | cpu.stat throttled_usec| cpu.stat throttled_time (ns)|
//! | `container_cpu_limit_cores`             | cpu.max quota/period   | cfs_quota_us/cfs_period_us  |
//! | `container_memory_usage_bytes`          | memory.current         | memory.usage_in_bytes       |
//! | `container_memory_limit_bytes`          | memory.max             | memory.limit_in_bytes       |
//! | `container_oom_events_total`            | memory.events oom_kill | memory.oom_control oom_kill |
//!
//! A file that cannot be read leaves its metric out; so does a limit that is not set (`max`,
//! `-1`, or v1's page-rounded `i64::MAX`), since "no limit" is not a number of bytes.

use std::path::{Path, PathBuf};

use super::{Metric, Sample};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Controller {
    Cpu,
    Memory,
}

impl Controller {
    fn name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Memory => "memory",
        }
    }
}

/// One line of `/proc/self/cgroup`: `hierarchy-id:controllers:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// Comma-separated v1 controllers; empty for the v2 line (`0::`).
    pub controllers: String,
    pub path: String,
}

pub fn parse_membership(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            Some(Membership {
                controllers: controllers.to_owned(),
                path: path.to_owned(),
            })
        })
        .collect()
}

/// The fields of one `/proc/self/mountinfo` line that locate a cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The part of the hierarchy this mount shows.
    pub root: String,
    pub point: String,
    pub fstype: String,
    /// Super-block options; for v1 they name the controllers (`rw,cpu,cpuacct`).
    pub options: String,
}

/// Parses mountinfo: `id parent major:minor root point options [optional…] - fstype source
/// super-options`. Paths escape space, tab, newline and backslash as `\ooo` octal.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let mut right = right.split(' ');
            Some(Mount {
                root: unescape(left.get(3)?),
                point: unescape(left.get(4)?),
                fstype: right.next()?.to_owned(),
                options: right.nth(1)?.to_owned(),
            })
        })
        .collect()
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') << 6 | (d[1] - b'0') << 3 | (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The directory holding `controller`'s files for this process, and its cgroup version.
pub fn locate(
    members: &[Membership],
    mounts: &[Mount],
    c: Controller,
) -> Option<(Version, PathBuf)> {
    let has = |list: &str| list.split(',').any(|x| x == c.name());
    if let Some(m) = members.iter().find(|m| has(&m.controllers)) {
        let mount = mounts
            .iter()
            .find(|x| x.fstype == "cgroup" && has(&x.options))?;
        return Some((Version::V1, join(mount, &m.path)?));
    }
    let m = members.iter().find(|m| m.controllers.is_empty())?;
    let mount = mounts.iter().find(|x| x.fstype == "cgroup2")?;
    Some((Version::V2, join(mount, &m.path)?))
}

/// `path` (as /proc/self/cgroup writes it) inside `mount`; `None` when the cgroup lies
/// outside what the mount shows (e.g. `/../sibling` from inside a cgroup namespace).
fn join(mount: &Mount, path: &str) -> Option<PathBuf> {
    let rel = if mount.root == "/" {
        path
    } else if path == mount.root {
        "/"
    } else {
        path.strip_prefix(mount.root.as_str())
            .filter(|r| r.starts_with('/'))?
    };
    if rel.split('/').any(|part| part == "..") {
        return None;
    }
    Some(Path::new(&mount.point).join(rel.trim_start_matches('/')))
}

/// The value of `key` in a flat-keyed file (`key value` per line: cpu.stat, memory.events,
/// memory.oom_control).
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// v2 `cpu.max`: `$QUOTA $PERIOD` in µs, or `max $PERIOD` when unlimited.
pub fn cpu_max_cores(text: &str) -> Option<f64> {
    let mut it = text.split_ascii_whitespace();
    let quota: u64 = it.next()?.parse().ok()?;
    let period: u64 = it.next()?.parse().ok()?;
    cores(quota as i64, period)
}

/// v1 `cpu.cfs_quota_us` (`-1` when unlimited) over `cpu.cfs_period_us`.
pub fn cfs_cores(quota: &str, period: &str) -> Option<f64> {
    cores(quota.trim().parse().ok()?, period.trim().parse().ok()?)
}

fn cores(quota: i64, period: u64) -> Option<f64> {
    (quota > 0 && period > 0).then(|| quota as f64 / period as f64)
}

/// A memory limit in bytes: v2 writes `max` when unset, v1 a page-rounded `i64::MAX`.
pub fn memory_limit(text: &str) -> Option<u64> {
    let v: u64 = text.trim().parse().ok()?;
    (v < 1 << 62).then_some(v)
}

fn number(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// Appends the container samples for the process whose `/proc/self` and `/sys` are under
/// `root` (`/` in production; a fixture tree in tests).
pub fn collect_from(root: &Path, out: &mut Vec<Sample>) {
    let read = |p: &Path| std::fs::read_to_string(root.join(p.strip_prefix("/").unwrap_or(p))).ok();
    let (Some(cgroup), Some(mountinfo)) = (
        read(Path::new("/proc/self/cgroup")),
        read(Path::new("/proc/self/mountinfo")),
    ) else {
        return;
    };
    let members = parse_membership(&cgroup);
    let mounts = parse_mountinfo(&mountinfo);
    let mut push = |m, v: Option<f64>| {
        if let Some(v) = v {
            out.push(Sample::new(m, v));
        }
    };
    if let Some((version, dir)) = locate(&members, &mounts, Controller::Cpu) {
        let file = |name: &str| read(&dir.join(name));
        let stat = file("cpu.stat").unwrap_or_default();
        let stat = |k| keyed(&stat, k).map(|v| v as f64);
        push(Metric::ContainerCpuPeriods, stat("nr_periods"));
        push(Metric::ContainerCpuThrottledPeriods, stat("nr_throttled"));
        let (throttled, limit) = match version {
            Version::V2 => (
                stat("throttled_usec").map(|us| us / 1e6),
                file("cpu.max").as_deref().and_then(cpu_max_cores),
            ),
            Version::V1 => (
                stat("throttled_time").map(|ns| ns / 1e9),
                file("cpu.cfs_quota_us")
                    .zip(file("cpu.cfs_period_us"))
                    .and_then(|(q, p)| cfs_cores(&q, &p)),
            ),
        };
        push(Metric::ContainerCpuThrottledSeconds, throttled);
        push(Metric::ContainerCpuLimitCores, limit);
    }
    if let Some((version, dir)) = locate(&members, &mounts, Controller::Memory) {
        let file = |name: &str| read(&dir.join(name));
        let (usage, limit, events) = match version {
            Version::V2 => ("memory.current", "memory.max", "memory.events"),
            Version::V1 => (
                "memory.usage_in_bytes",
                "memory.limit_in_bytes",
                "memory.oom_control",
            ),
        };
        let as_f64 = |v: Option<u64>| v.map(|v| v as f64);
        push(
            Metric::ContainerMemoryUsage,
            as_f64(file(usage).as_deref().and_then(number)),
        );
        push(
            Metric::ContainerMemoryLimit,
            as_f64(file(limit).as_deref().and_then(memory_limit)),
        );
        push(
            Metric::ContainerOomEvents,
            as_f64(file(events).as_deref().and_then(|t| keyed(t, "oom_kill"))),
        );
    }
}

pub fn collect(out: &mut Vec<Sample>) {
    collect_from(Path::new("/"), out);
}

#[cfg(test)]
mod tests;

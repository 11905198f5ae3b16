//! Parsers on the kernel's documented formats, and whole-tree collection from two fixture
//! trees under `tests/fixtures/`: `cgroup-v2` (a Kubernetes container as a systemd-driver
//! node sees it) and `cgroup-v1` (captured on a cgroup v1 hybrid machine from a child cgroup
//! with a 25 ms / 100 ms quota and a 256 MiB limit).

use std::collections::HashMap;

use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn samples(root: &Path) -> HashMap<Metric, f64> {
    let mut out = Vec::new();
    collect_from(root, &mut out);
    out.into_iter().map(|s| (s.metric, s.value)).collect()
}

#[test]
fn membership_lines() {
    let m = parse_membership("12:cpu,cpuacct:/docker/abc\n0::/user.slice\n1:name=systemd:/\n");
    assert_eq!(m[0].controllers, "cpu,cpuacct");
    assert_eq!(m[0].path, "/docker/abc");
    assert_eq!(m[1].controllers, "");
    assert_eq!(m[1].path, "/user.slice");
    // A path may itself contain ':' (only the first two separate fields).
    assert_eq!(parse_membership("0::/a:b\n")[0].path, "/a:b");
}

#[test]
fn mountinfo_fields_and_escapes() {
    let line = "35 24 0:30 /docker/abc /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 master:2 \
                - cgroup cgroup rw,cpu,cpuacct\n41 31 0:38 / /mnt/with\\040space rw - cgroup2 none rw\n";
    let m = parse_mountinfo(line);
    assert_eq!(m[0].root, "/docker/abc");
    assert_eq!(m[0].point, "/sys/fs/cgroup/cpu,cpuacct");
    assert_eq!(
        (m[0].fstype.as_str(), m[0].options.as_str()),
        ("cgroup", "rw,cpu,cpuacct")
    );
    assert_eq!(m[1].point, "/mnt/with space");
    assert_eq!(m[1].fstype, "cgroup2");
}

/// A v1 controller wins over the (controller-less) v2 tree of a hybrid host; the mount root
/// is stripped; a cgroup outside the mount's view is not guessed at.
#[test]
fn locate_picks_the_right_hierarchy() {
    let members = parse_membership("4:memory:/docker/abc\n1:cpu:/\n0::/init.scope\n");
    let mounts = parse_mountinfo(
        "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n\
         35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
         41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
    );
    assert_eq!(
        locate(&members, &mounts, Controller::Cpu),
        Some((Version::V1, PathBuf::from("/sys/fs/cgroup/cpu")))
    );
    assert_eq!(
        locate(&members, &mounts, Controller::Memory),
        Some((Version::V1, PathBuf::from("/sys/fs/cgroup/memory")))
    );
    // Pure v2 inside a cgroup namespace: `0::/`, mount root `/`.
    let v2 = parse_mountinfo("29 23 0:26 / /sys/fs/cgroup ro - cgroup2 cgroup2 rw,nsdelegate\n");
    assert_eq!(
        locate(&parse_membership("0::/\n"), &v2, Controller::Memory),
        Some((Version::V2, PathBuf::from("/sys/fs/cgroup")))
    );
    assert_eq!(
        locate(&parse_membership("0::/../other\n"), &v2, Controller::Cpu),
        None
    );
    let rooted = parse_mountinfo("29 23 0:26 /pod/c1 /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n");
    assert_eq!(
        locate(&parse_membership("0::/pod/c2\n"), &rooted, Controller::Cpu),
        None
    );
    assert_eq!(
        locate(&parse_membership("0::/pod/c1x\n"), &rooted, Controller::Cpu),
        None
    );
}

#[test]
fn limits_and_keyed_files() {
    assert_eq!(cpu_max_cores("25000 100000\n"), Some(0.25));
    assert_eq!(cpu_max_cores("max 100000\n"), None);
    assert_eq!(cpu_max_cores("150000 100000"), Some(1.5));
    assert_eq!(cfs_cores("-1\n", "100000\n"), None);
    assert_eq!(cfs_cores("50000\n", "100000\n"), Some(0.5));
    assert_eq!(memory_limit("268435456\n"), Some(268_435_456));
    assert_eq!(memory_limit("max\n"), None);
    assert_eq!(memory_limit("9223372036854771712\n"), None);
    let events = "low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\noom_group_kill 0\n";
    assert_eq!(keyed(events, "oom_kill"), Some(1));
    assert_eq!(keyed(events, "oom"), Some(2));
    assert_eq!(keyed(events, "oom_group"), None);
}

#[test]
fn v2_fixture_tree() {
    let s = samples(&fixture("cgroup-v2"));
    assert_eq!(s[&Metric::ContainerCpuPeriods], 1924.0);
    assert_eq!(s[&Metric::ContainerCpuThrottledPeriods], 1377.0);
    assert_eq!(s[&Metric::ContainerCpuThrottledSeconds], 103.26594);
    assert_eq!(s[&Metric::ContainerCpuLimitCores], 0.25);
    assert_eq!(s[&Metric::ContainerMemoryUsage], 201_326_592.0);
    assert_eq!(s[&Metric::ContainerMemoryLimit], 268_435_456.0);
    assert_eq!(s[&Metric::ContainerOomEvents], 1.0);
    assert_eq!(s.len(), 7);
}

#[test]
fn v1_fixture_tree() {
    let s = samples(&fixture("cgroup-v1"));
    assert_eq!(s[&Metric::ContainerCpuPeriods], 11.0);
    assert_eq!(s[&Metric::ContainerCpuThrottledPeriods], 6.0);
    assert_eq!(s[&Metric::ContainerCpuThrottledSeconds], 0.023773537);
    assert_eq!(s[&Metric::ContainerCpuLimitCores], 0.25);
    assert_eq!(s[&Metric::ContainerMemoryUsage], 286_720.0);
    assert_eq!(s[&Metric::ContainerMemoryLimit], 268_435_456.0);
    assert_eq!(s[&Metric::ContainerOomEvents], 0.0);
}

/// Nothing readable, nothing reported (not zeros).
#[test]
fn an_unreadable_tree_reports_nothing() {
    assert!(samples(&fixture("no-such-tree")).is_empty());
}

//! The process's footprint: resident memory and CPU time of one replica with 1,000 and 10,000
//! runners on the simulated cloud, at rest and while every runner deploys. Each fleet size runs
//! in a child process of its own, so that one size's high-water mark does not hide another's.
//!
//! Memory is read from /proc/self/status (VmRSS now, VmHWM the peak); CPU from the process's own
//! accounting (getrusage: user + system time of every thread). The simulated cloud's share of a
//! pass is the CPU time of the threads inside its API entry points (each call completes without
//! yielding, so a thread CPU clock read before and after sees only the simulation); the rest is
//! the controller's own. Prints the figures; nothing asserts on them (BENCHMARKS.md keeps them).

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod common;

use chrono::{DateTime, Utc};
use common::{converged_world, world_yaml};
use switchyard::clock::Clock;
use switchyard::cloud::sim::{ManualClock, SimCloud};
use switchyard::cloud::{Applied, Cloud, CloudError, Detail};
use switchyard::config::{self, Config};
use switchyard::controller::Controller;
use switchyard::core::{Phase, RunnerObservation, RunnerSpec, Shard, Step};
use switchyard::lease::Standing;
use switchyard::telemetry::{Health, Metrics, StatusBoard};

const CHILD: &str = "SWITCHYARD_FOOTPRINT_RUNNERS";
const STEADY_PASSES: usize = 10;
fn main() {
    match std::env::var(CHILD).ok().and_then(|v| v.parse().ok()) {
        Some(runners) => measure(runners),
        None => {
            // `cargo bench` passes --bench; `cargo test --all-targets` (make test) runs this
            // without it, in a debug build: a small fleet in-process only shows that it runs.
            let full = std::env::args().any(|a| a == "--bench");
            let sizes = std::env::var("SWITCHYARD_BENCH_FOOTPRINT")
                .unwrap_or_else(|_| if full { "1000,10000" } else { "100" }.to_owned());
            if full {
                daemon(1000);
            } else {
                println!("footprint: a short run; `cargo bench --bench footprint` runs every size");
            }
            for runners in sizes.split(',').map(str::trim) {
                let exe = std::env::current_exe().expect("the bench's own path");
                let status = Command::new(exe)
                    .env(CHILD, runners)
                    .status()
                    .expect("the bench runs itself as a child");
                assert!(status.success(), "footprint of {runners} runners: {status}");
            }
        }
    }
}

/// The real daemon, as an operator runs it: `switchyard run` on a file of `runners` converged
/// runners (the simulated world in the file), at rest with `syncInterval: 5s`; RSS from
/// /proc/<pid>/status, CPU from /proc/<pid>/stat (utime + stime) over six sync intervals. This
/// includes what the in-process figures below leave out: the HTTP server, the file watcher and
/// its periodic re-read, logging.
fn daemon(runners: usize) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("fleet.yaml");
    let mut text = String::from(
        "controller:\n  cloud: simulated\n  listen: 127.0.0.1:0\n  syncInterval: 5s\n  simulated:\n    world:\n",
    );
    text.push_str(&world_yaml(runners, "capacity: 2"));
    let fleet = fleet_file(runners);
    text.push_str(&fleet[fleet.find("runners:\n").expect("the runners")..]);
    std::fs::write(&path, text).expect("the fleet file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["run", "--config"])
        .arg(&path)
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("switchyard run");
    let pid = child.id();
    let ticks = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
        // Fields after the command name, which is in parentheses: utime and stime are 14 and 15.
        let after = &stat[stat.rfind(')').expect("(comm)") + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    // Start-up and the first passes, then six sync intervals at rest.
    std::thread::sleep(Duration::from_secs(12));
    let before = ticks(pid);
    std::thread::sleep(Duration::from_secs(30));
    let after = ticks(pid);
    let (rss, hwm) = memory_of(pid.to_string().as_str());
    let _ = child.kill();
    let _ = child.wait();
    // SAFETY: sysconf only reads a system setting.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let per_pass = (after - before) as f64 / hz * 1000.0 / 6.0;
    println!(
        "daemon: `switchyard run`, {runners} converged runners on the simulated cloud, syncInterval 5s"
    );
    println!(
        "  at rest: {rss:.1} MiB RSS (VmRSS), peak {hwm:.1} MiB (VmHWM); {per_pass:.0} ms of process CPU per sync interval"
    );
}

/// The simulated cloud, with the CPU time spent inside its calls added up.
struct Timed {
    sim: SimCloud,
    cpu_ns: AtomicU64,
}

impl Timed {
    fn spent(&self) -> Duration {
        Duration::from_nanos(self.cpu_ns.load(Ordering::Relaxed))
    }

    fn add(&self, since: Duration) {
        let ns = thread_cpu().saturating_sub(since).as_nanos() as u64;
        self.cpu_ns.fetch_add(ns, Ordering::Relaxed);
    }
}

impl Cloud for Timed {
    async fn account_id(&self) -> Result<String, CloudError> {
        let t = thread_cpu();
        let answer = self.sim.account_id().await;
        self.add(t);
        answer
    }

    async fn observe(
        &self,
        runners: &[&RunnerSpec],
        detail: Detail,
    ) -> Result<Vec<RunnerObservation>, CloudError> {
        let t = thread_cpu();
        let answer = self.sim.observe(runners, detail).await;
        self.add(t);
        answer
    }

    async fn apply(&self, runner: &RunnerSpec, step: &Step) -> Result<Applied, CloudError> {
        let t = thread_cpu();
        let answer = self.sim.apply(runner, step).await;
        self.add(t);
        answer
    }

    fn standing(&self) -> Standing {
        self.sim.standing()
    }
}

fn thread_cpu() -> Duration {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes into it.
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime({id})");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// User + system CPU time of every thread of the process so far.
fn process_cpu() -> Duration {
    // SAFETY: an all-zero rusage is valid; getrusage only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// (VmRSS, VmHWM) of this process in MiB.
fn memory() -> (f64, f64) {
    memory_of("self")
}

/// (VmRSS, VmHWM) in MiB of the process `pid` (or `self`).
fn memory_of(pid: &str) -> (f64, f64) {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// What glibc's malloc holds: in use by the program, and free but kept (fragmentation).
fn heap() -> String {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    let info = unsafe { libc::mallinfo2() };
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    format!(
        "malloc: {:.1} MiB in use, {:.1} MiB free in its heaps; {} mmapped chunks of {:.1} MiB",
        mib(info.uordblks),
        mib(info.fordblks),
        info.hblks,
        mib(info.hblkhd)
    )
}

/// Short waits, so that a deployment of the whole fleet takes a few dozen passes.
fn fleet_file(runners: usize) -> String {
    common::fleet_file(
        "controller:\n  cloud: simulated\n  syncInterval: 30s\n  transitionInterval: 2s\n\
         defaults:\n  healthCheckGracePeriod: 6s\n  stabilityDuration: 6s\n  postSwitchCheck: 4s\n  drainDelay: 4s\n",
        runners,
    )
}

/// CPU of one pass: the whole process, and the simulated cloud's part of it.
#[derive(Default, Clone, Copy)]
struct PassCpu {
    process: Duration,
    sim: Duration,
}

impl PassCpu {
    fn controller(self) -> Duration {
        self.process.saturating_sub(self.sim)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Mean, min and max of `f` over `passes`, in ms.
fn spread(passes: &[PassCpu], f: impl Fn(&PassCpu) -> Duration) -> String {
    let values: Vec<f64> = passes.iter().map(|p| ms(f(p))).collect();
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    format!("{mean:.1} ms (min {min:.1}, max {max:.1})")
}

fn measure(runners: usize) {
    let (rss, _) = memory();
    println!("footprint: {runners} runners on the simulated cloud, one replica");
    println!("  before the fleet: {rss:.1} MiB RSS");
    let mut config = {
        let text = fleet_file(runners);
        config::parse(&text, std::path::Path::new("fleet.yaml")).expect("valid fleet")
    };
    converged_world(&mut config);

    let start: DateTime<Utc> = "2026-11-24T00:00:00Z".parse().unwrap();
    let clock = ManualClock::starting_at(start);
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let metrics = Arc::new(Metrics::new("bench"));
    let sim = SimCloud::new(
        &config.controller.simulated,
        &config.runners,
        Arc::clone(&shared),
    )
    .with_observer(metrics.clone());
    let cloud = Arc::new(Timed {
        sim: sim.clone(),
        cpu_ns: AtomicU64::new(0),
    });
    let sync = config.controller.sync_interval;
    let transition = config.controller.transition_interval;
    let mut controller = Controller::new(
        Arc::clone(&cloud),
        shared,
        Arc::clone(&metrics),
        StatusBoard::new(),
        Health::new(sync),
        Arc::new(config),
    );
    let runtime = switchyard::runtime().expect("the daemon's runtime");

    let pass = |controller: &mut Controller<Timed>| {
        let (cpu, sim_cpu, wall) = (process_cpu(), cloud.spent(), Instant::now());
        // On the bench's own thread, as the daemon's loop runs on its main thread (block_on).
        let decisions = runtime.block_on(controller.run_once());
        let used = PassCpu {
            process: process_cpu() - cpu,
            sim: cloud.spent() - sim_cpu,
        };
        let converged = decisions
            .iter()
            .filter(|(_, d)| d.phase == Phase::Converged)
            .count();
        (used, wall.elapsed(), converged)
    };

    let (first, wall, _) = pass(&mut controller);
    let (rss, hwm) = memory();
    println!(
        "  first pass: {:.0} ms CPU ({:.0} ms wall); {rss:.1} MiB RSS, peak {hwm:.1} MiB",
        ms(first.process),
        ms(wall)
    );
    let mut steady = Vec::new();
    for _ in 0..STEADY_PASSES {
        clock.advance(sync + Duration::from_secs(1));
        let (used, _, converged) = pass(&mut controller);
        assert_eq!(converged, runners, "a steady pass over a converged fleet");
        steady.push(used);
    }
    let (rss, hwm) = memory();
    println!("  at rest, per steady pass ({STEADY_PASSES} passes):");
    println!("    process CPU:        {}", spread(&steady, |p| p.process));
    println!("    simulated cloud:    {}", spread(&steady, |p| p.sim));
    println!(
        "    controller's own:   {}",
        spread(&steady, |p| p.controller())
    );
    println!("  at rest: {rss:.1} MiB RSS (VmRSS), peak so far {hwm:.1} MiB (VmHWM)");
    println!("    {}", heap());
    let scrape = metrics.encode();
    let (rss, _) = memory();
    println!(
        "  after one metrics scrape ({:.1} MiB of text): {rss:.1} MiB RSS",
        scrape.len() as f64 / (1024.0 * 1024.0)
    );
    drop(scrape);

    // Every runner to green at once.
    let mut edited = Config::clone(controller.config());
    for runner in &mut edited.runners {
        runner.active_shard = Shard::Green;
    }
    controller.set_config(Arc::new(edited));
    let mut deploying = Vec::new();
    let mut peak_rss: f64 = 0.0;
    let mut passes = 0;
    loop {
        clock.advance(transition);
        let (used, _, converged) = pass(&mut controller);
        deploying.push(used);
        passes += 1;
        peak_rss = peak_rss.max(memory().0);
        if converged == runners || passes == 200 {
            println!(
                "  all deploying: {converged}/{runners} converged on green after {passes} passes"
            );
            break;
        }
    }
    let (rss, hwm) = memory();
    println!(
        "    process CPU per pass: {}",
        spread(&deploying, |p| p.process)
    );
    println!(
        "    simulated cloud:      {}",
        spread(&deploying, |p| p.sim)
    );
    println!(
        "    controller's own:     {}",
        spread(&deploying, |p| p.controller())
    );
    println!(
        "    RSS while deploying: up to {peak_rss:.1} MiB (sampled after each pass); peak {hwm:.1} MiB (VmHWM); {rss:.1} MiB after"
    );
}

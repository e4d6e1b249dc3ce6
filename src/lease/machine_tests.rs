//! The lease machine on a simulated clock: each rule of docs/high-availability.md on its own, then
//! two and three replicas against one item through random latencies, lost answers, failures and
//! pauses, checking that no two of them are ever allowed to mutate in overlapping windows.

use std::time::Duration;

use tokio::time::Instant;

use super::item::{Claimant, LeaseItem, LeaseWrite};
use super::machine::{Machine, Mode, Plan, Refusal, Request, Timing};
use super::store::StoreError;

const D: Duration = Duration::from_secs(15);
const R: Duration = Duration::from_secs(5);
const TIMING: Timing = Timing {
    lease_duration: D,
    renew_interval: R,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn me(name: &str) -> Claimant {
    Claimant::new(name, format!("{name}-token"))
}

/// One machine and the item it talks to, answering every request at once unless told
/// otherwise.
struct Bench {
    t0: Instant,
    item: Option<LeaseItem>,
}

impl Bench {
    fn new() -> Bench {
        Bench {
            t0: Instant::now(),
            item: None,
        }
    }

    fn at(&self, offset: Duration) -> Instant {
        self.t0 + offset
    }

    /// Sends what `m` plans at `t` (if anything) and answers it at once; returns the request.
    fn step(&mut self, m: &mut Machine, t: Duration) -> Option<Request> {
        let now = self.at(t);
        match m.plan(now, 0) {
            Plan::Send(request) => {
                self.answer(m, &request, now, now);
                Some(request)
            }
            _ => None,
        }
    }

    fn answer(&mut self, m: &mut Machine, request: &Request, started: Instant, done: Instant) {
        match request {
            Request::Read => m.on_read(Ok(self.item.clone()), started, done),
            Request::Write(w) => {
                let result = self.land(m.me(), w);
                m.on_write(w, started, done, result);
            }
        }
    }

    fn land(&mut self, who: &Claimant, w: &LeaseWrite) -> Result<LeaseItem, StoreError> {
        match w.apply(self.item.as_ref(), who, D) {
            Some(after) => {
                self.item = Some(after.clone());
                Ok(after)
            }
            None => Err(StoreError::Conflict),
        }
    }

    /// Runs `m` until `t`, answering everything at once.
    fn run_until(&mut self, m: &mut Machine, from: Duration, until: Duration) {
        let mut t = from;
        while t <= until {
            while self.step(m, t).is_some() {}
            t += ms(100);
        }
    }
}

fn leader(bench: &mut Bench, name: &str) -> Machine {
    let mut m = Machine::new(me(name), Mode::Daemon, TIMING, bench.at(Duration::ZERO));
    assert_eq!(bench.step(&mut m, Duration::ZERO), Some(Request::Read));
    assert_eq!(
        bench.step(&mut m, Duration::ZERO),
        Some(Request::Write(LeaseWrite::Create))
    );
    assert!(m.view().leader);
    m
}

#[test]
fn the_first_replica_creates_the_lease_and_renews_it_every_renew_interval() {
    let mut bench = Bench::new();
    let mut a = leader(&mut bench, "a");
    assert_eq!(a.view().term, 1);
    assert_eq!(
        a.plan(bench.at(ms(4_999)), 0),
        Plan::Wait(Some(bench.at(R)))
    );
    assert_eq!(
        bench.step(&mut a, R),
        Some(Request::Write(LeaseWrite::Renew { from: 1 }))
    );
    assert_eq!(bench.item.as_ref().unwrap().version, 2);
    assert_eq!(a.view().term, 1, "renewing keeps the term");
    assert_eq!(a.view().transitions, 1);
}

#[test]
fn a_holder_lets_a_mutation_through_only_with_more_than_its_timeout_left() {
    let mut bench = Bench::new();
    let mut a = leader(&mut bench, "a");
    let timeout = TIMING.mutation_timeout();
    assert_eq!(timeout, ms(5_000));
    assert_eq!(a.permit(bench.at(ms(9_999)), timeout), Ok(()));
    // At 10 s exactly, 5 s are left: not more than the timeout.
    assert_eq!(
        a.permit(bench.at(ms(10_000)), timeout),
        Err(Refusal::RunningOut {
            left: ms(5_000),
            needed: timeout
        })
    );
    assert!(!a.view().leader, "it stepped down at once");
    assert_eq!(a.view().transitions, 2);
    assert!(matches!(
        a.permit(bench.at(ms(10_001)), timeout),
        Err(Refusal::Standby { .. })
    ));
}

#[test]
fn the_lease_runs_from_the_start_of_the_renew_not_its_answer() {
    let mut bench = Bench::new();
    let mut a = leader(&mut bench, "a");
    let Plan::Send(request) = a.plan(bench.at(R), 0) else {
        panic!("a renewal is due");
    };
    // Answered 4 s after it was sent.
    bench.answer(&mut a, &request, bench.at(R), bench.at(R + ms(4_000)));
    let timeout = TIMING.mutation_timeout();
    assert_eq!(a.permit(bench.at(R + ms(9_999)), timeout), Ok(()));
    assert!(a.permit(bench.at(R + ms(10_000)), timeout).is_err());
}

#[test]
fn a_standby_reads_on_its_cadence_from_each_reads_start_however_slow_the_answer() {
    let mut bench = Bench::new();
    let _a = leader(&mut bench, "a");
    let mut b = Machine::new(me("b"), Mode::Daemon, TIMING, bench.at(ms(2_000)));
    let poll = R * 3 / 4;
    // Answered 300 ms after it was sent: the next read is due a poll after the send.
    b.on_read(
        Ok(bench.item.clone()),
        bench.at(ms(2_000)),
        bench.at(ms(2_300)),
    );
    assert_eq!(
        b.plan(bench.at(ms(2_300)), 0),
        Plan::Wait(Some(bench.at(ms(2_000) + poll)))
    );
    // An answer slower than the cadence: read again at once, not a poll later.
    b.on_read(
        Ok(bench.item.clone()),
        bench.at(ms(3_000)),
        bench.at(ms(3_000) + poll + ms(100)),
    );
    assert_eq!(
        b.plan(bench.at(ms(3_000) + poll + ms(100)), 0),
        Plan::Send(Request::Read)
    );
}

#[test]
fn a_standby_takes_over_only_after_the_version_stood_still_for_a_lease_duration() {
    let mut bench = Bench::new();
    let _a = leader(&mut bench, "a");
    // a dies now. b starts 2 s later and first sees version 1 at 2.3 s.
    let mut b = Machine::new(me("b"), Mode::Daemon, TIMING, bench.at(ms(2_000)));
    let Plan::Send(Request::Read) = b.plan(bench.at(ms(2_000)), 0) else {
        panic!("b reads first");
    };
    b.on_read(
        Ok(bench.item.clone()),
        bench.at(ms(2_000)),
        bench.at(ms(2_300)),
    );
    assert!(!b.view().leader);
    assert_eq!(b.view().holder, Some(me("a")));
    let mut took = None;
    let mut t = ms(2_300);
    while took.is_none() && t < ms(40_000) {
        if let Some(Request::Write(LeaseWrite::Take { from: 1 })) = bench.step(&mut b, t) {
            took = Some(t);
        }
        t += ms(100);
    }
    assert_eq!(took, Some(ms(17_300)), "2.3 s + the lease duration");
    assert!(b.view().leader);
    assert_eq!(bench.item.as_ref().unwrap().holder, Some(me("b")));
}

#[test]
fn a_standby_that_sees_the_holder_renew_keeps_waiting() {
    let mut bench = Bench::new();
    let mut a = leader(&mut bench, "a");
    let mut b = Machine::new(me("b"), Mode::Daemon, TIMING, bench.at(Duration::ZERO));
    let mut t = Duration::ZERO;
    while t < ms(120_000) {
        while bench.step(&mut a, t).is_some() {}
        while bench.step(&mut b, t).is_some() {}
        assert!(!b.view().leader, "b took a live lease at {t:?}");
        t += ms(100);
    }
    assert!(a.view().leader);
    assert_eq!(a.view().transitions, 1);
}

#[test]
fn a_standby_waits_for_the_longer_of_its_own_and_the_holders_lease_duration() {
    let mut bench = Bench::new();
    let _a = leader(&mut bench, "a");
    bench.item.as_mut().unwrap().lease_duration = ms(30_000);
    let mut b = Machine::new(me("b"), Mode::Daemon, TIMING, bench.at(Duration::ZERO));
    bench.run_until(&mut b, Duration::ZERO, ms(29_900));
    assert!(!b.view().leader);
    bench.run_until(&mut b, ms(30_000), ms(30_000));
    assert!(b.view().leader);
}

#[test]
fn a_renewal_that_finds_another_version_stops_the_holder_at_once() {
    let mut bench = Bench::new();
    let mut a = leader(&mut bench, "a");
    // b took it behind a's back (a was paused past its lease, say).
    bench.item = LeaseWrite::Take { from: 1 }.apply(bench.item.as_ref(), &me("b"), D);
    assert_eq!(
        bench.step(&mut a, R),
        Some(Request::Write(LeaseWrite::Renew { from: 1 }))
    );
    assert!(!a.view().leader);
    assert!(a.permit(bench.at(R), ms(1)).is_err());
    assert_eq!(bench.step(&mut a, R), Some(Request::Read));
    assert_eq!(a.view().holder, Some(me("b")));
}

#[test]
fn a_renewal_whose_answer_was_lost_is_found_out_by_a_read_and_keeps_the_term() {
    let mut bench = Bench::new();
    let mut a = leader(&mut bench, "a");
    let renew = LeaseWrite::Renew { from: 1 };
    assert_eq!(
        a.plan(bench.at(R), 0),
        Plan::Send(Request::Write(renew.clone()))
    );
    // It landed, but no answer came.
    bench.land(&me("a"), &renew).unwrap();
    a.on_write(
        &renew,
        bench.at(R),
        bench.at(R + ms(100)),
        Err(StoreError::Unknown {
            operation: "UpdateItem",
        }),
    );
    assert!(a.view().leader, "the old lease still runs");
    assert_eq!(bench.step(&mut a, R + ms(100)), Some(Request::Read));
    assert_eq!(
        bench.step(&mut a, R + ms(100)),
        Some(Request::Write(LeaseWrite::Renew { from: 2 }))
    );
    assert!(a.view().leader);
    assert_eq!(a.view().term, 1);
    assert_eq!(a.view().transitions, 1);
}

#[test]
fn a_take_whose_answer_was_lost_but_landed_opens_a_new_term() {
    let mut bench = Bench::new();
    let _a = leader(&mut bench, "a");
    let mut b = Machine::new(me("b"), Mode::Daemon, TIMING, bench.at(Duration::ZERO));
    let take = LeaseWrite::Take { from: 1 };
    let mut t = Duration::ZERO;
    loop {
        match b.plan(bench.at(t), 0) {
            Plan::Send(Request::Write(w)) if w == take => break,
            Plan::Send(request) => bench.answer(&mut b, &request, bench.at(t), bench.at(t)),
            _ => t += ms(100),
        }
    }
    assert_eq!(t, D);
    bench.land(&me("b"), &take).unwrap();
    b.on_write(
        &take,
        bench.at(t),
        bench.at(t + ms(100)),
        Err(StoreError::Unknown {
            operation: "UpdateItem",
        }),
    );
    assert!(!b.view().leader);
    bench.run_until(&mut b, t + ms(100), t + ms(100));
    assert!(b.view().leader);
    assert_eq!(
        b.view().term,
        1,
        "a new term for b, even though it came by a renewal"
    );
}

#[test]
fn a_renewal_refused_by_throttling_is_retried_and_the_holder_steps_down_in_time() {
    let mut bench = Bench::new();
    let mut a = leader(&mut bench, "a");
    let mut t = R;
    let mut renewals = 0;
    while t < ms(20_000) {
        if let Plan::Send(Request::Write(w)) = a.plan(bench.at(t), 0) {
            renewals += 1;
            a.on_write(
                &w,
                bench.at(t),
                bench.at(t),
                Err(StoreError::Unavailable {
                    operation: "UpdateItem",
                    message: "throttled".into(),
                }),
            );
        }
        if t < ms(10_000) {
            assert!(a.view().leader, "{t:?}");
        } else {
            a.plan(bench.at(t), 0);
            assert!(!a.view().leader, "{t:?}");
        }
        t += ms(100);
    }
    // 5 s, 6.25 s, 7.5 s, 8.75 s: then the lease ran too short.
    assert_eq!(renewals, 4);
}

#[test]
fn shutdown_waits_for_the_mutation_in_flight_then_releases_and_a_standby_takes_it_at_once() {
    let mut bench = Bench::new();
    let mut a = leader(&mut bench, "a");
    let mut b = Machine::new(me("b"), Mode::Daemon, TIMING, bench.at(Duration::ZERO));
    bench.step(&mut b, Duration::ZERO);
    a.permit(bench.at(ms(1_000)), ms(500)).unwrap();
    a.shut_down();
    assert!(!a.view().leader, "no new mutation once shutting down");
    assert_eq!(
        a.permit(bench.at(ms(1_000)), ms(500)),
        Err(Refusal::Releasing)
    );
    assert!(matches!(
        a.plan(bench.at(ms(1_000)), 1),
        Plan::Wait(Some(_))
    ));
    assert_eq!(
        bench.step(&mut a, ms(1_200)),
        Some(Request::Write(LeaseWrite::Release {
            from: 1,
            reserve_for: None
        }))
    );
    assert_eq!(a.plan(bench.at(ms(1_200)), 0), Plan::Stopped);
    assert!(bench.item.as_ref().unwrap().holder.is_none());
    // b reads on its poll and takes a free lease without waiting.
    bench.run_until(&mut b, R, R);
    assert!(b.view().leader);
    assert_eq!(b.view().term, 1);
}

#[test]
fn a_one_shot_command_gets_the_lease_handed_over_and_other_standbys_keep_off_it() {
    let mut bench = Bench::new();
    let mut a = leader(&mut bench, "a");
    let mut c = Machine::new(me("c"), Mode::Daemon, TIMING, bench.at(Duration::ZERO));
    bench.step(&mut c, Duration::ZERO);
    let mut op = Machine::new(me("repair"), Mode::Operator, TIMING, bench.at(ms(1_000)));
    assert_eq!(bench.step(&mut op, ms(1_000)), Some(Request::Read));
    assert_eq!(
        bench.step(&mut op, ms(1_000)),
        Some(Request::Write(LeaseWrite::RequestHandover { at: 1 }))
    );
    assert_eq!(bench.item.as_ref().unwrap().handover_to, Some(me("repair")));
    // a learns of it with its next renewal, while a mutation of its own is in flight.
    a.permit(bench.at(R), ms(1_000)).unwrap();
    bench.step(&mut a, R);
    assert!(!a.view().leader);
    assert_eq!(a.permit(bench.at(R), ms(1)), Err(Refusal::Releasing));
    assert!(matches!(a.plan(bench.at(R), 1), Plan::Wait(_)));
    let release = a.plan(bench.at(R + ms(300)), 0);
    let Plan::Send(Request::Write(w @ LeaseWrite::Release { .. })) = &release else {
        panic!("{release:?}");
    };
    bench.answer(
        &mut a,
        &Request::Write(w.clone()),
        bench.at(R + ms(300)),
        bench.at(R + ms(300)),
    );
    let item = bench.item.clone().unwrap();
    assert_eq!((item.holder, item.reserved_for), (None, Some(me("repair"))));
    // c sees a lease kept for somebody else and waits a whole lease duration for it.
    bench.run_until(&mut c, R + ms(400), R + ms(400));
    assert!(!c.view().leader);
    bench.run_until(&mut op, R + ms(400), R + ms(500));
    assert!(op.view().leader);
    bench.run_until(&mut c, R + ms(500), R + ms(10_000));
    assert!(
        !c.view().leader,
        "c kept off the reserved lease, then saw it taken"
    );
    // The command is done: it gives the lease back, and a standby takes it at once.
    op.shut_down();
    bench.run_until(&mut op, R + ms(10_100), R + ms(10_100));
    assert_eq!(op.plan(bench.at(R + ms(10_200)), 0), Plan::Stopped);
    assert!(bench.item.as_ref().unwrap().holder.is_none());
    bench.run_until(&mut c, R + ms(10_200), R + ms(15_300));
    assert!(c.view().leader, "{:?} {:?}", c.view(), bench.item);
}

// ---------------------------------------------------------------------------------------------
// Replicas against one item: latencies, lost answers, failures, pauses.

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

enum Fate {
    /// Lands at the first instant, answered at the second.
    Answered(Duration, Duration),
    /// Lands (or not), the answer is lost: the elector gives up after one renew interval.
    Lost { lands: Option<Duration> },
    /// Refused before it was applied, answered then.
    Refused(Duration),
}

/// What the table made of a request when it landed.
enum Landed {
    Read(Option<LeaseItem>),
    Wrote(Result<LeaseItem, StoreError>),
}

struct Pending {
    request: Request,
    started: Duration,
    fate: Fate,
    landed: Option<Landed>,
}

struct Replica {
    machine: Machine,
    pending: Option<Pending>,
    paused_until: Duration,
    /// Instants at which this replica was allowed to send a mutation.
    permitted: Vec<Duration>,
}

fn unknown() -> StoreError {
    StoreError::Unknown {
        operation: "UpdateItem",
    }
}

fn run_replicas(seed: u64, replicas: usize) {
    let mut rng = Rng(seed);
    let t0 = Instant::now();
    let at = |d: Duration| t0 + d;
    let timeout = TIMING.mutation_timeout();
    let mut item: Option<LeaseItem> = None;
    let mut group: Vec<Replica> = (0..replicas)
        .map(|i| Replica {
            machine: Machine::new(
                me(&format!("r{i}")),
                Mode::Daemon,
                TIMING,
                at(Duration::ZERO),
            ),
            pending: None,
            paused_until: Duration::ZERO,
            permitted: Vec::new(),
        })
        .collect();
    let tick = ms(100);
    let end = ms(600_000);
    let mut t = Duration::ZERO;
    while t < end {
        for r in group.iter_mut() {
            // Requests land in the table whether or not their sender is paused.
            if let Some(p) = &mut r.pending
                && p.landed.is_none()
            {
                let lands = match p.fate {
                    Fate::Answered(l, _) => Some(l),
                    Fate::Lost { lands } => lands,
                    Fate::Refused(_) => None,
                };
                if lands.is_some_and(|l| l <= t) {
                    p.landed = Some(match &p.request {
                        Request::Read => Landed::Read(item.clone()),
                        Request::Write(w) => match w.apply(item.as_ref(), r.machine.me(), D) {
                            Some(after) => {
                                item = Some(after.clone());
                                Landed::Wrote(Ok(after))
                            }
                            None => Landed::Wrote(Err(StoreError::Conflict)),
                        },
                    });
                }
            }
            if t < r.paused_until {
                continue;
            }
            if rng.below(2_000) == 0 {
                // Frozen for up to two lease durations (SIGSTOP, a VM pause, a long GC).
                r.paused_until = t + ms(rng.below(30_000));
                continue;
            }
            if let Some(p) = r.pending.take() {
                let answered_at = match p.fate {
                    Fate::Answered(_, a) | Fate::Refused(a) => a,
                    Fate::Lost { .. } => p.started + R,
                };
                if answered_at > t {
                    r.pending = Some(p);
                } else {
                    let (started, done) = (at(p.started), at(t));
                    let answer = match p.fate {
                        Fate::Answered(..) => p.landed,
                        Fate::Lost { .. } => None,
                        Fate::Refused(_) => Some(Landed::Wrote(Err(StoreError::Unavailable {
                            operation: "UpdateItem",
                            message: "throttled".into(),
                        }))),
                    };
                    match (&p.request, answer) {
                        (Request::Read, Some(Landed::Read(seen))) => {
                            r.machine.on_read(Ok(seen), started, done)
                        }
                        (Request::Read, _) => r.machine.on_read(Err(unknown()), started, done),
                        (Request::Write(w), Some(Landed::Wrote(result))) => {
                            r.machine.on_write(w, started, done, result)
                        }
                        (Request::Write(w), _) => {
                            r.machine.on_write(w, started, done, Err(unknown()))
                        }
                    }
                }
            }
            if r.pending.is_none()
                && let Plan::Send(request) = r.machine.plan(at(t), 0)
            {
                let roll = rng.below(100);
                let latency = ms(rng.below(2_000));
                let fate = if roll < 8 {
                    Fate::Lost {
                        lands: (rng.below(2) == 0).then_some(t + latency),
                    }
                } else if roll < 16 {
                    Fate::Refused(t + latency)
                } else {
                    Fate::Answered(t + latency, t + latency + ms(rng.below(1_500)))
                };
                r.pending = Some(Pending {
                    request,
                    started: t,
                    fate,
                    landed: None,
                });
            }
            if r.machine.permit(at(t), timeout).is_ok() {
                r.permitted.push(t);
            }
        }
        t += tick;
    }
    // A mutation allowed at t may land until t + timeout: no other replica may be allowed
    // anywhere in that window.
    for (i, a) in group.iter().enumerate() {
        for (j, b) in group.iter().enumerate() {
            if i == j {
                continue;
            }
            for &ta in &a.permitted {
                // `permitted` is in time order.
                let first = b.permitted.partition_point(|&tb| tb < ta);
                if let Some(&tb) = b.permitted.get(first).filter(|&&tb| tb <= ta + timeout) {
                    panic!(
                        "seed {seed}: r{i} may mutate at {ta:?} (landing until {:?}) and r{j} \
                         at {tb:?}",
                        ta + timeout
                    );
                }
            }
        }
    }
    let led = group.iter().filter(|r| !r.permitted.is_empty()).count();
    assert!(led >= 1, "seed {seed}: nobody ever led");
}

#[test]
fn replicas_never_both_mutate_through_latency_lost_answers_failures_and_pauses() {
    for seed in 0..60 {
        run_replicas(seed, 2 + (seed as usize % 2));
    }
}

//! The budget on tokio's paused clock: waits of seconds take none.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::*;

#[derive(Default)]
struct Recorder {
    waiting: Mutex<HashMap<(&'static str, Priority), i64>>,
    waited: Mutex<HashMap<(&'static str, Priority), Duration>>,
}

impl RequestObserver for Recorder {
    fn request(&self, _: &'static str, _: &'static str, _: &'static str, _: Duration) {}

    fn budget_waiting(&self, service: &'static str, priority: Priority, delta: i64) {
        *self
            .waiting
            .lock()
            .unwrap()
            .entry((service, priority))
            .or_default() += delta;
    }

    fn budget_waited(&self, service: &'static str, priority: Priority, waited: Duration) {
        *self
            .waited
            .lock()
            .unwrap()
            .entry((service, priority))
            .or_default() += waited;
    }
}

impl Recorder {
    fn waiting(&self, service: &'static str, priority: Priority) -> i64 {
        self.waiting
            .lock()
            .unwrap()
            .get(&(service, priority))
            .copied()
            .unwrap_or(0)
    }

    fn waited(&self, service: &'static str, priority: Priority) -> Duration {
        self.waited
            .lock()
            .unwrap()
            .get(&(service, priority))
            .copied()
            .unwrap_or_default()
    }
}

fn budget(ssm: u32) -> (Arc<Budget>, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let rates = RequestRates {
        ssm,
        ..RequestRates::default()
    };
    let budget = Arc::new(Budget::new(&rates, Arc::clone(&recorder) as _));
    (budget, recorder)
}

type Admissions = Arc<Mutex<Vec<(String, Duration)>>>;

/// Spawns a request that records who got its token when.
fn request(
    budget: &Arc<Budget>,
    admissions: &Admissions,
    who: &str,
    service: &'static str,
    priority: Priority,
) -> tokio::task::JoinHandle<()> {
    let (budget, admissions, who) = (Arc::clone(budget), Arc::clone(admissions), who.to_owned());
    let start = Instant::now();
    tokio::spawn(async move {
        budget.admit(service, priority).await;
        admissions.lock().unwrap().push((who, start.elapsed()));
    })
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn a_bucket_holds_one_second_of_requests_and_refills_at_its_rate() {
    let (budget, recorder) = budget(10);
    let started = Instant::now();
    for _ in 0..100 {
        budget.admit("ssm", Priority::Sweep).await;
    }
    // Ten at once, then one every 100 ms.
    assert_eq!(started.elapsed(), Duration::from_secs(9));
    assert_eq!(
        recorder.waited("ssm", Priority::Sweep),
        Duration::from_secs(9)
    );
    assert_eq!(recorder.waiting("ssm", Priority::Sweep), 0);
}

#[tokio::test(start_paused = true)]
async fn a_step_goes_ahead_of_the_sweeps_that_were_waiting_before_it() {
    let (budget, recorder) = budget(2);
    budget.admit("ssm", Priority::Sweep).await;
    budget.admit("ssm", Priority::Sweep).await;
    let admissions = Admissions::default();
    let mut tasks: Vec<_> = (0..3)
        .map(|i| {
            request(
                &budget,
                &admissions,
                &format!("sweep-{i}"),
                "ssm",
                Priority::Sweep,
            )
        })
        .collect();
    tokio::time::sleep(ms(100)).await;
    assert_eq!(recorder.waiting("ssm", Priority::Sweep), 3);
    tasks.push(request(&budget, &admissions, "step", "ssm", Priority::Step));
    tokio::task::yield_now().await;
    assert_eq!(recorder.waiting("ssm", Priority::Step), 1);
    for t in tasks {
        t.await.unwrap();
    }
    let admissions = admissions.lock().unwrap().clone();
    // One token every 500 ms: the step takes the first, 400 ms after it asked.
    assert_eq!(admissions[0], ("step".to_owned(), ms(400)));
    let sweeps: Vec<Duration> = admissions[1..].iter().map(|(_, at)| *at).collect();
    assert_eq!(sweeps, [ms(1000), ms(1500), ms(2000)]);
    assert!(
        admissions[1..]
            .iter()
            .all(|(who, _)| who.starts_with("sweep"))
    );
    assert_eq!(recorder.waited("ssm", Priority::Step), ms(400));
    assert_eq!(recorder.waiting("ssm", Priority::Step), 0);
    assert_eq!(recorder.waiting("ssm", Priority::Sweep), 0);
}

#[tokio::test(start_paused = true)]
async fn sweeps_take_no_token_while_a_step_waits_even_when_one_is_free() {
    let (budget, _) = budget(1);
    budget.admit("ssm", Priority::Step).await;
    let admissions = Admissions::default();
    let steps: Vec<_> = (0..3)
        .map(|i| {
            request(
                &budget,
                &admissions,
                &format!("step-{i}"),
                "ssm",
                Priority::Step,
            )
        })
        .collect();
    let sweep = request(&budget, &admissions, "sweep", "ssm", Priority::Sweep);
    for t in steps {
        t.await.unwrap();
    }
    sweep.await.unwrap();
    let order: Vec<String> = admissions
        .lock()
        .unwrap()
        .iter()
        .map(|(w, _)| w.clone())
        .collect();
    assert_eq!(order.last().map(String::as_str), Some("sweep"));
    assert_eq!(admissions.lock().unwrap()[3].1, Duration::from_secs(4));
}

#[tokio::test(start_paused = true)]
async fn each_service_has_its_own_budget() {
    let (budget, recorder) = budget(1);
    budget.admit("ssm", Priority::Sweep).await;
    let admissions = Admissions::default();
    let ssm = request(&budget, &admissions, "ssm", "ssm", Priority::Step);
    let elbv2 = request(&budget, &admissions, "elbv2", "elbv2", Priority::Sweep);
    // A service without a budget is not held either.
    let other = request(&budget, &admissions, "ec2", "ec2", Priority::Sweep);
    for t in [ssm, elbv2, other] {
        t.await.unwrap();
    }
    let mut admissions = admissions.lock().unwrap().clone();
    admissions.sort();
    assert_eq!(
        admissions,
        [
            ("ec2".to_owned(), Duration::ZERO),
            ("elbv2".to_owned(), Duration::ZERO),
            ("ssm".to_owned(), Duration::from_secs(1)),
        ]
    );
    assert_eq!(recorder.waited("elbv2", Priority::Sweep), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_step_that_gives_up_does_not_hold_the_sweeps_back() {
    let (budget, recorder) = budget(1);
    budget.admit("ssm", Priority::Sweep).await;
    let gave_up = tokio::time::timeout(ms(200), budget.admit("ssm", Priority::Step)).await;
    assert!(gave_up.is_err());
    assert_eq!(recorder.waiting("ssm", Priority::Step), 0);
    let started = Instant::now();
    budget.admit("ssm", Priority::Sweep).await;
    assert_eq!(started.elapsed(), ms(800));
}

#[tokio::test]
async fn the_priority_of_a_request_is_the_innermost_scope_and_a_step_outside_any() {
    assert_eq!(Priority::current(), Priority::Step);
    let inner = Priority::of(Detail::Light)
        .scope(async {
            let sweep = Priority::current();
            let fresh = Priority::of(Detail::Fresh)
                .scope(async { Priority::current() })
                .await;
            (sweep, fresh)
        })
        .await;
    assert_eq!(inner, (Priority::Sweep, Priority::Step));
    assert_eq!(Priority::of(Detail::Full), Priority::Sweep);
}

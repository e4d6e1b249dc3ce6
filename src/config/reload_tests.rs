use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use super::{ReloadOutcome, spawn_reloader};
use crate::config::{Config, load};
use crate::core::Shard;

/// Longer than one default syncInterval (30s), so that tests on the paused clock reach the next
/// periodic re-read; for real file events a generous bound on a busy machine (the debounce
/// itself is 250 ms).
const EVENT_WAIT: Duration = Duration::from_secs(35);

fn file(active: &str, listen: &str) -> String {
    format!(
        "controller:
  cloud: simulated
  listen: {listen}
runners:
  - name: runner-a
    activeShard: {active}
    listenerArn: arn:listener/a
    shards:
      blue: {{ autoScalingGroup: a-blue, targetGroupArn: arn:tg/a-blue }}
      green: {{ autoScalingGroup: a-green, targetGroupArn: arn:tg/a-green }}
"
    )
}

fn blue() -> String {
    file("blue", "127.0.0.1:9254")
}

fn green() -> String {
    file("green", "127.0.0.1:9254")
}

struct Harness {
    _dir: tempfile::TempDir,
    path: PathBuf,
    rx: watch::Receiver<Arc<Config>>,
    outcomes: mpsc::UnboundedReceiver<ReloadOutcome>,
    cancel: CancellationToken,
}

impl Harness {
    /// A watcher on a fresh directory holding `initial`; `events: false` leaves only the
    /// periodic re-read, as when file events are lost.
    fn start(initial: &str, events: bool) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchyard.yaml");
        std::fs::write(&path, initial).unwrap();
        Harness::start_at(dir, path, events)
    }

    fn start_at(dir: tempfile::TempDir, path: PathBuf, events: bool) -> Harness {
        let config = Arc::new(load(&path).unwrap());
        let (tx, outcomes) = mpsc::unbounded_channel();
        let on_reload = Arc::new(move |o| {
            let _ = tx.send(o);
        });
        let cancel = CancellationToken::new();
        let rx = if events {
            super::watch(path.clone(), config, on_reload, cancel.clone())
        } else {
            spawn_reloader(path.clone(), config, on_reload, cancel.clone(), None, false)
        };
        Harness {
            _dir: dir,
            path,
            rx,
            outcomes,
            cancel,
        }
    }

    fn write(&self, text: &str) {
        std::fs::write(&self.path, text).unwrap();
    }

    fn active(&self) -> Shard {
        self.rx.borrow().runners[0].active_shard
    }

    async fn next_outcome(&mut self) -> ReloadOutcome {
        timeout(EVENT_WAIT, self.outcomes.recv())
            .await
            .expect("no reload outcome in time")
            .expect("watcher gone")
    }

    async fn next_config(&mut self) -> Arc<Config> {
        timeout(EVENT_WAIT, self.rx.changed())
            .await
            .expect("no config published in time")
            .expect("watcher gone");
        self.rx.borrow_and_update().clone()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[tokio::test]
async fn a_valid_edit_is_published_and_counted() {
    let mut h = Harness::start(&blue(), true);
    h.write(&green());
    assert_eq!(h.next_config().await.runners[0].active_shard, Shard::Green);
    assert_eq!(h.next_outcome().await, ReloadOutcome::Success);
}

#[tokio::test]
async fn an_invalid_edit_is_rejected_and_the_last_valid_config_stays() {
    let mut h = Harness::start(&blue(), true);
    h.write(&blue().replace("activeShard: blue", "activeShard: purple"));
    assert_eq!(h.next_outcome().await, ReloadOutcome::Error);
    assert!(!h.rx.has_changed().unwrap());
    assert_eq!(h.active(), Shard::Blue);

    // A fixed file is taken up again.
    h.write(&green());
    assert_eq!(h.next_config().await.runners[0].active_shard, Shard::Green);
    assert_eq!(h.next_outcome().await, ReloadOutcome::Success);
}

#[tokio::test]
async fn a_restart_only_change_is_rejected() {
    let mut h = Harness::start(&blue(), true);
    // Also flips the shard: nothing of a rejected file may take effect.
    h.write(&file("green", "127.0.0.1:9999"));
    assert_eq!(h.next_outcome().await, ReloadOutcome::Error);
    assert!(!h.rx.has_changed().unwrap());
    assert_eq!(h.active(), Shard::Blue);
    assert_eq!(h.rx.borrow().controller.listen.port(), 9254);
}

/// How the kubelet updates a mounted ConfigMap: the file is a symlink through `..data`, and an
/// update swaps `..data` atomically to a new timestamped directory.
#[cfg(unix)]
#[tokio::test]
async fn a_configmap_symlink_swap_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    publish_in(&root, "..2026_01_01_00_00_00.1", &blue());
    std::os::unix::fs::symlink("..data/switchyard.yaml", root.join("switchyard.yaml")).unwrap();
    let mut h = Harness::start_at(dir, root.join("switchyard.yaml"), true);
    assert_eq!(h.active(), Shard::Blue);

    publish_in(&root, "..2026_01_01_00_05_00.2", &green());
    assert_eq!(h.next_config().await.runners[0].active_shard, Shard::Green);
}

#[cfg(unix)]
fn publish_in(root: &Path, generation: &str, text: &str) {
    use std::os::unix::fs::symlink;
    let data = root.join(generation);
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("switchyard.yaml"), text).unwrap();
    symlink(generation, root.join("..data_tmp")).unwrap();
    std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_periodic_reread_picks_up_a_change_whose_event_was_missed() {
    let mut h = Harness::start(&blue(), false);
    h.write(&green());
    // syncInterval is 30s: nothing before it...
    assert!(
        timeout(Duration::from_secs(29), h.rx.changed())
            .await
            .is_err()
    );
    assert_eq!(h.active(), Shard::Blue);
    // ...and the change once it has passed.
    assert_eq!(h.next_config().await.runners[0].active_shard, Shard::Green);
    assert_eq!(h.next_outcome().await, ReloadOutcome::Success);
}

#[tokio::test(start_paused = true)]
async fn the_reread_period_follows_the_sync_interval_in_force() {
    let mut h = Harness::start(
        &blue().replace("runners:", "  syncInterval: 5s\nrunners:"),
        false,
    );
    h.write(&green().replace("runners:", "  syncInterval: 5s\nrunners:"));
    assert!(
        timeout(Duration::from_secs(6), h.rx.changed())
            .await
            .is_ok()
    );
    assert_eq!(h.active(), Shard::Green);
}

#[tokio::test(start_paused = true)]
async fn identical_content_publishes_nothing() {
    let mut h = Harness::start(&blue(), false);
    // Same config, different text: a comment changes nothing that matters.
    h.write(&format!("# reviewed\n{}", blue()));
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert!(!h.rx.has_changed().unwrap());
    assert!(
        h.outcomes.try_recv().is_err(),
        "an unchanged file counts no reload"
    );

    // The re-read did run: a real change in the next period is published.
    h.write(&green());
    assert_eq!(h.next_config().await.runners[0].active_shard, Shard::Green);
}

#[tokio::test(start_paused = true)]
async fn restoring_the_text_in_force_is_a_success_when_the_reread_knows_that_text() {
    let mut h = Harness::start(&blue(), false);
    // A re-read of the unchanged file: from then on its text is known as the one in force, and
    // re-reads of it skip the parse.
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert!(
        h.outcomes.try_recv().is_err(),
        "an unchanged file counts no reload"
    );

    h.write("controller: [");
    assert_eq!(h.next_outcome().await, ReloadOutcome::Error);
    h.write(&blue());
    assert_eq!(h.next_outcome().await, ReloadOutcome::Success);
    assert!(!h.rx.has_changed().unwrap());
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert!(
        h.outcomes.try_recv().is_err(),
        "the restored file counts once"
    );
}

#[tokio::test(start_paused = true)]
async fn a_file_left_broken_is_reported_once() {
    let mut h = Harness::start(&blue(), false);
    h.write("controller: [");
    assert_eq!(h.next_outcome().await, ReloadOutcome::Error);
    tokio::time::sleep(Duration::from_secs(95)).await;
    assert!(
        h.outcomes.try_recv().is_err(),
        "re-reads of the same broken file count once"
    );

    // Restoring the file in force counts as a success without publishing anything new.
    h.write(&blue());
    assert_eq!(h.next_outcome().await, ReloadOutcome::Success);
    assert!(!h.rx.has_changed().unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_deleted_file_is_an_error_and_the_config_stays() {
    let mut h = Harness::start(&blue(), false);
    std::fs::remove_file(&h.path).unwrap();
    assert_eq!(h.next_outcome().await, ReloadOutcome::Error);
    assert_eq!(h.active(), Shard::Blue);
    tokio::time::sleep(Duration::from_secs(65)).await;
    assert!(
        h.outcomes.try_recv().is_err(),
        "a file that stays missing counts once"
    );
}

#[tokio::test]
async fn cancelling_stops_the_watcher() {
    let mut h = Harness::start(&blue(), true);
    h.cancel.cancel();
    let closed = timeout(EVENT_WAIT, h.rx.changed())
        .await
        .expect("watcher did not stop");
    assert!(closed.is_err(), "the sender is dropped when the task ends");
}

//! Reloading the desired-state file while the daemon runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify_debouncer_full::notify::event::{AccessKind, AccessMode};
use notify_debouncer_full::notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::Config;

/// What became of one reload attempt: the `outcome` label of `switchyard_config_reloads_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadOutcome {
    Success,
    Error,
}

impl ReloadOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadOutcome::Success => "success",
            ReloadOutcome::Error => "error",
        }
    }
}

/// Why `new` cannot replace `old` in a running daemon, if it cannot: the cloud client and the
/// HTTP listener are built once at start-up.
pub fn restart_only_change(old: &Config, new: &Config) -> Option<String> {
    let (old, new) = (&old.controller, &new.controller);
    let changed: Vec<&str> = [
        ("controller.cloud", old.cloud != new.cloud),
        ("controller.aws", old.aws != new.aws),
        ("controller.listen", old.listen != new.listen),
        (
            "controller.leaderElection",
            old.leader_election != new.leader_election,
        ),
    ]
    .into_iter()
    .filter_map(|(key, changed)| changed.then_some(key))
    .collect();
    (!changed.is_empty()).then(|| {
        format!(
            "changing {} needs a restart; the file was not applied",
            changed.join(", ")
        )
    })
}

/// How long file events are gathered before one re-read: an editor's save or a ConfigMap swap
/// is a burst of events, and docs/configuration.md wants the edit in force within one second.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// Watches `path` and publishes each new valid config on the returned channel; see
/// [`watch_with_poll`]. The file is also re-read every `controller.syncInterval` of the config
/// in force, in case a file event was missed (network filesystems, overflowed queues).
pub fn watch(
    path: PathBuf,
    initial: Arc<Config>,
    on_reload: Arc<dyn Fn(ReloadOutcome) + Send + Sync>,
    cancel: CancellationToken,
) -> watch::Receiver<Arc<Config>> {
    watch_with_poll(path, initial, on_reload, cancel, None)
}

/// [`watch`] with the periodic re-read every `poll` instead of every `controller.syncInterval`.
pub fn watch_with_poll(
    path: PathBuf,
    initial: Arc<Config>,
    on_reload: Arc<dyn Fn(ReloadOutcome) + Send + Sync>,
    cancel: CancellationToken,
    poll: Option<Duration>,
) -> watch::Receiver<Arc<Config>> {
    spawn_reloader(path, initial, on_reload, cancel, poll, true)
}

fn spawn_reloader(
    path: PathBuf,
    initial: Arc<Config>,
    on_reload: Arc<dyn Fn(ReloadOutcome) + Send + Sync>,
    cancel: CancellationToken,
    poll: Option<Duration>,
    watch_directory: bool,
) -> watch::Receiver<Arc<Config>> {
    let (tx, rx) = watch::channel(initial.clone());
    let (events_tx, mut events) = mpsc::unbounded_channel::<()>();
    // The debouncer stops watching when dropped, so the task owns it for its whole life.
    let debouncer = if watch_directory {
        watch_directory_of(&path, events_tx)
    } else {
        None
    };
    tokio::spawn(async move {
        let _debouncer = debouncer;
        let mut reloader = Reloader {
            path,
            current: initial,
            rejected: None,
            in_force_text: None,
            tx,
            on_reload,
        };
        loop {
            let period = poll.unwrap_or(reloader.current.controller.sync_interval);
            tokio::select! {
                _ = cancel.cancelled() => break,
                Some(()) = events.recv() => {}
                _ = tokio::time::sleep(period) => {}
            }
            // Everything queued so far is covered by the read below.
            while events.try_recv().is_ok() {}
            reloader.reload().await;
        }
    });
    rx
}

/// Watches the file's directory, not the file: Kubernetes updates a mounted ConfigMap by swapping
/// the `..data` symlink, which never touches the file's own inode. Returns `None` (and the
/// periodic re-read carries on alone) when the directory cannot be watched.
fn watch_directory_of(
    path: &Path,
    events: mpsc::UnboundedSender<()>,
) -> Option<Debouncer<RecommendedWatcher, RecommendedCache>> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let handler = move |result: DebounceEventResult| match result {
        Ok(batch) => {
            // Our own reads of the file show up as access events; reacting to them would loop.
            let relevant = batch.iter().any(|e| {
                !matches!(e.event.kind, EventKind::Access(kind) if kind != AccessKind::Close(AccessMode::Write))
            });
            if relevant {
                let _ = events.send(());
            }
        }
        Err(errors) => {
            for e in errors {
                tracing::warn!(error = %e, "file watcher error; the periodic re-read continues");
            }
            let _ = events.send(());
        }
    };
    let watched = new_debouncer(DEBOUNCE, None, handler).and_then(|mut debouncer| {
        debouncer
            .watch(&dir, RecursiveMode::NonRecursive)
            .map(|()| debouncer)
    });
    match watched {
        Ok(debouncer) => Some(debouncer),
        Err(e) => {
            tracing::warn!(
                directory = %dir.display(),
                error = %e,
                "cannot watch the config directory; changes apply at the next periodic re-read"
            );
            None
        }
    }
}

struct Reloader {
    path: PathBuf,
    current: Arc<Config>,
    /// What was last rejected (the text, or the read error), so that a file left broken is
    /// reported once and not again on every re-read.
    rejected: Option<String>,
    /// A digest of the text the config in force was read from, once a re-read has seen it: the
    /// periodic re-read of an unchanged file then skips the parse, which costs a quarter of a
    /// second at 10,000 runners (benches/footprint.rs, BENCHMARKS.md).
    in_force_text: Option<u64>,
    tx: watch::Sender<Arc<Config>>,
    on_reload: Arc<dyn Fn(ReloadOutcome) + Send + Sync>,
}

impl Reloader {
    async fn reload(&mut self) {
        let path = self.path.clone();
        let in_force = self.in_force_text;
        // Reading and parsing up to MAX_FILE_BYTES is blocking work.
        let attempt = tokio::task::spawn_blocking(move || match super::read(&path) {
            // What was read identifies the attempt; an unreadable file is identified by its error.
            Ok(text) => {
                let digest = digest(&text);
                if in_force == Some(digest) {
                    return None;
                }
                let parsed = super::parse(&text, &path);
                Some((text, parsed, Some(digest)))
            }
            Err(e) => Some((e.to_string(), Err(e), None)),
        })
        .await;
        let (fingerprint, parsed, digest) = match attempt {
            Ok(Some(attempt)) => attempt,
            // The text in force, unchanged: after a rejected edit, the file is good again.
            Ok(None) => {
                if self.rejected.take().is_some() {
                    (self.on_reload)(ReloadOutcome::Success);
                }
                return;
            }
            Err(e) => {
                tracing::error!(file = %self.path.display(), error = %e, "config reload task failed");
                (self.on_reload)(ReloadOutcome::Error);
                return;
            }
        };
        if self.rejected.as_deref() == Some(fingerprint.as_str()) {
            return;
        }
        let new = match parsed {
            Ok(new) => new,
            Err(errors) => {
                tracing::error!(
                    file = %self.path.display(),
                    "config reload rejected, the last valid config stays in force:\n{errors}"
                );
                return self.reject(fingerprint);
            }
        };
        if let Some(message) = restart_only_change(&self.current, &new) {
            tracing::error!(
                file = %self.path.display(),
                "config reload rejected, the last valid config stays in force: {message}"
            );
            return self.reject(fingerprint);
        }
        let recovered = self.rejected.take().is_some();
        self.in_force_text = digest;
        if new == *self.current {
            // Back to what is in force after a rejected edit: the file is good again.
            if recovered {
                (self.on_reload)(ReloadOutcome::Success);
            }
            return;
        }
        tracing::info!(file = %self.path.display(), runners = new.runners.len(), "config reloaded");
        self.current = Arc::new(new);
        self.tx.send_replace(self.current.clone());
        (self.on_reload)(ReloadOutcome::Success);
    }

    fn reject(&mut self, fingerprint: String) {
        self.rejected = Some(fingerprint);
        (self.on_reload)(ReloadOutcome::Error);
    }
}

/// Tells texts apart for the re-read (not a security boundary: the file's writer is trusted).
fn digest(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    // Fixed keys: the same text gives the same digest for the life of the process.
    let mut hasher = std::hash::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
#[path = "reload_tests.rs"]
mod tests;

//! `switchyard retry`: clear the `failed` mark of the desired shard and revision, so that the
//! controller pursues the desired state again (a failed revision is never retried by itself).

use std::path::Path;

use anyhow::Context as _;
use switchyard::cloud::Cloud;
use switchyard::core::{Mark, MarkState, RunnerObservation, RunnerSpec, Step};

use super::{Session, exit, load, select};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    runner: String,
}

pub async fn run(path: &Path, args: Args) -> anyhow::Result<u8> {
    let config = load(path)?;
    let spec = select(&config, Some(&args.runner))?[0];
    let mut session = Session::open(&config).await?;
    let (shard, revision) = spec.desired();
    let failed_mark = |obs: &RunnerObservation| {
        obs.asg(shard)
            .and_then(|asg| asg.mark())
            .and_then(Result::ok)
            .filter(|mark| mark.state == MarkState::Failed && mark.is_for(shard, revision))
    };
    if failed_mark(&session.observe(spec).await?).is_none() {
        return Ok(nothing_to_retry(spec));
    }
    // With leader election, the mark is deleted while this command holds the lease, on an
    // observation made after it was handed over.
    session.lead().await?;
    let cleared = clear(&session, spec, failed_mark).await;
    session.release().await;
    cleared
}

async fn clear(
    session: &Session,
    spec: &RunnerSpec,
    failed_mark: impl Fn(&RunnerObservation) -> Option<Mark>,
) -> anyhow::Result<u8> {
    let obs = session.observe(spec).await?;
    let Some(mark) = failed_mark(&obs) else {
        return Ok(nothing_to_retry(spec));
    };
    let (shard, revision) = spec.desired();
    let step = Step::DeleteMark { shard };
    if !session.permits(&step, spec, &obs) {
        return Ok(exit::ERROR);
    }
    session
        .cloud
        .apply(spec, &step)
        .await
        .context("deleting the failed mark")?;
    println!(
        "cleared the failed mark of deployment {} ({shard}, revision {}, started {}); the \
         controller pursues the desired state again on its next pass",
        mark.id,
        revision.unwrap_or("(unchanged)"),
        mark.started.to_rfc3339()
    );
    Ok(exit::OK)
}

fn nothing_to_retry(spec: &RunnerSpec) -> u8 {
    let (shard, revision) = spec.desired();
    println!(
        "nothing to retry: {shard} of runner {} carries no failed mark for revision {}",
        spec.name,
        revision.unwrap_or("(unchanged)")
    );
    exit::OK
}

//! `switchyard repair mark-deployed`: the runbook's manual edit of the status record, made safe:
//! observed fresh, checked by the guard, shown, confirmed, written with the version check, and
//! read back.

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{Context as _, bail};
use switchyard::cloud::{Applied, Cloud};
use switchyard::controller::check_write;
use switchyard::core::{
    RecordObservation, RecordWrite, RunnerObservation, RunnerSpec, Shard, Step,
};

use super::{Session, exit, load, select};

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Add a shard to deployed_shards (and, with --active, make it the active shard).
    MarkDeployed(MarkDeployed),
}

#[derive(Debug, clap::Args)]
pub struct MarkDeployed {
    #[arg(long)]
    runner: String,
    #[arg(long)]
    shard: Shard,
    /// Also record the shard as active (it must be healthy and serving).
    #[arg(long)]
    active: bool,
    /// Write without asking for confirmation.
    #[arg(long)]
    yes: bool,
}

pub async fn run(path: &Path, action: Action) -> anyhow::Result<u8> {
    let Action::MarkDeployed(args) = action;
    let config = load(path)?;
    let spec = select(&config, Some(&args.runner))?[0];
    let mut session = Session::open(&config).await?;
    let obs = session.observe(spec).await?;
    let record = match obs.record.parse() {
        Ok(record) => record,
        Err(e) => {
            eprintln!(
                "refused: {e}; a malformed record is never overwritten by switchyard: fix it by \
                 hand (see the StatusRecordMalformed runbook)"
            );
            return Ok(exit::ERROR);
        }
    };
    let now = session.clock.now();
    let after = if args.active {
        record.with_active(args.shard, now)
    } else {
        record.with_deployed(args.shard)
    };
    let step = Step::WriteRecord {
        record: after.clone(),
        expected_version: obs.record.version(),
        purpose: RecordWrite::Repair { shard: args.shard },
    };
    if !session.permits(&step, spec, &obs) {
        return Ok(exit::ERROR);
    }
    let before = match &obs.record {
        RecordObservation::Missing => "(parameter missing)".to_owned(),
        RecordObservation::Present { value, version } => format!("{value}   (version {version})"),
    };
    println!("account:   {}", session.account);
    println!("region:    {}", session.cloud.inner().region());
    println!("runner:    {}", spec.name);
    println!("parameter: {}", spec.status_parameter);
    println!("now:       {before}");
    println!("after:     {}", after.to_json());
    if !args.yes && !confirmed()? {
        eprintln!("not written");
        return Ok(exit::ERROR);
    }
    // With leader election, the write is made while this command holds the lease: the daemon
    // hands it over between two of its calls and takes it back afterwards.
    session.lead().await?;
    let written = write(&session, spec, &step, &obs).await;
    session.release().await;
    written
}

async fn write(
    session: &Session,
    spec: &RunnerSpec,
    step: &Step,
    obs: &RunnerObservation,
) -> anyhow::Result<u8> {
    // The confirmation (and the lease) may have taken minutes: the version check is made
    // again on a fresh read right before the write (SSM has no conditional write; the
    // read-back catches the rest), so another writer's change in the meantime is never
    // overwritten, and the guard judges the world as it is now.
    let fresh = session.observe(spec).await?;
    if fresh.record != obs.record {
        eprintln!(
            "refused: ConcurrentModification: the status record changed while waiting for \
             confirmation (version {:?} -> {:?}); nothing written",
            obs.record.version(),
            fresh.record.version()
        );
        return Ok(exit::ERROR);
    }
    // Nor is the shard's health taken on trust from before the prompt: the guard judges the
    // write again on the world as it is now (a shard scaled down meanwhile is refused).
    if !session.permits(step, spec, &fresh) {
        eprintln!("nothing written: the world changed while waiting for confirmation");
        return Ok(exit::ERROR);
    }
    let applied = session
        .cloud
        .apply(spec, step)
        .await
        .context("writing the status record")?;
    if let Some((halt, latest)) = check_write(spec, step, &applied) {
        eprintln!("{} (latest version {latest})", halt.message);
        return Ok(exit::ERROR);
    }
    if let Applied::RecordWritten { version, .. } = applied {
        println!("written:   version {version}, read back and verified");
    }
    Ok(exit::OK)
}

fn confirmed() -> anyhow::Result<bool> {
    print!("Type yes to write: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer)? == 0 {
        bail!("no confirmation on stdin (use --yes to write without asking)");
    }
    Ok(answer.trim() == "yes")
}

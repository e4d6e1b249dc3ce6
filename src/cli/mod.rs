//! The command line (docs/commands.md): one file per command; this module holds what they share.

mod cloud;
mod lease;
mod plan;
mod render;
mod repair;
mod retry;
mod run;
mod schema;
mod status;
mod table;
mod validate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;
use switchyard::clock::{Clock, SystemClock};
use switchyard::cloud::{Cloud, Detail, NoObserver};
use switchyard::config::{self, Config};
use switchyard::controller::{AccountError, AccountGuard, observe_one};
use switchyard::core::{self, Actor, Decision, RunnerMemory, RunnerObservation, RunnerSpec, Step};
use switchyard::lease::{LeaderGate, Mode, NoLeadershipObserver, replica_identity};
use switchyard::telemetry::{LogFormat, init_logging};

pub use cloud::AnyCloud;
use lease::Lease;

/// The exit codes of docs/commands.md, which scripts rely on.
pub mod exit {
    pub const OK: u8 = 0;
    pub const ERROR: u8 = 1;
    pub const PENDING: u8 = 2;
    pub const HALTED: u8 = 3;
    pub const WRONG_ACCOUNT: u8 = 4;
}

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    version,
    about = "Blue/green reconciliation controller for runners on AWS"
)]
pub struct Cli {
    /// The desired-state file.
    #[arg(
        long,
        global = true,
        env = "SWITCHYARD_CONFIG",
        default_value = "config/switchyard.yaml"
    )]
    pub config: PathBuf,
    /// Log lines on stderr: readable, or JSON for log collectors. Level from RUST_LOG.
    #[arg(long, global = true, value_enum, default_value = "human")]
    pub log_format: LogFormat,
    /// Output meant for people: an aligned table, or the same as JSON.
    #[arg(
        short = 'o',
        long = "output",
        global = true,
        value_enum,
        default_value = "table"
    )]
    pub output: Output,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The daemon: observe, decide and act until SIGTERM/SIGINT.
    Run(run::Args),
    /// Observe and decide, print what would happen; mutate nothing.
    Plan(plan::Args),
    /// Per runner: desired and active shard, phase, conditions, and each shard's state.
    Status(status::Args),
    /// Check the desired-state file and print every problem.
    Validate,
    /// Resolve a halt with a guarded manual edit.
    Repair {
        #[command(subcommand)]
        action: repair::Action,
    },
    /// Clear a failed deployment mark so that the desired state is pursued again.
    Retry(retry::Args),
    /// Print the JSON Schema of the desired-state file.
    Schema,
}

pub async fn execute(cli: Cli) -> anyhow::Result<u8> {
    init_logging(cli.log_format);
    let path = cli.config.as_path();
    match cli.command {
        Command::Run(args) => run::run(path, args, cli.output).await,
        Command::Plan(args) => plan::run(path, args, cli.output).await,
        Command::Status(args) => status::run(path, args, cli.output).await,
        Command::Validate => Ok(validate::run(path, cli.output)),
        Command::Repair { action } => repair::run(path, action).await,
        // docs/commands.md gives retry the codes 0 and 1 only: a wrong account is its error too.
        Command::Retry(args) => match retry::run(path, args).await {
            Err(e) if is_wrong_account(&e) => {
                eprintln!("error: {e:#}");
                Ok(exit::ERROR)
            }
            other => other,
        },
        Command::Schema => schema::run(),
    }
}

/// The exit code for an error that ended a command.
pub fn exit_code_for(error: &anyhow::Error) -> ExitCode {
    ExitCode::from(if is_wrong_account(error) {
        exit::WRONG_ACCOUNT
    } else {
        exit::ERROR
    })
}

fn is_wrong_account(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|e| matches!(e.downcast_ref(), Some(AccountError::Mismatch { .. })))
}

pub fn load(path: &Path) -> anyhow::Result<Config> {
    // ConfigErrors prints one `file:line: key: problem` line per problem.
    config::load(path).map_err(|errors| anyhow::anyhow!("{errors}"))
}

/// The runners a command acts on: all, or the one named.
pub fn select<'a>(config: &'a Config, runner: Option<&str>) -> anyhow::Result<Vec<&'a RunnerSpec>> {
    match runner {
        None => Ok(config.runners.iter().collect()),
        Some(name) => match config.runner(name) {
            Some(spec) => Ok(vec![spec]),
            None => bail!(
                "no runner named {name:?} in the desired-state file (runners: {})",
                config
                    .runners
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    }
}

/// A cloud for a one-shot command, in the verified account (invariant 8). Its mutations pass
/// the lease's gate: with leader election, they are sent only between `lead` and `release`.
pub struct Session {
    pub cloud: LeaderGate<AnyCloud>,
    pub account: String,
    pub clock: Arc<dyn Clock>,
    lease: Lease,
}

impl Session {
    pub async fn open(config: &Config) -> anyhow::Result<Session> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let cloud = AnyCloud::connect(config, Arc::new(NoObserver), Arc::clone(&clock)).await?;
        let lease = Lease::new(
            config,
            format!("cli:{}", replica_identity(None)),
            Mode::Operator,
            Arc::new(NoLeadershipObserver),
        );
        let cloud = LeaderGate::new(cloud, lease.leadership.clone());
        let account = AccountGuard::for_config(config)
            .verify(&cloud)
            .await?
            .to_owned();
        Ok(Session {
            cloud,
            account,
            clock,
            lease,
        })
    }

    /// With leader election: takes the lease from the daemon that holds it (it hands over
    /// between two of its calls), so that this command's mutation is the only one in flight.
    /// Observe again after this: the world may have moved while waiting.
    pub async fn lead(&mut self) -> anyhow::Result<()> {
        self.lease.lead(Arc::new(NoObserver)).await
    }

    /// Gives the lease back; a daemon's standby takes it at once.
    pub async fn release(&mut self) {
        self.lease.release().await;
    }

    /// A fresh, full observation of one runner, as an operator's command acts on.
    pub async fn observe(&self, spec: &RunnerSpec) -> anyhow::Result<RunnerObservation> {
        observe_one(&self.cloud, spec, Detail::Fresh)
            .await
            .with_context(|| format!("observing runner {}", spec.name))
    }

    /// An operator's step passes the same guard as the controller's (halts aside, which it
    /// exists to resolve); a refusal is printed.
    pub fn permits(&self, step: &Step, spec: &RunnerSpec, obs: &RunnerObservation) -> bool {
        let now = self.clock.now();
        match core::guard(
            step,
            spec,
            obs,
            &RunnerMemory::default(),
            Actor::Operator,
            now,
        ) {
            Ok(()) => true,
            Err(refusal) => {
                eprintln!("refused: {refusal}");
                false
            }
        }
    }

    /// Observes the runners in full and decides on each from scratch, mutating nothing.
    pub async fn decide(&self, specs: &[&RunnerSpec]) -> anyhow::Result<Vec<Decision>> {
        if specs.is_empty() {
            return Ok(Vec::new());
        }
        let observations = self
            .cloud
            .observe(specs, Detail::Full)
            .await
            .context("observing the runners")?;
        let now = self.clock.now();
        Ok(specs
            .iter()
            .zip(&observations)
            .map(|(spec, obs)| core::decide(spec, obs, &RunnerMemory::default(), now))
            .collect())
    }
}

pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    emit(&text)
}

/// Writes to stdout. A closed pipe (`switchyard plan | head`) ends the output quietly instead
/// of panicking as `print!` would.
pub fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

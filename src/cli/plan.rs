//! `switchyard plan`: what the controller would do now, per runner, without doing it.

use std::path::Path;

use serde_json::Value;
use switchyard::core::Phase;
use switchyard::telemetry::StatusBoard;

use super::{Output, Session, emit, exit, load, print_json, render, select};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this runner.
    #[arg(long)]
    runner: Option<String>,
}

pub async fn run(path: &Path, args: Args, output: Output) -> anyhow::Result<u8> {
    let config = load(path)?;
    let specs = select(&config, args.runner.as_deref())?;
    let session = Session::open(&config).await?;
    let decisions = session.decide(&specs).await?;
    let now = session.clock.now();
    match output {
        Output::Json => {
            let mut runners = Vec::with_capacity(decisions.len());
            for (spec, decision) in specs.iter().zip(&decisions) {
                let mut value = serde_json::to_value(decision)?;
                if let Value::Object(map) = &mut value {
                    map.insert("runner".into(), Value::String(spec.name.clone()));
                }
                runners.push(value);
            }
            print_json(&runners)?;
        }
        Output::Table => {
            let board = StatusBoard::new();
            for (spec, decision) in specs.iter().zip(&decisions) {
                board.update(spec, decision, now);
            }
            emit(&render::document(&board.snapshot()))?;
        }
    }
    let halted = decisions.iter().any(|d| d.halt.is_some());
    let pending = decisions
        .iter()
        .any(|d| d.step.is_some() || d.in_transition() || d.phase != Phase::Converged);
    Ok(if halted {
        exit::HALTED
    } else if pending {
        exit::PENDING
    } else {
        exit::OK
    })
}

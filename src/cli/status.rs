//! `switchyard status`: per runner the desired and active shard, phase, conditions and each
//! shard's state, observed directly or read from a running daemon (`--server`).

use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use switchyard::telemetry::{StatusBoard, StatusDocument, fetch_status};

use super::{Output, Session, emit, exit, load, print_json, render, select};

/// How often `--watch` redraws.
const REDRAW: Duration = Duration::from_secs(2);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this runner.
    #[arg(long)]
    runner: Option<String>,
    /// Redraw every 2 seconds until Ctrl-C.
    #[arg(long)]
    watch: bool,
    /// Read a running daemon's /api/v1/status (e.g. http://127.0.0.1:9254) instead of observing.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
}

enum Source {
    Server(String),
    Observe(Box<(switchyard::config::Config, Session)>),
}

impl Source {
    async fn document(&self, runner: Option<&str>) -> anyhow::Result<StatusDocument> {
        let mut doc = match self {
            Source::Server(url) => fetch_status(url).await?,
            Source::Observe(local) => {
                let (config, session) = local.as_ref();
                let specs = select(config, runner)?;
                let decisions = session.decide(&specs).await?;
                let board = StatusBoard::new();
                let now = session.clock.now();
                for (spec, decision) in specs.iter().zip(&decisions) {
                    board.update(spec, decision, now);
                }
                board.snapshot()
            }
        };
        if let Some(name) = runner {
            doc.runners.retain(|r| r.name == name);
            if doc.runners.is_empty() {
                bail!("no runner named {name:?}");
            }
        }
        Ok(doc)
    }
}

pub async fn run(path: &Path, args: Args, output: Output) -> anyhow::Result<u8> {
    let source = match args.server {
        Some(url) => Source::Server(url),
        None => {
            let config = load(path)?;
            let session = Session::open(&config).await?;
            Source::Observe(Box::new((config, session)))
        }
    };
    let runner = args.runner.as_deref();
    if !args.watch {
        show(&source.document(runner).await?, output)?;
        return Ok(exit::OK);
    }
    loop {
        let shown = source.document(runner).await;
        // Clear the screen and home the cursor, then draw the whole view again.
        emit("\x1b[2J\x1b[H")?;
        match shown {
            Ok(doc) => show(&doc, output)?,
            // A daemon restarting or a throttled call is no reason to stop watching.
            Err(e) => emit(&format!("error: {e:#}\n"))?,
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(exit::OK),
            () = tokio::time::sleep(REDRAW) => {}
        }
    }
}

fn show(doc: &StatusDocument, output: Output) -> anyhow::Result<()> {
    match output {
        Output::Json => print_json(doc),
        Output::Table => emit(&render::document(doc)),
    }
}

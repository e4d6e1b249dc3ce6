//! The `switchyard` binary: parse the command line, run the command, map the outcome to the exit
//! codes of docs/commands.md.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version are not errors. A usage error is exit 1, not clap's 2, which
            // `plan` reserves for "changes pending".
            return ExitCode::from(if e.use_stderr() {
                cli::exit::ERROR
            } else {
                cli::exit::OK
            });
        }
    };
    let runtime = match switchyard::runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(cli::exit::ERROR);
        }
    };
    match runtime.block_on(cli::execute(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            cli::exit_code_for(&e)
        }
    }
}

//! `switchyard validate`: every problem in the file, each naming its key and line.

use std::path::Path;

use serde_json::json;
use switchyard::config;

use super::{Output, exit, print_json};

pub fn run(path: &Path, output: Output) -> u8 {
    let result = config::load(path);
    if output == Output::Json {
        let problems: Vec<_> = result
            .as_ref()
            .err()
            .map(|e| &e.problems)
            .into_iter()
            .flatten()
            .map(|p| json!({ "path": p.path, "line": p.line, "message": p.message }))
            .collect();
        let document = json!({
            "file": path.display().to_string(),
            "valid": result.is_ok(),
            "runners": result.as_ref().map(|c| c.runners.len()).ok(),
            "problems": problems,
        });
        if print_json(&document).is_err() {
            return exit::ERROR;
        }
    } else {
        match &result {
            Ok(config) => println!(
                "{}: valid ({} runner{})",
                path.display(),
                config.runners.len(),
                if config.runners.len() == 1 { "" } else { "s" }
            ),
            Err(errors) => {
                println!("{errors}");
                println!(
                    "{}: invalid ({} problem{})",
                    path.display(),
                    errors.problems.len(),
                    if errors.problems.len() == 1 { "" } else { "s" }
                );
            }
        }
    }
    if result.is_ok() {
        exit::OK
    } else {
        exit::ERROR
    }
}

//! `switchyard schema`: the JSON Schema of the desired-state file, for editors and CI.

use switchyard::config;

use super::{exit, print_json};

pub fn run() -> anyhow::Result<u8> {
    print_json(&config::schema())?;
    Ok(exit::OK)
}

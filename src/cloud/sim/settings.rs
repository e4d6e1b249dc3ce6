//! `controller.simulated`: the simulated world's settings (placeholder, being built).
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SimSettings {}

//! The simulated cloud (SPEC §9) — being built.
mod settings;
pub use settings::SimSettings;

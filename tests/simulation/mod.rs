//! Deterministic simulation testing (ARCHITECTURE "Tests, in layers" item 3): each seed expands
//! into a history of desired-state edits, instance failures, API faults, crashes and
//! out-of-band edits; the real control loop runs through it against the simulated cloud on
//! tokio's paused clock, and `oracle` checks every invariant at every change of the world.
#![allow(dead_code)]

pub mod awaiting_fixes;
pub mod checker;
#[cfg(test)]
mod checker_tests;
pub mod history;
pub mod oracle;
#[cfg(test)]
mod oracle_tests;
pub mod probe;
pub mod replicas;
pub mod run;

pub use run::{replay_command, run_seed};

/// splitmix64: tiny, fast, and with no state but one word, so a seed is the whole story.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is irrelevant at these sizes.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize].clone()
    }

    /// An index drawn with the given weights.
    pub fn weighted(&mut self, weights: &[u64]) -> usize {
        let mut roll = self.below(weights.iter().sum());
        for (i, w) in weights.iter().enumerate() {
            if roll < *w {
                return i;
            }
            roll -= w;
        }
        weights.len() - 1
    }
}

/// FNV-1a over the trace: stable across runs and platforms, unlike the std hasher.
#[derive(Debug, Clone, Copy)]
pub struct TraceHash(pub u64);

impl Default for TraceHash {
    fn default() -> Self {
        TraceHash(0xcbf2_9ce4_8422_2325)
    }
}

impl TraceHash {
    pub fn add(&mut self, text: &str) {
        for b in text.bytes().chain([b'\n']) {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

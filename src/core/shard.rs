//! The two shards of a runner and a pair indexed by them.

use std::fmt;
use std::ops::{Index, IndexMut};
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Shard {
    Blue,
    Green,
}

impl Shard {
    pub const ALL: [Shard; 2] = [Shard::Blue, Shard::Green];

    pub fn other(self) -> Shard {
        match self {
            Shard::Blue => Shard::Green,
            Shard::Green => Shard::Blue,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Shard::Blue => "blue",
            Shard::Green => "green",
        }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "blue" => Ok(Shard::Blue),
            "green" => Ok(Shard::Green),
            other => Err(format!("unknown shard {other:?} (expected blue or green)")),
        }
    }
}

/// One value per shard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardPair<T> {
    pub blue: T,
    pub green: T,
}

impl<T> ShardPair<T> {
    pub fn from_fn(mut f: impl FnMut(Shard) -> T) -> Self {
        ShardPair {
            blue: f(Shard::Blue),
            green: f(Shard::Green),
        }
    }

    pub fn map<U>(&self, mut f: impl FnMut(Shard, &T) -> U) -> ShardPair<U> {
        ShardPair {
            blue: f(Shard::Blue, &self.blue),
            green: f(Shard::Green, &self.green),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (Shard, &T)> {
        [(Shard::Blue, &self.blue), (Shard::Green, &self.green)].into_iter()
    }
}

impl<T> Index<Shard> for ShardPair<T> {
    type Output = T;
    fn index(&self, shard: Shard) -> &T {
        match shard {
            Shard::Blue => &self.blue,
            Shard::Green => &self.green,
        }
    }
}

impl<T> IndexMut<Shard> for ShardPair<T> {
    fn index_mut(&mut self, shard: Shard) -> &mut T {
        match shard {
            Shard::Blue => &mut self.blue,
            Shard::Green => &mut self.green,
        }
    }
}

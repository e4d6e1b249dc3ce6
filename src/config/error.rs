//! Problems found in a desired-state file, each naming its key path and, when known, its line.

use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong with the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Key path such as `runners[0].activeShard`; empty for the file as a whole.
    pub path: String,
    /// 1-based line in the file, when the parser knows it.
    pub line: Option<usize>,
    pub message: String,
}

impl ConfigProblem {
    pub fn new(path: impl Into<String>, line: Option<usize>, message: impl Into<String>) -> Self {
        ConfigProblem {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}

/// Every problem found in one file. Validation keeps going after the first problem so that an
/// operator can fix them all in one edit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    pub file: PathBuf,
    pub problems: Vec<ConfigProblem>,
}

impl ConfigErrors {
    pub fn new(source: &Path, problems: Vec<ConfigProblem>) -> Self {
        ConfigErrors {
            file: source.to_path_buf(),
            problems,
        }
    }

    pub fn single(source: &Path, problem: ConfigProblem) -> Self {
        ConfigErrors::new(source, vec![problem])
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// `file:line: path: message`, one line per problem.
impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}", self.file.display())?;
            if let Some(line) = problem.line {
                write!(f, ":{line}")?;
            }
            write!(f, ": {problem}")?;
        }
        Ok(())
    }
}

//! Errors for what users get wrong: a malformed history file or bad arguments.
//!
//! Every error names the file and, when the problem is at a place in it, the line and
//! column (1-based), so an editor can jump there.

use std::fmt;
use std::path::PathBuf;

/// A history file that cannot be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line and column of the problem, when it has a place.
    pub position: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl LoadError {
    pub(crate) fn at(file: &std::path::Path, line: usize, column: usize, message: impl Into<String>) -> Self {
        LoadError { file: file.to_path_buf(), position: Some((line, column)), message: message.into() }
    }

    pub(crate) fn whole(file: &std::path::Path, message: impl Into<String>) -> Self {
        LoadError { file: file.to_path_buf(), position: None, message: message.into() }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => write!(f, "{}:{}:{}: {}", self.file.display(), line, column, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for LoadError {}

/// A located parse error inside one text (the caller adds the file name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextError {
    /// 1-based line (0: no position).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl TextError {
    /// An error at `line`:`column`.
    pub fn new(line: usize, column: usize, message: impl Into<String>) -> Self {
        TextError { line, column, message: message.into() }
    }

    /// Attaches the file name; line 0 means "no position".
    pub fn in_file(self, file: &std::path::Path) -> LoadError {
        if self.line == 0 {
            LoadError::whole(file, self.message)
        } else {
            LoadError::at(file, self.line, self.column, self.message)
        }
    }
}

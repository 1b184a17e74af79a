//! Positions in a pipeline file and the errors reported against them.

use std::fmt;
use std::ops::Deref;

/// A 1-based line and column in a pipeline file (0:0 when unknown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column in characters, 0 when unknown.
    pub column: usize,
}

impl Location {
    /// A location at `line`:`column` (both 1-based).
    pub const fn new(line: usize, column: usize) -> Self {
        Location { line, column }
    }

    /// Whether the position is known.
    pub const fn is_known(&self) -> bool {
        self.line > 0
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A value together with where it was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Where the value was written (for values from an anchor: where the anchor defines it).
    pub location: Location,
}

impl<T> Located<T> {
    /// Pairs `value` with `location`.
    pub const fn new(value: T, location: Location) -> Self {
        Located { value, location }
    }

    /// The value, dropping the location.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> Deref for Located<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Display> fmt::Display for Located<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl PartialEq<str> for Located<String> {
    fn eq(&self, other: &str) -> bool {
        self.value == other
    }
}

impl PartialEq<&str> for Located<String> {
    fn eq(&self, other: &&str) -> bool {
        self.value == *other
    }
}

/// One problem in a pipeline file, with where it is and what was expected.
///
/// Displays as `file:line:column: path: message` (the path is left out when
/// empty, the position when unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as given to [`crate::parse`] or [`crate::load`].
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// Where in the document, e.g. `sources[0].streams[1].sync_mode` (empty for syntax errors).
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic at `location` in `file`.
    pub fn new(
        file: impl Into<String>,
        location: Location,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: file.into(),
            line: location.line,
            column: location.column,
            path: path.into(),
            message: message.into(),
        }
    }

    /// The diagnostic's position.
    pub fn location(&self) -> Location {
        Location::new(self.line, self.column)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        f.write_str(": ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// Every problem found in a pipeline file, in file order. Displays one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineErrors(pub Vec<Diagnostic>);

impl PipelineErrors {
    /// The diagnostics.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.0
    }

    /// How many problems were found.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no problem was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Diagnostic> for PipelineErrors {
    fn from(d: Diagnostic) -> Self {
        PipelineErrors(vec![d])
    }
}

impl fmt::Display for PipelineErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            d.fmt(f)?;
        }
        Ok(())
    }
}

impl std::error::Error for PipelineErrors {}

impl IntoIterator for PipelineErrors {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

//! [`ManifestError`]: why a manifest was refused, with `file:line:column`.

use std::ops::Range;
use std::path::{Path, PathBuf};

/// Why a manifest was refused. Displayed as `file:line:column: message`
/// (the position of the offending key or value, 1-based, column in characters).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The manifest file itself could not be read.
    #[error("{}: cannot read the manifest: {source}", file.display())]
    Read {
        /// The manifest path as given.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The manifest is malformed or inconsistent.
    #[error("{}:{line}:{column}: {message}", file.display())]
    Invalid {
        /// The manifest path as given.
        file: PathBuf,
        /// 1-based line of the offending key or value.
        line: usize,
        /// 1-based column (in characters) of the offending key or value.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

impl ManifestError {
    /// An `Invalid` error at byte `span` of `text` (line 1, column 1 when
    /// the span is unknown).
    pub(crate) fn at(file: &Path, text: &str, span: Option<Range<usize>>, message: String) -> Self {
        let (line, column) = span.map_or((1, 1), |s| line_column(text, s.start));
        ManifestError::Invalid {
            file: file.to_path_buf(),
            line,
            column,
            message,
        }
    }

    /// The message without the position.
    pub fn message(&self) -> String {
        match self {
            ManifestError::Read { source, .. } => format!("cannot read the manifest: {source}"),
            ManifestError::Invalid { message, .. } => message.clone(),
        }
    }
}

/// 1-based line and character column of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::line_column;

    #[test]
    fn offsets_map_to_one_based_lines_and_character_columns() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // 'é' is two bytes; '=' is the 4th character of line 2.
        assert_eq!(line_column(text, 10), (2, 4));
        assert_eq!(line_column(text, 1000), (3, 1));
    }
}

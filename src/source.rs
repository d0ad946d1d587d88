//! Input text and errors that point into it: every bad-input message names the file,
//! the line and the column, says what is wrong and what to change.

use std::fmt;
use std::io::Read;
use std::ops::Range;
use std::path::Path;

/// The largest input collsynth reads: 16 MiB. Every file and stdin goes through
/// [`read_file`] or [`read_stdin`], which stop at this many bytes, so `/dev/zero` or a
/// huge file is refused after at most 16 MiB instead of filling memory. The largest
/// real inputs are lowered-JSON programs: a 6-step program over 2^16 devices is about
/// 3 MiB; specs, system files, rules and program text are a few KB.
pub const MAX_INPUT_BYTES: u64 = 16 << 20;

/// Reads a whole file as text, at most [`MAX_INPUT_BYTES`]. `what` names it in
/// messages ("spec", "program", "rules"); `not_found_help` is the advice when it does
/// not exist.
pub fn read_file(path: &Path, what: &str, not_found_help: &str) -> Result<Source, InputError> {
    let name = path.display().to_string();
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let err = InputError::file(&name, format!("no such {what} file"));
            return Err(if not_found_help.is_empty() {
                err
            } else {
                err.with_help(not_found_help)
            });
        }
        Err(e) => {
            return Err(InputError::file(
                name,
                format!("cannot read the {what} file: {e}"),
            ))
        }
    };
    if let Ok(m) = file.metadata() {
        if m.is_dir() {
            return Err(InputError::file(
                name,
                format!("is a directory, not a {what} file"),
            ));
        }
        if m.is_file() && m.len() > MAX_INPUT_BYTES {
            return Err(too_large(name, what));
        }
    }
    read_capped(file, name, what)
}

/// Reads stdin as text, at most [`MAX_INPUT_BYTES`]; the source is called `<stdin>`.
pub fn read_stdin(what: &str) -> Result<Source, InputError> {
    read_capped(std::io::stdin().lock(), "<stdin>".to_string(), what)
}

fn too_large(name: String, what: &str) -> InputError {
    InputError::file(
        name,
        format!(
            "the {what} input is larger than {} MiB, the most collsynth reads",
            MAX_INPUT_BYTES >> 20
        ),
    )
    .with_help(format!(
        "give a {what} file of at most {} MiB (is this the right file?)",
        MAX_INPUT_BYTES >> 20
    ))
}

fn read_capped(reader: impl Read, name: String, what: &str) -> Result<Source, InputError> {
    let mut bytes = Vec::new();
    if let Err(e) = reader.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes) {
        return Err(InputError::file(
            name,
            format!("cannot read the {what} input: {e}"),
        ));
    }
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(too_large(name, what));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Source::new(name, text)),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            Err(InputError::file(
                name,
                format!("the {what} input is not UTF-8 text (invalid byte at offset {at})"),
            )
            .with_help(format!("give a text {what} file in UTF-8")))
        }
    }
}

/// A named piece of input text (a file, stdin, a command-line argument, the embedded
/// default spec).
#[derive(Debug, Clone)]
pub struct Source {
    /// What to call it in messages: a path, `<stdin>`, `<embedded default spec>`.
    pub name: String,
    /// The whole text.
    pub text: String,
}

impl Source {
    /// A source from a name and its text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Source {
            name: name.into(),
            text: text.into(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let mut line = 1;
        let mut line_start = 0;
        for (i, c) in self.text.char_indices() {
            if i >= offset {
                break;
            }
            if c == '\n' {
                line += 1;
                line_start = i + 1;
            }
        }
        let col = self
            .text
            .get(line_start..offset)
            .map_or(1, |s| s.chars().count() + 1);
        (line, col)
    }

    /// An error at a byte range of this source.
    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> InputError {
        let (line, col) = self.line_col(span.start);
        InputError {
            file: self.name.clone(),
            line: Some((line, col)),
            message: message.into(),
            help: None,
        }
    }
}

/// Bad input: a message a user can act on, located in a file where possible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InputError {
    /// The file (or `<stdin>`, `<command line>`, ...).
    pub file: String,
    /// 1-based line and column, when the error has a place.
    pub line: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
    /// What to change, when that is not already in the message.
    pub help: Option<String>,
}

impl InputError {
    /// An error about a whole file (it is missing, say).
    pub fn file(file: impl Into<String>, message: impl Into<String>) -> Self {
        InputError {
            file: file.into(),
            line: None,
            message: message.into(),
            help: None,
        }
    }

    /// Adds a line of advice.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some((l, c)) => write!(f, "{}:{l}:{c}: {}", self.file, self.message)?,
            None => write!(f, "{}: {}", self.file, self.message)?,
        }
        if let Some(h) = &self.help {
            write!(f, "\n  help: {h}")?;
        }
        Ok(())
    }
}

/// The candidate closest to a misspelled `word` (case-insensitive edit distance at most
/// a third of its length, at least 1), for a "did you mean" in a message.
///
/// ```
/// use collsynth::source::did_you_mean;
/// assert_eq!(did_you_mean("dat", ["data", "model"]), Some("data"));
/// assert_eq!(did_you_mean("pipe", ["data", "model"]), None);
/// ```
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let w: Vec<char> = word.to_lowercase().chars().collect();
    let limit = (w.len() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| {
            (
                edit_distance(&w, &c.to_lowercase().chars().collect::<Vec<_>>()),
                c,
            )
        })
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// `"did you mean `x`? "` when [`did_you_mean`] finds a candidate, else `""`: the
/// start of a message's advice.
pub fn suggestion<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(word, candidates)
        .map(|c| format!("did you mean `{c}`? "))
        .unwrap_or_default()
}

/// Levenshtein distance, one row at a time.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_characters() {
        let s = Source::new("f", "ab\nµcd\n");
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(3), (2, 1));
        assert_eq!(s.line_col(5), (2, 2)); // after the two-byte µ
        assert_eq!(s.line_col(100), (3, 1));
    }
}

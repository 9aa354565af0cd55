//! The problems a check finds: [`ConfigError`]s (the file is refused) and [`Warning`]s (it
//! works, but the administrator should know), each located as `file:line: reason`, and the
//! `Checker` that collects them while a file is validated.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::locate::{Location, find_key_line};

/// Why a configuration file was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The file (or a file it names, such as `psk_file`) could not be read.
    Io,
    /// The YAML is malformed, a key is unknown or a value has the wrong type.
    Syntax,
    /// The values parse but are not usable together (pool too small, ports equal, ...).
    Invalid,
}

/// One problem in a configuration file: where it is and why it is a problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Location::new(file, *line, *column).prefix_and(reason))]
pub struct ConfigError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// The 1-based column, when known.
    pub column: Option<usize>,
    /// What kind of problem it is.
    pub kind: ConfigErrorKind,
    /// The reason, in plain words.
    pub reason: String,
}

/// Something that works but that the administrator should know about (the example PSK, a
/// weak algorithm enabled, plaintext L2TP allowed, a secret readable by others, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file the warning is about.
    pub file: PathBuf,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// The warning, in plain words.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Location::new(&self.file, self.line, None).prefix_and(&self.message))
    }
}

/// Collects problems while a file is validated.
pub(crate) struct Checker<'a> {
    pub(crate) file: &'a Path,
    pub(crate) text: &'a str,
    pub(crate) errors: Vec<ConfigError>,
    pub(crate) warnings: Vec<Warning>,
}

impl Checker<'_> {
    pub(crate) fn error(&mut self, key: &[&str], reason: impl Into<String>) {
        let line = find_key_line(self.text, key);
        self.push(ConfigErrorKind::Invalid, line, reason.into());
    }

    pub(crate) fn io_error(&mut self, key: &[&str], reason: impl Into<String>) {
        let line = find_key_line(self.text, key);
        self.push(ConfigErrorKind::Io, line, reason.into());
    }

    pub(crate) fn error_at(&mut self, line: Option<usize>, reason: impl Into<String>) {
        self.push(ConfigErrorKind::Invalid, line, reason.into());
    }

    pub(crate) fn io_error_at(&mut self, line: Option<usize>, reason: impl Into<String>) {
        self.push(ConfigErrorKind::Io, line, reason.into());
    }

    fn push(&mut self, kind: ConfigErrorKind, line: Option<usize>, reason: String) {
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line,
            column: None,
            kind,
            reason,
        });
    }

    pub(crate) fn warn_at(&mut self, line: Option<usize>, message: impl Into<String>) {
        self.warnings.push(Warning {
            file: self.file.to_path_buf(),
            line,
            message: message.into(),
        });
    }

    pub(crate) fn warn(&mut self, key: &[&str], message: impl Into<String>) {
        let line = find_key_line(self.text, key);
        self.warn_at(line, message);
    }
}

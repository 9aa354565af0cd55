//! The one error type of the `wire` crate.

/// What went wrong while reading or writing a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The buffer is shorter than a fixed header or than a length field says.
    Truncated,
    /// A length field is smaller than its own header, zero where that is not allowed, or
    /// otherwise inconsistent.
    BadLength,
    /// A field holds a value that the format does not allow (a version, a reserved bit, ...).
    BadValue,
    /// The buffer given to `emit` is too small.
    BufferTooSmall,
}

/// A `wire` error: what failed, and where (a static name of the field or structure).
///
/// It is `Copy` so that the hot path can return it without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{kind:?} at {at}")]
#[non_exhaustive]
pub struct Error {
    /// The kind of failure.
    pub kind: ErrorKind,
    /// The field or structure that failed, for logs and counters.
    pub at: &'static str,
}

impl Error {
    /// A buffer too short for `at`.
    pub const fn truncated(at: &'static str) -> Self {
        Self {
            kind: ErrorKind::Truncated,
            at,
        }
    }

    /// An inconsistent length in `at`.
    pub const fn bad_length(at: &'static str) -> Self {
        Self {
            kind: ErrorKind::BadLength,
            at,
        }
    }

    /// A forbidden value in `at`.
    pub const fn bad_value(at: &'static str) -> Self {
        Self {
            kind: ErrorKind::BadValue,
            at,
        }
    }

    /// An output buffer too small for `at`.
    pub const fn buffer_too_small(at: &'static str) -> Self {
        Self {
            kind: ErrorKind::BufferTooSmall,
            at,
        }
    }
}

/// The `wire` result type.
pub type Result<T> = core::result::Result<T, Error>;

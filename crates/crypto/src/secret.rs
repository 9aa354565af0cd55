//! Secret byte strings and constant-time comparison.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret byte string (key, pre-shared key, password hash, shared secret).
///
/// The bytes are wiped when the value is dropped, and `Debug` prints only the length, so a
/// `Secret` can sit inside structs that derive `Debug` without leaking into logs.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps `bytes`; they are zeroized when the `Secret` is dropped.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Copies `bytes` into a new `Secret`.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// The secret bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for Secret {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl AsRef<[u8]> for Secret {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Secret([REDACTED; {}])", self.0.len())
    }
}

/// Constant-time equality of two secrets. Only the lengths may leak through timing.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(&self.0, &other.0)
    }
}

impl Eq for Secret {}

/// Compares two byte strings in constant time (with respect to their contents).
///
/// Returns `false` for different lengths; the lengths themselves are not secret (ICV and hash
/// lengths are fixed by the negotiated algorithm).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new(b"hunter2".to_vec());
        let d = format!("{s:?}");
        assert_eq!(d, "Secret([REDACTED; 7])");
        assert!(!d.contains("hunter2"));
    }

    #[test]
    fn ct_eq_semantics() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
        assert_eq!(Secret::from_slice(b"k"), Secret::new(vec![b'k']));
        assert_ne!(Secret::from_slice(b"k"), Secret::from_slice(b"j"));
    }
}

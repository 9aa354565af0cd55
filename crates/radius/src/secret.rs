//! The shared secret between a RADIUS client and server (RFC 2865 §3: "The secret (password
//! shared between the client and the RADIUS server) SHOULD be at least as large and
//! unguessable as a well-chosen password").
//!
//! It is zeroized when dropped and never printed: `Debug` shows only its length.

use core::fmt;

use zeroize::Zeroizing;

/// A RADIUS shared secret: zeroized on drop, redacted in `Debug`, no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedSecret(Zeroizing<Vec<u8>>);

impl SharedSecret {
    /// Wraps `secret`.
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self(Zeroizing::new(secret.into()))
    }

    /// The secret bytes (for the authenticator computations only).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether the secret is empty (RFC 2865 §3: "The secret MUST NOT be empty").
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedSecret(<{} bytes redacted>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let s = SharedSecret::new(b"xyzzy5461".to_vec());
        let shown = format!("{s:?}");
        assert!(!shown.contains("xyzzy"), "{shown}");
        assert!(shown.contains("9 bytes"), "{shown}");
        assert_eq!(s.as_bytes(), b"xyzzy5461");
        assert!(!s.is_empty());
        assert!(SharedSecret::new(Vec::new()).is_empty());
    }
}

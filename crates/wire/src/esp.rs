//! ESP header and trailer views (RFC 4303 §2).

//! L2TPv2 header and AVPs (RFC 2661 §3, §4).

//! NAT traversal framing on UDP 4500 (RFC 3948 §2): non-ESP marker and NAT-keepalive.

//! Minimal IPv4 (RFC 791) and UDP (RFC 768) views, for transport-mode ESP and the TUN path.

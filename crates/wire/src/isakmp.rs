//! ISAKMP (RFC 2408) header and payloads, with the IKEv1 (RFC 2409) and NAT-T (RFC 3947) additions.

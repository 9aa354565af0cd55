//! PPP frames (RFC 1661 §2) and the control protocols that ride on them.

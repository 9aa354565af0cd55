//! Result and error codes (RFC 2661 §4.4.2), in plain words.
//!
//! The Result Code AVP means different things in StopCCN and CDN, so each has its own table;
//! the General Error Codes are shared. The texts follow the RFC's wording, shortened.

/// StopCCN result codes (RFC 2661 §4.4.2).
pub mod stopccn {
    /// General request to clear control connection.
    pub const CLEAR: u16 = 1;
    /// General error, the Error Code says which.
    pub const GENERAL_ERROR: u16 = 2;
    /// Control channel already exists.
    pub const ALREADY_EXISTS: u16 = 3;
    /// Requester is not authorized to establish a control channel.
    pub const NOT_AUTHORIZED: u16 = 4;
    /// The protocol version of the requester is not supported.
    pub const BAD_VERSION: u16 = 5;
    /// Requester is being shut down.
    pub const SHUTTING_DOWN: u16 = 6;
    /// Finite State Machine error.
    pub const FSM_ERROR: u16 = 7;
}

/// CDN result codes (RFC 2661 §4.4.2).
pub mod cdn {
    /// Call disconnected due to loss of carrier.
    pub const LOST_CARRIER: u16 = 1;
    /// Call disconnected for the reason indicated in the Error Code.
    pub const GENERAL_ERROR: u16 = 2;
    /// Call disconnected for administrative reasons.
    pub const ADMINISTRATIVE: u16 = 3;
    /// Call failed due to lack of appropriate facilities being available (temporary).
    pub const NO_FACILITIES_TEMPORARY: u16 = 4;
    /// Call failed due to lack of appropriate facilities being available (permanent).
    pub const NO_FACILITIES_PERMANENT: u16 = 5;
}

/// General Error Codes (RFC 2661 §4.4.2).
pub mod error {
    /// No general error.
    pub const NONE: u16 = 0;
    /// No control connection exists yet for this LAC-LNS pair.
    pub const NO_CONTROL_CONNECTION: u16 = 1;
    /// Length is wrong.
    pub const BAD_LENGTH: u16 = 2;
    /// One of the field values was out of range or a reserved field was non-zero.
    pub const BAD_VALUE: u16 = 3;
    /// Insufficient resources to handle this operation now.
    pub const NO_RESOURCES: u16 = 4;
    /// The Session ID is invalid in this context.
    pub const BAD_SESSION_ID: u16 = 5;
    /// A generic vendor-specific error occurred in the LAC.
    pub const VENDOR_ERROR: u16 = 6;
    /// Try another LNS.
    pub const TRY_ANOTHER: u16 = 7;
    /// Session or tunnel was shut down due to receipt of an unknown AVP with the M bit set.
    pub const UNKNOWN_MANDATORY_AVP: u16 = 8;
}

/// The words for a StopCCN result code.
pub fn stopccn_result_text(code: u16) -> &'static str {
    match code {
        0 => "reserved result code 0",
        1 => "general request to clear the control connection",
        2 => "general error",
        3 => "control channel already exists",
        4 => "requester is not authorized to establish a control channel",
        5 => "protocol version of the requester is not supported",
        6 => "requester is being shut down",
        7 => "finite state machine error",
        _ => "unknown result code",
    }
}

/// The words for a CDN result code.
pub fn cdn_result_text(code: u16) -> &'static str {
    match code {
        0 => "reserved result code 0",
        1 => "call disconnected due to loss of carrier",
        2 => "call disconnected because of an error",
        3 => "call disconnected for administrative reasons",
        4 => "call failed: no appropriate facilities available (temporary)",
        5 => "call failed: no appropriate facilities available (permanent)",
        6 => "invalid destination",
        7 => "call failed: no carrier detected",
        8 => "call failed: busy signal",
        9 => "call failed: no dial tone",
        10 => "call was not established within the time allotted by the LAC",
        11 => "call was connected but no appropriate framing was detected",
        _ => "unknown result code",
    }
}

/// The words for a General Error Code.
pub fn error_text(code: u16) -> &'static str {
    match code {
        0 => "no general error",
        1 => "no control connection exists yet for this LAC-LNS pair",
        2 => "length is wrong",
        3 => "a field value was out of range or a reserved field was non-zero",
        4 => "insufficient resources to handle this operation now",
        5 => "the session ID is invalid in this context",
        6 => "a vendor-specific error occurred in the LAC",
        7 => "try another LNS",
        8 => "shut down because of an unknown AVP with the M bit set",
        _ => "unknown error code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(
            stopccn_result_text(stopccn::SHUTTING_DOWN),
            "requester is being shut down"
        );
        assert_eq!(
            cdn_result_text(cdn::ADMINISTRATIVE),
            "call disconnected for administrative reasons"
        );
        assert_eq!(
            error_text(error::UNKNOWN_MANDATORY_AVP),
            "shut down because of an unknown AVP with the M bit set"
        );
        assert_eq!(stopccn_result_text(99), "unknown result code");
        assert_eq!(cdn_result_text(99), "unknown result code");
        assert_eq!(error_text(99), "unknown error code");
    }
}

//! Loading certificates (RFC 5280 §4), RSA private keys (PKCS#1, RFC 8017 Appendix A.1.2, and
//! PKCS#8, RFC 5208) and CRLs (RFC 5280 §5) from PEM (RFC 7468) or DER bytes.
//!
//! A PEM file may hold several blocks (a CA bundle, a chain); text outside the blocks is ignored,
//! as OpenSSL does. Blocks of other kinds in a certificate file are skipped, so a file holding a
//! certificate and its key can be read twice.

use der::Decode;
use rsa::{
    RsaPrivateKey,
    pkcs1::DecodeRsaPrivateKey,
    pkcs8::{DecodePrivateKey, DecodePublicKey},
};
use thiserror::Error;

use crate::{Certificate, Crl, PublicKey};

/// An RSA private key.
pub type PrivateKey = RsaPrivateKey;

/// Why bytes could not be read as the object asked for.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A PEM block is damaged (bad base64, missing END line).
    #[error("damaged PEM block: {0}")]
    Pem(String),
    /// The DER inside is not the object asked for.
    #[error("not a valid {what}: {reason}")]
    Der {
        /// What was expected ("certificate", "CRL", "private key").
        what: &'static str,
        /// The decoder's words.
        reason: String,
    },
    /// No object of the asked kind was found.
    #[error("no {0} found (expected PEM \"-----BEGIN ...\" blocks or one DER object)")]
    Empty(&'static str),
    /// The private key is encrypted; only unencrypted keys are read.
    #[error("the private key is encrypted; store it unencrypted with mode 0600")]
    EncryptedKey,
    /// The key or certificate holds a key that is not RSA.
    #[error("only RSA keys are supported ({0})")]
    NotRsa(String),
}

/// A PEM block: its label (`CERTIFICATE`, `X509 CRL`, ...) and DER contents.
struct Block {
    label: String,
    der: Vec<u8>,
}

fn is_pem(data: &[u8]) -> bool {
    data.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Every PEM block in `data`, in order.
fn pem_blocks(data: &[u8]) -> Result<Vec<Block>, LoadError> {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    let mut rest: &str = &text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let from = rest.get(start..).unwrap_or_default();
        let Some(end_at) = from.find("-----END ") else {
            return Err(LoadError::Pem("a BEGIN line has no END line".into()));
        };
        let after_end = from.get(end_at + 9..).unwrap_or_default();
        let Some(close) = after_end.find("-----") else {
            return Err(LoadError::Pem("an END line is not closed by -----".into()));
        };
        let block_len = end_at + 9 + close + 5;
        let block = from.get(..block_len).unwrap_or_default();
        let (label, der) =
            der::pem::decode_vec(block.as_bytes()).map_err(|e| LoadError::Pem(e.to_string()))?;
        out.push(Block {
            label: label.to_owned(),
            der,
        });
        rest = from.get(block_len..).unwrap_or_default();
    }
    Ok(out)
}

/// Certificates from PEM (every `CERTIFICATE` block) or from one DER certificate.
pub fn certificates(data: &[u8]) -> Result<Vec<Certificate>, LoadError> {
    let ders = if is_pem(data) {
        pem_blocks(data)?
            .into_iter()
            .filter(|b| b.label == "CERTIFICATE" || b.label == "X509 CERTIFICATE")
            .map(|b| b.der)
            .collect()
    } else {
        vec![data.to_vec()]
    };
    if ders.is_empty() {
        return Err(LoadError::Empty("certificate"));
    }
    ders.iter().map(|d| certificate_der(d)).collect()
}

/// One certificate from DER (as carried in an ISAKMP CERT payload, RFC 2408 §3.9).
pub fn certificate_der(der: &[u8]) -> Result<Certificate, LoadError> {
    Certificate::from_der(der).map_err(|e| LoadError::Der {
        what: "certificate",
        reason: e.to_string(),
    })
}

/// CRLs from PEM (every `X509 CRL` block) or from one DER CRL.
pub fn crls(data: &[u8]) -> Result<Vec<Crl>, LoadError> {
    let ders = if is_pem(data) {
        pem_blocks(data)?
            .into_iter()
            .filter(|b| b.label == "X509 CRL")
            .map(|b| b.der)
            .collect()
    } else {
        vec![data.to_vec()]
    };
    if ders.is_empty() {
        return Err(LoadError::Empty("CRL"));
    }
    ders.iter()
        .map(|d| {
            Crl::from_der(d).map_err(|e| LoadError::Der {
                what: "CRL",
                reason: e.to_string(),
            })
        })
        .collect()
}

/// An RSA private key from PEM (`PRIVATE KEY` = PKCS#8, `RSA PRIVATE KEY` = PKCS#1) or DER
/// (either form).
pub fn private_key(data: &[u8]) -> Result<PrivateKey, LoadError> {
    let bad = |e: &dyn std::fmt::Display| LoadError::Der {
        what: "private key",
        reason: e.to_string(),
    };
    if !is_pem(data) {
        return RsaPrivateKey::from_pkcs8_der(data)
            .or_else(|_| RsaPrivateKey::from_pkcs1_der(data))
            .map_err(|e| bad(&e));
    }
    for block in pem_blocks(data)? {
        match block.label.as_str() {
            "PRIVATE KEY" => return RsaPrivateKey::from_pkcs8_der(&block.der).map_err(|e| bad(&e)),
            "RSA PRIVATE KEY" => {
                return RsaPrivateKey::from_pkcs1_der(&block.der).map_err(|e| bad(&e));
            }
            "ENCRYPTED PRIVATE KEY" => return Err(LoadError::EncryptedKey),
            "EC PRIVATE KEY" => return Err(LoadError::NotRsa("EC PRIVATE KEY".into())),
            _ => {}
        }
    }
    Err(LoadError::Empty("private key"))
}

/// The RSA public key of a certificate.
pub fn public_key(cert: &Certificate) -> Result<PublicKey, LoadError> {
    let spki = &cert.tbs_certificate.subject_public_key_info;
    if spki.algorithm.oid != const_oid::db::rfc5912::RSA_ENCRYPTION {
        return Err(LoadError::NotRsa(format!(
            "key algorithm {}",
            spki.algorithm.oid
        )));
    }
    let der = der::Encode::to_der(spki).map_err(|e| LoadError::Der {
        what: "public key",
        reason: e.to_string(),
    })?;
    PublicKey::from_public_key_der(&der).map_err(|e| LoadError::Der {
        what: "RSA public key",
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_in_words() {
        assert!(matches!(
            certificates(b"hello"),
            Err(LoadError::Der {
                what: "certificate",
                ..
            })
        ));
        assert!(matches!(
            certificates(b"text only\n"),
            Err(LoadError::Der { .. })
        ));
        assert!(matches!(
            certificates(b"-----BEGIN CERTIFICATE-----\nAAAA\n"),
            Err(LoadError::Pem(_))
        ));
        assert!(matches!(
            private_key(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"),
            Err(LoadError::EncryptedKey)
        ));
        assert!(matches!(
            crls(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            Err(LoadError::Empty("CRL"))
        ));
    }
}

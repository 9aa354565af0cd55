//! `l2tpd-rs pki`: a small certificate authority for L2TP/IPsec with certificates, so that an
//! admin needs no OpenSSL recipes.
//!
//! - `pki ca` creates the CA (`ca.crt`, `ca.key`);
//! - `pki server --name HOST --ip ADDR` issues the server certificate with what Windows checks
//!   (Server Authentication and IP security IKE intermediate EKUs, the names and addresses in the
//!   subjectAltName; Microsoft KB 2855053,
//!   <https://learn.microsoft.com/en-us/troubleshoot/windows-server/networking/l2tp-vpn-fails-with-error-787>),
//!   then runs the same lint as `check-config` will;
//! - `pki client NAME` issues a client certificate and packs it with its key and the CA
//!   certificate into a password-protected PKCS#12 file (RFC 7292) that Windows XP and later
//!   import. XP reads only the legacy PKCS#12 algorithms: the key and the certificates are
//!   encrypted with pbeWithSHAAnd3-KeyTripleDES-CBC (RFC 7292 Appendix C) and the MAC uses
//!   SHA-1 (RFC 7292 §5.1), which is what OpenSSL's `pkcs12 -export -keypbe PBE-SHA1-3DES
//!   -certpbe PBE-SHA1-3DES -macalg sha1` writes; OpenSSL 3's default (PBES2 with AES-256-CBC
//!   and an HMAC-SHA-256 MAC) does not import on XP;
//! - `pki revoke FILE` adds a certificate to the revocation list and `pki crl` (also run by
//!   `revoke`) writes `crl.pem`, signed by the CA, valid for `--crl-days`.
//!
//! Files live in one directory (`--dir`): private keys and PKCS#12 files are created mode 0600
//! and never overwritten. Keys are 2048-bit RSA from OpenSSL's generator; serial numbers are
//! 16 random bytes.

use std::{
    fs,
    io::{BufRead, Write},
    net::Ipv4Addr,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, SystemTime},
};

use anyhow::{Context, bail};
use clap::Subcommand;
use der::{Decode, EncodePem, pem::LineEnding};
use pki::{
    Certificate, PrivateKey,
    issue::{self, Revoked, Spec},
    lint::{self, Severity},
    load,
};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use x509_cert::serial_number::SerialNumber;

use crate::clock;

/// Key size for everything `pki` makes.
const KEY_BITS: u32 = 2048;
const DAY: Duration = Duration::from_secs(86_400);
/// Certificates start a day early so that a client whose clock is a little behind accepts them.
const BACKDATE: Duration = DAY;

/// `l2tpd-rs pki ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum PkiCommand {
    /// Create the certificate authority: DIR/ca.crt (give it to clients) and DIR/ca.key.
    Ca {
        #[arg(long, default_value = DEFAULT_DIR)]
        dir: PathBuf,
        /// The CA's subject.
        #[arg(long, default_value = "CN=l2tpd-rs VPN CA")]
        subject: String,
        #[arg(long, default_value_t = 3650)]
        days: u32,
    },
    /// Issue the server certificate (DIR/server.crt, DIR/server.key) naming every host name and
    /// address clients dial.
    Server {
        #[arg(long, default_value = DEFAULT_DIR)]
        dir: PathBuf,
        /// A DNS name clients type (repeatable).
        #[arg(long = "name", value_name = "HOST")]
        names: Vec<String>,
        /// An IPv4 address clients type (repeatable).
        #[arg(long = "ip", value_name = "ADDR")]
        ips: Vec<Ipv4Addr>,
        #[arg(long, default_value_t = 825)]
        days: u32,
    },
    /// Issue a client certificate as DIR/clients/NAME.p12 (with .crt and .key beside it). The
    /// PKCS#12 password is read from --password-file or from standard input.
    Client {
        /// The client's name: the certificate's CN.
        name: String,
        #[arg(long, default_value = DEFAULT_DIR)]
        dir: PathBuf,
        /// An e-mail for the subjectAltName (what the client's ID_USER_FQDN may say).
        #[arg(long)]
        email: Option<String>,
        /// A file whose first line is the PKCS#12 password.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        #[arg(long, default_value_t = 825)]
        days: u32,
    },
    /// Revoke a certificate issued by this CA and rewrite DIR/crl.pem.
    Revoke {
        /// The certificate file (PEM or DER).
        cert: PathBuf,
        #[arg(long, default_value = DEFAULT_DIR)]
        dir: PathBuf,
        #[arg(long, default_value_t = 30)]
        crl_days: u32,
    },
    /// Rewrite DIR/crl.pem (run before the previous one's next update).
    Crl {
        #[arg(long, default_value = DEFAULT_DIR)]
        dir: PathBuf,
        #[arg(long, default_value_t = 30)]
        crl_days: u32,
    },
}

const DEFAULT_DIR: &str = "/etc/l2tpd-rs/pki";
/// One revoked serial per line: hex serial, space, revocation time in Unix seconds.
const REVOKED_FILE: &str = "revoked.txt";

pub(crate) fn main(cmd: PkiCommand) -> ExitCode {
    match run(cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("l2tpd-rs pki: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cmd: PkiCommand) -> anyhow::Result<()> {
    let now = clock::wall_now();
    match cmd {
        PkiCommand::Ca { dir, subject, days } => {
            fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let key = generate_key()?;
            let spec = Spec::ca(&subject, random_serial(), now - BACKDATE, now + DAY * days)?;
            let cert = issue::certificate(&spec, &key.to_public_key(), None, &key)?;
            write_key(&dir.join("ca.key"), &key)?;
            write_new(
                &dir.join("ca.crt"),
                cert.to_pem(LineEnding::LF)?.as_bytes(),
                0o644,
            )?;
            println!(
                "CA {subject} written to {}/ca.crt (give it to clients) and ca.key (keep it secret)",
                dir.display()
            );
        }
        PkiCommand::Server {
            dir,
            names,
            ips,
            days,
        } => {
            if names.is_empty() && ips.is_empty() {
                bail!(
                    "name the server with at least one --name HOST or --ip ADDR: Windows checks that the certificate names what the user typed"
                );
            }
            let (ca, ca_key) = load_ca(&dir)?;
            let key = generate_key()?;
            let cn = names
                .first()
                .cloned()
                .unwrap_or_else(|| ips.first().map(ToString::to_string).unwrap_or_default());
            let spec = Spec::server(
                &format!("CN={cn}"),
                random_serial(),
                now - BACKDATE,
                now + DAY * days,
                names.clone(),
                ips.clone(),
            )?;
            let cert = issue::certificate(&spec, &key.to_public_key(), Some(&ca), &ca_key)?;
            write_key(&dir.join("server.key"), &key)?;
            write_new(
                &dir.join("server.crt"),
                cert.to_pem(LineEnding::LF)?.as_bytes(),
                0o644,
            )?;
            println!(
                "server certificate CN={cn} written to {}/server.crt and server.key",
                dir.display()
            );
            for f in lint::server_certificate(&cert, &names, &ips, now) {
                if f.severity >= Severity::Warning {
                    eprintln!("warning: {}", f.message);
                }
            }
        }
        PkiCommand::Client {
            name,
            dir,
            email,
            password_file,
            days,
        } => {
            let password = read_password(password_file.as_deref())?;
            let (ca, ca_key) = load_ca(&dir)?;
            let clients = dir.join("clients");
            fs::create_dir_all(&clients)
                .with_context(|| format!("cannot create {}", clients.display()))?;
            if name.is_empty() || name.contains(['/', '\0']) || name.starts_with('.') {
                bail!("{name:?} cannot be used as a file name");
            }
            let key = generate_key()?;
            let subject = format!("CN={}", escape_rdn(&name));
            let spec = Spec::client(
                &subject,
                random_serial(),
                now - BACKDATE,
                now + DAY * days,
                email.into_iter().collect(),
                Vec::new(),
            )?;
            let cert = issue::certificate(&spec, &key.to_public_key(), Some(&ca), &ca_key)?;
            let p12 = pkcs12(&name, &cert, &key, &ca, &password)?;
            write_key(&clients.join(format!("{name}.key")), &key)?;
            write_new(
                &clients.join(format!("{name}.crt")),
                cert.to_pem(LineEnding::LF)?.as_bytes(),
                0o644,
            )?;
            write_new(&clients.join(format!("{name}.p12")), &p12, 0o600)?;
            println!(
                "client certificate {subject} written to {}/{name}.p12 (import it into the Local Computer store on Windows)",
                clients.display()
            );
        }
        PkiCommand::Revoke {
            cert,
            dir,
            crl_days,
        } => {
            let (ca, ca_key) = load_ca(&dir)?;
            let data =
                fs::read(&cert).with_context(|| format!("cannot read {}", cert.display()))?;
            let c = load::certificates(&data)?
                .into_iter()
                .next()
                .context("no certificate in the file")?;
            if c.tbs_certificate.issuer != ca.tbs_certificate.subject {
                bail!("{} was not issued by this CA", cert.display());
            }
            let serial = hex::encode(c.tbs_certificate.serial_number.as_bytes());
            let mut revoked = read_revoked(&dir)?;
            if revoked.iter().any(|(s, _)| *s == serial) {
                println!("{} is already revoked", cert.display());
            } else {
                let secs = now
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                revoked.push((serial.clone(), secs));
                let mut f = fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(REVOKED_FILE))?;
                writeln!(f, "{serial} {secs}")?;
                println!("revoked serial {serial}");
            }
            write_crl(&dir, &ca, &ca_key, now, crl_days, &revoked)?;
        }
        PkiCommand::Crl { dir, crl_days } => {
            let (ca, ca_key) = load_ca(&dir)?;
            let revoked = read_revoked(&dir)?;
            write_crl(&dir, &ca, &ca_key, now, crl_days, &revoked)?;
        }
    }
    Ok(())
}

fn generate_key() -> anyhow::Result<PrivateKey> {
    let k = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(KEY_BITS)?)?;
    Ok(PrivateKey::from_pkcs8_der(&k.private_key_to_pkcs8()?)?)
}

fn random_serial() -> Vec<u8> {
    clock::os_seed()
        .get(..16)
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

/// Escapes the RFC 4514 §2.4 special characters of an attribute value.
fn escape_rdn(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && matches!(c, '#' | ' '))
        {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn load_ca(dir: &Path) -> anyhow::Result<(Certificate, PrivateKey)> {
    let crt = dir.join("ca.crt");
    let key = dir.join("ca.key");
    let cert = load::certificates(&fs::read(&crt).with_context(|| {
        format!(
            "cannot read {} (run `l2tpd-rs pki ca` first)",
            crt.display()
        )
    })?)?
    .into_iter()
    .next()
    .context("ca.crt holds no certificate")?;
    let k = load::private_key(
        &fs::read(&key).with_context(|| format!("cannot read {}", key.display()))?,
    )?;
    if k.to_public_key() != load::public_key(&cert)? {
        bail!("{} does not belong to {}", key.display(), crt.display());
    }
    Ok((cert, k))
}

/// Creates `path` with `mode`, refusing to overwrite anything.
fn write_new(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| {
            format!(
                "cannot create {} (an existing file is never overwritten)",
                path.display()
            )
        })?;
    f.write_all(data)?;
    Ok(())
}

fn write_key(path: &Path, key: &PrivateKey) -> anyhow::Result<()> {
    let pem = key.to_pkcs8_pem(LineEnding::LF)?;
    write_new(path, pem.as_bytes(), 0o600)
}

fn read_password(file: Option<&Path>) -> anyhow::Result<String> {
    let mut line = String::new();
    match file {
        Some(p) => {
            let data =
                fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
            line = data.lines().next().unwrap_or_default().to_owned();
        }
        None => {
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("cannot read the password from standard input")?;
        }
    }
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("the PKCS#12 password is empty: Windows import needs one");
    }
    Ok(password)
}

/// The PKCS#12 file in the legacy algorithms Windows XP reads (see the module docs).
fn pkcs12(
    name: &str,
    cert: &Certificate,
    key: &PrivateKey,
    ca: &Certificate,
    password: &str,
) -> anyhow::Result<Vec<u8>> {
    use openssl::{
        hash::MessageDigest, nid::Nid, pkcs12::Pkcs12, pkey::PKey, stack::Stack, x509::X509,
    };
    let x509 =
        |c: &Certificate| -> anyhow::Result<X509> { Ok(X509::from_der(&der::Encode::to_der(c)?)?) };
    let pkey = PKey::private_key_from_pkcs8(key.to_pkcs8_der()?.as_bytes())?;
    let mut chain = Stack::new()?;
    chain.push(x509(ca)?)?;
    let leaf = x509(cert)?;
    let p12 = Pkcs12::builder()
        .name(name)
        .pkey(&pkey)
        .cert(&leaf)
        .ca(chain)
        .key_algorithm(Nid::PBE_WITHSHA1AND3_KEY_TRIPLEDES_CBC)
        .cert_algorithm(Nid::PBE_WITHSHA1AND3_KEY_TRIPLEDES_CBC)
        .mac_md(MessageDigest::sha1())
        .build2(password)
        .context("cannot build the PKCS#12 file")?;
    Ok(p12.to_der()?)
}

fn read_revoked(dir: &Path) -> anyhow::Result<Vec<(String, u64)>> {
    let path = dir.join(REVOKED_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut it = line.split_whitespace();
        let (Some(s), Some(t)) = (it.next(), it.next()) else {
            if line.trim().is_empty() {
                continue;
            }
            bail!(
                "{}:{}: expected `SERIAL UNIX_SECONDS`",
                path.display(),
                n + 1
            );
        };
        let secs = t
            .parse()
            .with_context(|| format!("{}:{}: bad time", path.display(), n + 1))?;
        out.push((s.to_owned(), secs));
    }
    Ok(out)
}

fn write_crl(
    dir: &Path,
    ca: &Certificate,
    ca_key: &PrivateKey,
    now: SystemTime,
    days: u32,
    revoked: &[(String, u64)],
) -> anyhow::Result<()> {
    let mut entries = Vec::with_capacity(revoked.len());
    for (s, t) in revoked {
        let bytes = hex::decode(s).with_context(|| format!("bad serial {s} in {REVOKED_FILE}"))?;
        // Re-read the serial as DER INTEGER content exactly as it was in the certificate.
        let mut der = vec![0x02, u8::try_from(bytes.len()).context("serial too long")?];
        der.extend_from_slice(&bytes);
        entries.push(Revoked {
            serial: SerialNumber::from_der(&der)?,
            date: SystemTime::UNIX_EPOCH + Duration::from_secs(*t),
        });
    }
    let crl = issue::crl(
        ca,
        ca_key,
        now - Duration::from_secs(3600),
        now + DAY * days,
        &entries,
    )?;
    let pem = der::pem::encode_string("X509 CRL", LineEnding::LF, &der::Encode::to_der(&crl)?)
        .map_err(|e| anyhow::anyhow!("cannot encode the CRL: {e}"))?;
    let path = dir.join("crl.pem");
    let tmp = dir.join("crl.pem.new");
    let _ = fs::remove_file(&tmp);
    write_new(&tmp, pem.as_bytes(), 0o644)?;
    fs::rename(&tmp, &path).with_context(|| format!("cannot replace {}", path.display()))?;
    println!(
        "{} written: {} revoked, next update in {days} days",
        path.display(),
        revoked.len()
    );
    Ok(())
}

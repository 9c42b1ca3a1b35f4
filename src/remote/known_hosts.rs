//! OpenSSH `known_hosts` files: look a server's host key up, record a newly
//! accepted one.
//!
//! Supported, as OpenSSH writes and reads them:
//!
//! - plain names and addresses (`pi-07`, `10.8.0.7`), comma-separated lists,
//!   `[host]:port` entries for ports other than 22, wildcard patterns
//!   (`*`, `?`) and negations (`!pattern`);
//! - hashed entries `|1|salt|hmac` (HMAC-SHA1 of the host string keyed by the
//!   salt, both base64), as written by `ssh-keygen -H` / `HashKnownHosts yes`;
//! - the `@revoked` marker (a revoked key is refused) and `@cert-authority`
//!   (ignored: certificates are not used here);
//! - any key type OpenSSH writes (ed25519, ecdsa-sha2-nistp256, rsa, …).
//!
//! Fingerprints are written like `ssh-keygen -lf`: `SHA256:<base64, no padding>`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use russh::keys::{HashAlg, PublicKey};
use std::io::{self, Write};
use std::path::Path;

/// What `known_hosts` says about a server's host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// An entry for this host has exactly this key.
    Known,
    /// No entry for this host has a key of this type.
    Unknown { fingerprint: String },
    /// An entry for this host has a different key of the same type: refuse.
    Changed {
        old_fingerprint: String,
        new_fingerprint: String,
        /// 1-based line of the file holding the old key.
        line: usize,
    },
    /// The key is listed under `@revoked`: refuse.
    Revoked,
}

/// `SHA256:<base64 without padding>`, the form `ssh-keygen -lf` prints.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// The string OpenSSH looks up (and hashes): `host` for port 22, else `[host]:port`.
pub fn host_string(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

enum Marker {
    None,
    Revoked,
    CertAuthority,
}

struct Entry<'a> {
    marker: Marker,
    hosts: &'a str,
    key: PublicKey,
}

/// Parses one line; `None` for blanks, comments and lines that are not
/// understood (OpenSSH skips those too).
fn parse_line(line: &str) -> Option<Entry<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_ascii_whitespace();
    let mut first = fields.next()?;
    let marker = match first {
        "@revoked" => {
            first = fields.next()?;
            Marker::Revoked
        }
        "@cert-authority" => {
            first = fields.next()?;
            Marker::CertAuthority
        }
        m if m.starts_with('@') => return None,
        _ => Marker::None,
    };
    let key_type = fields.next()?;
    let key_b64 = fields.next()?;
    let key = PublicKey::from_openssh(&format!("{key_type} {key_b64}")).ok()?;
    Some(Entry {
        marker,
        hosts: first,
        key,
    })
}

/// `*` and `?` wildcards, matching what OpenSSH's `match_pattern` matches.
///
/// Iterative, backtracking only to the last `*`: at most
/// `pattern.len() * s.len()` steps and no recursion (a recursive matcher
/// overflowed the stack on a pattern of 100,000 `*` and took exponential time
/// on `*a*a*a…b`).
fn wildcard(pattern: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    // (pattern index after the last `*`, input index it is matched up to)
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match pattern.get(p) {
            Some(b'*') => {
                p += 1;
                star = Some((p, i));
            }
            Some(&c) if c == b'?' || c.eq_ignore_ascii_case(&s[i]) => {
                p += 1;
                i += 1;
            }
            _ => match star {
                // Let the last `*` take one more byte and retry after it.
                Some((after, upto)) => {
                    p = after;
                    i = upto + 1;
                    star = Some((after, upto + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// `|1|salt|hash`: HMAC-SHA1(key = salt, data = host string) == hash.
fn hashed_match(entry: &str, host: &str) -> bool {
    let Some(rest) = entry.strip_prefix("|1|") else {
        return false;
    };
    let Some((salt, hash)) = rest.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(host.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// Whether the hosts field of an entry names `host` (already in
/// [`host_string`] form). A matching negated pattern excludes the host.
fn hosts_match(field: &str, host: &str) -> bool {
    if field.starts_with("|1|") {
        return hashed_match(field, host);
    }
    let mut matched = false;
    for pattern in field.split(',') {
        if let Some(neg) = pattern.strip_prefix('!') {
            if wildcard(neg.as_bytes(), host.as_bytes()) {
                return false;
            }
        } else if wildcard(pattern.as_bytes(), host.as_bytes()) {
            matched = true;
        }
    }
    matched
}

/// Checks `key`, presented by `host:port`, against the file at `path`.
///
/// A missing or unreadable file knows no host: [`HostKeyStatus::Unknown`].
/// Precedence as in OpenSSH: revoked, then an exact match, then a different
/// key of the same type (changed), else unknown.
pub fn check(path: &Path, host: &str, port: u16, key: &PublicKey) -> HostKeyStatus {
    // Bounded and regular only (`check-config` refuses anything else up
    // front): a FIFO or /dev/zero here must not hang or grow the console.
    let text = crate::files::read_text_capped(path, crate::files::cap::SSH).unwrap_or_default();
    check_str(&text, host, port, key)
}

/// [`check`] on the text of a known_hosts file.
pub fn check_str(text: &str, host: &str, port: u16, key: &PublicKey) -> HostKeyStatus {
    let lookup = host_string(host, port);
    let mut known = false;
    let mut changed: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let Some(entry) = parse_line(line) else {
            continue;
        };
        let same_key = entry.key.key_data() == key.key_data();
        match entry.marker {
            Marker::CertAuthority => continue,
            Marker::Revoked => {
                // A revoked key is refused whatever host it is presented for.
                if same_key {
                    return HostKeyStatus::Revoked;
                }
            }
            Marker::None => {
                if !hosts_match(entry.hosts, &lookup) {
                    continue;
                }
                if same_key {
                    known = true;
                } else if entry.key.algorithm() == key.algorithm() && changed.is_none() {
                    changed = Some((i + 1, fingerprint(&entry.key)));
                }
            }
        }
    }
    if known {
        HostKeyStatus::Known
    } else if let Some((line, old_fingerprint)) = changed {
        HostKeyStatus::Changed {
            old_fingerprint,
            new_fingerprint: fingerprint(key),
            line,
        }
    } else {
        HostKeyStatus::Unknown {
            fingerprint: fingerprint(key),
        }
    }
}

/// The line [`accept`] appends (without the newline).
pub fn entry_line(host: &str, port: u16, key: &PublicKey) -> String {
    let bare = PublicKey::new(key.key_data().clone(), "");
    let key_text = bare
        .to_openssh()
        .unwrap_or_else(|_| key.algorithm().as_str().to_string());
    format!("{} {}", host_string(host, port), key_text)
}

/// Records `key` for `host:port`: appends `[host]:port TYPE BASE64` (just
/// `host` for port 22), creating the parent directory (0700) and the file
/// (0600) when missing.
pub fn accept(path: &Path, host: &str, port: u16, key: &PublicKey) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(parent)?;
    }
    let needs_newline = match std::fs::metadata(path) {
        // Appending to a device or a FIFO would record nothing (or block).
        Ok(m) if !m.is_file() => {
            return Err(io::Error::other(format!(
                "{} is not a regular file; point [remote] known_hosts at one",
                crate::diag::echo_path(path)
            )));
        }
        Ok(m) if m.len() == 0 => false,
        Ok(_) => last_byte(path)? != Some(b'\n'),
        Err(_) => false,
    };
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    let mut line = String::new();
    if needs_newline {
        line.push('\n');
    }
    line.push_str(&entry_line(host, port, key));
    line.push('\n');
    file.write_all(line.as_bytes())?;
    file.sync_all()
}

/// The last byte of a regular file, read without reading the rest.
fn last_byte(path: &Path) -> io::Result<Option<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    if f.seek(SeekFrom::End(0))? == 0 {
        return Ok(None);
    }
    f.seek(SeekFrom::End(-1))?;
    let mut b = [0u8; 1];
    f.read_exact(&mut b)?;
    Ok(Some(b[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED1: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDIIDURuk5EvoP/1BwBPHEcx2RE2XiV93F9WaT1iu6GZ";
    const ED2: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAe2NWtVmOOOUXYdpJKQb6AMxk+NGWwcHu/Qeg2a+Ih";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap()
    }

    #[test]
    fn plain_bracketed_and_lists() {
        let k = key(ED1);
        let text = format!("# comment\n\npi-01,10.8.0.1 {ED1}\n[10.8.0.2]:2222 {ED1}\n");
        assert_eq!(check_str(&text, "pi-01", 22, &k), HostKeyStatus::Known);
        assert_eq!(check_str(&text, "10.8.0.1", 22, &k), HostKeyStatus::Known);
        assert_eq!(check_str(&text, "PI-01", 22, &k), HostKeyStatus::Known);
        assert_eq!(check_str(&text, "10.8.0.2", 2222, &k), HostKeyStatus::Known);
        // A plain entry is for port 22 only.
        assert!(matches!(
            check_str(&text, "10.8.0.1", 2222, &k),
            HostKeyStatus::Unknown { .. }
        ));
        assert!(matches!(
            check_str(&text, "10.8.0.2", 22, &k),
            HostKeyStatus::Unknown { .. }
        ));
    }

    #[test]
    fn wildcards_and_negation() {
        let k = key(ED1);
        let text = format!("10.8.0.*,!10.8.0.9 {ED1}\n");
        assert_eq!(check_str(&text, "10.8.0.4", 22, &k), HostKeyStatus::Known);
        assert!(matches!(
            check_str(&text, "10.8.0.9", 22, &k),
            HostKeyStatus::Unknown { .. }
        ));
    }

    #[test]
    fn hashed_entry() {
        // `|1|` + base64(salt) + `|` + base64(HMAC-SHA1(salt, "[10.8.0.3]:2222"))
        let salt = [7u8; 20];
        let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(&salt).unwrap();
        mac.update(b"[10.8.0.3]:2222");
        let hash = mac.finalize().into_bytes();
        let text = format!(
            "|1|{}|{} {ED1}\n",
            STANDARD.encode(salt),
            STANDARD.encode(hash)
        );
        let k = key(ED1);
        assert_eq!(check_str(&text, "10.8.0.3", 2222, &k), HostKeyStatus::Known);
        assert!(matches!(
            check_str(&text, "10.8.0.3", 22, &k),
            HostKeyStatus::Unknown { .. }
        ));
        // Garbage hashed entries are skipped, not a crash.
        assert!(matches!(
            check_str(&format!("|1|!!|?? {ED1}\n|1|x {ED1}\n"), "a", 22, &k),
            HostKeyStatus::Unknown { .. }
        ));
    }

    #[test]
    fn changed_revoked_and_cert_authority() {
        let (k1, k2) = (key(ED1), key(ED2));
        let text = format!("junk line\nhost {ED1}\n");
        match check_str(&text, "host", 22, &k2) {
            HostKeyStatus::Changed {
                old_fingerprint,
                new_fingerprint,
                line,
            } => {
                assert_eq!(line, 2);
                assert_eq!(old_fingerprint, fingerprint(&k1));
                assert_eq!(new_fingerprint, fingerprint(&k2));
                assert!(old_fingerprint.starts_with("SHA256:") && !old_fingerprint.ends_with('='));
            }
            other => panic!("{other:?}"),
        }
        let text = format!("host {ED1}\n@revoked * {ED1}\n");
        assert_eq!(check_str(&text, "host", 22, &k1), HostKeyStatus::Revoked);
        let text = format!("@cert-authority host {ED1}\n");
        assert!(matches!(
            check_str(&text, "host", 22, &k1),
            HostKeyStatus::Unknown { .. }
        ));
    }

    #[test]
    fn accept_appends_and_creates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/known_hosts");
        let k = key(ED1);
        accept(&path, "10.8.0.5", 2222, &k).unwrap();
        accept(&path, "pi-05", 22, &k).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("[10.8.0.5]:2222 {ED1}\npi-05 {ED1}\n"));
        assert_eq!(check(&path, "10.8.0.5", 2222, &k), HostKeyStatus::Known);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

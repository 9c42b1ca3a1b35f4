//! Reading files the operator named (config, themes, secrets, keys,
//! inventories, known_hosts): only regular files, only up to a size cap
//! (docs/ARCHITECTURE.md, "Reads with bounds"). `--config /dev/zero` or
//! `bearer_token_file = "/dev/zero"` must fail at once with a message naming
//! the file, not grow to gigabytes.

use crate::text;
use std::io::Read;
use std::path::Path;

/// Caps by kind of file. Generous for what the file is, tiny for a machine.
pub mod cap {
    /// config.toml
    pub const CONFIG: u64 = 4 << 20;
    /// a theme file
    pub const THEME: u64 = 1 << 20;
    /// a token, password or passphrase file
    pub const SECRET: u64 = 64 << 10;
    /// a public key, certificate or CA bundle
    pub const KEY: u64 = 4 << 20;
    /// a file_sd inventory (10,000+ devices with labels)
    pub const INVENTORY: u64 = 64 << 20;
    /// known_hosts, identity files
    pub const SSH: u64 = 16 << 20;
    /// a rollout plan
    pub const PLAN: u64 = 1 << 20;
}

/// Why a file could not be read. `Display` names the file (sanitised) and says
/// what to do.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a regular file ({kind}); point it at a regular file")]
    NotRegular { path: String, kind: &'static str },
    #[error("{path} is larger than {cap} bytes ({size} bytes); is this the right file?")]
    TooLarge { path: String, size: u64, cap: u64 },
    #[error("{path} is not UTF-8 text")]
    NotUtf8 { path: String },
}

impl ReadError {
    /// The I/O error kind, when the failure was one (e.g. `NotFound`).
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            ReadError::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}

fn kind_of(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

/// Reads `path` as bytes when it is a regular file (symlinks followed) of at
/// most `cap` bytes. The check is made on the opened file, and the read stops
/// at `cap + 1` bytes even if the file grows meanwhile.
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
    let shown = || text::echo_path(path);
    // Opening a FIFO for reading blocks until a writer appears: look first.
    let meta = std::fs::metadata(path).map_err(|source| ReadError::Io {
        path: shown(),
        source,
    })?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular {
            path: shown(),
            kind: kind_of(meta.file_type()),
        });
    }
    let file = std::fs::File::open(path).map_err(|source| ReadError::Io {
        path: shown(),
        source,
    })?;
    let meta = file.metadata().map_err(|source| ReadError::Io {
        path: shown(),
        source,
    })?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular {
            path: shown(),
            kind: kind_of(meta.file_type()),
        });
    }
    if meta.len() > cap {
        return Err(ReadError::TooLarge {
            path: shown(),
            size: meta.len(),
            cap,
        });
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    file.take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(|source| ReadError::Io {
            path: shown(),
            source,
        })?;
    if buf.len() as u64 > cap {
        return Err(ReadError::TooLarge {
            path: shown(),
            size: buf.len() as u64,
            cap,
        });
    }
    Ok(buf)
}

/// [`read_capped`] for UTF-8 text.
pub fn read_text_capped(path: &Path, cap: u64) -> Result<String, ReadError> {
    let bytes = read_capped(path, cap)?;
    String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8 {
        path: text::echo_path(path),
    })
}

/// Why a file could not be read, without its name (the caller names it).
pub fn read_reason(e: &ReadError) -> String {
    match e {
        ReadError::Io { source, .. } => source.to_string(),
        ReadError::NotRegular { kind, .. } => format!("not a regular file ({kind})"),
        ReadError::TooLarge { size, cap, .. } => {
            format!("larger than {cap} bytes ({size} bytes); is this the right file?")
        }
        ReadError::NotUtf8 { .. } => "not UTF-8 text".to_string(),
    }
}

/// Reads a PEM CA bundle (`ca_file`) as the HTTP clients do: a regular file
/// under [`cap::KEY`] with at least one certificate. The error says why, not
/// which file (the caller names it).
pub fn load_ca_bundle(path: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = read_capped(path, cap::KEY).map_err(|e| read_reason(&e))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        format!(
            "not PEM certificates ({})",
            crate::diag::tame(&e.to_string())
        )
    })?;
    if certs.is_empty() {
        return Err("no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into());
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_zero_is_refused_at_once() {
        let e = read_capped(Path::new("/dev/zero"), cap::CONFIG).unwrap_err();
        assert!(matches!(e, ReadError::NotRegular { .. }), "{e}");
        assert!(e.to_string().contains("/dev/zero"), "{e}");
        assert!(e.to_string().contains("character device"), "{e}");
    }

    #[test]
    fn directory_is_refused() {
        let e = read_capped(Path::new("/"), cap::CONFIG).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
    }

    #[test]
    fn oversized_file_is_refused_and_small_one_read() {
        let dir = std::env::temp_dir().join(format!("fleetdeck-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("big");
        std::fs::write(&p, vec![b'a'; 2048]).unwrap();
        let e = read_capped(&p, 1024).unwrap_err();
        assert!(
            matches!(
                e,
                ReadError::TooLarge {
                    size: 2048,
                    cap: 1024,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(read_text_capped(&p, 4096).unwrap().len(), 2048);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn hostile_path_is_echoed_safely() {
        let e = read_capped(Path::new("/nonexistent/\u{1b}]2;X\u{7}"), 10).unwrap_err();
        assert!(!e.to_string().contains('\u{1b}'), "{e}");
        assert_eq!(e.io_kind(), Some(std::io::ErrorKind::NotFound));
    }
}

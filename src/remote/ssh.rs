//! SSH to a device (russh client): host keys checked against known_hosts,
//! authentication with ssh-agent and identity files, commands with their exit
//! status, and interactive shells on a PTY as a raw byte stream.
//!
//! No terminal handling here: [`interactive`] moves bytes between any
//! `AsyncRead`/`AsyncWrite` pair and the remote PTY. The caller owns the
//! terminal; see [`interactive`] for what it must do around the call.
//!
//! Every network step (TCP connect, SSH handshake, each authentication
//! attempt, channel requests) is bounded by [`Options::connect_timeout`]; an
//! established session is watched with keepalives ([`Options::keepalive`],
//! three unanswered ones close it), so a dead link ends a session instead of
//! hanging it.

use crate::remote::known_hosts::{self, HostKeyStatus};
use crate::text::sanitize_max;
use russh::client::{self, DisconnectReason, Handle, Handler};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Unanswered keepalives after which a session counts as dead.
pub const KEEPALIVE_MAX: usize = 3;

/// Where to connect: a device's tunnel address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The device's name, for messages.
    pub device: String,
    /// An IP address (`10.8.0.7`, `fd00::7`) or a host name.
    pub host: String,
    pub port: u16,
    pub user: String,
}

impl Target {
    /// `host:port`, with IPv6 addresses bracketed.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Why a connection or session failed. Each variant's message says what
/// happened and what to look at. Fields may carry outside text (the server's
/// disconnect reason, protocol errors, a device name from a label): `Display`
/// shows each through [`crate::text::sanitize`], so no escape or forged line
/// reaches the terminal.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("timed out after {after:?} during {}", safe(.during))]
    Timeout { after: Duration, during: String },
    #[error(
        "connection to {} refused: nothing listens there (is sshd running on the device?)",
        safe(.addr)
    )]
    Refused { addr: String },
    #[error("cannot reach {}: {}", safe(.addr), safe(.reason))]
    Unreachable { addr: String, reason: String },
    #[error(
        "the host key of {} is not known (fingerprint {}); \
         verify it and accept it explicitly to record it in known_hosts",
        safe(.host), safe(.fingerprint)
    )]
    HostKeyUnknown { fingerprint: String, host: String },
    #[error(
        "WARNING: the host key of {} has CHANGED, refusing to connect \
         (the device may have been reinstalled, or someone is intercepting the connection); \
         old key {} at {}, new key {}; \
         if the change is expected, remove the old entry and connect again",
        safe(.host), safe(.old), safe(.known_hosts_line), safe(.new)
    )]
    HostKeyChanged {
        old: String,
        new: String,
        host: String,
        /// `path:line` of the entry holding the old key.
        known_hosts_line: String,
    },
    #[error(
        "the host key of {} ({}) is marked @revoked in known_hosts; refusing to connect",
        safe(.host), safe(.fingerprint)
    )]
    HostKeyRevoked { host: String, fingerprint: String },
    #[error("authentication as '{}' failed; tried: {}", safe(.user), safe(&tried_text(.tried)))]
    AuthFailed { user: String, tried: Vec<String> },
    #[error(
        "identity file {} is encrypted and no correct passphrase was given",
        crate::text::echo_path(.file)
    )]
    Passphrase { file: PathBuf },
    #[error("disconnected: {}", safe(.reason))]
    Disconnected { reason: String },
    #[error("SSH protocol error: {}", safe(.0))]
    Protocol(String),
    #[error("local error: {}", safe(.0))]
    Local(String),
}

/// One field of an error on one line, cut at 1024 characters.
fn safe(v: &str) -> std::borrow::Cow<'_, str> {
    crate::text::sanitize_max(v, 1024)
}

fn tried_text(tried: &[String]) -> String {
    if tried.is_empty() {
        "nothing (no agent, no identity files)".into()
    } else {
        tried.join(", ")
    }
}

/// What to do with a host key that known_hosts does not list. A changed or
/// revoked key is always refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Unknown key → [`SshError::HostKeyUnknown`] (with its fingerprint).
    Strict,
    /// Unknown key → recorded in known_hosts, connection proceeds. Use it only
    /// after the operator explicitly accepted (OpenSSH's `accept-new`).
    AcceptNew,
    /// Like `AcceptNew`, but only for the key with this fingerprint — the one
    /// the operator was shown in [`SshError::HostKeyUnknown`]; any other
    /// unknown key is still refused.
    AcceptFingerprint(String),
}

/// Called with an encrypted identity file; returns its passphrase, or `None`
/// to skip it. It may block (it is run with `block_in_place` on a
/// multi-threaded runtime): the terminal belongs to the session at that point.
pub type PassphraseFn = Box<dyn Fn(&Path) -> Option<String> + Send + Sync>;

pub struct Options {
    pub known_hosts: PathBuf,
    /// Tried in order after the agent's keys; missing files are skipped.
    pub identity_files: Vec<PathBuf>,
    /// Use the agent first: at `agent_socket`, else at `$SSH_AUTH_SOCK`.
    pub use_agent: bool,
    /// The agent's socket; `None` = `$SSH_AUTH_SOCK`.
    pub agent_socket: Option<PathBuf>,
    /// Bound of every network step (not of the passphrase prompt).
    pub connect_timeout: Duration,
    /// Keepalive interval once connected; zero disables keepalives.
    pub keepalive: Duration,
    pub host_key_policy: HostKeyPolicy,
    pub passphrase: Option<PassphraseFn>,
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("known_hosts", &self.known_hosts)
            .field("identity_files", &self.identity_files)
            .field("use_agent", &self.use_agent)
            .field("agent_socket", &self.agent_socket)
            .field("connect_timeout", &self.connect_timeout)
            .field("keepalive", &self.keepalive)
            .field("host_key_policy", &self.host_key_policy)
            .field("passphrase", &self.passphrase.as_ref().map(|_| "callback"))
            .finish()
    }
}

impl Options {
    /// From the `[remote]` config: its known_hosts (default
    /// `~/.ssh/known_hosts`), identity files (default `~/.ssh/id_ed25519`,
    /// `id_ecdsa`, `id_rsa`), timeouts; agent on, strict host keys, no
    /// passphrase callback.
    pub fn from_config(remote: &crate::remote::RemoteConfig) -> Options {
        let ssh_dir = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/root"))
            .join(".ssh");
        let identity_files = if remote.identity_files.is_empty() {
            ["id_ed25519", "id_ecdsa", "id_rsa"]
                .iter()
                .map(|f| ssh_dir.join(f))
                .collect()
        } else {
            remote.identity_files.clone()
        };
        Options {
            known_hosts: remote
                .known_hosts
                .clone()
                .unwrap_or_else(|| ssh_dir.join("known_hosts")),
            identity_files,
            use_agent: true,
            agent_socket: None,
            connect_timeout: remote.connect_timeout,
            keepalive: remote.keepalive,
            host_key_policy: HostKeyPolicy::Strict,
            passphrase: None,
        }
    }
}

/// How a remote command or shell ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    Code(u32),
    /// Killed by a signal (`"KILL"`, `"TERM"`, …).
    Signal {
        name: String,
        core_dumped: bool,
    },
}

impl ExitStatus {
    pub fn code(&self) -> Option<u32> {
        match self {
            ExitStatus::Code(c) => Some(*c),
            ExitStatus::Signal { .. } => None,
        }
    }

    /// The status for a local process to exit with: the code, or 128 + the
    /// signal number like a shell (255 for a signal without a number).
    pub fn process_code(&self) -> i32 {
        match self {
            ExitStatus::Code(c) => (*c).min(255) as i32,
            ExitStatus::Signal { name, .. } => signal_number(name).map_or(255, |n| 128 + n),
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Code(c) => write!(f, "exit status {c}"),
            ExitStatus::Signal { name, core_dumped } => {
                write!(f, "killed by signal {name}")?;
                if *core_dumped {
                    write!(f, " (core dumped)")?;
                }
                Ok(())
            }
        }
    }
}

fn signal_number(name: &str) -> Option<i32> {
    Some(match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "ABRT" => 6,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        _ => return None,
    })
}

fn signal_name(sig: &russh::Sig) -> String {
    match sig {
        russh::Sig::Custom(s) => sanitize_max(s, 32).into_owned(),
        other => format!("{other:?}"),
    }
}

// ---- the russh handler -----------------------------------------------------

#[derive(Default)]
struct Shared {
    /// Set by `check_server_key` when it refuses the server.
    host_key_error: Option<SshError>,
    /// Why the connection ended, once it has.
    disconnect: Option<String>,
}

type SharedRef = Arc<Mutex<Shared>>;

fn lock(shared: &SharedRef) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

struct ClientHandler {
    known_hosts: PathBuf,
    host: String,
    port: u16,
    policy: HostKeyPolicy,
    shared: SharedRef,
}

impl ClientHandler {
    fn verify(&self, key: &PublicKey) -> Result<(), SshError> {
        let host = known_hosts::host_string(&self.host, self.port);
        match known_hosts::check(&self.known_hosts, &self.host, self.port, key) {
            HostKeyStatus::Known => Ok(()),
            HostKeyStatus::Revoked => Err(SshError::HostKeyRevoked {
                host,
                fingerprint: known_hosts::fingerprint(key),
            }),
            HostKeyStatus::Changed {
                old_fingerprint,
                new_fingerprint,
                line,
            } => Err(SshError::HostKeyChanged {
                old: old_fingerprint,
                new: new_fingerprint,
                host,
                known_hosts_line: format!("{}:{line}", self.known_hosts.display()),
            }),
            HostKeyStatus::Unknown { fingerprint } => {
                let accepted = match &self.policy {
                    HostKeyPolicy::Strict => false,
                    HostKeyPolicy::AcceptNew => true,
                    HostKeyPolicy::AcceptFingerprint(fp) => *fp == fingerprint,
                };
                if !accepted {
                    return Err(SshError::HostKeyUnknown { fingerprint, host });
                }
                known_hosts::accept(&self.known_hosts, &self.host, self.port, key).map_err(|e| {
                    SshError::Local(format!(
                        "cannot record the host key of {host} in {}: {e}",
                        self.known_hosts.display()
                    ))
                })
            }
        }
    }
}

impl Handler for ClientHandler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(cert) => {
                PublicKey::new(cert.public_key().clone(), "")
            }
        };
        match self.verify(&key) {
            Ok(()) => Ok(true),
            Err(e) => {
                lock(&self.shared).host_key_error = Some(e);
                Ok(false)
            }
        }
    }

    async fn disconnected(
        &mut self,
        reason: DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        let text = match &reason {
            DisconnectReason::ReceivedDisconnect(info) => {
                let msg = sanitize_max(&info.message, 200);
                if msg.is_empty() {
                    format!("the server closed the connection ({:?})", info.reason_code)
                } else {
                    format!("the server closed the connection: {msg}")
                }
            }
            DisconnectReason::Error(e) => describe_russh(e),
        };
        let mut shared = lock(&self.shared);
        if shared.disconnect.is_none() {
            shared.disconnect = Some(text);
        }
        drop(shared);
        match reason {
            DisconnectReason::ReceivedDisconnect(_) => Ok(()),
            DisconnectReason::Error(e) => Err(e),
        }
    }
}

fn describe_russh(e: &russh::Error) -> String {
    match e {
        russh::Error::KeepaliveTimeout => {
            format!("no answer to {KEEPALIVE_MAX} keepalives: the link to the device is down")
        }
        russh::Error::HUP | russh::Error::Disconnect => {
            "the connection was closed by the device".into()
        }
        russh::Error::IO(io) => format!("connection lost: {io}"),
        russh::Error::InactivityTimeout => "inactivity timeout".into(),
        other => other.to_string(),
    }
}

fn map_russh(e: russh::Error) -> SshError {
    match e {
        russh::Error::KeepaliveTimeout
        | russh::Error::HUP
        | russh::Error::Disconnect
        | russh::Error::IO(_)
        | russh::Error::SendError
        | russh::Error::RecvError => SshError::Disconnected {
            reason: describe_russh(&e),
        },
        other => SshError::Protocol(other.to_string()),
    }
}

/// Runs `fut` within `limit`; `during` names the step in the timeout error.
async fn bounded<T>(
    limit: Duration,
    during: impl FnOnce() -> String,
    fut: impl Future<Output = T>,
) -> Result<T, SshError> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| SshError::Timeout {
            after: limit,
            during: during(),
        })
}

// ---- connecting ----------------------------------------------------------

/// An authenticated SSH connection.
pub struct Connection {
    handle: Arc<Handle<ClientHandler>>,
    shared: SharedRef,
    timeout: Duration,
    addr: String,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.addr)
            .finish()
    }
}

/// Connects to `target`, checks its host key against `opts.known_hosts`
/// (per `opts.host_key_policy`) and authenticates: the agent's keys first
/// (when `use_agent` and `SSH_AUTH_SOCK` is set), then the identity files
/// (encrypted ones through the passphrase callback).
pub async fn connect(target: &Target, opts: &Options) -> Result<Connection, SshError> {
    let addr = target.addr();
    let limit = opts.connect_timeout;
    let tcp = bounded(
        limit,
        || format!("TCP connect to {addr}"),
        TcpStream::connect((target.host.as_str(), target.port)),
    )
    .await?
    .map_err(|e| match e.kind() {
        std::io::ErrorKind::ConnectionRefused => SshError::Refused { addr: addr.clone() },
        _ => SshError::Unreachable {
            addr: addr.clone(),
            reason: e.to_string(),
        },
    })?;
    let _ = tcp.set_nodelay(true);

    let config = client::Config {
        keepalive_interval: (!opts.keepalive.is_zero()).then_some(opts.keepalive),
        keepalive_max: KEEPALIVE_MAX,
        nodelay: true,
        ..Default::default()
    };
    let shared = SharedRef::default();
    let handler = ClientHandler {
        known_hosts: opts.known_hosts.clone(),
        host: target.host.clone(),
        port: target.port,
        policy: opts.host_key_policy.clone(),
        shared: shared.clone(),
    };
    let handshake = bounded(
        limit,
        || format!("the SSH handshake with {addr} (the TCP connection was accepted but the server does not speak SSH)"),
        client::connect_stream(Arc::new(config), tcp, handler),
    )
    .await?;
    let mut handle = match handshake {
        Ok(h) => h,
        Err(e) => {
            if let Some(err) = lock(&shared).host_key_error.take() {
                return Err(err);
            }
            return Err(match map_russh(e) {
                SshError::Disconnected { reason } => SshError::Disconnected {
                    reason: format!("during the SSH handshake with {addr}: {reason}"),
                },
                other => other,
            });
        }
    };
    authenticate(&mut handle, target, opts).await?;
    Ok(Connection {
        handle: Arc::new(handle),
        shared,
        timeout: limit,
        addr,
    })
}

/// Runs a blocking closure (the passphrase prompt) without stalling other tasks.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

fn display_path(p: &Path) -> String {
    if let Some(home) = std::env::var_os("HOME")
        && let Ok(rest) = p.strip_prefix(&home)
    {
        return crate::diag::echo(&format!("~/{}", rest.display())).into_owned();
    }
    crate::diag::echo_path(p)
}

async fn authenticate(
    handle: &mut Handle<ClientHandler>,
    target: &Target,
    opts: &Options,
) -> Result<(), SshError> {
    let limit = opts.connect_timeout;
    let user = target.user.as_str();
    let mut tried = Vec::new();
    let mut rsa_hash: Option<Option<HashAlg>> = None;

    if opts.use_agent {
        let sock = opts
            .agent_socket
            .clone()
            .map(PathBuf::into_os_string)
            .or_else(|| std::env::var_os("SSH_AUTH_SOCK"));
        match sock {
            None => tried.push("agent: not available (SSH_AUTH_SOCK not set)".to_string()),
            Some(sock) => match agent_auth(handle, user, &sock, limit, &mut rsa_hash).await? {
                AgentOutcome::Success => return Ok(()),
                AgentOutcome::Tried(n) => {
                    tried.push(format!("agent: {n} key{}", if n == 1 { "" } else { "s" }))
                }
                AgentOutcome::Unusable(why) => tried.push(format!("agent: {why}")),
            },
        }
    }

    let mut encrypted_without_passphrase: Option<PathBuf> = None;
    for path in &opts.identity_files {
        let shown = display_path(path);
        if !path.exists() {
            continue;
        }
        // Bounded and regular only: an identity file pointing at /dev/zero or
        // a FIFO must not hang or grow the console.
        let secret = match crate::files::read_text_capped(path, crate::files::cap::SSH) {
            Ok(s) => s,
            Err(e) => {
                tried.push(format!(
                    "{shown} (unreadable: {})",
                    crate::files::read_reason(&e)
                ));
                continue;
            }
        };
        let key = match russh::keys::decode_secret_key(&secret, None) {
            Ok(k) => k,
            Err(russh::keys::Error::KeyIsEncrypted) => {
                let Some(ask) = &opts.passphrase else {
                    tried.push(format!("{shown} (encrypted, no passphrase prompt)"));
                    encrypted_without_passphrase.get_or_insert(path.clone());
                    continue;
                };
                let mut loaded = None;
                for _ in 0..3 {
                    let Some(pass) = blocking(|| ask(path)) else {
                        break;
                    };
                    if let Ok(k) = russh::keys::decode_secret_key(&secret, Some(&pass)) {
                        loaded = Some(k);
                        break;
                    }
                }
                match loaded {
                    Some(k) => k,
                    None => {
                        tried.push(format!("{shown} (encrypted, no correct passphrase)"));
                        encrypted_without_passphrase.get_or_insert(path.clone());
                        continue;
                    }
                }
            }
            Err(e) => {
                tried.push(format!("{shown} (unreadable: {e})"));
                continue;
            }
        };
        let hash = if key.algorithm().is_rsa() {
            rsa_hash_for(handle, limit, &mut rsa_hash).await
        } else {
            None
        };
        let attempt = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
        let result = bounded(
            limit,
            || format!("public key authentication with {shown}"),
            handle.authenticate_publickey(user, attempt),
        )
        .await?
        .map_err(map_russh)?;
        tried.push(shown);
        if result.success() {
            return Ok(());
        }
    }

    if let Some(file) = encrypted_without_passphrase {
        // The only keys that might have worked could not be decrypted.
        if !tried
            .iter()
            .any(|t| !t.contains("(encrypted") && !t.starts_with("agent: not"))
        {
            return Err(SshError::Passphrase { file });
        }
    }
    Err(SshError::AuthFailed {
        user: user.to_string(),
        tried,
    })
}

async fn rsa_hash_for(
    handle: &Handle<ClientHandler>,
    limit: Duration,
    cache: &mut Option<Option<HashAlg>>,
) -> Option<HashAlg> {
    if let Some(h) = cache {
        return *h;
    }
    let h = match tokio::time::timeout(limit, handle.best_supported_rsa_hash()).await {
        Ok(Ok(Some(h))) => h,
        // The server did not say: rsa-sha2-512 is what current servers accept.
        _ => Some(HashAlg::Sha512),
    };
    *cache = Some(h);
    h
}

enum AgentOutcome {
    Success,
    Tried(usize),
    Unusable(String),
}

async fn agent_auth(
    handle: &mut Handle<ClientHandler>,
    user: &str,
    sock: &std::ffi::OsStr,
    limit: Duration,
    rsa_hash: &mut Option<Option<HashAlg>>,
) -> Result<AgentOutcome, SshError> {
    let mut agent = match bounded(
        limit,
        || "connecting to ssh-agent".into(),
        AgentClient::connect_uds(sock),
    )
    .await?
    {
        Ok(a) => a,
        Err(e) => {
            return Ok(AgentOutcome::Unusable(format!(
                "cannot connect to {} ({e})",
                Path::new(sock).display()
            )));
        }
    };
    let identities = match bounded(
        limit,
        || "listing ssh-agent keys".into(),
        agent.request_identities(),
    )
    .await?
    {
        Ok(ids) => ids,
        Err(e) => return Ok(AgentOutcome::Unusable(format!("cannot list keys ({e})"))),
    };
    let mut tried = 0;
    for identity in identities {
        let AgentIdentity::PublicKey { key, .. } = identity else {
            continue;
        };
        let hash = if key.algorithm().is_rsa() {
            rsa_hash_for(handle, limit, rsa_hash).await
        } else {
            None
        };
        tried += 1;
        let result = bounded(
            limit,
            || "public key authentication with an ssh-agent key".into(),
            handle.authenticate_publickey_with(user, key, hash, &mut agent),
        )
        .await?;
        match result {
            Ok(r) if r.success() => return Ok(AgentOutcome::Success),
            Ok(_) => {}
            Err(russh::AgentAuthError::Send(_)) => {
                return Err(SshError::Disconnected {
                    reason: "the connection closed during authentication".into(),
                });
            }
            // The agent could not sign with this key: try the next one.
            Err(_) => {}
        }
    }
    Ok(AgentOutcome::Tried(tried))
}

// ---- commands and shells -------------------------------------------------

impl Connection {
    /// `host:port` this connection goes to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    fn disconnect_reason(&self) -> String {
        disconnect_reason(&self.shared)
    }

    async fn open_session(&self) -> Result<russh::Channel<client::Msg>, SshError> {
        bounded(
            self.timeout,
            || "opening a session channel".into(),
            self.handle.channel_open_session(),
        )
        .await?
        .map_err(|e| match e {
            russh::Error::ChannelOpenFailure(f) => {
                SshError::Protocol(format!("the server refused a session channel ({f:?})"))
            }
            _ => SshError::Disconnected {
                reason: self.disconnect_reason(),
            },
        })
    }

    /// Runs a command, streaming stdout/stderr to the given writers; returns
    /// the exit status (or signal).
    pub async fn exec(
        &mut self,
        command: &str,
        mut stdout: impl AsyncWrite + Unpin,
        mut stderr: impl AsyncWrite + Unpin,
    ) -> Result<ExitStatus, SshError> {
        let mut channel = self.open_session().await?;
        bounded(
            self.timeout,
            || "starting the command".into(),
            channel.exec(true, command),
        )
        .await?
        .map_err(map_russh)?;
        let mut status = None;
        loop {
            let msg = match status {
                // After the exit status only the close is due; do not wait forever for it.
                Some(_) => tokio::time::timeout(Duration::from_secs(2), channel.wait())
                    .await
                    .unwrap_or(None),
                None => channel.wait().await,
            };
            let Some(msg) = msg else {
                break;
            };
            match msg {
                ChannelMsg::Data { data } => write_out(&mut stdout, &data).await?,
                ChannelMsg::ExtendedData { data, ext: 1 } => write_out(&mut stderr, &data).await?,
                ChannelMsg::ExitStatus { exit_status } => {
                    status = Some(ExitStatus::Code(exit_status))
                }
                ChannelMsg::ExitSignal {
                    signal_name: sig,
                    core_dumped,
                    ..
                } => {
                    status = Some(ExitStatus::Signal {
                        name: signal_name(&sig),
                        core_dumped,
                    })
                }
                ChannelMsg::Failure => {
                    return Err(SshError::Protocol(
                        "the server refused to run the command".into(),
                    ));
                }
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        let _ = stdout.flush().await;
        let _ = stderr.flush().await;
        status.ok_or_else(|| SshError::Disconnected {
            reason: format!(
                "the command ended without an exit status: {}",
                self.disconnect_reason()
            ),
        })
    }

    /// Interactive shell with a PTY of `cols` × `rows` and `TERM=term`.
    pub async fn shell(&mut self, term: &str, cols: u16, rows: u16) -> Result<Shell, SshError> {
        let channel = self.open_session().await?;
        let term = if term.is_empty() {
            "xterm-256color"
        } else {
            term
        };
        bounded(
            self.timeout,
            || "requesting a PTY".into(),
            channel.request_pty(true, term, u32::from(cols), u32::from(rows), 0, 0, &[]),
        )
        .await?
        .map_err(map_russh)?;
        bounded(
            self.timeout,
            || "starting the shell".into(),
            channel.request_shell(true),
        )
        .await?
        .map_err(map_russh)?;
        let (read, write) = channel.split();
        Ok(Shell {
            reader: ShellReader {
                read,
                status: None,
                shared: self.shared.clone(),
            },
            write,
            _handle: self.handle.clone(),
        })
    }

    /// Says goodbye to the server (best effort, bounded).
    pub async fn close(self) {
        let _ = tokio::time::timeout(
            self.timeout,
            self.handle
                .disconnect(russh::Disconnect::ByApplication, "bye", "en"),
        )
        .await;
    }
}

async fn write_out(w: &mut (impl AsyncWrite + Unpin), data: &[u8]) -> Result<(), SshError> {
    w.write_all(data)
        .await
        .map_err(|e| SshError::Local(format!("cannot write output: {e}")))?;
    w.flush()
        .await
        .map_err(|e| SshError::Local(format!("cannot write output: {e}")))
}

fn disconnect_reason(shared: &SharedRef) -> String {
    lock(shared)
        .disconnect
        .clone()
        .unwrap_or_else(|| "the connection was lost".into())
}

/// Something that happened on an interactive shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellEvent {
    /// Bytes from the remote PTY, unmodified.
    Data(Vec<u8>),
    /// The shell ended with this status.
    Exit(ExitStatus),
    /// The channel or the connection closed without an exit status.
    Closed(String),
}

struct ShellReader {
    read: ChannelReadHalf,
    status: Option<ExitStatus>,
    shared: SharedRef,
}

impl ShellReader {
    async fn read(&mut self) -> ShellEvent {
        loop {
            let msg = match self.status {
                Some(_) => tokio::time::timeout(Duration::from_secs(2), self.read.wait())
                    .await
                    .unwrap_or(None),
                None => self.read.wait().await,
            };
            match msg {
                Some(ChannelMsg::Data { data }) | Some(ChannelMsg::ExtendedData { data, .. }) => {
                    return ShellEvent::Data(data.to_vec());
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    self.status = Some(ExitStatus::Code(exit_status))
                }
                Some(ChannelMsg::ExitSignal {
                    signal_name: sig,
                    core_dumped,
                    ..
                }) => {
                    self.status = Some(ExitStatus::Signal {
                        name: signal_name(&sig),
                        core_dumped,
                    })
                }
                Some(ChannelMsg::Close) | None => {
                    return match self.status.take() {
                        Some(s) => ShellEvent::Exit(s),
                        None if msg.is_some() => {
                            ShellEvent::Closed("the server closed the session".into())
                        }
                        None => ShellEvent::Closed(disconnect_reason(&self.shared)),
                    };
                }
                Some(_) => {}
            }
        }
    }
}

/// An interactive shell on a remote PTY.
pub struct Shell {
    reader: ShellReader,
    write: ChannelWriteHalf<client::Msg>,
    _handle: Arc<Handle<ClientHandler>>,
}

impl fmt::Debug for Shell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shell").finish_non_exhaustive()
    }
}

impl Shell {
    /// Sends bytes (keystrokes) to the remote PTY.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), SshError> {
        write_half_data(&self.write, bytes, &self.reader.shared).await
    }

    /// Tells the remote PTY its new size.
    pub async fn resize(&mut self, cols: u16, rows: u16) -> Result<(), SshError> {
        resize_half(&self.write, cols, rows, &self.reader.shared).await
    }

    /// The next output, exit or close. After `Exit`/`Closed` the shell is done.
    pub async fn read(&mut self) -> ShellEvent {
        self.reader.read().await
    }
}

async fn write_half_data(
    w: &ChannelWriteHalf<client::Msg>,
    bytes: &[u8],
    shared: &SharedRef,
) -> Result<(), SshError> {
    w.data_bytes(bytes::Bytes::copy_from_slice(bytes))
        .await
        .map_err(|_| SshError::Disconnected {
            reason: disconnect_reason(shared),
        })
}

async fn resize_half(
    w: &ChannelWriteHalf<client::Msg>,
    cols: u16,
    rows: u16,
    shared: &SharedRef,
) -> Result<(), SshError> {
    w.window_change(u32::from(cols), u32::from(rows), 0, 0)
        .await
        .map_err(|_| SshError::Disconnected {
            reason: disconnect_reason(shared),
        })
}

/// How an interactive session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEnd {
    /// The remote shell's exit code; `None` when it did not report one
    /// (killed by a signal, connection dropped).
    pub status: Option<u32>,
    /// For people: `"exit status 0"`, `"killed by signal HUP"`,
    /// `"disconnected: no answer to 3 keepalives: …"`.
    pub reason: String,
}

/// Raw passthrough between a local terminal and `shell`, until the shell
/// exits or the connection closes (also when it drops: keepalives detect a
/// dead link within `keepalive × 4`). Bytes are passed unmodified both ways;
/// local EOF on `stdin` is forwarded as EOF and the session goes on until the
/// remote side ends it.
///
/// What the caller (TUI or `fleetdeck ssh`) must do around it:
/// 1. TUI only: stop its input reader and wait until it has stopped (nothing
///    else may read the terminal), leave the alternate screen, show the cursor.
/// 2. Put the terminal into raw mode (crossterm `enable_raw_mode`), so keys
///    such as Ctrl-C reach the remote side as bytes.
/// 3. Forward terminal resizes (SIGWINCH / crossterm resize) as `(cols, rows)`
///    into `resizes`; dropping the sender just stops resizes.
/// 4. Call `interactive(shell, tokio::io::stdin(), tokio::io::stdout(), rx)`.
/// 5. Restore in every case (also when `connect`/`shell` failed before):
///    leave raw mode, re-enter the alternate screen, restart the input reader,
///    redraw, and show `SessionEnd::reason`.
///
/// Note: `tokio::io::stdin()` reads on a blocking thread that can outlive the
/// session by one read (the next key press is consumed by it). A TUI that
/// needs every key afterwards should pass a reader it can stop instead, e.g.
/// bytes from its own stopped-and-resumed terminal reader.
pub async fn interactive(
    shell: Shell,
    mut stdin: impl AsyncRead + Unpin,
    mut stdout: impl AsyncWrite + Unpin,
    mut resizes: tokio::sync::mpsc::Receiver<(u16, u16)>,
) -> SessionEnd {
    let Shell {
        mut reader,
        write,
        _handle,
    } = shell;
    let shared = reader.shared.clone();

    let output = async {
        loop {
            match reader.read().await {
                ShellEvent::Data(bytes) => {
                    if let Err(e) = write_out(&mut stdout, &bytes).await {
                        return SessionEnd {
                            status: None,
                            reason: e.to_string(),
                        };
                    }
                }
                ShellEvent::Exit(status) => {
                    return SessionEnd {
                        status: status.code(),
                        reason: status.to_string(),
                    };
                }
                ShellEvent::Closed(reason) => {
                    return SessionEnd {
                        status: None,
                        reason: format!("disconnected: {reason}"),
                    };
                }
            }
        }
    };

    let input = async {
        let mut buf = vec![0u8; 8192];
        let mut stdin_open = true;
        let mut resizes_open = true;
        loop {
            tokio::select! {
                n = stdin.read(&mut buf), if stdin_open => match n {
                    Ok(0) | Err(_) => {
                        stdin_open = false;
                        let _ = write.eof().await;
                    }
                    Ok(n) => {
                        if let Err(e) = write_half_data(&write, &buf[..n], &shared).await {
                            return e;
                        }
                    }
                },
                size = resizes.recv(), if resizes_open => match size {
                    Some((cols, rows)) => {
                        if let Err(e) = resize_half(&write, cols, rows, &shared).await {
                            return e;
                        }
                    }
                    None => resizes_open = false,
                },
                else => std::future::pending::<()>().await,
            }
        }
    };

    tokio::pin!(output);
    tokio::pin!(input);
    tokio::select! {
        end = &mut output => end,
        _err = &mut input => {
            // Writing failed: the connection is going away. Let the output
            // side report how (exit status or reason), bounded.
            tokio::time::timeout(Duration::from_secs(5), &mut output)
                .await
                .unwrap_or_else(|_| SessionEnd {
                    status: None,
                    reason: format!("disconnected: {}", disconnect_reason(&shared)),
                })
        }
    }
}

// ---- headless `fleetdeck ssh` ----------------------------------------------

/// Exit code of `fleetdeck ssh` when SSH itself failed (connect, host key,
/// auth, lost connection without a status): 255, like OpenSSH's `ssh`.
pub const EXIT_SSH_FAILED: i32 = 255;

impl SessionEnd {
    /// The exit code for this process: the remote status, else 255.
    pub fn process_code(&self) -> i32 {
        self.status.map_or(EXIT_SSH_FAILED, |c| c.min(255) as i32)
    }
}

/// `fleetdeck ssh DEVICE -- COMMAND...`: connects, runs the command (its
/// words joined with spaces, as `ssh` does; the remote shell parses them),
/// streams its output to this process's stdout and stderr, and returns the
/// code this process should exit with (remote code, 128 + signal). On `Err`
/// print the error and exit with [`EXIT_SSH_FAILED`].
pub async fn run_command(
    target: &Target,
    opts: &Options,
    command: &[String],
) -> Result<i32, SshError> {
    let mut conn = connect(target, opts).await?;
    let status = conn
        .exec(&command.join(" "), tokio::io::stdout(), tokio::io::stderr())
        .await;
    conn.close().await;
    Ok(status?.process_code())
}

/// `fleetdeck ssh DEVICE`: connects, opens a shell with a `cols`×`rows` PTY
/// and `TERM=term`, and passes this process's stdin/stdout through until it
/// ends. The caller puts the terminal into raw mode before (after a failed
/// connect there is nothing to restore but raw mode) and restores it after,
/// feeds SIGWINCH sizes into `resizes`, prints `SessionEnd::reason` and exits
/// with `SessionEnd::process_code()`.
pub async fn run_interactive(
    target: &Target,
    opts: &Options,
    term: &str,
    cols: u16,
    rows: u16,
    resizes: tokio::sync::mpsc::Receiver<(u16, u16)>,
) -> Result<SessionEnd, SshError> {
    let mut conn = connect(target, opts).await?;
    let shell = conn.shell(term, cols, rows).await?;
    let end = interactive(shell, tokio::io::stdin(), tokio::io::stdout(), resizes).await;
    conn.close().await;
    Ok(end)
}

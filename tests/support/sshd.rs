//! A real OpenSSH server for tests: its own host key, authorized keys and
//! config in a tempdir, `/usr/sbin/sshd -D -e -f CONFIG` on a given address
//! and port (optionally inside a network namespace: `ip netns exec NS …`).
//!
//! Needs `openssh-server` and `openssh-client` (ssh-keygen, ssh-agent,
//! ssh-add). Runs as root (user `root`, `PermitRootLogin prohibit-password`).
//! Dropping an [`Sshd`] kills the server and every session process it forked.

use super::run::{CHILD_LIMIT, Deadline as _};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SSHD: &str = "/usr/sbin/sshd";

/// Whether the binaries the tests need are installed.
pub fn available() -> bool {
    Path::new(SSHD).exists() && which("ssh-keygen") && which("ssh")
}

fn which(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status_within(CHILD_LIMIT)
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A port nothing listens on right now (bound then released).
pub fn free_port(addr: &str) -> u16 {
    let l = std::net::TcpListener::bind((addr, 0)).expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// `ssh-keygen -q -t ed25519 -N PASS -f PATH` (overwrites); returns PATH.
pub fn keygen(path: &Path, passphrase: &str) -> PathBuf {
    let _ = fs::remove_file(path);
    let _ = fs::remove_file(path.with_extension("pub"));
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            passphrase,
            "-C",
            "fleetdeck-test",
            "-f",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .status_within(CHILD_LIMIT)
        .expect("run ssh-keygen");
    assert!(status.success(), "ssh-keygen failed for {}", path.display());
    path.to_path_buf()
}

/// The `.pub` next to a private key.
pub fn pub_path(key: &Path) -> PathBuf {
    let mut s = key.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// `SHA256:…` as `ssh-keygen -lf` prints it.
pub fn fingerprint(pub_key: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pub_key)
        .output_within(CHILD_LIMIT)
        .expect("run ssh-keygen -lf");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no fingerprint in {text:?}"))
        .to_string()
}

/// A running sshd and its files.
pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// Network namespace it runs in, if any.
    pub netns: Option<String>,
    pub config: PathBuf,
    /// Private host key; its `.pub` is next to it.
    pub host_key: PathBuf,
    /// An authorized, unencrypted client key.
    pub client_key: PathBuf,
    pub authorized_keys: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
}

impl Sshd {
    /// sshd on `addr` (e.g. `127.0.0.1`) and a free port.
    pub fn start(addr: &str) -> Sshd {
        Sshd::start_on(addr, free_port(addr), None)
    }

    /// sshd on `addr:port`, inside `netns` when given (then `addr` is an
    /// address of the namespace, e.g. its tunnel IP, and `port` must be free
    /// there).
    pub fn start_on(addr: &str, port: u16, netns: Option<&str>) -> Sshd {
        let dir = tempfile::tempdir().expect("tempdir");
        let host_key = keygen(&dir.path().join("host_ed25519"), "");
        let client_key = keygen(&dir.path().join("client_ed25519"), "");
        let authorized_keys = dir.path().join("authorized_keys");
        fs::copy(pub_path(&client_key), &authorized_keys).expect("write authorized_keys");
        let config = dir.path().join("sshd_config");
        let log = dir.path().join("sshd.log");
        let text = format!(
            "Port {port}\n\
             ListenAddress {addr}\n\
             HostKey {hk}\n\
             AuthorizedKeysFile {ak}\n\
             PidFile {pid}\n\
             UsePAM no\n\
             StrictModes no\n\
             PermitRootLogin prohibit-password\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             PrintMotd no\n\
             PrintLastLog no\n\
             UseDNS no\n\
             LogLevel VERBOSE\n",
            hk = host_key.display(),
            ak = authorized_keys.display(),
            pid = dir.path().join("sshd.pid").display(),
        );
        fs::write(&config, text).expect("write sshd_config");
        let _ = fs::create_dir_all("/run/sshd");
        let mut sshd = Sshd {
            dir,
            port,
            netns: netns.map(str::to_string),
            config,
            host_key,
            client_key,
            authorized_keys,
            log,
            child: None,
        };
        sshd.spawn();
        sshd
    }

    fn spawn(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open sshd log");
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, SSHD]);
                c
            }
            None => Command::new(SSHD),
        };
        cmd.args(["-D", "-e", "-f"])
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let before = self.listening_lines();
        self.child = Some(cmd.spawn().expect("start sshd"));
        // Wait for sshd to say it listens (works inside a namespace too).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.listening_lines() > before {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("sshd exited ({status}):\n{}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "sshd did not start:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn listening_lines(&self) -> usize {
        self.log_text().matches("Server listening").count()
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn host_pub(&self) -> PathBuf {
        pub_path(&self.host_key)
    }

    /// `SHA256:…` of the current host key, from `ssh-keygen -lf`.
    pub fn host_fingerprint(&self) -> String {
        fingerprint(&self.host_pub())
    }

    /// The host key line `TYPE BASE64` (no comment).
    pub fn host_key_line(&self) -> String {
        let text = fs::read_to_string(self.host_pub()).expect("read host key");
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A new client key in the tempdir (encrypted when `passphrase` is not empty).
    pub fn new_key(&self, name: &str, passphrase: &str) -> PathBuf {
        keygen(&self.dir.path().join(name), passphrase)
    }

    /// Adds a client key's `.pub` to authorized_keys (read by sshd per login).
    pub fn authorize(&self, key: &Path) {
        let text = fs::read_to_string(pub_path(key)).expect("read pub key");
        let mut all = fs::read_to_string(&self.authorized_keys).unwrap_or_default();
        all.push_str(&text);
        fs::write(&self.authorized_keys, all).expect("write authorized_keys");
    }

    /// Stops sshd (and its sessions), replaces the host key, starts it again
    /// on the same address and port.
    pub fn restart_with_new_host_key(&mut self) {
        self.stop();
        keygen(&self.host_key.clone(), "");
        self.spawn();
    }

    /// Kills the processes sshd forked for sessions (the listener stays):
    /// every open connection drops.
    pub fn kill_sessions(&self) {
        if let Some(pid) = self.pid() {
            for p in descendants(pid) {
                kill(p);
            }
        }
    }

    /// Freezes (SIGSTOP) the session processes: connections stay open but
    /// nothing answers any more — a link that died silently.
    pub fn freeze_sessions(&self) {
        if let Some(pid) = self.pid() {
            for p in descendants(pid) {
                signal(p, "-STOP");
            }
        }
    }

    /// Kills sshd and every process it forked.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id();
            let below = descendants(pid);
            kill(pid);
            for p in below {
                kill(p);
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn kill(pid: u32) {
    signal(pid, "-KILL");
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &pid.to_string()])
        .stderr(Stdio::null())
        .status_within(CHILD_LIMIT);
}

/// All processes below `pid` (children first level first), from /proc.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid …; comm may contain spaces.
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            if let Some(ppid) = after.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
                parents.push((p, ppid));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(p, pp) in &parents {
            if pp == parent && !out.contains(&p) {
                out.push(p);
                frontier.push(p);
            }
        }
    }
    out
}

/// An `ssh-agent -D -a SOCK` holding the given keys; killed on drop.
pub struct Agent {
    pub socket: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Agent {
    pub fn start(keys: &[&Path]) -> Agent {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ssh-agent");
        let agent = Agent {
            socket,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !agent.socket.exists() {
            assert!(
                Instant::now() < deadline,
                "ssh-agent did not create its socket"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        for key in keys {
            let status = Command::new("ssh-add")
                .arg("-q")
                .arg(key)
                .env("SSH_AUTH_SOCK", &agent.socket)
                .stdin(Stdio::null())
                .status_within(CHILD_LIMIT)
                .expect("run ssh-add");
            assert!(status.success(), "ssh-add {} failed", key.display());
        }
        agent
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP listener that accepts connections (kernel backlog) but never speaks.
pub fn silent_listener(addr: &str) -> (std::net::TcpListener, u16) {
    let l = std::net::TcpListener::bind((addr, 0)).expect("bind");
    let port = l.local_addr().expect("addr").port();
    (l, port)
}

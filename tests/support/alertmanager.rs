//! A real Alertmanager for tests (Debian's `prometheus-alertmanager`), on a
//! free loopback port, clustering off, one receiver that sends nowhere.
//! Alerts are posted to it directly ([`AlertmanagerProcess::post_alerts`]);
//! its own API is read back to check what fleetdeck did.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MISSING: &str = "Alertmanager not found: apt-get install prometheus-alertmanager \
                       (scripts/test.sh does this)";

/// `$FLEETDECK_ALERTMANAGER_BIN`, `/usr/bin/prometheus-alertmanager`, or on `PATH`.
pub fn alertmanager_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FLEETDECK_ALERTMANAGER_BIN") {
        return Some(PathBuf::from(p));
    }
    let default = PathBuf::from("/usr/bin/prometheus-alertmanager");
    if default.is_file() {
        return Some(default);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("prometheus-alertmanager"))
            .find(|p| p.is_file())
    })
}

/// An alert to post: (labels, annotations).
pub type TestAlert<'a> = (Vec<(&'a str, &'a str)>, Vec<(&'a str, &'a str)>);

/// An Alertmanager running for one test; killed on drop.
pub struct AlertmanagerProcess {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl AlertmanagerProcess {
    /// Starts it and returns once `/-/ready` answers.
    pub fn start() -> AlertmanagerProcess {
        let Some(bin) = alertmanager_bin() else {
            panic!("{MISSING}");
        };
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir for Alertmanager: {e}"));
        let config = "route:\n  receiver: blackhole\n  group_wait: 1s\n  group_interval: 1s\n\
                      receivers:\n  - name: blackhole\n";
        let config_path = dir.path().join("alertmanager.yml");
        std::fs::write(&config_path, config).unwrap_or_else(|e| panic!("write config: {e}"));
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .unwrap_or_else(|e| panic!("no free loopback port: {e}"));
            let log_path = dir.path().join("alertmanager.log");
            let log = std::fs::File::create(&log_path).unwrap_or_else(|e| panic!("log: {e}"));
            let child = Command::new(&bin)
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address=")
                .arg("--log.level=warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn();
            let mut child = match child {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("{MISSING}"),
                Err(e) => panic!("cannot start {}: {e}", bin.display()),
            };
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    break;
                }
                if ready(port) {
                    return AlertmanagerProcess {
                        url: format!("http://127.0.0.1:{port}"),
                        child: Some(child),
                        dir,
                    };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("Alertmanager did not become ready; its log:\n{last_log}");
    }

    /// `POST /api/v2/alerts`: each alert is (labels, annotations), firing now.
    pub async fn post_alerts(&self, alerts: &[TestAlert<'_>]) {
        let body: Vec<serde_json::Value> = alerts
            .iter()
            .map(|(labels, annotations)| {
                let l: serde_json::Map<String, serde_json::Value> = labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), (*v).into()))
                    .collect();
                let a: serde_json::Map<String, serde_json::Value> = annotations
                    .iter()
                    .map(|(k, v)| (k.to_string(), (*v).into()))
                    .collect();
                serde_json::json!({ "labels": l, "annotations": a })
            })
            .collect();
        let (status, text) = self
            .request(reqwest::Method::POST, "/api/v2/alerts", Some(body.into()))
            .await;
        assert_eq!(status, 200, "post alerts: {text}");
    }

    /// One request → (status, body), 5 s deadline.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        json: Option<serde_json::Value>,
    ) -> (u16, String) {
        let mut req = reqwest::Client::new()
            .request(method, format!("{}{path}", self.url))
            .timeout(Duration::from_secs(5));
        if let Some(j) = json {
            req = req.json(&j);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}\nlog: {}", self.log()));
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// `GET path` as JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.request(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// Waits until `GET /api/v2/alerts` lists at least `n` alerts.
    pub async fn wait_for_alerts(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let v = self.get_json("/api/v2/alerts").await;
            let got = v.as_array().map_or(0, Vec::len);
            if got >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "waited 20 s for {n} alerts, have {got}: {v}\nlog: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default()
    }
}

impl Drop for AlertmanagerProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn ready(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /-/ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 32];
    let n = s.read(&mut buf).unwrap_or(0);
    let head = String::from_utf8_lossy(&buf[..n]);
    head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200")
}

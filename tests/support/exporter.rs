//! A tiny exporter for the scrape tests: fixed replies per path on 127.0.0.1:0,
//! counting requests in flight.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug)]
pub enum Reply {
    Text(String),
    Status(u16),
    /// Accept the request and never answer.
    Hang,
    /// Answer after a delay.
    Slow(Duration, String),
    /// A chunked body of this many bytes, generated on the fly.
    Stream(usize),
}

#[derive(Default)]
struct State {
    routes: Mutex<HashMap<String, Reply>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    hits: AtomicUsize,
}

pub struct Exporter {
    pub addr: SocketAddr,
    state: Arc<State>,
}

type Body = BoxBody<Bytes, Infallible>;

static CHUNK: [u8; 64 * 1024] = [b'#'; 64 * 1024];

fn text(s: String) -> Body {
    Full::new(Bytes::from(s)).boxed()
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    state.hits.fetch_add(1, Ordering::SeqCst);
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let reply = state
        .routes
        .lock()
        .unwrap()
        .get(req.uri().path())
        .cloned()
        .unwrap_or(Reply::Status(404));
    let resp = match reply {
        Reply::Text(s) => Response::new(text(s)),
        Reply::Status(code) => {
            let mut r = Response::new(text(format!("status {code}\n")));
            *r.status_mut() = StatusCode::from_u16(code).unwrap();
            r
        }
        Reply::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        Reply::Slow(delay, s) => {
            tokio::time::sleep(delay).await;
            Response::new(text(s))
        }
        Reply::Stream(len) => {
            let chunks = len.div_ceil(CHUNK.len());
            let stream = futures_util::stream::iter(
                (0..chunks).map(|_| Ok::<_, Infallible>(Frame::data(Bytes::from_static(&CHUNK)))),
            );
            Response::new(StreamBody::new(stream).boxed())
        }
    };
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    Ok(resp)
}

impl Exporter {
    pub async fn start() -> Exporter {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(st.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Exporter { addr, state }
    }

    pub fn set(&self, path: &str, reply: Reply) {
        self.state
            .routes
            .lock()
            .unwrap()
            .insert(path.to_string(), reply);
    }

    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }
}

/// An address nothing listens on (bound, then released).
pub fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// One `file_sd` group per device: `(address, device, metrics path)`.
pub fn inventory(targets: &[(SocketAddr, &str, &str)]) -> String {
    let groups: Vec<serde_json::Value> = targets
        .iter()
        .map(|(addr, device, path)| {
            serde_json::json!({
                "targets": [addr.to_string()],
                "labels": {"device": device, "site": "ams", "group": "canary", "__metrics_path__": path},
            })
        })
        .collect();
    serde_json::to_string_pretty(&groups).unwrap()
}

pub fn options(
    inventory: &std::path::Path,
    timeout: Duration,
    concurrency: usize,
) -> fleetdeck::metrics::ScrapeOptions {
    fleetdeck::metrics::ScrapeOptions {
        inventory: inventory.to_path_buf(),
        timeout,
        concurrency,
        labels: Default::default(),
        defs: Default::default(),
    }
}

/// A `fleetdeck sim` exporter running as its own process, so that it can be
/// frozen with SIGSTOP: its sockets stay open and accept connections (the
/// kernel completes the handshake), but nothing ever answers — a hung exporter.
pub struct SimProcess {
    child: std::process::Child,
    /// The file_sd inventory it wrote.
    pub inventory: std::path::PathBuf,
    stopped: bool,
}

impl SimProcess {
    /// Starts `fleetdeck sim` with `devices` devices on a free loopback port
    /// and waits (at most 20 s) for its inventory.
    pub fn start(dir: &std::path::Path, name: &str, devices: usize, seed: u64) -> SimProcess {
        let inventory = dir.join(format!("{name}.json"));
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
            .args(["sim", "--listen", "127.0.0.1:0", "--sites", "4"])
            .args([
                "--devices",
                &devices.to_string(),
                "--seed",
                &seed.to_string(),
            ])
            .arg("--inventory")
            .arg(&inventory)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("fleetdeck sim starts");
        let mut sim = SimProcess {
            child,
            inventory,
            stopped: false,
        };
        let until = std::time::Instant::now() + Duration::from_secs(20);
        while !sim.inventory.exists() {
            if let Ok(Some(status)) = sim.child.try_wait() {
                panic!(
                    "fleetdeck sim exited with {status}: {}",
                    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
                );
            }
            assert!(
                std::time::Instant::now() < until,
                "fleetdeck sim wrote no inventory within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        sim
    }

    fn signal(&self, sig: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
    }

    /// Freezes the process (SIGSTOP).
    pub fn freeze(&mut self) {
        self.signal(libc::SIGSTOP);
        self.stopped = true;
    }

    /// Lets it run again (SIGCONT).
    pub fn thaw(&mut self) {
        self.signal(libc::SIGCONT);
        self.stopped = false;
    }

    /// The inventory's target groups, each device label prefixed with `prefix`.
    pub fn groups(&self, prefix: &str) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&self.inventory).unwrap();
        let mut groups: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        for g in &mut groups {
            let device = g["labels"]["device"].as_str().unwrap().to_string();
            g["labels"]["device"] = serde_json::Value::String(format!("{prefix}{device}"));
        }
        groups
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        if self.stopped {
            self.signal(libc::SIGCONT);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! A tiny exporter for the scrape tests: fixed replies per path on 127.0.0.1:0,
//! counting requests in flight.

#![allow(dead_code)] // each test file uses a different part

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

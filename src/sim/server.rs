//! The one HTTP/1.1 listener in front of every simulated device: hyper 1, one
//! task per connection, keep-alive so Prometheus and reqwest reuse connections.

use std::fmt::Write;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::exposition;
use super::fleet::{ScrapeOutcome, SimFleet};

/// Returned by the service for an offline device: hyper then closes the
/// connection without writing a response, which is what a dead host looks like
/// to a scraper (minus the timeout).
#[derive(Debug, thiserror::Error)]
#[error("device is offline")]
struct DeviceOffline;

/// Accepts connections until `shutdown` fires or its sender is dropped; then
/// stops every connection task.
pub(crate) async fn serve(
    listener: TcpListener,
    fleet: Arc<SimFleet>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                // Accept errors (e.g. too many open files) are transient: keep serving.
                let Ok((stream, _peer)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let fleet = Arc::clone(&fleet);
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let fleet = Arc::clone(&fleet);
                        async move { respond(&fleet, &req) }
                    });
                    // Errors here are the client going away or an offline device: nothing to do.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

fn respond(
    fleet: &SimFleet,
    req: &Request<Incoming>,
) -> Result<Response<Full<Bytes>>, DeviceOffline> {
    if req.method() != Method::GET {
        return Ok(text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET\n".into(),
            "text/plain",
        ));
    }
    let path = req.uri().path();
    if path == "/" {
        return Ok(text(
            StatusCode::OK,
            index(fleet),
            "text/plain; charset=utf-8",
        ));
    }
    let Some(id) = path
        .strip_prefix("/devices/")
        .and_then(|rest| rest.strip_suffix("/metrics"))
    else {
        return Ok(not_found());
    };
    let mut body = String::new();
    match fleet.scrape(id, &mut body) {
        ScrapeOutcome::Rendered => Ok(text(StatusCode::OK, body, exposition::CONTENT_TYPE)),
        ScrapeOutcome::Offline => Err(DeviceOffline),
        ScrapeOutcome::Unknown => Ok(not_found()),
    }
}

fn not_found() -> Response<Full<Bytes>> {
    text(
        StatusCode::NOT_FOUND,
        "no such device\n".into(),
        "text/plain",
    )
}

fn text(status: StatusCode, body: String, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn index(fleet: &SimFleet) -> String {
    let devices = fleet.devices();
    let mut s = format!(
        "fleetdeck simulator: {} devices over {} sites\nmetrics: GET /devices/<id>/metrics\n",
        devices.len(),
        fleet.sites().len()
    );
    for d in devices.iter().take(5) {
        let _ = writeln!(s, "  /devices/{}/metrics", d.id);
    }
    if devices.len() > 5 {
        s.push_str("  ...\n");
    }
    s
}

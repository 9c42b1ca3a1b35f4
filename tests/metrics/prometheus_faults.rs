//! `PrometheusSource` against a fake Prometheus on loopback.
//!
//! A fake server is used here ONLY for what a real Prometheus cannot be made
//! to do: truncated or ill-typed JSON, a 50 MB body, never answering, an HTTP
//! 503 from a proxy in front of it, recording the exact headers and form fields
//! the client sends, and failing one query out of a refresh on purpose.
//! Everything else is tested against the real Prometheus in `prometheus_real.rs`.

use crate::support;

use fleetdeck::metrics::def::Figure;
use fleetdeck::metrics::prometheus::PrometheusSource;
use fleetdeck::metrics::{BasicAuth, PrometheusOptions, SourceError, promql};
use std::future::Future;
use std::time::{Duration, Instant, SystemTime};
use support::prometheus::*;

/// No test may hang, whatever the client does.
async fn guarded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|_| panic!("test exceeded its 20 s guard"))
}

fn options(url: &str) -> PrometheusOptions {
    PrometheusOptions {
        url: url.to_string(),
        job: Some("fleet".into()),
        bearer_token: None,
        basic_auth: None,
        tenant: None,
        ca_file: None,
        timeout: Duration::from_millis(800),
        labels: Default::default(),
        defs: Default::default(),
        recording_rules: false,
    }
}

fn source(url: &str) -> PrometheusSource {
    PrometheusSource::new(options(url)).expect("source")
}

fn fake(body: &'static str) -> HttpServer {
    HttpServer::start(move |_| Reply::json(200, body))
}

async fn query_err(server: &HttpServer) -> SourceError {
    guarded(source(&server.url).query("up", None))
        .await
        .expect_err("should fail")
}

#[tokio::test]
async fn truncated_json_is_a_bad_response() {
    let server =
        fake(r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"dev"#);
    let err = query_err(&server).await;
    assert!(matches!(err, SourceError::BadResponse { .. }), "{err}");
    assert!(err.to_string().contains("EOF"), "{err}");
}

#[tokio::test]
async fn wrong_types_are_bad_responses() {
    for body in [
        // the value is not a [time, "value"] pair
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":"abc"}]}}"#,
        // the sample value is not a number
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"abc"]}]}}"#,
        // the result is not an array
        r#"{"status":"success","data":{"resultType":"vector","result":{"a":1}}}"#,
        // a label value is not a string
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":1},"value":[1,"1"]}]}}"#,
        // an unknown result type
        r#"{"status":"success","data":{"resultType":"histogram","result":[]}}"#,
        // not JSON at all (an HTML login page from a proxy)
        "<html><body>Please log in</body></html>",
        // success without data
        r#"{"status":"success"}"#,
    ] {
        let server = fake(body);
        let err = query_err(&server).await;
        assert!(
            matches!(err, SourceError::BadResponse { .. }),
            "{body}: {err}"
        );
        assert!(err.to_string().len() < 600, "message too long: {err}");
    }
    // A matrix where a vector is expected is named as such.
    let server = fake(r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#);
    let err = query_err(&server).await;
    assert!(err.to_string().contains("got a matrix"), "{err}");
}

#[tokio::test]
async fn a_50_mb_body_is_refused_without_reading_it_all() {
    let chunk = format!(
        r#"{{"status":"success","data":{{"resultType":"vector","result":[{}"#,
        r#"{"metric":{"device":"pi"},"value":[1,"1"]},"#.repeat(1500)
    );
    let times = 50 * 1024 * 1024 / chunk.len() + 1;
    // Chunked, no Content-Length: the cap applies while streaming.
    let server = HttpServer::start(move |_| Reply::repeat(200, chunk.clone(), times));
    let mut opts = options(&server.url);
    opts.timeout = Duration::from_secs(15);
    let src = PrometheusSource::new(opts).expect("source");
    let err = guarded(src.query("up", None)).await.expect_err("too large");
    assert!(
        matches!(err, SourceError::TooLarge { limit, .. } if limit == fleetdeck::metrics::MAX_BODY),
        "{err}"
    );

    // With a Content-Length above the cap it is refused before the body.
    let server = HttpServer::start(move |_| {
        let mut r = Reply::repeat(200, vec![b' '; 1024 * 1024], 50);
        r.headers
            .push(("content-length".into(), (50 * 1024 * 1024).to_string()));
        r
    });
    let err = guarded(source(&server.url).query("up", None))
        .await
        .expect_err("too large");
    assert!(matches!(err, SourceError::TooLarge { .. }), "{err}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let server = HttpServer::start(|_| Reply::never());
    let src = source(&server.url);
    let started = Instant::now();
    let err = guarded(src.query("up", None)).await.expect_err("timeout");
    let took = started.elapsed();
    assert!(matches!(err, SourceError::Timeout { .. }), "{err}");
    assert!(took >= Duration::from_millis(700), "{took:?}");
    // The point is that it ends (the timeout fires): a loose bound, not a speed test.
    assert!(took < Duration::from_secs(20), "{took:?}");

    // The whole refresh is bounded by the same timeout (queries run concurrently).
    let mut src = source(&server.url);
    let started = Instant::now();
    let err = guarded(src.refresh()).await.expect_err("timeout");
    assert!(matches!(err, SourceError::Timeout { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the refresh ended by its timeout"
    );
}

#[tokio::test]
async fn http_errors_quote_a_short_body() {
    let long = format!("upstream overloaded {}", "z".repeat(5000));
    let server = HttpServer::start(move |_| Reply::text(503, long.clone()));
    let err = query_err(&server).await;
    match &err {
        SourceError::Http { status, body, .. } => {
            assert_eq!(*status, 503);
            assert!(body.starts_with("upstream overloaded"), "{body}");
            assert!(body.chars().count() <= 201, "{}", body.len());
        }
        other => panic!("expected Http, got {other}"),
    }
}

#[tokio::test]
async fn api_errors_are_query_errors() {
    // What Prometheus sends for a bad query, with its 400 status.
    let server = HttpServer::start(|_| {
        Reply::json(
            400,
            r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}"#,
        )
    });
    let err = query_err(&server).await;
    match &err {
        SourceError::Query { query, error } => {
            assert_eq!(query, "up");
            assert_eq!(error, "bad_data: 1:5: parse error: unexpected end of input");
        }
        other => panic!("expected Query, got {other}"),
    }
    // The same payload with HTTP 200 (some proxies rewrite statuses).
    let server = fake(r#"{"status":"error","errorType":"timeout","error":"query timed out"}"#);
    assert!(matches!(
        query_err(&server).await,
        SourceError::Query { .. }
    ));
}

#[tokio::test]
async fn credentials_tenant_and_user_agent_are_sent() {
    let server = fake(r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#);
    let mut opts = options(&server.url);
    opts.bearer_token = Some("s3cret-token".into());
    opts.tenant = Some("team-edge".into());
    let src = PrometheusSource::new(opts).expect("source");
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
    guarded(src.query("up{job=\"fleet\"}", Some(at)))
        .await
        .expect("query");
    let req = &server.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path(), "/api/v1/query");
    assert_eq!(req.header("authorization"), Some("Bearer s3cret-token"));
    assert_eq!(req.header("x-scope-orgid"), Some("team-edge"));
    assert!(
        req.header("user-agent")
            .is_some_and(|ua| ua.starts_with("fleetdeck/"))
    );
    assert!(
        req.header("content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    );
    assert_eq!(req.form("query").as_deref(), Some("up{job=\"fleet\"}"));
    assert_eq!(req.form("time").as_deref(), Some("1700000000.250"));

    let server = fake(r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#);
    let mut opts = options(&format!("{}/prometheus/", server.url));
    opts.basic_auth = Some(BasicAuth {
        username: "sre".into(),
        password: "pa:ss".into(),
    });
    let src = PrometheusSource::new(opts).expect("source");
    guarded(src.query("up", None)).await.expect("query");
    let req = &server.requests()[0];
    // base64("sre:pa:ss")
    assert_eq!(req.header("authorization"), Some("Basic c3JlOnBhOnNz"));
    assert_eq!(req.path(), "/prometheus/api/v1/query");
    assert_eq!(req.header("x-scope-orgid"), None);
}

/// The fake answers every query of a refresh; figure queries for NPU fail.
fn fake_fleet(devices: usize) -> HttpServer {
    HttpServer::start(move |req| {
        let q = req.form("query").unwrap_or_default();
        let vector = |series: Vec<String>| {
            Reply::json(
                200,
                format!(
                    r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
                    series.join(",")
                ),
            )
        };
        if q.starts_with("up") {
            vector(
                (0..devices)
                    .map(|i| {
                        format!(
                            r#"{{"metric":{{"__name__":"up","device":"pi-{i}","site":"s{}","group":"g","instance":"10.0.0.{i}:9100","job":"fleet"}},"value":[1,"{}"]}}"#,
                            i % 3,
                            if i == 0 { 0 } else { 1 }
                        )
                    })
                    .collect(),
            )
        } else if q.contains("npu_utilization_ratio") {
            Reply::json(
                422,
                r#"{"status":"error","errorType":"execution","error":"boom"}"#,
            )
        } else if q.contains("node_thermal_zone_temp") {
            let mut body = vector(
                (0..devices)
                    .map(|i| {
                        format!(
                            r#"{{"metric":{{"device":"pi-{i}"}},"value":[1,"{}"]}}"#,
                            ["NaN", "+Inf", "-Inf", "55.5"][i % 4]
                        )
                    })
                    .collect(),
            );
            // Prometheus' own warnings ride along with a successful answer.
            if let ReplyBody::Full(b) = &body.body {
                let text = String::from_utf8_lossy(b).replace(
                    r#""status":"success""#,
                    r#""status":"success","warnings":["partial response: store 2 down"]"#,
                );
                body.body = ReplyBody::Full(text.into());
            }
            body
        } else {
            vector(Vec::new())
        }
    })
}

#[tokio::test]
async fn a_failed_figure_keeps_the_refresh_with_a_warning() {
    let server = fake_fleet(5);
    let mut src = source(&server.url);
    let snap = guarded(src.refresh()).await.expect("refresh");
    assert_eq!(snap.devices.len(), 5);
    let d = |i: usize| &snap.devices[i];
    assert_eq!(d(0).id, "pi-0");
    assert_eq!(d(0).reach, fleetdeck::fleet::Reach::Down(None));
    assert_eq!(d(1).reach, fleetdeck::fleet::Reach::Up);
    assert_eq!(d(1).target.as_deref(), Some("10.0.0.1:9100"));
    assert!(d(0).figures.get(Figure::CpuTemp).is_some_and(f64::is_nan));
    assert_eq!(d(1).figures.get(Figure::CpuTemp), Some(f64::INFINITY));
    assert_eq!(d(2).figures.get(Figure::CpuTemp), Some(f64::NEG_INFINITY));
    assert_eq!(d(3).figures.get(Figure::CpuTemp), Some(55.5));
    assert!(
        snap.devices
            .iter()
            .all(|d| d.figures.get(Figure::Npu).is_none())
    );
    let warnings = src.last_warnings().join("\n");
    assert!(
        warnings.contains("NPU busy") && warnings.contains("boom"),
        "{warnings}"
    );
    assert!(
        warnings.contains("partial response: store 2 down"),
        "{warnings}"
    );

    // Every query of one refresh is evaluated at the same instant.
    let requests = server.requests();
    assert_eq!(requests.len(), Figure::COUNT + 3);
    let times: std::collections::BTreeSet<_> = requests.iter().map(|r| r.form("time")).collect();
    assert_eq!(times.len(), 1, "{times:?}");
    assert!(times.iter().all(Option::is_some));
    let queries: std::collections::BTreeSet<_> =
        requests.iter().filter_map(|r| r.form("query")).collect();
    assert!(queries.contains(&promql::inventory_query(Some("fleet"))));
    assert_eq!(queries.len(), Figure::COUNT + 3);
}

#[tokio::test]
async fn requests_per_refresh_are_fixed_on_a_fake_fleet_of_3000() {
    let mut counts = Vec::new();
    for devices in [3, 3000] {
        let server = fake_fleet(devices);
        let mut src = source(&server.url);
        let snap = guarded(src.refresh()).await.expect("refresh");
        assert_eq!(snap.devices.len(), devices);
        counts.push(server.request_count());
    }
    assert_eq!(counts[0], counts[1]);
}

#[tokio::test]
async fn a_failed_inventory_fails_the_refresh() {
    let server = HttpServer::start(|req| {
        if req.form("query").is_some_and(|q| q.starts_with("up")) {
            Reply::text(502, "bad gateway")
        } else {
            Reply::json(
                200,
                r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
            )
        }
    });
    let err = guarded(source(&server.url).refresh())
        .await
        .expect_err("inventory failed");
    assert!(
        matches!(err, SourceError::Http { status: 502, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn range_query_parses_a_matrix() {
    let server = fake(
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"device":"pi-1"},"values":[[1700000000,"1"],[1700000001.5,"NaN"]]}]}}"#,
    );
    let src = source(&server.url);
    let end = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_060);
    let got = guarded(src.query_range(
        "up",
        end - Duration::from_secs(60),
        end,
        Duration::from_secs(15),
    ))
    .await
    .expect("range");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0.get("device").map(String::as_str), Some("pi-1"));
    assert_eq!(got[0].1[0], (1_700_000_000.0, 1.0));
    assert!(got[0].1[1].1.is_nan());
    let req = &server.requests()[0];
    assert_eq!(req.path(), "/api/v1/query_range");
    assert_eq!(req.form("start").as_deref(), Some("1700000000.000"));
    assert_eq!(req.form("end").as_deref(), Some("1700000060.000"));
    assert_eq!(req.form("step").as_deref(), Some("15.000"));
}

#[tokio::test]
async fn closed_port_is_unreachable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let err = guarded(source(&format!("http://127.0.0.1:{port}")).query("up", None))
        .await
        .expect_err("closed");
    assert!(matches!(err, SourceError::Unreachable { .. }), "{err}");
}

#[test]
fn setup_errors_name_what_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad_ca = dir.path().join("not-a-ca.pem");
    std::fs::write(&bad_ca, "hello").expect("write");
    let mut opts = options("http://127.0.0.1:9");
    opts.ca_file = Some(bad_ca.clone());
    let err = PrometheusSource::new(opts).err().expect("bad CA");
    assert!(err.to_string().contains("not-a-ca.pem"), "{err}");

    let mut opts = options("http://127.0.0.1:9");
    opts.ca_file = Some(dir.path().join("missing.pem"));
    let err = PrometheusSource::new(opts).err().expect("missing CA");
    assert!(err.to_string().contains("missing.pem"), "{err}");

    let err = PrometheusSource::new(options("not a url"))
        .err()
        .expect("bad url");
    assert!(err.to_string().contains("'not a url'"), "{err}");

    let mut opts = options("http://127.0.0.1:9");
    opts.tenant = Some("bad\ntenant".into());
    let err = PrometheusSource::new(opts).err().expect("bad tenant");
    assert!(err.to_string().contains("X-Scope-OrgID"), "{err}");
}

//! The registry client against a real `docker-registry` that does token
//! authentication and one that serves HTTPS with a certificate from a test CA.
//!
//! - Token auth (`auth.token` in the registry's config): the registry answers
//!   401 with `WWW-Authenticate: Bearer realm=…,service=…,scope=…` and
//!   validates every JWT itself against `rootcertbundle` (the issuer's
//!   certificate, tests/support/token.rs). The token server in the test is
//!   the realm; it wants basic credentials (or none, for the anonymous case).
//!   fleetdeck must follow the challenge, fetch a token with the credentials
//!   from `[registry.auth."host"]`, and verify; without credentials, or with
//!   wrong ones, it must say so.
//! - TLS (`http.tls` in the registry's config): fleetdeck with `[registry]
//!   ca_file = <test CA>` verifies over https; without it, or with another
//!   CA, a certificate error naming the registry.
//!
//! Every test body is bounded by `tokio::time::timeout`; nothing asserts on
//! durations. Needs `docker-registry` and `openssl` (scripts/test.sh).

use crate::support;

use fleetdeck::config::{RegistryAuth, RegistryConfig};
use fleetdeck::signature::{RegistryClient, Report, SignatureError, Trust, verify};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use support::config::{RegistryToml, password_file};
use support::registry::*;
use support::tls::TestCa;
use support::token::{SERVICE, TokenIssuer, TokenPolicy, TokenServer};

const BOUND: Duration = Duration::from_secs(120);

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {BOUND:?}: something hangs"))
}

async fn run_verify(
    config: &RegistryConfig,
    reference: &str,
    key: &Path,
) -> Result<Report, SignatureError> {
    let mut trust = Trust::default();
    trust.add_key_file(key).expect("a test public key loads");
    let client = RegistryClient::new(config).expect("registry client");
    verify(reference, &trust, &client, SystemTime::now()).await
}

/// An image with one good signature by `key`, pushed by the test.
async fn signed_image(reg: &Registry, repo: &str, key: &TestKey) -> Image {
    let img = reg.push_image(repo, Some("v1"), repo).await;
    let payload = simple_signing(&img.name(), &img.digest);
    reg.push_attachment(
        repo,
        &img.digest,
        "sig",
        &[signature_layer(&payload, &key.sign(&payload))],
    )
    .await;
    img
}

/// `[registry]` for a token registry: the registry and the token server's
/// plain-HTTP realm listed as insecure, basic credentials when given.
fn token_config(
    reg: &Registry,
    tokens: &TokenServer,
    creds: Option<(&str, &str)>,
) -> RegistryConfig {
    let mut config = reg.config();
    config.insecure.push(tokens.addr.clone());
    if let Some((user, password)) = creds {
        config.auth.insert(
            reg.addr.clone(),
            RegistryAuth {
                username: Some(user.into()),
                password: Some(password.into()),
                token: None,
            },
        );
    }
    config
}

/// The same as a fleetdeck TOML file (password in a 0600 file).
fn write_token_config(
    dir: &Path,
    reg: &Registry,
    tokens: &TokenServer,
    creds: Option<(&str, &str)>,
) -> String {
    let text = RegistryToml {
        insecure: vec![reg.addr.clone(), tokens.addr.clone()],
        basic: creds.map(|(user, password)| {
            (
                reg.addr.clone(),
                user.to_string(),
                password_file(dir, password),
            )
        }),
        ..Default::default()
    }
    .to_toml();
    let path = dir.join("fleetdeck.toml");
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}

/// The registry really does token auth: the challenge names the realm,
/// service and scope, and a JWT from an issuer outside `rootcertbundle` is
/// refused (so a passing verify below means fleetdeck got a real token).
async fn assert_registry_demands_tokens(reg: &Registry, tokens: &TokenServer, repo: &str) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let url = format!("{}/v2/{repo}/manifests/v1", reg.url);
    let resp = http.get(&url).send().await.expect("GET manifest");
    assert_eq!(resp.status().as_u16(), 401);
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    for part in [
        "Bearer ".to_string(),
        format!("realm=\"{}\"", tokens.realm),
        format!("service=\"{SERVICE}\""),
        format!("scope=\"repository:{repo}:pull\""),
    ] {
        assert!(challenge.contains(&part), "{part} in {challenge}");
    }
    let stranger_dir = tempfile::tempdir().expect("tempdir");
    let stranger = TokenIssuer::new(stranger_dir.path());
    let forged = stranger.mint("mallory", &[(repo, &["pull"])]);
    let resp = http
        .get(&url)
        .bearer_auth(forged)
        .send()
        .await
        .expect("GET manifest");
    assert_eq!(
        resp.status().as_u16(),
        401,
        "a token signed outside rootcertbundle is refused"
    );
}

#[tokio::test]
async fn bearer_token_flow_with_basic_credentials() {
    bounded("token auth with credentials", async {
        let dir = tempfile::tempdir().expect("tempdir");
        let issuer = Arc::new(TokenIssuer::new(dir.path()));
        let tokens = TokenServer::start(
            issuer.clone(),
            TokenPolicy::Basic {
                user: "fleet".into(),
                password: "s3cret-pw".into(),
            },
        );
        let reg = Registry::start_with_token_auth(issuer, &tokens.realm);
        let key = TestKey::p256(dir.path(), "release");
        let repo = "fleet/private";
        let img = signed_image(&reg, repo, &key).await;
        assert_registry_demands_tokens(&reg, &tokens, repo).await;
        let reference = img.by_digest();

        // With credentials: challenge → token (basic auth) → verified.
        let before = tokens.requests().len();
        let config = token_config(&reg, &tokens, Some(("fleet", "s3cret-pw")));
        let report = run_verify(&config, &reference, key.public_pem())
            .await
            .unwrap_or_else(|e| panic!("with credentials: {e}\n{}", reg.log_tail()));
        assert!(report.verified, "{:?}", report.reasons);
        assert_eq!(report.digest, img.digest);
        assert_eq!(report.signatures.len(), 1);
        let asked = &tokens.requests()[before..];
        assert!(!asked.is_empty(), "fleetdeck asked the realm for a token");
        let basic = format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                "fleet:s3cret-pw"
            )
        );
        for r in asked {
            assert_eq!(r.path(), "/token");
            assert_eq!(r.form("service").as_deref(), Some(SERVICE), "{r:?}");
            assert_eq!(
                r.form("scope").as_deref(),
                Some(format!("repository:{repo}:pull").as_str()),
                "{r:?}"
            );
            assert_eq!(r.header("authorization"), Some(basic.as_str()), "{r:?}");
        }
        assert_eq!(
            asked.len(),
            1,
            "one token for the repository's pull scope, reused: {asked:?}"
        );

        // No credentials: the token server says 401, fleetdeck says what to configure.
        let msg = run_verify(
            &token_config(&reg, &tokens, None),
            &reference,
            key.public_pem(),
        )
        .await
        .expect_err("no credentials")
        .to_string();
        assert!(
            msg.contains(&format!("registry '{}'", reg.addr))
                && msg.contains("wants credentials (401)")
                && msg.contains(&format!("[registry.auth.\"{}\"]", reg.addr)),
            "{msg}"
        );

        // Wrong password: refused by the token service, and said so.
        let msg = run_verify(
            &token_config(&reg, &tokens, Some(("fleet", "guess"))),
            &reference,
            key.public_pem(),
        )
        .await
        .expect_err("wrong password")
        .to_string();
        assert!(
            msg.contains(&format!("registry '{}'", reg.addr))
                && msg.contains("rejected the configured credentials")
                && msg.contains("token service refused them"),
            "{msg}"
        );

        // A plain-HTTP realm not listed as insecure: credentials are not sent.
        let mut no_realm = token_config(&reg, &tokens, Some(("fleet", "s3cret-pw")));
        no_realm.insecure.retain(|h| h != &tokens.addr);
        let before = tokens.requests().len();
        let msg = run_verify(&no_realm, &reference, key.public_pem())
            .await
            .expect_err("realm not trusted")
            .to_string();
        assert!(
            msg.contains(&format!("'{}' is not in [registry] insecure", tokens.addr)),
            "{msg}"
        );
        assert_eq!(tokens.requests().len(), before, "nothing sent to the realm");

        // The real binary: exit 0 with the credentials, 1 with the reason without.
        let pem = key.public_pem().display().to_string();
        let auth_dir = tempfile::tempdir().expect("tempdir");
        let cfg = write_token_config(auth_dir.path(), &reg, &tokens, Some(("fleet", "s3cret-pw")));
        let run = fleetdeck(&["--config", &cfg, "verify", &reference, "--key", &pem]).await;
        assert_eq!(run.code, Some(0), "{run:?}");
        assert!(run.stdout.contains("Verdict: VERIFIED"), "{run:?}");
        let bare_dir = tempfile::tempdir().expect("tempdir");
        let cfg = write_token_config(bare_dir.path(), &reg, &tokens, None);
        let run = fleetdeck(&["--config", &cfg, "verify", &reference, "--key", &pem]).await;
        assert_eq!(run.code, Some(1), "{run:?}");
        assert!(run.stderr.contains("wants credentials (401)"), "{run:?}");
    })
    .await;
}

#[tokio::test]
async fn bearer_token_flow_anonymous() {
    bounded("anonymous token auth", async {
        let dir = tempfile::tempdir().expect("tempdir");
        let issuer = Arc::new(TokenIssuer::new(dir.path()));
        let tokens = TokenServer::start(issuer.clone(), TokenPolicy::Anonymous);
        let reg = Registry::start_with_token_auth(issuer, &tokens.realm);
        let key = TestKey::openssl(dir.path(), "release");
        let img = signed_image(&reg, "fleet/public", &key).await;
        assert_registry_demands_tokens(&reg, &tokens, "fleet/public").await;

        let report = run_verify(
            &token_config(&reg, &tokens, None),
            &img.by_tag(),
            key.public_pem(),
        )
        .await
        .unwrap_or_else(|e| panic!("anonymous token: {e}\n{}", reg.log_tail()));
        assert!(report.verified, "{:?}", report.reasons);
        assert_eq!(report.digest, img.digest);
        let asked = tokens.requests();
        assert!(!asked.is_empty());
        assert!(
            asked.iter().all(|r| r.header("authorization").is_none()),
            "no credentials sent: {asked:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn tls_with_a_custom_ca() {
    bounded("TLS registry", async {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = TestCa::new(dir.path(), "fleet-test-ca");
        let reg = Registry::start_with(RegistrySetup::tls(&ca, dir.path()));
        assert!(reg.url.starts_with("https://"), "{}", reg.url);
        let key = TestKey::p256(dir.path(), "release");
        let img = signed_image(&reg, "fleet/tls", &key).await;
        let reference = img.by_digest();

        // `ca_file` = the test CA, nothing insecure: verified over https.
        let config = reg.config();
        assert!(config.insecure.is_empty());
        assert_eq!(config.ca_file.as_deref(), Some(ca.pem.as_path()));
        let report = run_verify(&config, &reference, key.public_pem())
            .await
            .unwrap_or_else(|e| panic!("with the CA: {e}\n{}", reg.log_tail()));
        assert!(report.verified, "{:?}", report.reasons);
        assert_eq!(report.digest, img.digest);
        assert!(
            reg.log().contains("\"GET /v2/fleet/tls/manifests/"),
            "the registry served fleetdeck's requests: {}",
            reg.log_tail()
        );

        // No CA, or another CA: a certificate error naming the registry.
        let other_ca = TestCa::new(dir.path(), "some-other-ca");
        let mut wrong_ca = reg.config();
        wrong_ca.ca_file = Some(other_ca.pem.clone());
        let mut no_ca = reg.config();
        no_ca.ca_file = None;
        for (case, config) in [("no ca_file", no_ca), ("another CA", wrong_ca)] {
            let msg = run_verify(&config, &reference, key.public_pem())
                .await
                .expect_err(case)
                .to_string();
            assert!(
                msg.contains(&format!("TLS to registry '{}' failed", reg.addr))
                    && msg.to_ascii_lowercase().contains("certificate")
                    && msg.contains("[registry] ca_file"),
                "{case}: {msg}"
            );
        }

        // The real binary: with `ca_file` exit 0; without it exit 1, the reason on stderr.
        let pem = key.public_pem().display().to_string();
        let cfg = reg.write_fleetdeck_config(dir.path(), None);
        let text = std::fs::read_to_string(&cfg).expect("config");
        assert!(text.contains("ca_file"), "{text}");
        let cfg_s = cfg.display().to_string();
        let run = fleetdeck(&["--config", &cfg_s, "verify", &reference, "--key", &pem]).await;
        assert_eq!(run.code, Some(0), "{run:?}");
        assert!(run.stdout.contains("Verdict: VERIFIED"), "{run:?}");
        let bare = dir.path().join("no-ca.toml");
        std::fs::write(&bare, "[registry]\ntimeout = \"5s\"\n").expect("write config");
        let bare_s = bare.display().to_string();
        let run = fleetdeck(&["--config", &bare_s, "verify", &reference, "--key", &pem]).await;
        assert_eq!(run.code, Some(1), "{run:?}");
        assert!(
            run.stderr
                .contains(&format!("TLS to registry '{}' failed", reg.addr)),
            "{run:?}"
        );
    })
    .await;
}

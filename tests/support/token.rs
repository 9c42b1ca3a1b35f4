//! Docker/OCI token authentication for tests: a token issuer whose
//! certificate goes into `docker-registry`'s `auth.token.rootcertbundle`, and
//! a tiny token server (the registry's `realm`) that hands out JWTs for the
//! scopes asked, with or without basic credentials.
//!
//! The registry itself does the challenge (`WWW-Authenticate: Bearer
//! realm=…,service=…,scope=…`) and validates every JWT: signature (ES256 over
//! the issuer's key, `x5c` chaining to the bundle), `iss`, `aud`, `nbf`/`exp`
//! and the `access` claim. Nothing here is taken from fleetdeck.
//!
//! The JWT is written by hand from RFC 7519/7515 (compact serialization,
//! base64url without padding, ES256 = raw `r||s`).

use super::prometheus::{HttpServer, RecordedRequest, Reply, url_decode};
use base64::Engine as _;
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::DecodePrivateKey as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// `service` in the registry's challenge and the tokens' `aud`.
pub const SERVICE: &str = "fleetdeck-test-registry";
/// The tokens' `iss`, as configured in the registry.
pub const ISSUER: &str = "fleetdeck-test-token-issuer";

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs tokens; its self-signed certificate is the registry's root bundle.
pub struct TokenIssuer {
    key: SigningKey,
    cert_der: Vec<u8>,
    /// The PEM written for `rootcertbundle`.
    pub bundle: PathBuf,
    serial: AtomicU64,
}

impl TokenIssuer {
    /// A fresh P-256 key and self-signed certificate (rcgen), the PEM
    /// written to `dir/token-root.pem`.
    pub fn new(dir: &Path) -> TokenIssuer {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("issuer key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "fleetdeck test token issuer");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyCertSign,
        ];
        let cert = params.self_signed(&kp).expect("issuer certificate");
        let bundle = dir.join("token-root.pem");
        std::fs::write(&bundle, cert.pem()).expect("write rootcertbundle");
        TokenIssuer {
            key: SigningKey::from_pkcs8_der(kp.serialized_der()).expect("issuer key as p256"),
            cert_der: cert.der().to_vec(),
            bundle,
            serial: AtomicU64::new(0),
        }
    }

    /// A token for `subject` granting `actions` on each repository, valid
    /// from a minute ago for five minutes.
    pub fn mint(&self, subject: &str, access: &[(&str, &[&str])]) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        let header = serde_json::json!({
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [base64::engine::general_purpose::STANDARD.encode(&self.cert_der)],
        });
        let claims = serde_json::json!({
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 60,
            "iat": now - 60,
            "jti": format!("fleetdeck-test-{}", self.serial.fetch_add(1, Ordering::SeqCst)),
            "access": access.iter().map(|(name, actions)| serde_json::json!({
                "type": "repository",
                "name": name,
                "actions": actions,
            })).collect::<Vec<_>>(),
        });
        let signing_input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let sig: p256::ecdsa::Signature = self.key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", b64url(&sig.to_bytes()))
    }
}

/// Who may have a token.
#[derive(Clone, Debug)]
pub enum TokenPolicy {
    /// Anyone, without credentials (pull only).
    Anonymous,
    /// Only with these basic credentials (pull only).
    Basic { user: String, password: String },
}

/// The token endpoint (`realm`): `GET /token?service=…&scope=…`. Grants
/// `pull` on the repositories of the requested `repository:NAME:ACTIONS`
/// scopes (never `push`), answers 401 when the policy's credentials are
/// missing or wrong, 400 for another service. Stops on drop.
pub struct TokenServer {
    server: HttpServer,
    /// `http://127.0.0.1:<port>/token`
    pub realm: String,
    /// `127.0.0.1:<port>`: list it in `[registry] insecure` (plain HTTP realm).
    pub addr: String,
}

impl TokenServer {
    /// Must be called inside a tokio runtime.
    pub fn start(issuer: Arc<TokenIssuer>, policy: TokenPolicy) -> TokenServer {
        let server = HttpServer::start(move |req| answer(&issuer, &policy, req));
        TokenServer {
            realm: format!("{}/token", server.url),
            addr: server.addr.clone(),
            server,
        }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.server.requests()
    }
}

fn answer(issuer: &TokenIssuer, policy: &TokenPolicy, req: &RecordedRequest) -> Reply {
    if req.path() != "/token" {
        return Reply::json(404, r#"{"error":"not found"}"#);
    }
    if req.form("service").as_deref() != Some(SERVICE) {
        return Reply::json(400, r#"{"error":"unknown service"}"#);
    }
    let subject = match policy {
        TokenPolicy::Anonymous => "anonymous".to_string(),
        TokenPolicy::Basic { user, password } => {
            let expected = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            );
            if req.header("authorization") != Some(expected.as_str()) {
                let mut r = Reply::json(401, r#"{"error":"authentication required"}"#);
                r.headers.push((
                    "www-authenticate".into(),
                    "Basic realm=\"fleetdeck-test-token\"".into(),
                ));
                return r;
            }
            user.clone()
        }
    };
    // `scope=repository:fleet/app:pull` (docker may send several).
    let query = req.uri.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let scopes: Vec<String> = query
        .split('&')
        .filter_map(|p| p.strip_prefix("scope="))
        .map(url_decode)
        .collect();
    let mut repos = Vec::new();
    for scope in &scopes {
        let mut parts = scope.splitn(3, ':');
        if let (Some("repository"), Some(name), Some(actions)) =
            (parts.next(), parts.next(), parts.next())
            && actions.split(',').any(|a| a == "pull")
        {
            repos.push(name.to_string());
        }
    }
    let pull: &[&str] = &["pull"];
    let access: Vec<(&str, &[&str])> = repos.iter().map(|r| (r.as_str(), pull)).collect();
    let token = issuer.mint(&subject, &access);
    Reply::json(
        200,
        serde_json::json!({"token": token, "access_token": token, "expires_in": 300}).to_string(),
    )
}

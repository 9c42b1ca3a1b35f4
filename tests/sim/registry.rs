//! The simulator's OCI registry against the real verifier: what the devices
//! report is what the registry serves, `fleetdeck verify` verifies the signed
//! releases with the simulator's key (through `[registry] mirrors`) and
//! rejects the unsigned one, and the release policy's cache is measured.
// Measurements and progress go to the test log; fleetdeck's own output goes
// through crate::out (clippy.toml).
#![allow(clippy::disallowed_macros)]

use crate::support::config::{RegistryToml, signing_toml};
use fleetdeck::config::RegistryConfig;
use fleetdeck::rollout::action::Check;
use fleetdeck::signature::policy::ReleaseVerifier;
use fleetdeck::signature::{RegistryClient, Trust};
use fleetdeck::sim::{SimHandle, SimOptions, release_spec_for};
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const UNSIGNED: &str = "1.5.1";
/// Bound of every command run by these tests.
const DEADLINE: Duration = Duration::from_secs(60);

async fn start_sim() -> SimHandle {
    SimHandle::start(
        SimOptions {
            devices: 12,
            sites: 2,
            unsigned: vec![UNSIGNED.to_string()],
            ..SimOptions::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("simulator starts")
}

/// A config trusting `key` (when given) and reaching `registry.local` through
/// the simulator's registry (listed as insecure when `insecure`).
fn write_config(dir: &Path, sim: &SimHandle, key: Option<&Path>, insecure: bool) -> PathBuf {
    let addr = sim.registry_addr().to_string();
    let signing = key.map_or("[signing]\n".to_string(), |k| signing_toml(&[k]));
    let registry = RegistryToml {
        insecure: if insecure {
            vec![addr.clone()]
        } else {
            Vec::new()
        },
        mirror: Some(addr),
        ..Default::default()
    };
    let path = dir.join(format!("fleetdeck-{}.toml", rand_name(dir)));
    std::fs::write(&path, format!("{signing}\n{}", registry.to_toml())).expect("config");
    path
}

fn rand_name(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn write_key(dir: &Path, name: &str, sim: &SimHandle) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, sim.signing_public_key_pem()).expect("key file");
    path
}

/// Runs the real binary, bounded by [`DEADLINE`]: (exit code, stdout, stderr).
async fn fleetdeck(config: &Path, args: &[&str]) -> (i32, String, String) {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .arg("--config")
        .arg(config)
        .args(args)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(DEADLINE, child)
        .await
        .unwrap_or_else(|_| panic!("fleetdeck {args:?} did not finish within {DEADLINE:?}"))
        .expect("run fleetdeck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

/// sha256 of what the registry serves for `repo:tag`, computed here; and the
/// `Docker-Content-Digest` it announced.
async fn served_digest(sim: &SimHandle, repo: &str, tag: &str) -> (String, String) {
    let resp = http()
        .get(format!(
            "http://{}/v2/{repo}/manifests/{tag}",
            sim.registry_addr()
        ))
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .expect("registry answers");
    assert_eq!(resp.status(), 200, "{repo}:{tag}");
    let header = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = resp.bytes().await.expect("manifest body");
    assert!(body.len() < 64 << 10, "a small manifest");
    (
        format!("sha256:{}", hex::encode(Sha256::digest(&body))),
        header,
    )
}

/// The `fleet_release_info` labels a device exports.
async fn reported(sim: &SimHandle, id: &str) -> (String, String, String) {
    let body = http()
        .get(sim.metrics_url(id))
        .send()
        .await
        .expect("device answers")
        .text()
        .await
        .expect("body");
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
        .expect("exposition parses");
    let info = scrape
        .samples
        .iter()
        .find(|s| s.metric == "fleet_release_info")
        .expect("fleet_release_info");
    let l = |k: &str| info.labels.get(k).unwrap_or_default().to_string();
    (l("version"), l("image_digest"), l("model_digest"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_report_the_digests_of_the_manifests_the_registry_serves() {
    let sim = start_sim().await;
    let id = sim.devices()[0].id.clone();
    let (version, image, model) = reported(&sim, &id).await;
    assert_eq!(version, "1.4.0");
    let (served_image, header) = served_digest(&sim, "fleet/vision", "1.4.0").await;
    assert_eq!(image, served_image, "image digest of {id}");
    assert_eq!(header, served_image);
    let (served_model, header) = served_digest(&sim, "fleet/model", "1.4.0").await;
    assert_eq!(model, served_model, "model digest of {id}");
    assert_eq!(header, served_model);
    assert_ne!(served_image, served_model);
    // The plans' references name the same manifests, for every known release.
    for v in ["1.4.0", "1.5.0", UNSIGNED] {
        let spec = release_spec_for(v);
        assert_eq!(
            spec.image.digest,
            served_digest(&sim, "fleet/vision", v).await.0,
            "{v}"
        );
        let model = spec.model.expect("the simulated releases have a model");
        assert_eq!(
            model.digest,
            served_digest(&sim, "fleet/model", v).await.0,
            "{v}"
        );
        assert_eq!(
            spec.image.repository,
            format!("registry.local/fleet/vision:{v}")
        );
    }
    // A device switched to 1.5.0 reports the 1.5.0 manifests.
    assert!(sim.set_release(&id, fleetdeck::sim::release_for("1.5.0")));
    let (_, image, _) = reported(&sim, &id).await;
    assert_eq!(image, served_digest(&sim, "fleet/vision", "1.5.0").await.0);
    // Unknown versions are not served.
    let resp = http()
        .get(format!(
            "http://{}/v2/fleet/vision/manifests/1.6.0",
            sim.registry_addr()
        ))
        .send()
        .await
        .expect("registry answers");
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.expect("error body");
    assert_eq!(body["errors"][0]["code"], "MANIFEST_UNKNOWN");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleetdeck_verify_accepts_signed_releases_and_rejects_the_unsigned_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = start_sim().await;
    let key = write_key(dir.path(), "sim.pub", &sim);
    let config = write_config(dir.path(), &sim, Some(&key), true);
    let via = format!("via {}", sim.registry_addr());

    let signed = release_spec_for("1.5.0");
    let (code, out, err) = fleetdeck(&config, &["verify", &signed.image.to_string()]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Signatures: 1 found, 1 verified"), "{out}");
    assert!(out.contains("VERIFIED"), "{out}");
    assert!(out.contains(&via), "locations name the mirror: {out}");
    assert!(
        out.contains("registry.local/fleet/vision:1.5.0@sha256:"),
        "the reference as written: {out}"
    );
    assert!(out.contains("Attestations: 1"), "{out}");
    assert!(out.contains("✔ https://slsa.dev/provenance/v1"), "{out}");
    assert!(out.contains("SBOMs: 1"), "{out}");
    assert!(
        out.contains("SPDX 2.3, 5 components, tool fleetdeck-sim"),
        "{out}"
    );

    // The model is signed too.
    let model = signed.model.expect("model").to_string();
    let (code, out, err) = fleetdeck(&config, &["verify", &model]).await;
    assert_eq!(code, 0, "{out}{err}");

    // JSON: the same facts, machine-readable.
    let (code, out, err) =
        fleetdeck(&config, &["verify", &signed.image.to_string(), "--json"]).await;
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON report");
    assert_eq!(v["verified"], true);
    assert_eq!(v["signatures"][0]["verified"], true, "{v}");
    assert_eq!(
        v["attestations"][0]["predicate_type"],
        "https://slsa.dev/provenance/v1"
    );
    assert_eq!(v["sboms"][0]["components"], 5);

    // A tag resolves through the mirror, with the warning.
    let (code, out, err) =
        fleetdeck(&config, &["verify", "registry.local/fleet/vision:1.4.0"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("is a tag"), "{out}");

    // The unsigned hotfix.
    let unsigned = release_spec_for(UNSIGNED);
    let (code, out, err) = fleetdeck(&config, &["verify", &unsigned.image.to_string()]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("NOT VERIFIED"), "{out}");
    assert!(out.contains("no signatures found at"), "{out}");
    assert!(out.contains(&via), "{out}");
    assert!(!out.contains("Attestations"), "nothing attached: {out}");

    // A version the registry does not have.
    let (code, out, err) =
        fleetdeck(&config, &["verify", "registry.local/fleet/vision:1.6.0"]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("not found") && err.contains("404"), "{err}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_sims_key_no_key_or_a_mirror_not_listed_as_insecure_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = start_sim().await;
    let other = start_sim().await;
    assert_ne!(sim.signing_public_key_pem(), other.signing_public_key_pem());
    let image = release_spec_for("1.5.0").image.to_string();

    let wrong = write_key(dir.path(), "other.pub", &other);
    let config = write_config(dir.path(), &sim, Some(&wrong), true);
    let (code, out, err) = fleetdeck(&config, &["verify", &image]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("wrong key"), "{out}");

    let config = write_config(dir.path(), &sim, None, true);
    let (code, out, err) = fleetdeck(&config, &["verify", &image]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("no trusted keys"), "{out}");

    // The mirror speaks plain HTTP but is not listed as insecure: HTTPS fails.
    let key = write_key(dir.path(), "sim.pub", &sim);
    let config = write_config(dir.path(), &sim, Some(&key), false);
    let (code, out, err) = fleetdeck(&config, &["verify", &image]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!(
            "add \"{}\" to [registry] insecure",
            sim.registry_addr()
        )),
        "the error names the mirror and what to do: {err}"
    );
    sim.shutdown().await;
    other.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_policy_verdicts_and_the_cache_timed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = start_sim().await;
    let key = write_key(dir.path(), "sim.pub", &sim);
    let mut trust = Trust::default();
    trust.add_key_file(&key).expect("the sim's key loads");
    let addr = sim.registry_addr().to_string();
    let mut registry = RegistryConfig {
        insecure: vec![addr.clone()],
        timeout: Duration::from_secs(5),
        ..RegistryConfig::default()
    };
    registry.mirrors.insert("registry.local".into(), addr);
    let verifier = ReleaseVerifier::new(trust, RegistryClient::new(&registry).expect("client"));

    let signed = release_spec_for("1.5.0");
    let t0 = Instant::now();
    let first = verifier.verify_release(&signed).await;
    let uncached = t0.elapsed();
    assert_eq!(first.check(), Check::Pass, "{}", first.summary());
    assert_eq!(first.summary(), "verified: image + model");
    assert_eq!(verifier.cache().len(), 2);
    let t1 = Instant::now();
    let again = verifier.verify_release(&signed).await;
    let cached = t1.elapsed();
    assert_eq!(again.check(), Check::Pass);
    assert_eq!(verifier.cache().len(), 2, "served from the cache");
    let mut cached_runs = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let v = verifier.verify_release(&signed).await;
        cached_runs.push(t.elapsed());
        assert_eq!(v.check(), Check::Pass);
    }
    cached_runs.sort();
    // A fresh verifier: uncached again, a few times for a median.
    let mut uncached_runs = Vec::new();
    for _ in 0..5 {
        let mut trust = Trust::default();
        trust.add_key_file(&key).expect("key");
        let fresh = ReleaseVerifier::new(trust, RegistryClient::new(&registry).expect("client"));
        let t = Instant::now();
        let v = fresh.verify_release(&signed).await;
        uncached_runs.push(t.elapsed());
        assert_eq!(v.check(), Check::Pass);
    }
    uncached_runs.sort();
    eprintln!(
        "verify_release(1.5.0: image 1 signature + 1 attestation + SBOM, model 1 signature) against the sim registry on loopback: \
         first {uncached:?}, uncached median {:?} (of 5, new client each), cached {cached:?}, cached median {:?} (of 20)",
        uncached_runs[uncached_runs.len() / 2],
        cached_runs[cached_runs.len() / 2]
    );

    let unsigned = verifier.verify_release(&release_spec_for(UNSIGNED)).await;
    match unsigned.check() {
        Check::Fail(why) => assert!(
            why.starts_with("image registry.local/fleet/vision:1.5.1@sha256:")
                && why.contains("no signatures found"),
            "{why}"
        ),
        other => panic!("the unsigned release must fail: {other:?}"),
    }
    // A version the registry does not have: no verdict, never a pass.
    let mut missing = release_spec_for("1.6.0");
    missing.model = None;
    match verifier.verify_release(&missing).await.check() {
        Check::Inconclusive(why) => assert!(why.contains("404"), "{why}"),
        other => panic!("an unreadable image is inconclusive: {other:?}"),
    }
    sim.shutdown().await;
}

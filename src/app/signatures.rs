//! The supply-chain side of the app: verification results by image reference
//! (posted by the signature worker), the signature check a promote needs,
//! which devices drift (computed by [`crate::rollout::drift`]), and the lines
//! of the inspector pane. Pure like the
//! rest of the app: verifications are [`Effect::Verify`] requests carried out
//! by a worker, whose answers come back as [`super::Event::Signature`].

use super::{App, Effect, Level, ViewKind};
use crate::format;
use crate::rollout::action::Check;
use crate::rollout::drift::Drift;
use crate::rollout::plan::{DigestRef, ReleaseSpec};
use crate::signature::policy::{ArtifactVerdict, Part, ReleaseVerdict, oci_reference};
use crate::signature::{Report, Signer};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A failed or unverified verdict is asked again after this long (someone
/// may sign the release; the registry may be back).
const RETRY_UNVERIFIED: Duration = Duration::from_secs(30);

/// Where one reference's verification stands.
#[derive(Clone, Debug)]
pub enum SigState {
    Pending,
    Done {
        /// `Err`: the image could not be read (registry unreachable, 404…).
        result: Result<Arc<Report>, String>,
        at: SystemTime,
    },
}

impl SigState {
    pub fn report(&self) -> Option<&Arc<Report>> {
        match self {
            SigState::Done { result: Ok(r), .. } => Some(r),
            _ => None,
        }
    }
}

/// What the inspector looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InspectTarget {
    /// A rollout's new and previous release.
    Rollout(String),
    /// The digests a device reports running.
    Device(String),
}

/// The tone of a piece of inspector text; the view maps it to a theme role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Heading,
    Text,
    Muted,
    Good,
    Bad,
    Warn,
}

/// One line of the inspector: styled pieces, unsanitised (the view sanitises).
pub type InspectLine = Vec<(Tone, String)>;

#[derive(Default)]
pub struct Signatures {
    /// A verifier runs ([signing] and [registry] loaded). Without one every
    /// promote is refused as "not verified" (fails closed).
    pub enabled: bool,
    pub by_ref: HashMap<String, SigState>,
    /// Image and model digests named by the rollouts → (part, reference).
    pub known: HashMap<String, (Part, String)>,
    /// Repositories (no tag, no digest) the rollouts use, per part: where a
    /// device's unknown digest is looked up.
    pub repos: Vec<(Part, String)>,
    /// Devices flagged as drift, by id.
    pub drift: HashMap<String, Drift>,
}

/// (part, digest, Some((reference, named by a rollout?))) of what a device runs.
type DeviceRef = (Part, String, Option<(String, bool)>);

/// `registry.local/fleet/vision:1.5.0` → `registry.local/fleet/vision`.
fn without_tag(repository: &str) -> &str {
    match repository.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => repository,
    }
}

fn release_refs(spec: &ReleaseSpec) -> Vec<(Part, &DigestRef, Option<String>)> {
    let mut out = vec![(Part::Image, &spec.image, oci_reference(&spec.image))];
    if let Some(m) = &spec.model {
        out.push((Part::Model, m, oci_reference(m)));
    }
    out
}

impl App {
    /// The releases named by the loaded rollouts changed: remember their
    /// digests and ask for what is not verified yet.
    pub(crate) fn on_plans_for_signatures(&mut self) -> Vec<Effect> {
        let mut known = HashMap::new();
        let mut repos: BTreeSet<(u8, String)> = BTreeSet::new();
        for e in &self.rollouts.entries {
            for spec in [&e.plan.release, &e.plan.previous] {
                for (part, r, oci) in release_refs(spec) {
                    if let Some(reference) = oci {
                        known.entry(r.digest.clone()).or_insert((part, reference));
                        repos.insert((part as u8, without_tag(&r.repository).to_string()));
                    }
                }
            }
        }
        self.signatures.known = known;
        self.signatures.repos = repos
            .into_iter()
            .map(|(p, r)| (if p == 0 { Part::Image } else { Part::Model }, r))
            .collect();
        // The rows already reflect the fleet and plans; only a drift change
        // can move them (the `drift:` filter).
        if self.recompute_drift() {
            self.rebuild_all_rows();
        }
        let wanted: Vec<String> = self
            .signatures
            .known
            .values()
            .map(|(_, r)| r.clone())
            .collect();
        self.request_verify(wanted)
    }

    /// Asks the worker for the references not verified yet (a failure is
    /// asked again after a while).
    pub fn request_verify(&mut self, references: Vec<String>) -> Vec<Effect> {
        if !self.signatures.enabled {
            return Vec::new();
        }
        let now = self.now;
        let mut ask: Vec<String> = references
            .into_iter()
            .filter(|r| match self.signatures.by_ref.get(r) {
                None => true,
                Some(SigState::Pending) => false,
                Some(SigState::Done { result, at }) => {
                    !matches!(result, Ok(rep) if rep.verified)
                        && now.duration_since(*at).unwrap_or_default() >= RETRY_UNVERIFIED
                }
            })
            .collect();
        ask.sort();
        ask.dedup();
        if ask.is_empty() {
            return Vec::new();
        }
        for r in &ask {
            self.signatures.by_ref.insert(r.clone(), SigState::Pending);
        }
        vec![Effect::Verify { references: ask }]
    }

    pub(crate) fn on_signature(&mut self, reference: String, result: Result<Arc<Report>, String>) {
        self.signatures.by_ref.insert(
            reference,
            SigState::Done {
                result,
                at: self.now,
            },
        );
        // The rows already reflect the fleet and plans; only a drift change
        // can move them (the `drift:` filter).
        if self.recompute_drift() {
            self.rebuild_all_rows();
        }
    }

    /// One artifact's verdict as the policy sees it (pending → no verdict).
    fn artifact_verdict(&self, part: Part, reference: &str) -> ArtifactVerdict {
        let result = match self.signatures.by_ref.get(reference) {
            Some(SigState::Done { result, .. }) => result.clone(),
            Some(SigState::Pending) => Err("verification still running".into()),
            None => Err("not verified yet".into()),
        };
        ArtifactVerdict {
            part,
            reference: reference.to_string(),
            result,
        }
    }

    /// The release's signature verdict from what the worker found so far.
    pub fn release_verdict(&self, spec: &ReleaseSpec) -> ReleaseVerdict {
        let mut artifacts = Vec::new();
        let mut skipped = Vec::new();
        for (part, r, oci) in release_refs(spec) {
            match oci {
                Some(reference) => artifacts.push(self.artifact_verdict(part, &reference)),
                None if part == Part::Image => artifacts.push(ArtifactVerdict {
                    part,
                    reference: r.to_string(),
                    result: Err("not an OCI registry reference".into()),
                }),
                None => skipped.push(format!(
                    "model {} is not an OCI reference: not verified here",
                    r.repository
                )),
            }
        }
        ReleaseVerdict {
            version: spec.version.clone(),
            artifacts,
            skipped,
        }
    }

    /// The signature check of a promote of this release.
    pub fn release_check(&self, spec: &ReleaseSpec) -> Check {
        if !self.signatures.enabled {
            return Check::Inconclusive(
                "signature verification is not set up ([signing] and [registry] in the config)"
                    .into(),
            );
        }
        self.release_verdict(spec).check()
    }

    /// Flags devices that run a digest no rollout names, or one that does not
    /// verify ([`crate::rollout::drift::detect`]). Nothing is flagged before
    /// the rollouts are known. Whether the set of drifting devices changed.
    pub(crate) fn recompute_drift(&mut self) -> bool {
        let drift = if self.rollouts.entries.is_empty() {
            HashMap::new()
        } else {
            let by_ref = &self.signatures.by_ref;
            crate::rollout::drift::detect(&self.fleet.devices, &self.signatures.known, |r| {
                Some(by_ref.get(r)?.report()?.verified)
            })
        };
        let changed = self.signatures.drift != drift;
        self.signatures.drift = drift;
        changed
    }

    /// `i`: open the inspector on the selected rollout or device.
    pub(crate) fn inspect(&mut self) -> Vec<Effect> {
        let target = match &self.screen().kind {
            ViewKind::Rollout(name) => Some(InspectTarget::Rollout(name.clone())),
            ViewKind::Rollouts => self.selected_key().map(InspectTarget::Rollout),
            ViewKind::Device(id) => Some(InspectTarget::Device(id.clone())),
            ViewKind::Devices(_) => self.selected_key().map(InspectTarget::Device),
            _ => None,
        };
        let Some(target) = target else {
            self.set_flash(
                "select a rollout or a device to inspect its supply chain".into(),
                Level::Error,
            );
            return Vec::new();
        };
        let refs = self.inspect_refs(&target);
        let mut effects = self.push(ViewKind::Inspect(target));
        effects.extend(self.request_verify(refs));
        effects
    }

    /// The references the inspector shows for `target`.
    fn inspect_refs(&self, target: &InspectTarget) -> Vec<String> {
        match target {
            InspectTarget::Rollout(name) => self
                .rollouts
                .get(name)
                .map(|e| {
                    [&e.plan.release, &e.plan.previous]
                        .into_iter()
                        .flat_map(release_refs)
                        .filter_map(|(_, _, oci)| oci)
                        .collect()
                })
                .unwrap_or_default(),
            InspectTarget::Device(id) => self
                .device_refs(id)
                .into_iter()
                .filter_map(|(_, _, r)| r.map(|(reference, _)| reference))
                .collect(),
        }
    }

    /// A device's (part, digest, Some((reference, named by a rollout?))).
    /// An unknown digest is looked up in the rollouts' repository for that part.
    fn device_refs(&self, id: &str) -> Vec<DeviceRef> {
        let Some(rel) = self
            .fleet
            .device(id)
            .and_then(|d| d.sample.release.as_ref())
        else {
            return Vec::new();
        };
        [
            (Part::Image, &rel.image_digest),
            (Part::Model, &rel.model_digest),
        ]
        .into_iter()
        .filter(|(_, d)| !d.is_empty())
        .map(|(part, digest)| {
            let reference = match self.signatures.known.get(digest) {
                Some((_, r)) => Some((r.clone(), true)),
                None => self
                    .signatures
                    .repos
                    .iter()
                    .find(|(p, _)| *p == part)
                    .map(|(_, repo)| (format!("{repo}@{digest}"), false)),
            };
            (part, digest.clone(), reference)
        })
        .collect()
    }

    /// The inspector's text, top to bottom.
    pub fn inspector_lines(&self, target: &InspectTarget) -> Vec<InspectLine> {
        let mut out: Vec<InspectLine> = Vec::new();
        if !self.signatures.enabled {
            out.push(vec![(
                Tone::Warn,
                "signature verification is not set up: add [signing] keys or identities and [registry] to the config".into(),
            )]);
        }
        match target {
            InspectTarget::Rollout(name) => {
                let Some(e) = self.rollouts.get(name) else {
                    out.push(vec![(
                        Tone::Bad,
                        format!("no rollout '{name}' in the repository"),
                    )]);
                    return out;
                };
                for (label, spec) in [
                    ("new release", &e.plan.release),
                    ("previous release", &e.plan.previous),
                ] {
                    let verdict = self.release_verdict(spec);
                    let (tone, text) = check_tone(&verdict.check(), &verdict.summary());
                    out.push(vec![
                        (Tone::Heading, format!("{label} {}", spec.version)),
                        (Tone::Muted, "  ".into()),
                        (tone, text),
                    ]);
                    for (part, r, oci) in release_refs(spec) {
                        match oci {
                            Some(reference) => self.reference_lines(&mut out, part, &reference),
                            None => out.push(vec![
                                (Tone::Text, format!("  {:<6}", part.key())),
                                (Tone::Text, r.to_string()),
                                (
                                    Tone::Muted,
                                    "  (not an OCI reference: not verified here)".into(),
                                ),
                            ]),
                        }
                    }
                    out.push(Vec::new());
                }
            }
            InspectTarget::Device(id) => {
                let Some(d) = self.fleet.device(id) else {
                    out.push(vec![(Tone::Bad, format!("{id} is no longer in the fleet"))]);
                    return out;
                };
                let Some(rel) = &d.sample.release else {
                    out.push(vec![(
                        Tone::Muted,
                        format!("{id} does not report what it runs (no fleet_release_info)"),
                    )]);
                    return out;
                };
                out.push(vec![
                    (Tone::Heading, format!("{id} runs {} ", rel.version)),
                    (Tone::Muted, format!("(release {})", rel.release)),
                ]);
                match self.signatures.drift.get(id) {
                    Some(dr) => out.push(vec![(Tone::Bad, format!("⚑ drift: {}", dr.text()))]),
                    None if self.rollouts.entries.is_empty() => out.push(vec![(
                        Tone::Muted,
                        "no rollouts loaded: drift is not known".into(),
                    )]),
                    None => out.push(vec![(
                        Tone::Good,
                        "runs a release the rollouts name".into(),
                    )]),
                }
                for (part, digest, reference) in self.device_refs(id) {
                    match reference {
                        Some((r, named)) => {
                            if !named {
                                out.push(vec![(
                                    Tone::Warn,
                                    format!(
                                        "  {} {digest} is named by no rollout; looked up as {r}",
                                        part.key()
                                    ),
                                )]);
                            }
                            self.reference_lines(&mut out, part, &r);
                        }
                        None => out.push(vec![
                            (Tone::Text, format!("  {:<6}", part.key())),
                            (Tone::Text, digest),
                            (
                                Tone::Muted,
                                "  (no rollout names a repository to look it up in)".into(),
                            ),
                        ]),
                    }
                }
            }
        }
        out
    }

    /// Reference → digest, then everything its report says.
    fn reference_lines(&self, out: &mut Vec<InspectLine>, part: Part, reference: &str) {
        out.push(vec![
            (Tone::Text, format!("  {:<6}", part.key())),
            (Tone::Text, reference.to_string()),
        ]);
        let report = match self.signatures.by_ref.get(reference) {
            None if !self.signatures.enabled => return,
            None | Some(SigState::Pending) => {
                out.push(vec![(Tone::Muted, "         verifying…".into())]);
                return;
            }
            Some(SigState::Done { result: Err(e), .. }) => {
                out.push(vec![(Tone::Bad, format!("         ✖ cannot read: {e}"))]);
                return;
            }
            Some(SigState::Done { result: Ok(r), .. }) => r,
        };
        out.push(vec![
            (Tone::Muted, "         → ".into()),
            (Tone::Text, report.digest.clone()),
        ]);
        if let Some(w) = &report.tag_warning {
            out.push(vec![(Tone::Warn, format!("         ! {w}"))]);
        }
        let good = report.signatures.iter().filter(|s| s.verified).count();
        if report.verified {
            out.push(vec![(
                Tone::Good,
                format!(
                    "         ✔ verified: {good} of {} signatures",
                    report.signatures.len()
                ),
            )]);
        } else {
            let why = report
                .reasons
                .first()
                .cloned()
                .unwrap_or_else(|| "no signature verifies".into());
            out.push(vec![(
                Tone::Bad,
                format!("         ✖ does not verify: {why}"),
            )]);
        }
        for s in &report.signatures {
            out.push(vec![
                (Tone::Muted, "         signature ".into()),
                (Tone::Text, s.location.clone()),
            ]);
            out.push(vec![
                (Tone::Muted, "           signer ".into()),
                (Tone::Text, signer_text(&s.signer)),
            ]);
            if let Some(r) = &s.rekor {
                let when = time::OffsetDateTime::from_unix_timestamp(r.integrated_time)
                    .ok()
                    .map(SystemTime::from);
                let when_text = when.map_or_else(
                    || format!("integrated time {} (out of range)", r.integrated_time),
                    |t| {
                        format!(
                            "{} ({} ago)",
                            format::utc(t),
                            format::age(self.now.duration_since(t).unwrap_or_default())
                        )
                    },
                );
                out.push(vec![
                    (Tone::Muted, "           rekor ".into()),
                    (
                        Tone::Text,
                        format!(
                            "log index {} · {when_text} · SET {}",
                            r.log_index,
                            if r.set_verified {
                                "verified"
                            } else {
                                "NOT verified"
                            }
                        ),
                    ),
                ]);
            }
            for c in &s.checks {
                out.push(check_line(c.ok, &c.name, &c.reason));
            }
            for (k, v) in &s.annotations {
                if k == "dev.cosignproject.cosign/signature"
                    || k.starts_with("dev.sigstore.cosign/")
                {
                    continue; // the signature, certificate, chain and bundle are shown as checks
                }
                let v: String = v.chars().take(80).collect();
                out.push(vec![(Tone::Muted, format!("           {k} = {v}"))]);
            }
        }
        for a in &report.attestations {
            let (tone, mark) = if a.verified {
                (Tone::Good, "✔")
            } else {
                (Tone::Bad, "✖")
            };
            let why = a
                .checks
                .iter()
                .find(|c| !c.ok)
                .map(|c| format!(": {}", c.reason))
                .unwrap_or_default();
            out.push(vec![
                (Tone::Muted, "         attestation ".into()),
                (tone, format!("{mark} {}", a.predicate_type)),
                (Tone::Muted, format!(" {}{why}", a.location)),
            ]);
        }
        for s in &report.sboms {
            out.push(vec![
                (Tone::Muted, "         SBOM ".into()),
                (
                    Tone::Text,
                    format!(
                        "{} · {} components{}",
                        s.format,
                        s.components,
                        s.tool
                            .as_ref()
                            .map(|t| format!(" · by {t}"))
                            .unwrap_or_default()
                    ),
                ),
                (Tone::Muted, format!("  {}", s.location)),
            ]);
        }
        if report.sboms.is_empty() {
            out.push(vec![(Tone::Muted, "         SBOM none attached".into())]);
        }
        for r in report.reasons.iter().skip(1) {
            out.push(vec![(Tone::Warn, format!("         ! {r}"))]);
        }
    }
}

fn check_tone(c: &Check, summary: &str) -> (Tone, String) {
    match c {
        Check::Pass => (Tone::Good, format!("✔ {summary}")),
        Check::Fail(_) => (Tone::Bad, format!("✖ {summary}")),
        Check::Inconclusive(_) => (Tone::Warn, format!("? {summary}")),
        Check::NotApplicable => (Tone::Muted, summary.to_string()),
    }
}

fn check_line(ok: bool, name: &str, reason: &str) -> InspectLine {
    vec![
        (Tone::Muted, "           ".into()),
        if ok {
            (Tone::Good, format!("✔ {name:<18}"))
        } else {
            (Tone::Bad, format!("✖ {name:<18}"))
        },
        (Tone::Text, format!(" {reason}")),
    ]
}

fn signer_text(s: &Signer) -> String {
    match s {
        Signer::Key {
            fingerprint,
            key_file,
        } => match key_file {
            Some(f) => format!("key {fingerprint} ({f})"),
            None => format!("key {fingerprint}"),
        },
        Signer::Certificate {
            subject,
            issuer,
            not_before,
            not_after,
        } => format!("{subject} · issuer {issuer} · valid {not_before} – {not_after}"),
        Signer::Unknown => "unknown (no trusted key or identity)".into(),
    }
}

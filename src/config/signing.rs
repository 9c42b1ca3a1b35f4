//! `[signing]`: who may sign releases.

use super::Ctx;
use crate::diag::{ConfigError, echo, tame};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSigning {
    #[serde(default)]
    keys: Vec<PathBuf>,
    #[serde(default)]
    identities: Vec<Identity>,
    #[serde(default)]
    roots: Vec<PathBuf>,
    #[serde(default)]
    rekor_keys: Vec<PathBuf>,
    #[serde(default)]
    require_rekor: bool,
}

/// An expected keyless signer: certificate subject (SAN: e-mail or URI) and
/// OIDC issuer, each exact or a regular expression.
#[derive(Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub subject: Option<String>,
    pub subject_regex: Option<String>,
    pub issuer: Option<String>,
    pub issuer_regex: Option<String>,
}

/// Who may sign releases (`[signing]`). Paths are resolved; files are read by
/// the signature module.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SigningConfig {
    /// PEM public keys (ECDSA P-256) accepted for key-based signatures.
    pub keys: Vec<PathBuf>,
    /// Accepted keyless identities.
    pub identities: Vec<Identity>,
    /// PEM CA certificates that keyless certificates must chain to (e.g. Fulcio's).
    pub roots: Vec<PathBuf>,
    /// PEM public keys of the Rekor transparency logs trusted for bundles.
    pub rekor_keys: Vec<PathBuf>,
    /// A signature without a verified Rekor bundle fails.
    pub require_rekor: bool,
}

impl SigningConfig {
    /// No trust configured: nothing can verify, so promotion refuses (fails closed).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.identities.is_empty()
    }
}

/// Compiles `re` as the signature checks will, and says why not in one line.
pub fn check_regex(re: &str) -> Result<(), String> {
    match regex::Regex::new(re) {
        Ok(_) => Ok(()),
        Err(regex::Error::Syntax(s)) => {
            // The regex crate draws a caret under the pattern on several
            // lines; keep its last line, the reason.
            let why = s.lines().last().unwrap_or("syntax error").trim();
            Err(tame(why.strip_prefix("error: ").unwrap_or(why)))
        }
        Err(e) => Err(tame(&e.to_string().replace('\n', " "))),
    }
}

pub(super) fn resolve(sg: &FileSigning, ctx: &Ctx<'_>) -> Result<SigningConfig, ConfigError> {
    let signing = SigningConfig {
        keys: sg.keys.iter().map(|p| ctx.abs(p)).collect(),
        identities: sg.identities.clone(),
        roots: sg.roots.iter().map(|p| ctx.abs(p)).collect(),
        rekor_keys: sg.rekor_keys.iter().map(|p| ctx.abs(p)).collect(),
        require_rekor: sg.require_rekor,
    };
    for (i, id) in signing.identities.iter().enumerate() {
        let key = format!("signing.identities[{i}]");
        if id.subject.is_none() && id.subject_regex.is_none() {
            return Err(ctx.err(
                &key,
                "an identity needs subject or subject_regex",
                "e.g. { subject = \"release@example.com\", issuer = \"https://accounts.google.com\" }",
            ));
        }
        if id.issuer.is_none() && id.issuer_regex.is_none() {
            return Err(ctx.err(
                &key,
                "an identity needs issuer or issuer_regex (the OIDC issuer)",
                "without an issuer anyone who can get a certificate for that subject anywhere would pass",
            ));
        }
        for (field, re) in [
            ("subject_regex", &id.subject_regex),
            ("issuer_regex", &id.issuer_regex),
        ] {
            if let Some(re) = re {
                check_regex(re).map_err(|why| {
                    ctx.err(
                        &format!("{key}.{field}"),
                        format!("'{}' is not a valid regular expression: {why}", echo(re)),
                        "Rust regex syntax (https://docs.rs/regex); anchor it: ^release@example\\.com$",
                    )
                })?;
            }
        }
    }
    Ok(signing)
}

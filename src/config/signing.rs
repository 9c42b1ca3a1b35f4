//! `[signing]`: who may sign releases.

use super::Ctx;
use crate::diag::{ConfigError, echo};
use serde::Deserialize;
use std::path::PathBuf;

pub use crate::signature::options::{Identity, SigningConfig, check_regex};

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

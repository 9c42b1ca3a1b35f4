//! `[keys]`: keymap overrides, checked here so conflicts and unsafe
//! bindings are config errors located in the file.

use super::Ctx;
use crate::diag::{ConfigError, Spans};
use serde::Deserialize;
use std::collections::BTreeMap;

/// One key or several: `quit = "q"` or `quit = ["q", "ctrl-c"]`.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum KeyList {
    One(String),
    Many(Vec<String>),
}

impl KeyList {
    pub fn keys(&self) -> Vec<String> {
        match self {
            KeyList::One(k) => vec![k.clone()],
            KeyList::Many(v) => v.clone(),
        }
    }
}

/// Action name → keys, accepted by the keymap.
pub(super) fn resolve(
    keys: &BTreeMap<String, KeyList>,
    ctx: &Ctx<'_>,
) -> Result<BTreeMap<String, Vec<String>>, ConfigError> {
    let keys: BTreeMap<String, Vec<String>> =
        keys.iter().map(|(k, v)| (k.clone(), v.keys())).collect();
    crate::tui::keymap::Keymap::from_config(&keys).map_err(|e| {
        let mut err = ctx.err(&e.key, e.message, e.hint);
        // Point at the key in the list when one key is the problem.
        if let Some(spec) = &e.spec
            && let Some((line, column)) = Spans::parse(ctx.text).locate_value(&e.key, spec)
        {
            (err.line, err.column) = (line, column);
        }
        err
    })?;
    Ok(keys)
}

//! fleetdeck config files for tests: the one writer of `[registry]` and
//! `[signing]` sections (the registry tests, the rollout CLI tests and the
//! simulator's registry tests all point fleetdeck at a registry).

use std::path::{Path, PathBuf};

/// A `[registry]` section (with `[registry.auth."host"]` when credentials
/// are given). Timeout 5 s: every registry in the tests is on loopback.
#[derive(Default)]
pub struct RegistryToml {
    /// Registries reached over plain HTTP.
    pub insecure: Vec<String>,
    /// The CA of a registry serving HTTPS.
    pub ca_file: Option<PathBuf>,
    /// Where `registry.local` (what release references name) is served.
    pub mirror: Option<String>,
    /// `(registry, username, password file)`: basic credentials.
    pub basic: Option<(String, String, PathBuf)>,
}

impl RegistryToml {
    /// `registry.local` served by `addr` over plain HTTP (the simulator's registry).
    pub fn mirror(addr: &str) -> RegistryToml {
        RegistryToml {
            insecure: vec![addr.to_string()],
            mirror: Some(addr.to_string()),
            ..Default::default()
        }
    }

    pub fn to_toml(&self) -> String {
        let mut t = String::from("[registry]\n");
        if !self.insecure.is_empty() {
            let list: Vec<String> = self.insecure.iter().map(|a| format!("\"{a}\"")).collect();
            t.push_str(&format!("insecure = [{}]\n", list.join(", ")));
        }
        if let Some(ca) = &self.ca_file {
            t.push_str(&format!("ca_file = \"{}\"\n", ca.display()));
        }
        t.push_str("timeout = \"5s\"\n");
        if let Some(addr) = &self.mirror {
            t.push_str(&format!(
                "mirrors = {{ \"registry.local\" = \"{addr}\" }}\n"
            ));
        }
        if let Some((host, user, password_file)) = &self.basic {
            t.push_str(&format!(
                "\n[registry.auth.\"{host}\"]\nusername = \"{user}\"\npassword_file = \"{}\"\n",
                password_file.display()
            ));
        }
        t
    }
}

/// `[signing] keys = [...]`.
pub fn signing_toml(keys: &[&Path]) -> String {
    let list: Vec<String> = keys
        .iter()
        .map(|k| format!("\"{}\"", k.display()))
        .collect();
    format!("[signing]\nkeys = [{}]\n", list.join(", "))
}

/// Writes `password` to `dir/registry-password`, readable by its owner only.
pub fn password_file(dir: &Path, password: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let pw = dir.join("registry-password");
    std::fs::write(&pw, password).expect("write password file");
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    pw
}

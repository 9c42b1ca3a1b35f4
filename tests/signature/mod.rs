//! Signatures: registries, cosign, keyless, the console's signature path.

mod auth_tls;
mod faults;
mod keyless;
mod registry;
mod sigstore;
mod tui;

//! OCI / Docker image manifests and indexes.
#![no_main]
use fleetdeck::signature::registry::{ImageIndex, Manifest, OCI_MANIFEST, sha256_digest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let manifest = Manifest {
        media_type: OCI_MANIFEST.to_string(),
        digest: sha256_digest(data),
        bytes: data.to_vec(),
    };
    let _ = manifest.image("manifest");
    let _ = serde_json::from_slice::<ImageIndex>(data);
});

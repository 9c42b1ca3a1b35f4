//! The verify worker: verifies image references (signatures, attestations,
//! SBOMs) and posts one [`Event::Signature`] per reference. The verifier
//! caches verdicts by digest, so asking again costs nothing for a verified
//! release.

use super::{Inbox, Requests, serve_distinct};
use crate::app::Event;
use crate::signature::policy::ReleaseVerifier;
use std::sync::Arc;

/// Handle to the verify worker; dropping it stops the worker.
pub struct VerifyWorker(pub(super) Requests<String>);

impl VerifyWorker {
    /// Queues these references; each is answered with one [`Event::Signature`].
    pub fn request(&self, references: Vec<String>) {
        for r in references {
            self.0.send(r);
        }
    }
}

/// Starts the worker with `verifier`.
pub fn spawn(verifier: Arc<ReleaseVerifier>) -> (VerifyWorker, Inbox) {
    let (requests, inbox) = serve_distinct(move |reference: String| {
        let verifier = Arc::clone(&verifier);
        async move {
            let result = verifier
                .verify_ref(&reference)
                .await
                .map_err(|e| e.to_string());
            Event::Signature { reference, result }
        }
    });
    (VerifyWorker(requests), inbox)
}

#!/usr/bin/env bash
# Regenerates tests/fixtures/sigstore/ (see the README.md there): fleetdeck's
# own test helpers make the independent signatures, then this directory's
# program makes the sigstore ones and asks sigstore's verifier about all of
# them, then fleetdeck's test checks the result. Needs docker-registry and
# openssl (apt-get install docker-registry openssl). The first run builds the
# sigstore crate: several minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
FLEETDECK_WRITE_SIGSTORE_FIXTURES=1 timeout 1800 \
    cargo test --locked --test it -- --ignored --exact signature::sigstore::write_independent_fixtures
(cd scripts/sigstore-fixtures && timeout 3600 cargo run --locked -- ../../tests/fixtures/sigstore)
timeout 1800 cargo test --locked --test it signature::sigstore::
git status --short tests/fixtures/sigstore

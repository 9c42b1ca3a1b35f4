//! What the CLI prints, as snapshots (issue 10): one reviewable file per
//! output instead of lists of `contains` checks.

mod snapshots;

//! Direct scrape of every device's exporter listed in a `file_sd` inventory.
//! (stub: being written)

use super::{ScrapeOptions, SourceError};
use crate::fleet::Snapshot;

pub struct ScrapeSource {
    opts: ScrapeOptions,
}

impl ScrapeSource {
    pub fn new(opts: ScrapeOptions) -> Result<Self, SourceError> {
        Ok(ScrapeSource { opts })
    }

    pub async fn refresh(&mut self) -> Result<Snapshot, SourceError> {
        Err(SourceError::Setup {
            what: "scrape".into(),
            reason: "not implemented yet".into(),
        })
    }

    pub fn describe(&self) -> String {
        format!("scrape {}", self.opts.inventory.display())
    }
}

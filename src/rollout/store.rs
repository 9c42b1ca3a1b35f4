//! STUB until branch `store` lands.
use super::action::{ActionRequest, PromoteChecks};
use super::plan::Plan;
use crate::config::{ConfigError, RolloutConfig};
use std::time::SystemTime;
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not configured")]
    NotConfigured,
    #[error("{0}")]
    Refused(super::action::Refusal),
    #[error("{name}: {message}")]
    Conflict { name: String, message: String },
    #[error("{0}")]
    Invalid(ConfigError),
}
pub struct Store;
#[derive(Clone, Debug)]
pub struct CommitInfo {
    pub id: String,
    pub author: String,
    pub time: SystemTime,
    pub subject: String,
    pub pushed: bool,
}
impl Store {
    pub async fn open(_cfg: &RolloutConfig) -> Result<Store, StoreError> {
        Err(StoreError::NotConfigured)
    }
    pub async fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }
    pub async fn list(&self) -> Result<Vec<Result<Plan, ConfigError>>, StoreError> {
        Ok(vec![])
    }
    pub async fn read(&self, _n: &str) -> Result<Plan, StoreError> {
        Err(StoreError::NotConfigured)
    }
    pub async fn init(&self, _p: &Plan, _by: &str) -> Result<CommitInfo, StoreError> {
        Err(StoreError::NotConfigured)
    }
    pub async fn act(
        &self,
        _r: &ActionRequest,
        _c: &PromoteChecks,
    ) -> Result<(Plan, CommitInfo), StoreError> {
        Err(StoreError::NotConfigured)
    }
}

//! STUB until branch `store` lands.
use super::plan::{Plan, Status};
use std::time::SystemTime;
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionKind {
    Promote,
    Halt,
    Resume,
    Abort,
    Retry,
}
impl ActionKind {
    pub fn key(self) -> &'static str {
        "x"
    }
}
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    Pass,
    Fail(String),
    Inconclusive(String),
    NotApplicable,
}
#[derive(Clone, Debug, PartialEq)]
pub struct PromoteChecks {
    pub gates: Check,
    pub signature: Check,
}
#[derive(Clone, Debug, PartialEq)]
pub struct ActionRequest {
    pub kind: ActionKind,
    pub rollout: String,
    pub reason: Option<String>,
    pub force: bool,
    pub by: String,
    pub now: SystemTime,
    pub expected: Option<(Status, usize)>,
}
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Other(String),
}
pub fn apply(plan: &Plan, _req: &ActionRequest, _c: &PromoteChecks) -> Result<Plan, Refusal> {
    Ok(plan.clone())
}

//! STUB until branch `gates` lands.
use super::plan::Plan;
use crate::fleet::Fleet;
use std::time::SystemTime;
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Outcome {
    Pass,
    Fail,
    Inconclusive,
}
impl Outcome {
    pub fn symbol(self) -> &'static str {
        "?"
    }
}
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CheckResult {
    pub name: &'static str,
    pub value: Option<f64>,
    pub threshold: f64,
    pub baseline: Option<f64>,
    pub outcome: Outcome,
    pub detail: String,
}
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Evaluation {
    pub at: SystemTime,
    pub checks: Vec<CheckResult>,
    pub outcome: Outcome,
    pub canary_devices: usize,
    pub baseline_devices: usize,
}
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub enum Verdict {
    Pass,
    Failing {
        failures: u32,
        limit: u32,
        reasons: Vec<String>,
    },
    Failed {
        failures: u32,
        limit: u32,
        reasons: Vec<String>,
    },
    Inconclusive {
        reasons: Vec<String>,
    },
    Pending,
}
pub fn evaluate(_plan: &Plan, _fleet: &Fleet, at: SystemTime) -> Evaluation {
    Evaluation {
        at,
        checks: vec![],
        outcome: Outcome::Inconclusive,
        canary_devices: 0,
        baseline_devices: 0,
    }
}
#[derive(Default)]
pub struct GateHistory;
impl GateHistory {
    pub fn new() -> Self {
        GateHistory
    }
    pub fn observe(&mut self, _p: &Plan, _f: &Fleet, _now: SystemTime) -> Option<&Evaluation> {
        None
    }
    pub fn latest(&self) -> Option<&Evaluation> {
        None
    }
    pub fn failures(&self) -> u32 {
        0
    }
    pub fn verdict(&self, _p: &Plan) -> Verdict {
        Verdict::Pending
    }
    pub fn check_history(&self, _n: &str) -> Vec<Outcome> {
        vec![]
    }
}
pub fn verdict_reason(_v: &Verdict) -> Result<(), (bool, String)> {
    Err((true, "stub".into()))
}

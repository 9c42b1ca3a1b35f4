//! STUB until branch `gates` lands.
use super::plan::Plan;
use crate::fleet::Fleet;
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Cell {
    pub devices: usize,
    pub on_new: usize,
    pub healthy_on_new: usize,
    pub updating: usize,
    pub failed: usize,
    pub offline: usize,
    pub on_previous: usize,
}
#[derive(Clone, Debug, Default)]
pub struct Progress {
    pub waves: usize,
    pub sites: Vec<String>,
    pub groups: Vec<String>,
    pub by_site: Vec<Vec<Cell>>,
    pub by_group: Vec<Vec<Cell>>,
    pub per_wave: Vec<Cell>,
    pub total: Cell,
    pub fleet_on_new: usize,
    pub fleet_devices: usize,
    pub drift: Vec<String>,
}
pub fn progress(_plan: &Plan, _fleet: &Fleet) -> Progress {
    Progress::default()
}

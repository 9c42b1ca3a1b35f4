//! Alerts placed on the fleet: which device, site and group each alert is
//! about, through the `[labels]` names (an alert with only a site label
//! counts for the site, not for a device). What the views and `alerts`
//! group by.

use super::model::{Alert, AlertState};
use crate::metrics::LabelNames;
use std::collections::HashMap;

/// Indexes of an alert list by device, site and group.
#[derive(Debug, Default)]
pub struct AlertIndex {
    by_device: HashMap<String, Vec<usize>>,
    by_site: HashMap<String, Vec<usize>>,
    by_group: HashMap<String, Vec<usize>>,
}

impl AlertIndex {
    pub fn build(alerts: &[Alert], names: &LabelNames) -> AlertIndex {
        let mut ix = AlertIndex::default();
        for (i, a) in alerts.iter().enumerate() {
            if let Some(d) = a.device(names) {
                ix.by_device.entry(d.to_string()).or_default().push(i);
            }
            if let Some(s) = a.site(names) {
                ix.by_site.entry(s.to_string()).or_default().push(i);
            }
            if let Some(g) = a.group(names) {
                ix.by_group.entry(g.to_string()).or_default().push(i);
            }
        }
        ix
    }

    /// Positions (in the list given to `build`) of a device's alerts.
    pub fn device(&self, id: &str) -> &[usize] {
        self.by_device.get(id).map_or(&[], Vec::as_slice)
    }

    pub fn site(&self, name: &str) -> &[usize] {
        self.by_site.get(name).map_or(&[], Vec::as_slice)
    }

    pub fn group(&self, name: &str) -> &[usize] {
        self.by_group.get(name).map_or(&[], Vec::as_slice)
    }
}

/// How many of `positions` are active (neither silenced nor inhibited):
/// the count a table shows.
pub fn active_count(alerts: &[Alert], positions: &[usize]) -> usize {
    positions
        .iter()
        .filter_map(|&i| alerts.get(i))
        .filter(|a| a.status.state == AlertState::Active)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(labels: &[(&str, &str)], state: &str) -> Alert {
        let l: serde_json::Map<String, serde_json::Value> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), (*v).into()))
            .collect();
        serde_json::from_value(serde_json::json!({
            "labels": l, "annotations": {}, "fingerprint": "f",
            "status": {"state": state, "silencedBy": [], "inhibitedBy": []}
        }))
        .expect("alert")
    }

    #[test]
    fn alerts_meet_devices_through_the_configured_labels() {
        let names = LabelNames {
            device: "node".into(),
            site: "dc".into(),
            group: "ring".into(),
        };
        let alerts = vec![
            alert(
                &[("alertname", "A"), ("node", "pi-1"), ("dc", "lab")],
                "active",
            ),
            alert(
                &[("alertname", "B"), ("node", "pi-1"), ("ring", "canary")],
                "suppressed",
            ),
            alert(&[("alertname", "C"), ("dc", "lab")], "active"),
            // The default label names mean nothing here.
            alert(&[("alertname", "D"), ("device", "pi-1")], "active"),
        ];
        let ix = AlertIndex::build(&alerts, &names);
        assert_eq!(ix.device("pi-1"), &[0, 1]);
        assert_eq!(ix.site("lab"), &[0, 2]);
        assert_eq!(ix.group("canary"), &[1]);
        assert_eq!(active_count(&alerts, ix.device("pi-1")), 1);
        assert!(ix.device("pi-2").is_empty());
    }
}

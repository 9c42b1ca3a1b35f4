//! Per-device history of every figure, kept in memory for the direct-scrape
//! source (Prometheus keeps its own and is asked with a range query).
//!
//! Memory is bounded whatever the refresh rate: time is cut into `slots`
//! buckets covering `span`, every device shares the same clock, and each
//! bucket holds the last value seen in it as a bfloat16 (the top half of an
//! `f32`: three significant digits, plenty for a sparkline; NaN = no data).
//! With 10,000 devices, 1 h in 120 buckets and 13 figures that is ~31 MB.

use crate::fleet::Fleet;
use crate::metrics::Point;
use crate::metrics::def::Figure;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// bfloat16 NaN.
const NAN16: u16 = 0x7FC0;

/// f32 → bfloat16, rounding to nearest; NaN stays NaN.
fn to16(v: f32) -> u16 {
    if v.is_nan() {
        return NAN16;
    }
    let bits = v.to_bits();
    let round = 0x7FFF + ((bits >> 16) & 1);
    (bits.saturating_add(round) >> 16) as u16
}

fn from16(v: u16) -> f32 {
    f32::from_bits(u32::from(v) << 16)
}

pub struct History {
    bucket: Duration,
    slots: usize,
    /// The bucket number (unix time / bucket) that the newest slot holds.
    newest: Option<u64>,
    /// Ring position of the newest bucket.
    head: usize,
    /// Device id → `slots × Figure::COUNT` values, figure-major.
    devices: HashMap<String, Box<[u16]>>,
}

impl History {
    /// Keeps `span` of history in `slots` buckets (at least 2).
    pub fn new(span: Duration, slots: usize) -> History {
        let slots = slots.max(2);
        let bucket = (span / slots as u32).max(Duration::from_secs(1));
        History {
            bucket,
            slots,
            newest: None,
            head: 0,
            devices: HashMap::new(),
        }
    }

    pub fn bucket(&self) -> Duration {
        self.bucket
    }

    fn bucket_of(&self, t: SystemTime) -> u64 {
        let secs = t
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        (secs / self.bucket.as_secs_f64()) as u64
    }

    /// Records the figures of every device that answered in this refresh.
    pub fn record(&mut self, fleet: &Fleet) {
        let Some(at) = fleet.taken_at else { return };
        let b = self.bucket_of(at);
        match self.newest {
            None => self.newest = Some(b),
            Some(n) if b > n => {
                let steps = (b - n).min(self.slots as u64) as usize;
                for _ in 0..steps {
                    self.head = (self.head + 1) % self.slots;
                    let h = self.head;
                    let slots = self.slots;
                    for v in self.devices.values_mut() {
                        for f in 0..Figure::COUNT {
                            v[f * slots + h] = NAN16;
                        }
                    }
                }
                self.newest = Some(b);
            }
            // Data from an older bucket than we already hold (clock went back): ignore.
            Some(n) if b < n => return,
            Some(_) => {}
        }
        let (slots, head) = (self.slots, self.head);
        for d in &fleet.devices {
            if d.last_seen != Some(at) {
                continue;
            }
            let row = match self.devices.get_mut(d.id()) {
                Some(r) => r,
                None => self
                    .devices
                    .entry(d.id().to_string())
                    .or_insert_with(|| vec![NAN16; slots * Figure::COUNT].into_boxed_slice()),
            };
            for f in Figure::ALL {
                row[f.index() * slots + head] = d.figure(f).map_or(NAN16, |v| to16(v as f32));
            }
        }
        // Forget devices that left the fleet.
        if self.devices.len() > fleet.devices.len() {
            self.devices.retain(|id, _| fleet.index.contains_key(id));
        }
    }

    /// The points of one figure of one device over the last `span`, oldest first,
    /// at bucket resolution (missing buckets are left out).
    pub fn series(&self, device: &str, figure: Figure, span: Duration) -> Vec<Point> {
        let (Some(row), Some(newest)) = (self.devices.get(device), self.newest) else {
            return Vec::new();
        };
        let n = ((span.as_secs_f64() / self.bucket.as_secs_f64()).ceil() as usize).min(self.slots);
        let bucket = self.bucket.as_secs_f64();
        let base = figure.index() * self.slots;
        (0..n)
            .rev()
            .filter_map(|age| {
                let slot = (self.head + self.slots - age) % self.slots;
                let v = from16(row[base + slot]);
                let t = (newest.saturating_sub(age as u64)) as f64 * bucket;
                (!v.is_nan()).then_some((t, f64::from(v)))
            })
            .collect()
    }

    pub fn device_count(&self) -> usize {
        self.devices.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{DeviceSample, Snapshot, Thresholds};

    fn fleet_at(secs: u64, temp: f64) -> Fleet {
        let mut s = DeviceSample::new("pi-1", "ams-1", "vision");
        s.figures.set(Figure::CpuTemp, Some(temp));
        Fleet::build(
            Snapshot {
                source: "t".into(),
                taken_at: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
                devices: vec![s],
            },
            None,
            &Thresholds::default(),
        )
    }

    #[test]
    fn bfloat16_keeps_three_digits_and_specials() {
        for v in [
            0.0f32,
            1.0,
            -2.5,
            0.0844,
            85.2,
            1e30,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ] {
            let back = from16(to16(v));
            assert!(back == v || ((back - v) / v).abs() < 0.005, "{v} → {back}");
        }
        assert!(from16(to16(f32::NAN)).is_nan());
    }

    #[test]
    fn keeps_last_value_per_bucket_and_forgets_old_buckets() {
        let mut h = History::new(Duration::from_secs(40), 4); // 10 s buckets
        h.record(&fleet_at(1000, 50.0));
        h.record(&fleet_at(1005, 51.0)); // same bucket: replaces
        h.record(&fleet_at(1010, 52.0));
        h.record(&fleet_at(1030, 54.0)); // skips a bucket
        let s = h.series("pi-1", Figure::CpuTemp, Duration::from_secs(40));
        assert_eq!(s, vec![(1000.0, 51.0), (1010.0, 52.0), (1030.0, 54.0)]);
        h.record(&fleet_at(1100, 60.0)); // everything older than 40 s is gone
        let s = h.series("pi-1", Figure::CpuTemp, Duration::from_secs(40));
        assert_eq!(s, vec![(1100.0, 60.0)]);
        assert!(
            h.series("pi-1", Figure::Npu, Duration::from_secs(40))
                .is_empty()
        );
        assert!(
            h.series("nope", Figure::CpuTemp, Duration::from_secs(40))
                .is_empty()
        );
    }
}

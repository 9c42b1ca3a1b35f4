//! Where the simulated devices are: site names, device ids, groups, and which
//! devices start offline. Pure and deterministic from the seed.

use super::rng::{SplitMix64, derive, hash_str, mix64};
use super::{SimError, SimOptions};

/// City codes for site names, in the order sites are handed out.
const SITE_CODES: [&str; 40] = [
    "ams", "ber", "cdg", "dub", "fra", "lhr", "mad", "mil", "osl", "prg", "sto", "vie", "waw",
    "zrh", "ath", "bcn", "bru", "bud", "cph", "edi", "gva", "hel", "ist", "lis", "lux", "lys",
    "man", "mrs", "muc", "nap", "otp", "por", "rix", "sof", "tll", "trn", "vce", "vno", "zag",
    "bil",
];

/// Groups for devices that are not canaries, picked by a stable hash of the id.
const GROUPS: [&str; 3] = ["vision", "kiosk", "gate"];

/// The group name that receives a rollout first.
pub const CANARY_GROUP: &str = "canary";

/// `m` unique, realistic site names: "ams-1", "ber-1", … then "ams-2", … once
/// the city list is exhausted.
pub fn site_names(m: usize) -> Vec<String> {
    (0..m)
        .map(|i| {
            let code = SITE_CODES[i % SITE_CODES.len()];
            format!("{code}-{}", i / SITE_CODES.len() + 1)
        })
        .collect()
}

/// One simulated device's identity. Its labels are what the inventory exports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SimDevice {
    /// "pi-00001" …
    pub id: String,
    /// Site name, one of [`site_names`].
    pub site: String,
    /// "canary", "vision", "kiosk" or "gate".
    pub group: String,
    /// Index of `site` in the fleet's site list (saves a lookup on every scrape).
    #[serde(skip)]
    pub site_index: usize,
}

/// The whole layout: sites, devices and the initially offline ones.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) sites: Vec<String>,
    pub(crate) devices: Vec<SimDevice>,
    /// Indices into `devices`.
    pub(crate) offline: Vec<usize>,
    /// Devices whose installs fail (indices into `devices`, never offline ones).
    pub(crate) stuck: Vec<usize>,
    /// Devices running a hand-installed build no rollout names, their update
    /// agent switched off (indices; never offline or stuck ones).
    pub(crate) drifted: Vec<usize>,
}

/// Builds the layout for `opts`. Errors name the bad option and what to do.
pub(crate) fn layout(opts: &SimOptions) -> Result<Layout, SimError> {
    if opts.sites == 0 && opts.devices > 0 {
        return Err(SimError::NoSites);
    }
    if opts.offline > opts.devices {
        return Err(SimError::TooManyOffline {
            offline: opts.offline,
            devices: opts.devices,
        });
    }
    let sites = site_names(opts.sites);
    let sizes = site_sizes(opts.devices, opts.sites, opts.seed);

    let mut devices = Vec::with_capacity(opts.devices);
    // Blockwise: a site's devices have consecutive ids, as when a site's
    // boards are provisioned together.
    for (s, &size) in sizes.iter().enumerate() {
        let first = devices.len();
        for _ in 0..size {
            let id = format!("pi-{:05}", devices.len() + 1);
            let group = GROUPS[(hash_str(&id) % GROUPS.len() as u64) as usize];
            devices.push(SimDevice {
                id,
                site: sites[s].clone(),
                group: group.to_owned(),
                site_index: s,
            });
        }
        let canaries = canary_count(size);
        let mut order: Vec<usize> = (first..devices.len()).collect();
        order.sort_by_key(|&i| (mix64(opts.seed ^ hash_str(&devices[i].id)), i));
        for &i in order.iter().take(canaries) {
            devices[i].group = CANARY_GROUP.to_owned();
        }
    }

    let offline = pick_offline(&devices, &sizes, opts.offline, opts.seed);
    let online = opts.devices - offline.len();
    if opts.stuck > online {
        return Err(SimError::TooManyStuck {
            stuck: opts.stuck,
            online,
        });
    }
    let stuck = pick_stuck(
        &devices, &sizes, &offline, opts.stuck, opts.seed, "stuck", true,
    );
    let mut taken: Vec<usize> = offline.iter().chain(&stuck).copied().collect();
    taken.sort_unstable();
    let drifted = pick_stuck(
        &devices,
        &sizes,
        &taken,
        opts.drifted,
        opts.seed,
        "drifted",
        false,
    );
    Ok(Layout {
        sites,
        devices,
        offline,
        stuck,
        drifted,
    })
}

/// ~5 % of a site, and at least one as soon as the site has five devices, so
/// a canary wave touches every site that is big enough to matter.
fn canary_count(site_size: usize) -> usize {
    if site_size < 5 {
        0
    } else {
        ((site_size as f64 * 0.05).round() as usize).max(1)
    }
}

/// Uneven but deterministic site sizes summing to `n`: real fleets have big
/// and small sites. Every site gets at least one device when `n >= m`.
fn site_sizes(n: usize, m: usize, seed: u64) -> Vec<usize> {
    if m == 0 {
        return Vec::new();
    }
    let mut rng = SplitMix64::new(derive(seed, "site-sizes"));
    let weights: Vec<f64> = (0..m).map(|_| rng.range(0.5, 2.0)).collect();
    let total: f64 = weights.iter().sum();
    let base = usize::from(n >= m);
    let rest = n - base * m;
    let quotas: Vec<f64> = weights.iter().map(|w| rest as f64 * w / total).collect();
    let mut sizes: Vec<usize> = quotas.iter().map(|q| base + q.floor() as usize).collect();
    let assigned: usize = sizes.iter().sum();
    // Largest remainder first; ties broken by index for determinism.
    let mut by_remainder: Vec<usize> = (0..m).collect();
    by_remainder.sort_by(|&a, &b| {
        let ra = quotas[a] - quotas[a].floor();
        let rb = quotas[b] - quotas[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &s in by_remainder.iter().take(n - assigned) {
        sizes[s] += 1;
    }
    sizes
}

/// `k` devices spread round-robin over the sites (starting at a seed-chosen
/// site), preferring non-canaries so the default demo's canary wave can move.
fn pick_offline(devices: &[SimDevice], sizes: &[usize], k: usize, seed: u64) -> Vec<usize> {
    if k == 0 || sizes.is_empty() {
        return Vec::new();
    }
    let salt = derive(seed, "offline");
    let mut per_site: Vec<Vec<usize>> = Vec::with_capacity(sizes.len());
    let mut first = 0;
    for &size in sizes {
        let mut idx: Vec<usize> = (first..first + size).collect();
        idx.sort_by_key(|&i| {
            (
                devices[i].group == CANARY_GROUP,
                mix64(salt ^ hash_str(&devices[i].id)),
                i,
            )
        });
        per_site.push(idx);
        first += size;
    }
    let start = (salt % sizes.len() as u64) as usize;
    let mut picked = Vec::with_capacity(k);
    let mut round = 0;
    while picked.len() < k {
        for s in 0..sizes.len() {
            let site = &per_site[(start + s) % sizes.len()];
            if let Some(&i) = site.get(round) {
                picked.push(i);
                if picked.len() == k {
                    break;
                }
            }
        }
        round += 1;
    }
    picked.sort_unstable();
    picked
}

/// `k` devices that fail to install, spread round-robin over the sites
/// (starting at a seed-chosen site), never the `excluded` ones, canaries
/// first in each site when `canaries_first` (so a canary wave already shows a
/// failed install), else canaries last.
#[allow(clippy::too_many_arguments)]
fn pick_stuck(
    devices: &[SimDevice],
    sizes: &[usize],
    offline: &[usize],
    k: usize,
    seed: u64,
    what: &str,
    canaries_first: bool,
) -> Vec<usize> {
    if k == 0 || sizes.is_empty() {
        return Vec::new();
    }
    let salt = derive(seed, what);
    let mut per_site: Vec<Vec<usize>> = Vec::with_capacity(sizes.len());
    let mut first = 0;
    for &size in sizes {
        let mut idx: Vec<usize> = (first..first + size)
            .filter(|i| offline.binary_search(i).is_err())
            .collect();
        idx.sort_by_key(|&i| {
            (
                (devices[i].group != CANARY_GROUP) == canaries_first,
                mix64(salt ^ hash_str(&devices[i].id)),
                i,
            )
        });
        per_site.push(idx);
        first += size;
    }
    let available: usize = per_site.iter().map(Vec::len).sum();
    let k = k.min(available);
    let start = (salt % sizes.len() as u64) as usize;
    let mut picked = Vec::with_capacity(k);
    let mut round = 0;
    while picked.len() < k {
        for s in 0..sizes.len() {
            let site = &per_site[(start + s) % sizes.len()];
            if let Some(&i) = site.get(round) {
                picked.push(i);
                if picked.len() == k {
                    break;
                }
            }
        }
        round += 1;
    }
    picked.sort_unstable();
    picked
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    fn opts(devices: usize, sites: usize, seed: u64) -> SimOptions {
        SimOptions {
            devices,
            sites,
            seed,
            ..SimOptions::default()
        }
    }

    #[test]
    fn site_names_are_unique_and_realistic() {
        let names = site_names(200);
        assert_eq!(names.len(), 200);
        let set: HashSet<_> = names.iter().collect();
        assert_eq!(set.len(), 200, "duplicate site names");
        assert_eq!(&names[..3], &["ams-1", "ber-1", "cdg-1"]);
        assert!(names.contains(&"ams-2".to_owned()));
        assert!(site_names(0).is_empty());
    }

    #[test]
    fn same_seed_same_layout_other_seed_other_layout() {
        let a = layout(&opts(300, 12, 1)).expect("layout");
        let b = layout(&opts(300, 12, 1)).expect("layout");
        assert_eq!(a.devices, b.devices);
        let c = layout(&opts(300, 12, 2)).expect("layout");
        assert_ne!(a.devices, c.devices, "the seed should change the layout");
    }

    #[test]
    fn ids_are_padded_sequential_and_every_site_is_used() {
        let l = layout(&opts(300, 12, 1)).expect("layout");
        assert_eq!(l.devices.len(), 300);
        assert_eq!(l.devices[0].id, "pi-00001");
        assert_eq!(l.devices[299].id, "pi-00300");
        let sites: HashSet<_> = l.devices.iter().map(|d| d.site.as_str()).collect();
        assert_eq!(sites.len(), 12);
        for d in &l.devices {
            assert_eq!(l.sites[d.site_index], d.site);
        }
    }

    #[test]
    fn canary_in_every_site_with_five_devices_and_about_five_percent() {
        for (n, m, seed) in [(300, 12, 1), (1000, 40, 9), (10_000, 200, 3), (57, 12, 5)] {
            let l = layout(&opts(n, m, seed)).expect("layout");
            let mut per_site: HashMap<&str, (usize, usize)> = HashMap::new();
            for d in &l.devices {
                let e = per_site.entry(d.site.as_str()).or_default();
                e.0 += 1;
                if d.group == CANARY_GROUP {
                    e.1 += 1;
                }
            }
            for (site, (size, canaries)) in &per_site {
                if *size >= 5 {
                    assert!(*canaries >= 1, "{site} has {size} devices and no canary");
                }
            }
            let total: usize = per_site.values().map(|v| v.1).sum();
            let share = total as f64 / n as f64;
            if n >= 300 {
                assert!(
                    (0.03..=0.08).contains(&share),
                    "canary share {share} for n={n}"
                );
            }
            let groups: HashSet<_> = l.devices.iter().map(|d| d.group.as_str()).collect();
            for g in GROUPS {
                assert!(groups.contains(g), "no device in group {g}");
            }
        }
    }

    #[test]
    fn offline_count_and_spread() {
        let mut o = opts(300, 12, 1);
        o.offline = 24;
        let l = layout(&o).expect("layout");
        assert_eq!(l.offline.len(), 24);
        let unique: HashSet<_> = l.offline.iter().collect();
        assert_eq!(unique.len(), 24);
        let mut per_site: HashMap<&str, usize> = HashMap::new();
        for &i in &l.offline {
            *per_site.entry(l.devices[i].site.as_str()).or_default() += 1;
        }
        assert_eq!(
            per_site.len(),
            12,
            "offline devices should touch every site"
        );
        assert!(per_site.values().all(|&c| c == 2), "{per_site:?}");
        assert!(
            l.offline
                .iter()
                .all(|&i| l.devices[i].group != CANARY_GROUP)
        );
        // Deterministic.
        assert_eq!(layout(&o).expect("layout").offline, l.offline);
        // All of them, when asked.
        o.offline = 300;
        assert_eq!(layout(&o).expect("layout").offline.len(), 300);
    }

    #[test]
    fn stuck_devices_are_spread_online_and_deterministic() {
        let mut o = opts(300, 12, 1);
        o.offline = 24;
        o.stuck = 6;
        let l = layout(&o).expect("layout");
        assert_eq!(l.stuck.len(), 6);
        assert!(l.stuck.iter().all(|i| !l.offline.contains(i)));
        let sites: HashSet<_> = l.stuck.iter().map(|&i| &l.devices[i].site).collect();
        assert_eq!(sites.len(), 6, "one per site while sites last");
        assert!(
            l.stuck.iter().all(|&i| l.devices[i].group == CANARY_GROUP),
            "canaries first"
        );
        assert_eq!(layout(&o).expect("layout").stuck, l.stuck);
        // Every online device, when asked; one more is an error.
        o.stuck = 276;
        assert_eq!(layout(&o).expect("layout").stuck.len(), 276);
        o.stuck = 277;
        assert!(matches!(
            layout(&o),
            Err(SimError::TooManyStuck {
                stuck: 277,
                online: 276
            })
        ));
    }

    #[test]
    fn bad_options_are_errors() {
        let mut o = opts(10, 2, 1);
        o.offline = 11;
        assert!(matches!(layout(&o), Err(SimError::TooManyOffline { .. })));
        assert!(matches!(layout(&opts(10, 0, 1)), Err(SimError::NoSites)));
        // Fewer devices than sites is fine.
        let l = layout(&opts(3, 12, 1)).expect("layout");
        assert_eq!(l.devices.len(), 3);
    }
}

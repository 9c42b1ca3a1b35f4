//! Small deterministic randomness: the simulator must replay the same fleet
//! from the same seed on every machine, so no OS entropy and no `rand`.

/// splitmix64: tiny, fast, and good enough for noise and layouts.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix64(self.0)
    }

    /// Uniform in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }

    /// Standard normal (Box–Muller; the second value is discarded to keep the
    /// state a single word).
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]: ln is finite
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// The splitmix64 finaliser: a cheap, well-spread 64-bit mixer.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Stable hash of a string (FNV-1a, then mixed): the same on every platform
/// and every release, unlike `std`'s `DefaultHasher`.
pub(crate) fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    mix64(h)
}

/// Seed for a named stream derived from the fleet seed, so adding a new use
/// of randomness does not shift the values every other use sees.
pub(crate) fn derive(seed: u64, stream: &str) -> u64 {
    mix64(seed ^ hash_str(stream))
}

/// Standard normal CDF, via the Abramowitz–Stegun 7.1.26 erf (|error| < 1.5e-7),
/// which is plenty for filling histogram buckets.
pub(crate) fn normal_cdf(x: f64) -> f64 {
    let z = x / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-z * z).exp();
    let erf = if z >= 0.0 { erf } else { -erf };
    0.5 * (1.0 + erf)
}

/// One exact step of an Ornstein–Uhlenbeck process (mean 0, stationary
/// standard deviation `sigma`, time constant `tau` seconds): slow drift with
/// mean reversion, stable for any `dt`.
pub(crate) fn ou_step(x: f64, dt: f64, tau: f64, sigma: f64, rng: &mut SplitMix64) -> f64 {
    if dt <= 0.0 {
        return x;
    }
    let decay = (-dt / tau).exp();
    x * decay + sigma * (1.0 - decay * decay).sqrt() * rng.normal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(SplitMix64::new(7).next_u64(), SplitMix64::new(8).next_u64());
    }

    #[test]
    fn uniform_and_normal_are_plausible() {
        let mut r = SplitMix64::new(1);
        let n = 20_000;
        let (mut sum, mut sq) = (0.0, 0.0);
        for _ in 0..n {
            let u = r.next_f64();
            assert!((0.0..1.0).contains(&u));
            let z = r.normal();
            sum += z;
            sq += z * z;
        }
        let mean = sum / n as f64;
        let var = sq / n as f64 - mean * mean;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
    }

    #[test]
    fn normal_cdf_known_points() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.644_853_6) - 0.95).abs() < 1e-6);
        assert!((normal_cdf(-1.959_964) - 0.025).abs() < 1e-6);
    }

    #[test]
    fn hash_is_stable() {
        // Pinned: layouts and digests depend on it staying the same forever.
        assert_eq!(hash_str("pi-00001"), 0x627f_11c0_337c_bb4d);
        assert_ne!(hash_str("pi-00001"), hash_str("pi-00002"));
    }
}

//! simulated fleet

//! Figures computed from consecutive scrapes. (stub: being written)

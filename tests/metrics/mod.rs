//! Metric sources: Prometheus (real and fake), direct scrapes, the refresh worker.

mod fleet_prometheus;
mod prometheus_faults;
mod prometheus_real;
mod refresh_worker;
mod scrape_exposition;
mod scrape_hung;
mod scrape_inventory;
mod scrape_source;

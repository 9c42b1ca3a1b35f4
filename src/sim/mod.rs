//! PLACEHOLDER until the sim branch lands.
use std::net::SocketAddr;
use std::path::Path;
#[derive(Default)]
pub struct SimOptions {
    pub devices: usize,
    pub sites: usize,
    pub seed: u64,
    pub offline: usize,
    pub hot: Vec<String>,
    pub slow: Vec<String>,
    pub errors: Vec<String>,
}
pub struct SimHandle;
impl SimHandle {
    pub async fn start(_o: SimOptions, _a: SocketAddr) -> std::io::Result<SimHandle> {
        Err(std::io::Error::other("placeholder"))
    }
    pub fn write_inventory(&self, _p: &Path) -> std::io::Result<()> {
        Ok(())
    }
    pub async fn shutdown(self) {}
}
pub fn site_names(m: usize) -> Vec<String> {
    (0..m).map(|i| format!("s{i}")).collect()
}
pub async fn run_until_signal(_o: SimOptions, _a: SocketAddr, _p: &Path) -> std::io::Result<()> {
    Ok(())
}

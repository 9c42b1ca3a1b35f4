//! Remote access: SSH, WireGuard tunnels.

mod ssh;
mod tunnel_ssh;
mod wireguard;

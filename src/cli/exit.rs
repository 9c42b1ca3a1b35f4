//! How a command ends: one table of exit codes for every command
//! (docs/ARCHITECTURE.md, "Exit codes"). A command returns
//! `Result<Exit, CliError>`; an error carries its own [`Exit`], chosen where
//! it happens: there is no blanket conversion from any error to exit 1.

use crate::rollout::store::StoreError;
use std::fmt;
use std::process::ExitCode;

/// The exit status of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: done; the gates pass and the release verifies.
    Ok,
    /// 1: failed: the source, the repository, the registry or the output
    /// failed; the gates failed; the release does not verify.
    Failed,
    /// 2: bad usage or config (an unreadable trust key included; no terminal
    /// for the console).
    Usage,
    /// 3: no verdict possible: gates without data, signature unverifiable.
    Inconclusive,
    /// 4: refused: read-only, gates, soak, signature, another operator's
    /// change, a confirmation answered with anything but `yes`.
    Refused,
    /// Another program's status, passed through: `ssh DEVICE -- COMMAND`
    /// exits with the remote command's status (255 when SSH itself failed,
    /// like OpenSSH).
    Passthrough(u8),
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Inconclusive => 3,
            Exit::Refused => 4,
            Exit::Passthrough(c) => c,
        }
    }

    /// Another program's exit status, clamped to 0..=255.
    pub fn passthrough(status: i32) -> Exit {
        Exit::Passthrough(status.clamp(0, 255) as u8)
    }

    /// Ends the command with this exit and `message` on stderr.
    pub fn with(self, message: impl fmt::Display) -> CliError {
        CliError {
            exit: self,
            message: message.to_string(),
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

/// A command that stopped early: what to tell the operator, and how to exit.
#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    pub message: String,
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// JSON output that could not be written (stdout closed, …): failed.
impl From<serde_json::Error> for CliError {
    fn from(e: serde_json::Error) -> CliError {
        Exit::Failed.with(e)
    }
}

/// A refusal or a conflict with another operator is refused (4); a plan
/// file that does not load, or no repository configured, is a config error
/// (2); git, I/O and a missing rollout fail (1).
impl From<StoreError> for CliError {
    fn from(e: StoreError) -> CliError {
        let exit = match &e {
            StoreError::Refused(_) | StoreError::Conflict { .. } => Exit::Refused,
            StoreError::NotConfigured | StoreError::Invalid(_) | StoreError::NoIdentity(_) => {
                Exit::Usage
            }
            _ => Exit::Failed,
        };
        exit.with(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        let codes: Vec<u8> = [
            Exit::Ok,
            Exit::Failed,
            Exit::Usage,
            Exit::Inconclusive,
            Exit::Refused,
        ]
        .into_iter()
        .map(Exit::code)
        .collect();
        assert_eq!(codes, [0, 1, 2, 3, 4]);
        assert_eq!(Exit::passthrough(7).code(), 7);
        assert_eq!(Exit::passthrough(300).code(), 255);
        assert_eq!(Exit::passthrough(-1).code(), 0);
    }
}

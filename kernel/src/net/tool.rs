//! The one seam to the host's `nft` (nftables), fed a whole script on stdin. Links,
//! addresses and routes go over rtnetlink instead (`rtnl.rs`).
//!
//! A script is one `nft -f` run, applied as one transaction: a table, its chains and
//! rules appear together or not at all.
//! Everything passed in is built from typed values (addresses, ports, names this
//! module generated), never from caller strings.

use std::{
    io::Write,
    process::{Command, Stdio},
};

use super::NetError;

/// `nft` from nftables.
pub(crate) const NFT: &str = "nft";

/// Runs `tool args…` with `script` on stdin; returns stdout.
pub(crate) fn run(tool: &'static str, args: &[&str], script: &str) -> Result<String, NetError> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| NetError::Spawn { tool, source })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A tool that exits early closes the pipe; its status says why.
        let _ = stdin.write_all(script.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|source| NetError::Spawn { tool, source })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(NetError::Tool {
            command: format!("{tool} {}", args.join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// `nft -f -` with `script`: one transaction.
pub(crate) fn nft(script: &str) -> Result<(), NetError> {
    run(NFT, &["-f", "-"], script).map(drop)
}

/// JSON from `nft -j …`.
pub(crate) fn json(tool: &'static str, args: &[&str]) -> Result<serde_json::Value, NetError> {
    let out = run(tool, args, "")?;
    serde_json::from_str(if out.trim().is_empty() { "[]" } else { &out }).map_err(|e| {
        NetError::Tool {
            command: format!("{tool} {}", args.join(" ")),
            status: "unparsable output".into(),
            stderr: e.to_string(),
        }
    })
}

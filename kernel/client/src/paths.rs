//! Where a kernel listens. The kernel binds these same paths, so a client and a
//! kernel given the same data directory always meet.

use std::path::{Path, PathBuf};

/// The variable that tells a managed process where its own kernel socket is.
pub const SOCKET_ENV: &str = "AGENTOS_KERNEL_SOCKET";
/// The kernel's Unix socket inside its data directory.
const SOCKET_FILE: &str = "kernel.sock";
/// The bearer token of the kernel's optional TCP listener.
const TOKEN_FILE: &str = "kernel.token";
/// Where the kernel hands out shared-memory fds (SCM_RIGHTS) against a ticket.
const FDS_FILE: &str = "kernel.fds.sock";
/// The first bytes of a connection to a managed process's own kernel socket that
/// redeems an fd ticket instead of speaking gRPC (the ticket follows).
pub const FD_MAGIC: &[u8; 4] = b"AGFD";

/// The Unix socket of the kernel serving `data_dir`.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_FILE)
}

/// The fd-handoff socket of the kernel serving `data_dir`.
pub fn fds_socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(FDS_FILE)
}

/// The fd-handoff socket beside the kernel socket `socket`.
pub fn fds_socket_beside(socket: &Path) -> PathBuf {
    socket.with_file_name(FDS_FILE)
}

/// The bearer token of the kernel serving `data_dir` (0600; read it to use TCP).
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join(TOKEN_FILE)
}

/// `$AGENTOS_DATA_DIR`, else `$XDG_DATA_HOME/agentos`, else `~/.local/share/agentos`.
pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("AGENTOS_DATA_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(d).join("agentos");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".local/share/agentos")
}

/// The socket a program should use: `$AGENTOS_KERNEL_SOCKET` when set (a managed
/// process's own socket), else the default data directory's.
pub fn socket_from_env() -> PathBuf {
    match std::env::var_os(SOCKET_ENV) {
        Some(s) if !s.is_empty() => PathBuf::from(s),
        _ => socket_path(&default_data_dir()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_sit_in_the_data_directory() {
        let d = Path::new("/srv/agentos");
        assert_eq!(socket_path(d), Path::new("/srv/agentos/kernel.sock"));
        assert_eq!(token_path(d), Path::new("/srv/agentos/kernel.token"));
        assert_eq!(fds_socket_path(d), fds_socket_beside(&socket_path(d)));
    }
}

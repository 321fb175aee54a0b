//! The sandbox's init (signals forwarded, status relayed, orphans reaped), its
//! terminal, and the view of the filesystem it is given.

use super::*;

#[test]
fn init_forwards_signals_and_relays_the_status() {
    // SIGTERM to init reaches the program (pid 2 dies of it, as a normal process
    // would); init exits 128+15.
    let sb = start(&spec(&["sleep", "30"]));
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    signal(sb.get(), libc::SIGTERM);
    let o = wait(sb);
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(
        libc::WIFSIGNALED(o.status) && libc::WTERMSIG(o.status) == libc::SIGTERM,
        "{o:?}"
    );
    assert!(
        libc::WIFEXITED(o.init) && libc::WEXITSTATUS(o.init) == 128 + 15,
        "{o:?}"
    );
    // An exit code goes through unchanged.
    let o = wait(start(&spec(&["exit", "7"])));
    assert_eq!((o.status, o.init), (7 << 8, 7 << 8));
    // SIGKILL of init ends the sandbox; nothing is relayed.
    let mut sb = start(&spec(&["sleep", "30"]));
    let s = sb.0.take().unwrap();
    signal(&s, libc::SIGKILL);
    let init = s.handle.wait().unwrap();
    assert!(libc::WIFSIGNALED(init) && libc::WTERMSIG(init) == libc::SIGKILL);
    assert_eq!(
        sandbox::relayed_status(s.status.as_ref().unwrap().as_fd()).unwrap(),
        None
    );
}

#[test]
fn init_reaps_orphans() {
    // The grandchild is reparented to pid 1 of the sandbox, which reaps it.
    assert!(inside(&["orphan"], &[]).starts_with("ALLOWED reaped pid "));
}

#[test]
fn pty_mode_gives_a_controlling_terminal_that_resizes() {
    let mut s = spec(&["winch"]);
    s.stdio = StdioMode::Pty { rows: 24, cols: 80 };
    let sb = start(&s);
    assert!(sb.get().stdout.is_none() && sb.get().stdin.is_none());
    let master = sb.get().pty.as_ref().unwrap().try_clone().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(std::fs::File::from(master)).lines() {
            match line {
                Ok(l) => {
                    let _ = tx.send(l.trim_end().to_string());
                }
                Err(_) => break, // EIO once the slave is gone
            }
        }
    });
    let next = || {
        rx.recv_timeout(Duration::from_secs(10))
            .expect("a line from the pty")
    };
    assert_eq!(next(), "INFO rows=24 cols=80");
    sandbox::resize_pty(sb.get().pty.as_ref().unwrap().as_fd(), 50, 132).unwrap();
    assert_eq!(next(), "INFO rows=50 cols=132 signal=SIGWINCH");
    let o = wait(sb);
    assert_eq!(o.status, 0);

    let mut s = spec(&["tty"]);
    s.stdio = StdioMode::Pty { rows: 10, cols: 20 };
    let sb = start(&s);
    let master = sb.get().pty.as_ref().unwrap().try_clone().unwrap();
    let mut line = String::new();
    BufReader::new(std::fs::File::from(master))
        .read_line(&mut line)
        .unwrap();
    // The terminal is the first of the sandbox's own devpts, so ttyname finds it.
    assert_eq!(
        line.trim_end(),
        "INFO tty=1 rows=10 cols=20 devtty=ALLOWED name=/dev/pts/0"
    );
    assert_eq!(wait(sb).status, 0);
}

#[test]
fn the_view_holds_only_what_was_granted() {
    let d = test_dir("view");
    let rw = d.path().join("rw");
    std::fs::create_dir(&rw).unwrap();
    chown(&rw);
    let mut s = spec(&["ls", "/"]);
    s.write.push(rw.clone());
    let top = |p: &Path| {
        p.components()
            .nth(1)
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .into_owned()
    };
    let mut expected: BTreeSet<String> = sandbox::SYSTEM_DIRS
        .iter()
        .filter(|d| Path::new(d).exists())
        .map(|d| d.trim_start_matches('/').to_string())
        .collect();
    expected.extend(["dev", "proc", "tmp"].map(String::from));
    expected.insert(top(&probe_bin()));
    expected.insert(top(&rw));
    let listed = run(&s);
    let got: BTreeSet<String> = listed
        .strip_prefix("ALLOWED ")
        .unwrap()
        .split(',')
        .map(String::from)
        .collect();
    assert_eq!(got, expected);
    s.argv = vec!["agentos-probe".into(), "ls".into(), "/dev".into()];
    assert_eq!(
        run(&s),
        "ALLOWED fd,full,null,ptmx,pts,random,shm,stderr,stdin,stdout,tty,urandom,zero"
    );
    // Working directory and host name as asked.
    s.cwd = rw.clone();
    s.hostname = "probe-box".into();
    s.argv = vec!["agentos-probe".into(), "cwd".into()];
    assert_eq!(run(&s), format!("ALLOWED {}", rw.display()));
    s.argv = vec!["agentos-probe".into(), "hostname".into()];
    assert_eq!(run(&s), "INFO probe-box");
}

//! Rootless with the account's subordinate ids.

use super::*;

/// Rootless with the account's subordinate ids: the program runs as a uid other
/// than the user's, with no supplementary group, and a write grant must be
/// writable by that uid (as at the full rung). `cargo xtask test` gives the
/// rootless pass's user a range and installs `uidmap`.
#[test]
fn rootless_subordinate_ids_run_the_program_as_another_uid() {
    if privileged() {
        eprintln!(
            "rootless_subordinate_ids_run_the_program_as_another_uid: rootless only (the root pass picks its own uid)"
        );
        return;
    }
    let ids = match sandbox::find_subordinate_ids() {
        Ok(ids) => ids,
        Err(why) => {
            crate::util::skip(
                "rootless_subordinate_ids_run_the_program_as_another_uid",
                &format!("no subordinate ids: {why}"),
            );
            return;
        }
    };
    let d = test_dir("subid");
    let (mine, open) = (d.path().join("mine"), d.path().join("open"));
    std::fs::create_dir(&mine).unwrap();
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let mut s = SandboxSpec::new(
        probe_bin(),
        vec!["agentos-probe".into(), "id".into()],
        ids.uid,
        ids.gid,
    );
    s.subordinate = true;
    s.read.push(probe_bin());
    s.write.push(mine.clone());
    s.write.push(open.clone());
    assert_eq!(
        run(&s),
        format!("INFO uid={} gid={} groups=", ids.uid, ids.gid)
    );
    let mut attempt = |p: &Path| {
        s.argv = vec![
            "agentos-probe".into(),
            "write".into(),
            p.to_str().unwrap().into(),
        ];
        run(&s)
    };
    // The user's own directory (0755) is not the program's to write...
    assert_eq!(attempt(&mine.join("x")), "DENIED EACCES");
    // ...and what it writes where it may is owned by its uid on the host.
    assert_eq!(attempt(&open.join("x")), "ALLOWED written");
    let meta = std::fs::metadata(open.join("x")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (ids.uid, ids.gid));
    // Without the flag the same ids are refused: a user maps only their own.
    let mut plain = spec(&["id"]);
    plain.host_uid = ids.uid;
    plain.host_gid = ids.gid;
    assert!(matches!(
        sandbox::spawn(&plain, |_| Ok(())),
        Err(SpawnError::Spec(_))
    ));
}

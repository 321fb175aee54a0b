//! `agentos ps`, `agentos apps` and `agentos logs` against a real `agentos up`.

#[allow(dead_code, reason = "each test crate uses a part of the helpers")]
mod common;
#[allow(dead_code, reason = "each test crate uses a part of the helpers")]
mod support;

use std::{fs, path::Path, process::Command, time::Duration};

use serde_json::{Value, json};
use support::*;

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn agentos(data: &Path, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_agentos"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("AGENTOS_KERNEL_SOCKET")
        .output()
        .expect("run agentos");
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json_of(o: &Out) -> Value {
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", o.stdout))
}

fn apps_dir(root: &Path) -> String {
    for (id, argv) in [
        (
            "printer",
            json!(["/bin/sh", "-c", "echo line1; echo line2 >&2; exit 4"]),
        ),
        ("sleeper", json!(["/bin/sleep", "300"])),
    ] {
        let dir = root.join("apps/native-proc").join(id);
        fs::create_dir_all(&dir).unwrap();
        let mut manifest = json!({"id": id, "name": id, "argv": argv});
        if id == "sleeper" {
            // On a bridge, so ps has addresses to show.
            manifest["net"] = json!({"mode": "private"});
        }
        fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    }
    root.join("apps").to_str().unwrap().to_owned()
}

#[test]
fn ps_apps_and_logs_show_what_runs() {
    let tmp = tempdir("cli-apps");
    let data = tmp.path().join("data");
    let apps = apps_dir(tmp.path());
    let up = Up::start("up", tmp.path(), &data, &["--apps-dir", &apps]);
    let saved = up
        .api("POST", "/api/registry/save")
        .json(&json!({
            "blueprint": blueprint("calc", "Calculator", json!({"category": "utilities"}))
        }))
        .send();
    assert_eq!(saved.status, 201, "{}", saved.text());

    // agentos apps
    let table = agentos(&data, &["apps"]);
    assert_eq!(table.code, Some(0), "{}", table.stderr);
    assert!(table.stdout.starts_with("ID "), "{}", table.stdout);
    for id in ["calc", "printer", "sleeper"] {
        assert!(table.stdout.contains(id), "{id} missing:\n{}", table.stdout);
    }
    let list = json_of(&agentos(
        &data,
        &["apps", "--json", "--category", "utilities"],
    ));
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["id"], "calc");

    // agentos ps
    let launch = |id: &str| {
        let r = up
            .api("POST", &format!("/api/registry/apps/{id}/launch"))
            .send();
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()
    };
    let sleeper = launch("sleeper");
    let printer = launch("printer");
    let ps = json_of(&agentos(&data, &["ps", "--json"]));
    let row = ps
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == sleeper["id"])
        .unwrap_or_else(|| panic!("sleeper missing: {ps}"))
        .clone();
    assert_eq!(row["pid"], sleeper["pid"]);
    assert_eq!(row["process"]["state"], "running", "{row}");
    assert!(row["process"]["cpu_usage_usec"].is_u64(), "{row}");
    // The rung it got: these tests run as root, so every namespace and a cgroup.
    assert_eq!(row["process"]["isolation"]["level"], "full", "{row}");
    assert_eq!(row["process"]["isolation"]["limits"], "cgroup", "{row}");
    // Its network: both addresses, the IPv6 one being what its eth0 holds (its
    // namespace's /proc/PID/net/if_inet6).
    let net = &row["process"]["network"];
    let (v4, v6) = (net["address"].as_str(), net["address6"].as_str());
    let (Some(v4), Some(v6)) = (v4, v6) else {
        panic!("{row}")
    };
    assert!(v4.starts_with("10.213."), "{row}");
    let inside = fs::read_to_string(format!("/proc/{}/net/if_inet6", sleeper["pid"])).unwrap();
    assert_eq!(
        common::if_inet6(&inside, "eth0"),
        vec![v6.parse::<std::net::Ipv6Addr>().unwrap()],
        "{inside}"
    );
    assert_eq!(net["summary"], format!("private {v4} {v6}"), "{row}");
    let table = agentos(&data, &["ps"]);
    assert_eq!(table.code, Some(0), "{}", table.stderr);
    assert!(table.stdout.starts_with("ID "), "{}", table.stdout);
    assert!(
        table
            .stdout
            .contains(&sleeper["pid"].as_u64().unwrap().to_string()),
        "{}",
        table.stdout
    );
    assert!(
        table.stdout.contains(&format!("private {v4} {v6}")),
        "{}",
        table.stdout
    );

    // agentos logs: by instance id or app id, streams kept apart, the exit said.
    let printer_id = printer["id"].as_str().unwrap();
    let mut last = None;
    let done = eventually(Duration::from_secs(20), || {
        let o = agentos(&data, &["logs", "printer"]);
        let done = o.stderr.contains("exited");
        last = Some(o);
        done
    });
    let o = last.unwrap();
    assert!(done, "printer never exited: {} / {}", o.stdout, o.stderr);
    assert_eq!(o.code, Some(0));
    assert_eq!(o.stdout, "line1\n");
    assert!(o.stderr.starts_with("line2\n"), "{}", o.stderr);
    let logs = json_of(&agentos(&data, &["logs", printer_id, "--json"]));
    assert_eq!(logs["exit"]["code"], 4, "{logs}");
    // The two pipes are read apart, so their order between each other is not fixed.
    let mut chunks: Vec<(String, String)> = logs["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["stream"].as_str().unwrap().to_owned(),
                c["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    chunks.sort();
    assert_eq!(
        chunks,
        [
            ("stderr".to_owned(), "line2\n".to_owned()),
            ("stdout".to_owned(), "line1\n".to_owned())
        ],
        "{logs}"
    );

    let missing = agentos(&data, &["logs", "nope"]);
    assert_eq!(missing.code, Some(1), "{}", missing.stderr);
    let not_native = agentos(&data, &["logs", "sleeper"]);
    assert_eq!(
        not_native.code,
        Some(0),
        "a process with no output: {}",
        not_native.stderr
    );
}

#[test]
fn without_agentos_up_they_say_so_and_exit_2() {
    let tmp = tempdir("cli-not-up");
    let data = tmp.path().join("data");
    fs::create_dir_all(&data).unwrap();
    for cmd in ["ps", "apps"] {
        let o = agentos(&data, &[cmd]);
        assert_eq!(o.code, Some(2), "{cmd}: {}", o.stderr);
        assert!(o.stderr.contains("not up"), "{cmd}: {}", o.stderr);
        assert!(o.stdout.is_empty());
    }
    let o = agentos(&data, &["logs", "a1"]);
    assert_eq!(o.code, Some(2), "{}", o.stderr);
}

//! The service providers against a real kernel: per-user, per-app storage with a
//! quota, the user's files, and the kernel's system facts.

#[allow(dead_code, reason = "each test crate uses a part of the helpers")]
mod common;

use std::sync::Arc;

use agentos_services::{
    kernel::KernelLink,
    providers::{DirEntry, ProviderError, Providers, STORAGE_BYTES},
};
use common::Kernel;
use serde_json::json;

fn providers(k: &Kernel) -> Providers {
    Providers::new(Arc::new(KernelLink::new(k.data().join("kernel.sock"))))
}

#[tokio::test]
async fn storage_is_per_user_and_app_and_has_a_quota() {
    let k = Kernel::start();
    let p = providers(&k);
    p.storage_set("u1", "notes", "draft", json!({"text": "hi"}))
        .await
        .unwrap();
    p.storage_set("u1", "notes", "title", json!("T"))
        .await
        .unwrap();
    assert_eq!(
        p.storage_get("u1", "notes", "draft").await.unwrap(),
        Some(json!({"text": "hi"}))
    );
    assert_eq!(p.storage_get("u2", "notes", "draft").await.unwrap(), None);
    assert_eq!(p.storage_get("u1", "todo", "draft").await.unwrap(), None);
    assert_eq!(p.storage_list("u1", "notes", "d").await.unwrap(), ["draft"]);
    // Through the kernel's filesystem, where the user's id names the directory.
    let on_disk = k.data().join("files/.agentos/users/u1/storage/notes.json");
    assert!(on_disk.is_file(), "{}", on_disk.display());

    let big = json!("x".repeat(STORAGE_BYTES));
    assert!(matches!(
        p.storage_set("u1", "notes", "big", big).await,
        Err(ProviderError::QuotaExceeded { .. })
    ));
    assert_eq!(p.storage_get("u1", "notes", "big").await.unwrap(), None);
    assert!(p.storage_delete("u1", "notes", "title").await.unwrap());
    assert!(!p.storage_delete("u1", "notes", "title").await.unwrap());
    assert!(matches!(
        p.storage_get("u1", "../u2", "x").await,
        Err(ProviderError::Denied { .. })
    ));
}

#[tokio::test]
async fn files_are_the_users_own_and_system_facts_come_from_the_kernel() {
    let k = Kernel::start();
    let p = providers(&k);
    p.fs_write("u1", "notes/a.txt", b"hello").await.unwrap();
    assert_eq!(p.fs_read("u1", "notes/a.txt").await.unwrap(), "hello");
    assert!(matches!(
        p.fs_read("u2", "notes/a.txt").await,
        Err(ProviderError::NotFound { .. })
    ));
    assert_eq!(
        p.fs_list("u1", "notes").await.unwrap(),
        [DirEntry {
            name: "a.txt".into(),
            is_dir: false,
            size: 5
        }]
    );
    assert_eq!(p.fs_list("u1", "").await.unwrap()[0].name, "notes");
    assert!(p.fs_list("u2", "").await.unwrap().is_empty());
    for bad in ["../u2/files/x", "notes/../../u2"] {
        assert!(
            matches!(
                p.fs_read("u1", bad).await,
                Err(ProviderError::Denied { .. })
            ),
            "{bad}"
        );
    }
    p.fs_delete("u1", "notes/a.txt").await.unwrap();
    assert!(matches!(
        p.fs_read("u1", "notes/a.txt").await,
        Err(ProviderError::NotFound { .. })
    ));

    let info = p.system_info().await.unwrap();
    assert!(info["cpus"].as_u64().unwrap() > 0, "{info}");
    assert!(!info["os"].as_str().unwrap().is_empty(), "{info}");
    assert!(p.now_unix_ms() > 1_700_000_000_000);
}

#[tokio::test]
async fn folders_move_copy_stat_and_delete_through_the_kernel() {
    let k = Kernel::start();
    let p = providers(&k);
    let root = k.data().join("files/.agentos/users/u1/files");
    p.fs_mkdir("u1", "docs/drafts").await.unwrap();
    assert!(root.join("docs/drafts").is_dir(), "mkdir made the folder");
    p.fs_write("u1", "docs/a.txt", b"alpha").await.unwrap();
    p.fs_copy("u1", "docs/a.txt", "docs/drafts/b.txt")
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join("docs/drafts/b.txt")).unwrap(),
        "alpha"
    );
    p.fs_move("u1", "docs/drafts", "docs/final").await.unwrap();
    assert!(!root.join("docs/drafts").exists() && root.join("docs/final/b.txt").is_file());
    // Neither a move nor a copy replaces what is there.
    for r in [
        p.fs_move("u1", "docs/a.txt", "docs/final/b.txt").await,
        p.fs_copy("u1", "docs/a.txt", "docs/final/b.txt").await,
    ] {
        assert!(matches!(r, Err(ProviderError::Denied { .. })), "{r:?}");
    }
    assert!(matches!(
        p.fs_move("u1", "docs/nothing", "docs/x").await,
        Err(ProviderError::NotFound { what }) if what == "docs/nothing"
    ));
    assert!(matches!(
        p.fs_copy("u1", "docs/a.txt", "../u2/files/a.txt").await,
        Err(ProviderError::Denied { .. })
    ));
    let st = p.fs_stat("u1", "docs/a.txt").await.unwrap();
    assert_eq!(
        (st.path.as_str(), st.is_dir, st.size),
        ("/docs/a.txt", false, 5)
    );
    assert!(st.modified_unix_ms > 1_700_000_000_000, "{st:?}");
    assert!(p.fs_stat("u1", "docs/final").await.unwrap().is_dir);
    // A folder goes with what it holds; the root stays.
    p.fs_delete("u1", "docs/final").await.unwrap();
    assert!(!root.join("docs/final").exists());
    assert!(matches!(
        p.fs_delete("u1", "/").await,
        Err(ProviderError::Denied { .. })
    ));
    assert!(root.is_dir());
}

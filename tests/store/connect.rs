//! `connect`: URL schemes, file creation, the in-memory store, and errors that hide the URL.

use std::sync::Arc;

use signgate::store::{connect, Begin, StoreError};
use uuid::Uuid;

use crate::helpers::{at, begin, count, pending, race, T0};
use crate::scratch::POSTGRES_URL_VAR;

#[tokio::test]
async fn an_unknown_scheme_is_refused_without_echoing_the_url() {
    let error = connect("mysql://root:hunter2@db/signgate")
        .await
        .expect_err("mysql is not a store");

    assert!(matches!(error, StoreError::InvalidUrl(_)), "{error:?}");
    assert!(!error.to_string().contains("hunter2"), "{error}");
}

#[tokio::test]
async fn a_malformed_postgres_url_is_reported_without_its_password() {
    let error = connect("postgres://signgate:hunter2@127.0.0.1:notaport/signgate")
        .await
        .expect_err("the port is not a number");

    assert!(!error.to_string().contains("hunter2"), "{error}");
    assert!(!format!("{error:?}").contains("hunter2"), "{error:?}");
}

#[tokio::test]
async fn sqlite_creates_a_missing_database_file_for_either_url_form() {
    let dir = std::env::temp_dir();
    let paths = [
        dir.join(format!("signgate-create-{}.db", Uuid::new_v4().simple())),
        dir.join(format!("signgate-create-{}.db", Uuid::new_v4().simple())),
    ];
    let urls = [
        format!("sqlite://{}", paths[0].display()),
        format!("sqlite:{}", paths[1].display()),
    ];

    for (path, url) in paths.iter().zip(&urls) {
        let store = connect(url).await.expect("a store on a new file");
        store.ping().await.expect("ping");
        store.close().await;
        assert!(path.exists(), "{url} did not create {}", path.display());
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_memory_store_is_one_database_for_all_its_calls() {
    let store = connect("sqlite::memory:")
        .await
        .expect("an in-memory store");
    let row = pending("req-1", 0, "DOC", at(0));

    let answers = race(&[Arc::clone(&store), Arc::clone(&store)], "k-memory", T0).await;
    store
        .insert_pending(std::slice::from_ref(&row))
        .await
        .expect("insert_pending");

    assert_eq!(count(&answers, &Begin::Started), 1, "{answers:?}");
    assert_eq!(store.history("DOC", 50).await.expect("history"), vec![row]);
}

#[tokio::test]
async fn two_in_memory_stores_share_nothing() {
    let first = connect("sqlite::memory:")
        .await
        .expect("an in-memory store");
    let second = connect("sqlite::memory:")
        .await
        .expect("another in-memory store");

    assert_eq!(
        begin(first.as_ref(), "k-shared", "fp-a", T0).await,
        Begin::Started
    );
    assert_eq!(
        begin(second.as_ref(), "k-shared", "fp-a", T0).await,
        Begin::Started
    );
}

#[tokio::test]
async fn a_missing_postgres_database_is_reported_without_the_password() {
    let Ok(server) = std::env::var(POSTGRES_URL_VAR) else {
        println!("{POSTGRES_URL_VAR} is not set: this Postgres test was not run.");
        return;
    };
    let mut url = reqwest::Url::parse(&server).expect("a server URL");
    url.set_password(Some("hunter2"))
        .expect("a URL that takes a password");
    url.set_path(&format!("/signgate_missing_{}", Uuid::new_v4().simple()));

    let error = connect(url.as_str())
        .await
        .expect_err("the database does not exist");

    let shown = error.to_string();
    assert!(shown.contains("does not exist"), "{shown}");
    assert!(
        !shown.contains("hunter2") && !format!("{error:?}").contains("hunter2"),
        "{error:?}"
    );
}

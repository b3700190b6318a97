//! Failure scenarios: a store that cannot be reached or written answers with errors.

use signgate::store::{Begin, StoreError};

use crate::helpers::{at, begin, pending, Harness, STALE, T0, TTL};

pub(crate) async fn a_closed_store_refuses_every_call(h: &Harness) {
    let store = h.store.as_ref();
    assert_eq!(begin(store, "k-open", "fp-a", T0).await, Begin::Started);
    let row = pending("req-1", 0, "DOC", at(0));

    store.close().await;

    let errors = [
        store.ping().await.err(),
        store
            .begin("k-new", "fp-a", "attempt-x", T0, STALE, TTL)
            .await
            .err(),
        store.complete("k-open", "fp-a", b"{}", at(1)).await.err(),
        store.release("k-open", "fp-a").await.err(),
        store.purge_expired(at(1), 10).await.err(),
        store.insert_pending(std::slice::from_ref(&row)).await.err(),
        store.finish(std::slice::from_ref(&row)).await.err(),
        store.history("DOC", 50).await.err(),
    ];
    for (call, error) in errors.iter().enumerate() {
        let Some(StoreError::Database { .. }) = error else {
            panic!("call {call} on a closed store gave {error:?}");
        };
        assert!(error
            .as_ref()
            .is_some_and(|e| e.to_string().starts_with("the store could not")));
    }
}

pub(crate) async fn a_read_only_store_refuses_writes_but_serves_reads(h: &Harness) {
    let row = pending("req-1", 0, "DOC", at(0));
    h.store
        .insert_pending(std::slice::from_ref(&row))
        .await
        .expect("insert_pending");
    assert_eq!(
        begin(h.store.as_ref(), "k-held", "fp-a", T0).await,
        Begin::Started
    );

    let store = h.read_only_store().await;

    store
        .ping()
        .await
        .expect("a read-only store still answers pings");
    assert_eq!(
        store.history("DOC", 50).await.expect("history"),
        vec![row.clone()]
    );
    let writes = [
        store
            .begin("k-new", "fp-a", "attempt-x", T0, STALE, TTL)
            .await
            .err(),
        store.complete("k-held", "fp-a", b"{}", at(1)).await.err(),
        store
            .insert_pending(&[pending("req-2", 0, "DOC", at(0))])
            .await
            .err(),
        store.finish(&[row]).await.err(),
    ];
    for (call, error) in writes.iter().enumerate() {
        assert!(
            matches!(error, Some(StoreError::Database { .. })),
            "write {call} on a read-only store gave {error:?}"
        );
    }
}

//! Following a bucket from what it holds now, with no gap between the
//! first read and the updates after it.
//!
//! A view read first (listing the keys, then one read per key) and watched
//! for new writes afterwards misses every write made between the two: a
//! unit released by its owner in that moment stays "running there" in the
//! new host's view until the next write of its key, which may never come.
//! Listing the keys also stalls: the server's pending count taken when the
//! listing consumer is made goes stale when a key is written meanwhile, and
//! the client then waits for an idle heartbeat (5 s) to find out it is done.
//!
//! Here one watch does both: it first delivers each key's latest entry and
//! then every later write. Its history has been read once an entry at or
//! past the stream's last sequence (asked before the watch was made) has
//! arrived, or the server says nothing is pending: each key's latest entry
//! is delivered at most once before the newer ones, so this cannot wait
//! for an entry that was overwritten meanwhile.

use std::time::Duration;

use async_nats::jetstream::kv;
use futures::StreamExt;

use super::ClusterError;

/// How long the history of a bucket may take to arrive before joining
/// fails (a server that accepted the watch but delivers nothing).
const HISTORY_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens a watch on every key of `store` (bucket `bucket`), hands each
/// key's latest entry to `each`, and returns the watch positioned after
/// them: what it yields next was written after.
///
/// # Errors
/// [`ClusterError::Bucket`] when the bucket cannot be asked or watched, or
/// its entries do not arrive within 30 s.
pub(crate) async fn follow(
    store: &kv::Store,
    bucket: &str,
    mut each: impl FnMut(&kv::Entry),
) -> Result<kv::Watch, ClusterError> {
    let failed = |reason: String| ClusterError::Bucket {
        bucket: bucket.to_owned(),
        reason,
    };
    let state = store
        .stream
        .get_info()
        .await
        .map_err(|e| failed(format!("cannot read the bucket's state: {e}")))?
        .state;
    let mut watch = store
        .watch_with_history(">")
        .await
        .map_err(|e| failed(format!("cannot watch the bucket: {e}")))?;
    if state.messages == 0 {
        return Ok(watch);
    }
    let read = async {
        while let Some(entry) = watch.next().await {
            let entry = entry.map_err(|e| failed(format!("the bucket's watch failed: {e}")))?;
            each(&entry);
            if entry.revision >= state.last_sequence || entry.delta == 0 {
                return Ok(());
            }
        }
        Err(failed("the bucket's watch ended".into()))
    };
    tokio::time::timeout(HISTORY_TIMEOUT, read)
        .await
        .map_err(|_| failed(format!("its entries did not arrive in {HISTORY_TIMEOUT:?}")))??;
    Ok(watch)
}

/// A new watch of every key of `store` from each key's latest entry, asked
/// again every `retry` until the server takes it: after a watch failed,
/// what was written while it was down is in the new one. `what` names the
/// bucket in the warning (`hosts`, `owners`).
pub(crate) async fn rewatch(store: &kv::Store, what: &str, retry: Duration) -> kv::Watch {
    loop {
        match store.watch_with_history(">").await {
            Ok(watch) => return watch,
            Err(error) => {
                tracing::warn!(%error, "cannot watch the cluster's {what}; retrying");
                tokio::time::sleep(retry).await;
            }
        }
    }
}

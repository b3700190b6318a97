//! Cross-cutting wrappers around any `Vendor`: each implements the trait and adds one behaviour.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Semaphore;

use super::{Batch, DocState, Reply, UpstreamError, Vendor};
use crate::settings::VendorSettings;

/// Wraps an adapter in the layers every vendor gets, outermost first.
pub fn wrap(_name: &str, settings: &VendorSettings, adapter: Arc<dyn Vendor>) -> Arc<dyn Vendor> {
    Arc::new(Limited::new(adapter, settings.max_concurrency()))
}

/// Bounds the calls in flight to one vendor across the whole process (`max_concurrency`).
#[derive(Debug)]
pub struct Limited {
    inner: Arc<dyn Vendor>,
    permits: Semaphore,
}

impl Limited {
    /// At most `max` calls of `inner` at once.
    pub fn new(inner: Arc<dyn Vendor>, max: usize) -> Self {
        Self {
            inner,
            permits: Semaphore::new(max),
        }
    }
}

#[async_trait]
impl Vendor for Limited {
    fn batch_size(&self) -> usize {
        self.inner.batch_size()
    }

    async fn cancel(&self, batch: &Batch<'_>) -> Vec<Reply> {
        // The semaphore is never closed, so acquiring cannot fail.
        let _permit = self.permits.acquire().await;
        self.inner.cancel(batch).await
    }

    fn can_read_status(&self) -> bool {
        self.inner.can_read_status()
    }

    async fn status(&self, code: &str, request_id: &str) -> Result<DocState, UpstreamError> {
        let _permit = self.permits.acquire().await;
        self.inner.status(code, request_id).await
    }
}

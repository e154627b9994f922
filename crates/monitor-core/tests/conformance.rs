//! The store conformance suite against `MemoryStore`.

use std::sync::Arc;

use monitor_core::StoreRef;
use monitor_core::store::MemoryStore;

async fn fresh_store() -> StoreRef {
    Arc::new(MemoryStore::default())
}

monitor_core::store_conformance!(fresh_store);

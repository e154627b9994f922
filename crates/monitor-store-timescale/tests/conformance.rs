//! monitor-core's store conformance suite, unchanged, against PostgreSQL (native mode on
//! plain PostgreSQL; whatever mode the server supports otherwise). Each behaviour gets a
//! fresh database, so the tests run in parallel.
//!
//! The suite's own `store_conformance!` macro cannot skip, and these tests must say why
//! and return when `DATABASE_URL` is unset, so the behaviours are listed here; the list
//! is the macro's, in its order.

mod common;

use std::sync::Arc;

use monitor_core::StoreRef;

macro_rules! conformance {
    ($($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(db) = common::TestDb::create().await else { return };
                let store: StoreRef = Arc::new(db.store().await);
                monitor_core::store::conformance::$name(store).await;
                db.drop_db().await;
            }
        )+
    };
}

conformance!(
    raw_round_trip_newest_first,
    idempotent_writes,
    aggregates_match_reference,
    group_by_and_filters,
    field_statistics_count_only_carriers,
    bucket_edges_and_unaligned_ranges,
    empty_ranges,
    late_data_updates_rollups,
    retention_drops_expired_levels,
    session_events_newest_first,
    records_and_state,
    concurrent_writers,
    percentiles_within_error,
);

//! The monitor-core store conformance suite, unchanged, on a fresh temporary file per
//! test: once with every rollup cell also held in memory, once with none (all rollup
//! reads and merges through the tables).

mod common;

mod rollups_in_memory {
    use super::common::in_memory_rollups;
    monitor_core::store_conformance!(in_memory_rollups);
}

mod rollups_in_tables {
    use super::common::table_rollups;
    monitor_core::store_conformance!(table_rollups);
}

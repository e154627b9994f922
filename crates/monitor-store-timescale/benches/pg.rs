//! Placeholder; replaced by the ingest/query benchmark.
fn main() {}

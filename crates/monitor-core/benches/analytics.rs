//! Analytics hot paths: `StreamingDetector::observe` per point for each method (the alert
//! engine's per-event path; target well under 1 µs) and `trend` over 1,000 points.
//!
//! Run with: `cargo bench -p monitor-core --bench analytics`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use monitor_core::Timestamp;
use monitor_core::analytics::{AnomalyConfig, Method, StreamingDetector, TrendConfig, trend};

/// Latency-like values: log-normal-ish around 100 ms from a xorshift generator, with a
/// spike every 97 points so the anomaly path is taken too.
fn latencies(n: usize) -> Vec<f64> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
            let base = 100.0 * (0.5 * (unit - 0.5)).exp();
            if i % 97 == 0 { base * 20.0 } else { base }
        })
        .collect()
}

fn observe(c: &mut Criterion) {
    let values = latencies(4_096);
    let mut group = c.benchmark_group("observe");
    group.throughput(Throughput::Elements(1));
    let configs = [
        ("zscore", AnomalyConfig::for_method(Method::ZScore)),
        ("robust", AnomalyConfig::for_method(Method::Robust)),
        ("robust_log", AnomalyConfig::for_latency()),
        ("ewma", AnomalyConfig::for_method(Method::Ewma)),
    ];
    for (name, config) in configs {
        let mut detector = StreamingDetector::new(config);
        // Warm up so every timed point is scored against a full window.
        for (i, v) in values.iter().enumerate().take(200) {
            detector.observe(Timestamp::from_micros(i64::try_from(i).unwrap_or(0)), *v);
        }
        let mut i = 0usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % values.len();
                black_box(detector.observe(Timestamp::from_micros(1), black_box(values[i])))
            });
        });
    }
    group.finish();
}

fn trend_1000(c: &mut Criterion) {
    let points: Vec<(Timestamp, f64)> = latencies(1_000)
        .into_iter()
        .enumerate()
        .map(|(i, v)| (Timestamp::from_millis(i64::try_from(i).unwrap_or(0) * 60_000), v + 0.05 * i as f64))
        .collect();
    let config = TrendConfig { last_n: 0, ..TrendConfig::default() };
    c.bench_function("trend/1000_points", |b| b.iter(|| black_box(trend(black_box(&points), &config))));
}

criterion_group!(benches, observe, trend_1000);
criterion_main!(benches);

//! Analytics over metric series: anomaly detection and trends (seed §5, notes §3).
//!
//! ```
//! use monitor_core::Timestamp;
//! use monitor_core::analytics::{AnomalyConfig, AnomalyKind, StreamingDetector, TrendConfig, trend};
//!
//! // Durations around 100 ms, then one of 2 s: the robust log-scale detector flags it.
//! let mut detector = StreamingDetector::new(AnomalyConfig::for_latency());
//! for i in 0..50 {
//!     let ms = 100.0 + f64::from(i % 7);
//!     assert!(detector.observe(Timestamp::from_millis(i64::from(i) * 1_000), ms).is_none());
//! }
//! let anomaly = detector.observe(Timestamp::from_millis(50_000), 2_000.0).expect("a spike");
//! assert_eq!(anomaly.kind, AnomalyKind::Spike);
//!
//! // A steady climb of 2 per minute.
//! let points: Vec<_> =
//!     (0..20).map(|i| (Timestamp::from_millis(i * 60_000), 10.0 + 2.0 * i as f64)).collect();
//! let fitted = trend(&points, &TrendConfig::default()).expect("enough points");
//! assert!((fitted.slope_per_hour - 120.0).abs() < 1e-9);
//! ```
//!
//! # Layout
//! - [`anomaly`]: [`StreamingDetector`] (rolling z-score, robust median/MAD, EWMA),
//!   [`detect`] over a series and [`detect_in_events`] per (agent type, operation).
//! - [`trend`](mod@trend): least-squares [`trend`](fn@trend) with direction, r² and a forecast.
//!
//! Every number these functions return is finite, whatever the input.

pub mod anomaly;
pub mod trend;
mod window;

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;

pub use anomaly::{
    Anomaly, AnomalyConfig, AnomalyKind, Band, Evaluation, Method, SeriesAnomalies, StreamingDetector,
    detect, detect_in_events,
};
pub use trend::{Direction, ForecastPoint, Trend, TrendConfig, trend};

use crate::alert::Severity;

/// Severity of an anomaly from its score (notes §3.2, design): `|score|` below 4 is low,
/// 4 to 5 medium, 5 to 7 high, above 7 critical.
pub fn severity_for_score(score: f64) -> Severity {
    let magnitude = score.abs();
    if magnitude > 7.0 {
        Severity::Critical
    } else if magnitude >= 5.0 {
        Severity::High
    } else if magnitude >= 4.0 {
        Severity::Medium
    } else {
        Severity::Low
    }
}

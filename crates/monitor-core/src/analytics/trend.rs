//! Linear trend of a series by ordinary least squares (notes §3.2, seed §5.2).
//!
//! Over the last N points, with `x` the **step index** `0, 1, …, n−1` (not the time:
//! events arrive irregularly, and a step forecast is what the seed asks for):
//!
//! - `b = Σ(x − x̄)(y − ȳ)/Σ(x − x̄)²`, `a = ȳ − b·x̄`; `slope_per_hour = b` divided by the
//!   median spacing of the points in hours.
//! - `r² = 1 − SSE/SST`, and 0 when `SST = 0` (a constant series).
//! - Flat when `|b|/SE_b < 2` with `SE_b = s/√Σ(x − x̄)²`, `s = √(SSE/(n − 2))`, or when
//!   the change over the window is within the tolerance of the mean: `|b|·n ≤ tol·|ȳ|`.
//! - Forecast `ŷ_h = a + b·(n − 1 + h)` for `h = 1..=horizon` with the prediction interval
//!   `± t_{(1+c)/2, n−2}·s·√(1 + 1/n + (x_h − x̄)²/Σ(x − x̄)²)` (Student's t from statrs),
//!   at timestamps that continue the median spacing.
//!
//! The least-squares line of Prometheus' `predict_linear`, on steps instead of seconds;
//! Holt's double exponential smoothing would be the adaptive alternative. Non-finite values are left out; values
//! are rescaled by a power of two (exactly) before the sums, so huge inputs give finite
//! results, saturated at `±f64::MAX` where the true value is beyond it.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use super::window::pow2_scale;
use crate::error::{Error, Result};
use crate::time::{MICROS_PER_HOUR, Timestamp};

/// `|b|/SE_b` below this reads as no trend (about the 95 % two-sided t quantile for
/// large n).
pub const MIN_SLOPE_T: f64 = 2.0;

/// Largest accepted forecast horizon.
pub const MAX_HORIZON: usize = 10_000;

/// Which way a series is going.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// A significant upward slope.
    Increasing,
    /// A significant downward slope.
    Decreasing,
    /// No significant slope, or a change within the tolerance.
    Flat,
}

/// One forecast step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForecastPoint {
    /// When: the last point's time plus h median spacings.
    pub timestamp: Timestamp,
    /// The fitted line extended to this step.
    pub value: f64,
    /// Lower end of the prediction interval.
    pub lower: f64,
    /// Upper end of the prediction interval.
    pub upper: f64,
}

/// A fitted trend; see the module docs for the formulas.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trend {
    /// Points fitted (the last `last_n` finite ones).
    pub points: usize,
    /// Change per point (`b`).
    pub slope_per_step: f64,
    /// Change per hour at the median spacing; 0 when all points share one timestamp.
    pub slope_per_hour: f64,
    /// Fitted value at step 0, the first fitted point (`a`).
    pub intercept: f64,
    /// Share of the variance the line explains, 0..=1: the confidence in the trend.
    pub r_squared: f64,
    /// Increasing, decreasing or flat.
    pub direction: Direction,
    /// The next `horizon` steps with their prediction intervals.
    pub forecast: Vec<ForecastPoint>,
}

/// Settings of [`trend`]. In JSON every field is optional and an invalid one is
/// rejected with [`TrendConfig::validate`]'s reason.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "TrendConfigWire")]
pub struct TrendConfig {
    /// Fit the last this many points (by time); 0 means all. Default 100.
    pub last_n: usize,
    /// Forecast steps. Default 5.
    pub horizon: usize,
    /// A change over the window of at most this fraction of the mean is flat. Default 0.05.
    pub flat_tolerance: f64,
    /// Coverage of the forecast's prediction interval, in (0, 1). Default 0.95.
    pub confidence: f64,
}

impl Default for TrendConfig {
    fn default() -> Self {
        TrendConfig { last_n: 100, horizon: 5, flat_tolerance: 0.05, confidence: 0.95 }
    }
}

/// The JSON form of [`TrendConfig`], before validation.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct TrendConfigWire {
    last_n: usize,
    horizon: usize,
    flat_tolerance: f64,
    confidence: f64,
}

impl Default for TrendConfigWire {
    fn default() -> Self {
        let TrendConfig { last_n, horizon, flat_tolerance, confidence } = TrendConfig::default();
        TrendConfigWire { last_n, horizon, flat_tolerance, confidence }
    }
}

impl TryFrom<TrendConfigWire> for TrendConfig {
    type Error = Error;

    fn try_from(wire: TrendConfigWire) -> Result<Self> {
        let TrendConfigWire { last_n, horizon, flat_tolerance, confidence } = wire;
        let config = TrendConfig { last_n, horizon, flat_tolerance, confidence };
        config.validate()?;
        Ok(config)
    }
}

impl TrendConfig {
    /// Checks every setting; the error names the setting and the accepted range.
    pub fn validate(&self) -> Result<()> {
        if self.horizon > MAX_HORIZON {
            return Err(Error::Config(format!(
                "trend `horizon` must be 0..={MAX_HORIZON}, got {}",
                self.horizon
            )));
        }
        if !(self.flat_tolerance.is_finite() && self.flat_tolerance >= 0.0) {
            return Err(Error::Config(format!(
                "trend `flatTolerance` must be a number ≥ 0, got {}",
                self.flat_tolerance
            )));
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(Error::Config(format!(
                "trend `confidence` must be in (0, 1), got {}",
                self.confidence
            )));
        }
        Ok(())
    }
}

/// Fits a line to the last `config.last_n` finite points (sorted by time inside when
/// they are not) and forecasts `config.horizon` steps; `None` with fewer than 3 points.
/// Invalid settings are replaced by the defaults (see [`TrendConfig::validate`]).
pub fn trend(points: &[(Timestamp, f64)], config: &TrendConfig) -> Option<Trend> {
    let defaults = TrendConfig::default();
    let horizon = config.horizon.min(MAX_HORIZON);
    let tolerance = if config.flat_tolerance.is_finite() && config.flat_tolerance >= 0.0 {
        config.flat_tolerance
    } else {
        0.0
    };
    let confidence = if config.confidence > 0.0 && config.confidence < 1.0 {
        config.confidence
    } else {
        defaults.confidence
    };

    let mut series: Vec<(Timestamp, f64)> = points.iter().copied().filter(|p| p.1.is_finite()).collect();
    if !series.is_sorted_by_key(|p| p.0) {
        series.sort_by_key(|p| p.0);
    }
    let keep = if config.last_n == 0 { series.len() } else { config.last_n.min(series.len()) };
    let series = &series[series.len() - keep..];
    let count = series.len();
    if count < 3 {
        return None;
    }

    let n = count as f64;
    let scale = pow2_scale(series.iter().fold(0.0f64, |m, p| m.max(p.1.abs())));
    let ys = || series.iter().map(|p| p.1 / scale);
    let x_mean = (n - 1.0) / 2.0;
    // Σ(x − x̄)² over 0..n−1, in closed form.
    let sxx = n * (n * n - 1.0) / 12.0;
    let y_mean = ys().sum::<f64>() / n;
    let (mut sxy, mut sst) = (0.0, 0.0);
    for (i, y) in ys().enumerate() {
        let dy = y - y_mean;
        sxy += (i as f64 - x_mean) * dy;
        sst += dy * dy;
    }
    let b = sxy / sxx;
    let a = y_mean - b * x_mean;
    let sse: f64 = ys()
        .enumerate()
        .map(|(i, y)| {
            let r = y - (a + b * i as f64);
            r * r
        })
        .sum();
    let r_squared = if sst > 0.0 { (1.0 - sse / sst).clamp(0.0, 1.0) } else { 0.0 };
    let dof = n - 2.0;
    let s = (sse / dof).sqrt();
    let se_b = s / sxx.sqrt();
    let t_stat = if se_b > 0.0 {
        b.abs() / se_b
    } else if b != 0.0 {
        f64::INFINITY
    } else {
        0.0
    };
    let direction = if sst == 0.0 || t_stat < MIN_SLOPE_T || b.abs() * n <= tolerance * y_mean.abs() {
        Direction::Flat
    } else if b > 0.0 {
        Direction::Increasing
    } else {
        Direction::Decreasing
    };

    let spacing = median_spacing(series);
    let t_quantile = StudentsT::new(0.0, 1.0, dof).map_or(0.0, |t| t.inverse_cdf((1.0 + confidence) / 2.0));
    let last = series[count - 1].0;
    let forecast = (1..=horizon)
        .map(|h| {
            let x = (count - 1 + h) as f64;
            let value = a + b * x;
            let dx = x - x_mean;
            let half = t_quantile * s * (1.0 + 1.0 / n + dx * dx / sxx).sqrt();
            let steps = i64::try_from(h).unwrap_or(i64::MAX);
            ForecastPoint {
                timestamp: last.add_micros(spacing.saturating_mul(steps)),
                value: unscale(value, scale),
                lower: unscale(value - half, scale),
                upper: unscale(value + half, scale),
            }
        })
        .collect();

    let slope_per_step = unscale(b, scale);
    let slope_per_hour =
        if spacing > 0 { unscale(b * (MICROS_PER_HOUR as f64 / spacing as f64), scale) } else { 0.0 };
    Some(Trend {
        points: count,
        slope_per_step,
        slope_per_hour,
        intercept: unscale(a, scale),
        r_squared,
        direction,
        forecast,
    })
}

/// Back from the rescaled space, saturating at `±f64::MAX`; NaN (which the fit cannot
/// produce from finite input) would read as 0.
fn unscale(x: f64, scale: f64) -> f64 {
    let v = x * scale;
    if v.is_nan() { 0.0 } else { v.clamp(f64::MIN, f64::MAX) }
}

/// The median gap between consecutive timestamps, in µs (the lower middle for an even
/// count, so it is always one of the observed gaps).
fn median_spacing(series: &[(Timestamp, f64)]) -> i64 {
    let mut gaps: Vec<i64> =
        series.windows(2).map(|w| w[1].0.as_micros().saturating_sub(w[0].0.as_micros())).collect();
    if gaps.is_empty() {
        return 0;
    }
    let middle = (gaps.len() - 1) / 2;
    *gaps.select_nth_unstable(middle).1
}

//! Streaming anomaly detection over one numeric series (notes §3.2).
//!
//! Every method compares a point with a baseline taken from the **previous** `window`
//! points (never the point itself, so a spike cannot inflate its own deviation) and
//! stays silent until `min_points` of them exist:
//!
//! - [`Method::ZScore`]: `z = (y − mean)/sd`, sample deviation (n − 1). Anomaly when
//!   `|z| > threshold`.
//! - [`Method::Robust`]: `M = 0.6745·(y − median)/MAD` (Iglewicz–Hoaglin), anomaly when
//!   `|M| > threshold` (3.5 by default). MAD is floored so that a point within a margin
//!   of the level never scores above the threshold — Grafana's minimum band of
//!   ±0.5 × level; on a log scale the margin is `ln 1.5`, a factor of 1.5 either way of
//!   `1 + median`. Without the floor a window of identical durations (MAD = 0) would
//!   make every change infinitely anomalous.
//! - [`Method::Ewma`]: the z-score spikes and drops, plus level shifts from
//!   `E_t = λ·y_t + (1−λ)·E_{t−1}` against `mean ± L·sd·√(λ/(2−λ))` (the asymptotic
//!   EWMA control limits). Before it enters `E`, a point is clipped to
//!   `mean ± threshold·sd` (a Huber-type clip, design): a lone spike then moves `E` by at
//!   most `λ·threshold·sd`, less than the limit, so only a sustained run — at least
//!   [`LEVEL_SHIFT_RUN`] points in a row outside the limits on one side — reads as a level
//!   shift. `E` starts at the first value.
//!
//! With `log_scale`, the model works on `y = sign(x)·ln(1 + |x|)` (`ln(1 + x)` for
//! durations); scores and bands are in that space, `value` and `expected` in the
//! original units. Non-finite values are skipped: they change nothing and report
//! nothing. A window with no spread (sd or MAD at most 1e-9 of the level, after the
//! floor) reports nothing either, so every number out is finite.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::severity_for_score;
use super::window::{RollingMoments, RollingOrder};
use crate::alert::Severity;
use crate::error::{Error, Result};
use crate::event::{AgentType, Event};
use crate::time::Timestamp;

/// Consecutive points with the EWMA outside its limits (on one side) that make a level shift.
pub const LEVEL_SHIFT_RUN: usize = 3;

/// Largest accepted `window`.
pub const MAX_WINDOW: usize = 100_000;

/// The Iglewicz–Hoaglin constant: `0.6745 ≈ Φ⁻¹(0.75)`, making `MAD/0.6745` estimate σ
/// for normal data.
pub const MAD_CONSISTENCY: f64 = 0.6745;

/// The robust method's minimum band half-width, relative to the level (Grafana's margin).
pub const ROBUST_MARGIN: f64 = 0.5;

/// A spread at most this fraction of the level counts as no spread at all.
const SPREAD_EPSILON: f64 = 1e-9;

/// How a point is scored against its baseline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Rolling mean and sample deviation of the previous points (seed default).
    #[default]
    ZScore,
    /// Rolling median and MAD (modified z-score); the default for latency.
    Robust,
    /// Z-score spikes plus EWMA level shifts.
    Ewma,
}

impl Method {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::ZScore => "zscore",
            Method::Robust => "robust",
            Method::Ewma => "ewma",
        }
    }

    /// The usual threshold for the method: 3.5 for the modified z-score (Iglewicz and
    /// Hoaglin), 3 otherwise.
    pub const fn default_threshold(self) -> f64 {
        match self {
            Method::Robust => 3.5,
            Method::ZScore | Method::Ewma => 3.0,
        }
    }
}

/// Settings of a detector. Defaults follow notes §3.2: window 100, threshold 3
/// (3.5 for robust when the threshold is left out of the JSON), 30 points of warm-up,
/// λ = 0.2 and L = 3 for the EWMA.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "AnomalyConfigWire")]
pub struct AnomalyConfig {
    /// How points are scored.
    pub method: Method,
    /// How many previous points form the baseline (2..=100,000).
    pub window: usize,
    /// `|score|` above which a point is an anomaly (> 0).
    pub threshold: f64,
    /// Previous points needed before the detector speaks (2..=`window`).
    pub min_points: usize,
    /// Score `sign(x)·ln(1 + |x|)` instead of `x`: for right-skewed values such as durations.
    pub log_scale: bool,
    /// EWMA smoothing weight λ of the newest point, in (0, 1].
    pub ewma_lambda: f64,
    /// EWMA control-limit width L, in deviations of the EWMA statistic (> 0).
    pub ewma_limit: f64,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig::for_method(Method::ZScore)
    }
}

impl AnomalyConfig {
    /// The defaults with `method` and its usual threshold.
    pub const fn for_method(method: Method) -> Self {
        AnomalyConfig {
            method,
            window: 100,
            threshold: method.default_threshold(),
            min_points: 30,
            log_scale: false,
            ewma_lambda: 0.2,
            ewma_limit: 3.0,
        }
    }

    /// The default for durations: robust median/MAD on `ln(1 + x)`, threshold 3.5.
    pub const fn for_latency() -> Self {
        AnomalyConfig { log_scale: true, ..AnomalyConfig::for_method(Method::Robust) }
    }

    /// Checks every setting; the error names the setting and the accepted range.
    pub fn validate(&self) -> Result<()> {
        let fail = |what: String| Err(Error::Config(what));
        if !(2..=MAX_WINDOW).contains(&self.window) {
            return fail(format!("anomaly `window` must be 2..={MAX_WINDOW}, got {}", self.window));
        }
        if !(2..=self.window).contains(&self.min_points) {
            return fail(format!(
                "anomaly `minPoints` must be 2..=window ({}), got {}",
                self.window, self.min_points
            ));
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return fail(format!("anomaly `threshold` must be a positive number, got {}", self.threshold));
        }
        if !(self.ewma_lambda > 0.0 && self.ewma_lambda <= 1.0) {
            return fail(format!("anomaly `ewmaLambda` must be in (0, 1], got {}", self.ewma_lambda));
        }
        if !(self.ewma_limit.is_finite() && self.ewma_limit > 0.0) {
            return fail(format!("anomaly `ewmaLimit` must be a positive number, got {}", self.ewma_limit));
        }
        Ok(())
    }

    /// The nearest valid settings: out-of-range values are clamped, non-numbers replaced
    /// by the method's defaults.
    fn sanitized(self) -> Self {
        let defaults = AnomalyConfig::for_method(self.method);
        let positive = |v: f64, default: f64| if v.is_finite() && v > 0.0 { v } else { default };
        let window = self.window.clamp(2, MAX_WINDOW);
        AnomalyConfig {
            method: self.method,
            window,
            threshold: positive(self.threshold, defaults.threshold),
            min_points: self.min_points.clamp(2, window),
            log_scale: self.log_scale,
            ewma_lambda: positive(self.ewma_lambda, defaults.ewma_lambda).min(1.0),
            ewma_limit: positive(self.ewma_limit, defaults.ewma_limit),
        }
    }
}

/// The JSON form, where a missing threshold means the method's own default.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AnomalyConfigWire {
    #[serde(default)]
    method: Method,
    window: Option<usize>,
    threshold: Option<f64>,
    min_points: Option<usize>,
    log_scale: Option<bool>,
    ewma_lambda: Option<f64>,
    ewma_limit: Option<f64>,
}

impl TryFrom<AnomalyConfigWire> for AnomalyConfig {
    type Error = Error;

    fn try_from(wire: AnomalyConfigWire) -> Result<Self> {
        let d = AnomalyConfig::for_method(wire.method);
        let config = AnomalyConfig {
            method: wire.method,
            window: wire.window.unwrap_or(d.window),
            threshold: wire.threshold.unwrap_or(d.threshold),
            min_points: wire.min_points.unwrap_or(d.min_points),
            log_scale: wire.log_scale.unwrap_or(d.log_scale),
            ewma_lambda: wire.ewma_lambda.unwrap_or(d.ewma_lambda),
            ewma_limit: wire.ewma_limit.unwrap_or(d.ewma_limit),
        };
        config.validate()?;
        Ok(config)
    }
}

/// What an anomaly looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AnomalyKind {
    /// A point far above its baseline.
    Spike,
    /// A point far below its baseline.
    Drop,
    /// A sustained move of the level (EWMA); the score's sign gives the direction.
    LevelShift,
}

impl AnomalyKind {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::Spike => "spike",
            AnomalyKind::Drop => "drop",
            AnomalyKind::LevelShift => "levelShift",
        }
    }
}

/// One anomalous point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Anomaly {
    /// When the point happened.
    pub timestamp: Timestamp,
    /// The point's value, in original units.
    pub value: f64,
    /// The signed score (z, modified z, or the EWMA's distance in its own deviations),
    /// on the log scale when the detector uses one.
    pub score: f64,
    /// The baseline (mean or median of the previous points), in original units.
    pub expected: f64,
    /// From `|score|`: see [`severity_for_score`].
    pub severity: Severity,
    /// Spike, drop or level shift.
    pub kind: AnomalyKind,
    /// The method that found it.
    pub method: Method,
}

/// The band a point is compared with: outside `lower..=upper` it is a spike or drop.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Band {
    /// The baseline (mean or median), in original units.
    pub expected: f64,
    /// The lowest unremarkable value, in original units.
    pub lower: f64,
    /// The highest unremarkable value, in original units.
    pub upper: f64,
}

/// Everything the detector knows about one point, anomalous or not (for charts of the
/// expected band and for tests).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evaluation {
    /// The point score (z or modified z); `None` while warming up, when the window has
    /// no spread, or for a skipped non-finite value.
    pub score: Option<f64>,
    /// The EWMA statistic's score `(E − mean)/(sd·√(λ/(2−λ)))`, for [`Method::Ewma`].
    pub ewma_score: Option<f64>,
    /// The band around the baseline, when there is a score.
    pub band: Option<Band>,
    /// The anomaly, when the point is one.
    pub anomaly: Option<Anomaly>,
}

/// The previous points: running moments (mean, sd) or a sorted copy (median, MAD).
#[derive(Clone, Debug)]
enum Window {
    Moments(RollingMoments),
    Order(RollingOrder),
}

/// An online detector for one series; feed it points in time order.
///
/// Costs O(1) per point for z-score and EWMA (running sums; an O(W) rebuild every W points)
/// and, for robust, one memmove of at most W values in a sorted copy plus O(log W) to
/// select the median and MAD; memory O(W). No allocation after the window has filled.
#[derive(Clone, Debug)]
pub struct StreamingDetector {
    config: AnomalyConfig,
    window: Window,
    ewma: Option<f64>,
    run: usize,
    run_above: bool,
    observed: u64,
}

/// Baseline of the previous points in model space.
struct Baseline {
    center: f64,
    /// The deviation the score divides by: sd, or the floored MAD.
    spread: f64,
}

impl StreamingDetector {
    /// A detector with `config`; invalid settings are clamped to the nearest valid ones
    /// (see [`AnomalyConfig::validate`] to reject them instead).
    pub fn new(config: AnomalyConfig) -> Self {
        let config = config.sanitized();
        let window = match config.method {
            Method::Robust => Window::Order(RollingOrder::new(config.window)),
            Method::ZScore | Method::Ewma => Window::Moments(RollingMoments::new(config.window)),
        };
        StreamingDetector { config, window, ewma: None, run: 0, run_above: false, observed: 0 }
    }

    /// The settings in use (after clamping).
    pub const fn config(&self) -> &AnomalyConfig {
        &self.config
    }

    /// Points in the baseline window (at most `window`).
    pub fn len(&self) -> usize {
        match &self.window {
            Window::Moments(w) => w.len(),
            Window::Order(w) => w.len(),
        }
    }

    /// Whether the window is empty (nothing observed since creation or the last reset).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Finite points observed since creation or the last [`reset`](Self::reset).
    pub const fn observed(&self) -> u64 {
        self.observed
    }

    /// Whether the next point will be scored (the window holds `min_points`).
    pub fn is_ready(&self) -> bool {
        self.len() >= self.config.min_points
    }

    /// Forgets every point: warm-up starts again.
    pub fn reset(&mut self) {
        match &mut self.window {
            Window::Moments(w) => w.clear(),
            Window::Order(w) => w.clear(),
        }
        self.ewma = None;
        self.run = 0;
        self.observed = 0;
    }

    /// Scores a point, then adds it to the window; the anomaly, if the point is one.
    pub fn observe(&mut self, timestamp: Timestamp, value: f64) -> Option<Anomaly> {
        self.step(timestamp, value, false).anomaly
    }

    /// Like [`observe`](Self::observe), with the score and band of every point.
    pub fn evaluate(&mut self, timestamp: Timestamp, value: f64) -> Evaluation {
        self.step(timestamp, value, true)
    }

    /// One point; the band (two more inverse transforms) only when asked for.
    fn step(&mut self, timestamp: Timestamp, value: f64, with_band: bool) -> Evaluation {
        if !value.is_finite() {
            return Evaluation::default();
        }
        let log = self.config.log_scale;
        let y = to_model(value, log);
        let baseline = if self.is_ready() { self.baseline() } else { None };
        let expected = baseline.as_ref().and_then(|b| finite(from_model(b.center, log)));
        let mut evaluation = Evaluation::default();

        if let (Some(b), Some(expected)) = (&baseline, expected) {
            evaluation.score =
                finite(scaled_difference(y, b.center, b.spread)).map(|s| match self.config.method {
                    Method::Robust => s * MAD_CONSISTENCY,
                    Method::ZScore | Method::Ewma => s,
                });
            if with_band && evaluation.score.is_some() {
                let half_width = match self.config.method {
                    Method::Robust => self.config.threshold * b.spread / MAD_CONSISTENCY,
                    Method::ZScore | Method::Ewma => self.config.threshold * b.spread,
                };
                evaluation.band = Some(Band {
                    expected,
                    lower: saturate(from_model(b.center - half_width, log)),
                    upper: saturate(from_model(b.center + half_width, log)),
                });
            }
        }

        if self.config.method == Method::Ewma {
            evaluation.ewma_score = self.update_ewma(y, baseline.as_ref());
        }

        evaluation.anomaly = self.classify(&evaluation).map(|(kind, score)| Anomaly {
            timestamp,
            value,
            score,
            expected: expected.unwrap_or(value),
            severity: severity_for_score(score),
            kind,
            method: self.config.method,
        });

        match &mut self.window {
            Window::Moments(w) => w.push(y),
            Window::Order(w) => w.push(y),
        }
        self.observed += 1;
        evaluation
    }

    /// The baseline of the window, or `None` when it has no usable spread.
    fn baseline(&mut self) -> Option<Baseline> {
        let (center, spread) = match &mut self.window {
            Window::Moments(w) => w.mean_sd()?,
            Window::Order(w) => {
                let (median, mad) = w.median_mad()?;
                let margin =
                    if self.config.log_scale { ROBUST_MARGIN.ln_1p() } else { ROBUST_MARGIN * median.abs() };
                // The floor puts `median ± margin` exactly at the threshold.
                (median, mad.max(margin * MAD_CONSISTENCY / self.config.threshold))
            }
        };
        let usable = center.is_finite() && spread.is_finite() && spread > SPREAD_EPSILON * center.abs();
        usable.then_some(Baseline { center, spread })
    }

    /// Advances the EWMA and the run of points outside its limits; the EWMA score.
    fn update_ewma(&mut self, y: f64, baseline: Option<&Baseline>) -> Option<f64> {
        let lambda = self.config.ewma_lambda;
        let input = match baseline {
            Some(b) => {
                let reach = self.config.threshold * b.spread;
                y.max(b.center - reach).min(b.center + reach)
            }
            None => y,
        };
        let next = match self.ewma {
            Some(previous) => lambda * input + (1.0 - lambda) * previous,
            None => input,
        };
        let next = if next.is_finite() { next } else { y };
        self.ewma = Some(next);

        let Some(b) = baseline else {
            self.run = 0;
            return None;
        };
        let sigma_e = b.spread * (lambda / (2.0 - lambda)).sqrt();
        let Some(score) = finite(scaled_difference(next, b.center, sigma_e)) else {
            self.run = 0;
            return None;
        };
        if score.abs() > self.config.ewma_limit {
            let above = score > 0.0;
            self.run = if self.run > 0 && self.run_above == above { self.run + 1 } else { 1 };
            self.run_above = above;
        } else {
            self.run = 0;
        }
        Some(score)
    }

    /// Kind and score of the anomaly the evaluation shows, if any. A level shift wins
    /// over a spike: a run of several points says more than one point's distance.
    fn classify(&self, evaluation: &Evaluation) -> Option<(AnomalyKind, f64)> {
        if let Some(score) = evaluation.ewma_score
            && self.run >= LEVEL_SHIFT_RUN
        {
            return Some((AnomalyKind::LevelShift, score));
        }
        let score = evaluation.score?;
        (score.abs() > self.config.threshold)
            .then_some((if score > 0.0 { AnomalyKind::Spike } else { AnomalyKind::Drop }, score))
    }
}

/// `(a − b)/scale`, halving first where the difference would overflow.
fn scaled_difference(a: f64, b: f64, scale: f64) -> f64 {
    let difference = a - b;
    if difference.is_finite() { difference / scale } else { (a / 2.0 - b / 2.0) / (scale / 2.0) }
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Clamps infinities to the largest finite values (NaN cannot reach here).
fn saturate(x: f64) -> f64 {
    x.clamp(f64::MIN, f64::MAX)
}

/// Into model space: `sign(x)·ln(1 + |x|)` on a log scale, `x` otherwise.
fn to_model(x: f64, log: bool) -> f64 {
    if log { x.signum() * x.abs().ln_1p() } else { x }
}

/// Back to original units: the inverse of [`to_model`].
fn from_model(y: f64, log: bool) -> f64 {
    if log { y.signum() * y.abs().exp_m1() } else { y }
}

/// Runs a [`StreamingDetector`] over the series, in time order (a copy is sorted when
/// `points` is not), and returns its anomalies.
pub fn detect(points: &[(Timestamp, f64)], config: &AnomalyConfig) -> Vec<Anomaly> {
    let mut detector = StreamingDetector::new(*config);
    let mut run = |series: &[(Timestamp, f64)]| -> Vec<Anomaly> {
        series.iter().filter_map(|&(t, v)| detector.observe(t, v)).collect()
    };
    if points.is_sorted_by_key(|p| p.0) {
        run(points)
    } else {
        let mut sorted = points.to_vec();
        sorted.sort_by_key(|p| p.0);
        run(&sorted)
    }
}

/// The anomalies of one series of events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeriesAnomalies {
    /// The series' agent type (`manager`, `worker`), if the events had one.
    pub agent_type: Option<String>,
    /// The series' operation, if the events had one.
    pub operation: Option<String>,
    /// Finite values the series held.
    pub points: usize,
    /// Its anomalies, in time order.
    pub anomalies: Vec<Anomaly>,
}

/// Detects anomalies in `field` (a payload field such as `duration`) with one series per
/// (agent type, operation). Events may come in any order: each series is sorted by time
/// (then id). Events without a finite `field` are left out. Series come in (agent type,
/// operation) order, those with no anomaly included.
pub fn detect_in_events<'a>(
    events: impl IntoIterator<Item = &'a Event>,
    field: &str,
    config: &AnomalyConfig,
) -> Vec<SeriesAnomalies> {
    type Key<'a> = (Option<AgentType>, Option<&'a str>);
    let mut series: BTreeMap<Key<'a>, Vec<(Timestamp, &'a str, f64)>> = BTreeMap::new();
    for event in events {
        if let Some(value) = event.payload.numeric_field(field).filter(|v| v.is_finite()) {
            series.entry((event.agent_type, event.operation())).or_default().push((
                event.timestamp,
                event.id.as_str(),
                value,
            ));
        }
    }
    series
        .into_iter()
        .map(|((agent_type, operation), mut points)| {
            points.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
            let mut detector = StreamingDetector::new(*config);
            let anomalies = points.iter().filter_map(|&(t, _, v)| detector.observe(t, v)).collect();
            SeriesAnomalies {
                agent_type: agent_type.map(|a| a.as_str().to_owned()),
                operation: operation.map(str::to_owned),
                points: points.len(),
                anomalies,
            }
        })
        .collect()
}

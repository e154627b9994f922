//! Tests of the analytics against independently computed values: `reference.rs`, made by
//! `reference.py` with numpy/scipy, and hand computations written out next to each use.

use super::reference as r;
use super::*;
use crate::alert::Severity;
use crate::event::{AgentType, Event, MetricEvent, Source};
use crate::time::Timestamp;

/// The shared pseudo-noise of `reference.py`: integers and halves, so exact in both.
fn noise(i: usize) -> f64 {
    ((i * 37) % 23) as f64 - 11.0 + 0.5 * ((i * 11) % 5) as f64
}

fn series_a() -> Vec<f64> {
    let mut x: Vec<f64> = (0..80).map(|i| 100.0 + 4.0 * noise(i)).collect();
    x[50] += 150.0;
    x[65] -= 50.0;
    x
}

fn series_b() -> Vec<f64> {
    (0..150).map(|i| 100.0 + 4.0 * noise(i) + if i >= 110 { 50.0 } else { 0.0 }).collect()
}

fn at(i: usize) -> Timestamp {
    Timestamp::from_millis(1_700_000_000_000 + i64::try_from(i).unwrap() * 1_000)
}

fn points(values: &[f64]) -> Vec<(Timestamp, f64)> {
    values.iter().enumerate().map(|(i, v)| (at(i), *v)).collect()
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    let tolerance = 1e-9 * expected.abs().max(1.0);
    assert!((actual - expected).abs() <= tolerance, "{what}: got {actual}, reference {expected}");
}

/// Evaluates every point; asserts silence during warm-up and returns the scores after it.
fn scores(config: AnomalyConfig, values: &[f64]) -> Vec<(Evaluation, usize)> {
    let mut detector = StreamingDetector::new(config);
    let mut out = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let evaluation = detector.evaluate(at(i), *v);
        if i < config.min_points {
            assert_eq!(evaluation, Evaluation::default(), "point {i} is in the warm-up");
        } else {
            out.push((evaluation, i));
        }
    }
    out
}

fn small(method: Method) -> AnomalyConfig {
    AnomalyConfig { window: r::WINDOW, min_points: r::MIN_POINTS, ..AnomalyConfig::for_method(method) }
}

#[test]
fn zscore_matches_numpy_and_flags_what_the_reference_flags() {
    let config = small(Method::ZScore);
    let evaluated = scores(config, &series_a());
    assert_eq!(evaluated.len(), r::ZSCORE_A.len());
    for ((evaluation, i), reference) in evaluated.iter().zip(r::ZSCORE_A) {
        assert_close(evaluation.score.unwrap(), reference, &format!("z at {i}"));
        let expected_kind = (reference.abs() > config.threshold).then_some(if reference > 0.0 {
            AnomalyKind::Spike
        } else {
            AnomalyKind::Drop
        });
        assert_eq!(evaluation.anomaly.as_ref().map(|a| a.kind), expected_kind, "kind at {i}");
    }
    // The reference flags exactly one point: the +150 spike at index 50 (z ≈ 5.01).
    let found = detect(&points(&series_a()), &config);
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].timestamp, found[0].kind, found[0].severity),
        (at(50), AnomalyKind::Spike, Severity::High)
    );
    assert_close(found[0].score, r::ZSCORE_A[50 - r::MIN_POINTS], "spike score");
}

#[test]
fn running_sums_stay_exact_far_from_zero_and_after_a_huge_spike_leaves() {
    // Series C of reference.py: 1e9 + 4·noise + i/2, with 1e12 at index 650 (not on a multiple of the window, where the sums are rebuilt anyway), default window.
    let mut values: Vec<f64> = (0..2000).map(|i| 1e9 + 4.0 * noise(i) + 0.5 * i as f64).collect();
    values[650] = 1e12;
    let mut detector = StreamingDetector::new(AnomalyConfig::default());
    let evaluations: Vec<Evaluation> =
        values.iter().enumerate().map(|(i, v)| detector.evaluate(at(i), *v)).collect();
    for (i, reference) in r::C_INDICES.iter().zip(r::ZSCORE_C) {
        assert_close(evaluations[*i].score.unwrap(), reference, &format!("z at {i}"));
    }
}

#[test]
fn robust_matches_numpy_median_and_scipy_mad() {
    for (log_scale, reference) in [(false, &r::ROBUST_A), (true, &r::ROBUST_LOG_A)] {
        let config = AnomalyConfig { log_scale, ..small(Method::Robust) };
        assert_eq!(config.threshold, 3.5);
        let evaluated = scores(config, &series_a());
        assert_eq!(evaluated.len(), reference.len());
        for ((evaluation, i), reference) in evaluated.iter().zip(reference) {
            assert_close(evaluation.score.unwrap(), *reference, &format!("M at {i} (log {log_scale})"));
            assert_eq!(evaluation.anomaly.is_some(), reference.abs() > 3.5, "flag at {i}");
        }
    }
    // Linear: the spike at 50 scores M ≈ 3.63 > 3.5; on the log scale it is 2.25 and not flagged.
    let linear = detect(&points(&series_a()), &small(Method::Robust));
    assert_eq!(
        linear.iter().map(|a| (a.timestamp, a.kind)).collect::<Vec<_>>(),
        vec![(at(50), AnomalyKind::Spike)]
    );
}

#[test]
fn ewma_matches_reference_and_finds_the_level_shift_zscore_misses() {
    let config = AnomalyConfig::for_method(Method::Ewma);
    assert_eq!((config.window, config.min_points), (r::EWMA_WINDOW, r::EWMA_MIN_POINTS));
    let evaluated = scores(config, &series_b());
    assert_eq!(evaluated.len(), r::EWMA_SCORE_B.len());
    let mut run = 0;
    for (((evaluation, i), z), e) in evaluated.iter().zip(r::EWMA_Z_B).zip(r::EWMA_SCORE_B) {
        assert_close(evaluation.score.unwrap(), z, &format!("z at {i}"));
        assert_close(evaluation.ewma_score.unwrap(), e, &format!("EWMA score at {i}"));
        // Reference run rule: the EWMA above +3 for three points or more (all are above here).
        assert!(e > -3.0);
        run = if e > 3.0 { run + 1 } else { 0 };
        let kind = evaluation.anomaly.as_ref().map(|a| a.kind);
        if run >= 3 {
            assert_eq!(kind, Some(AnomalyKind::LevelShift), "level shift at {i}");
        } else if z.abs() > 3.0 {
            assert_eq!(kind, Some(AnomalyKind::Spike), "spike at {i}");
        } else {
            assert_eq!(kind, None, "nothing at {i}");
        }
    }
    let shifts: Vec<_> = detect(&points(&series_b()), &config)
        .into_iter()
        .filter(|a| a.kind == AnomalyKind::LevelShift)
        .collect();
    assert!(!shifts.is_empty());
    assert!(shifts.iter().all(|a| a.timestamp >= at(110) && a.score > 3.0));
    // The plain z-score sees the shift only once, at its onset (z ≈ 3.38 at 110).
    let z_only = detect(&points(&series_b()), &AnomalyConfig::default());
    assert_eq!(z_only.iter().map(|a| a.timestamp).collect::<Vec<_>>(), vec![at(110)]);
}

#[test]
fn trend_matches_scipy_linregress_and_the_t_interval() {
    // The trend data of reference.py: about a minute apart with jitter, y = 5 + 0.3 i + noise/2.
    let series: Vec<(Timestamp, f64)> = (0..30usize)
        .map(|i| {
            let ms = i64::try_from(i * 60_000 + ((i * 13) % 7) * 1_000).unwrap();
            (Timestamp::from_millis(ms), 5.0 + 0.3 * i as f64 + 0.5 * noise(i))
        })
        .collect();
    let cases = [
        (30, r::TREND_ALL, r::FORECAST_ALL, Direction::Increasing),
        // |b|/SE_b ≈ 1.95 < 2 over the last 20: flat.
        (20, r::TREND_LAST20, r::FORECAST_LAST20, Direction::Flat),
    ];
    for (last_n, [slope, intercept, r2, t_stat, per_hour], forecast, direction) in cases {
        let config = TrendConfig { last_n, ..TrendConfig::default() };
        let fitted = trend(&series, &config).unwrap();
        assert_eq!(fitted.points, last_n);
        assert_close(fitted.slope_per_step, slope, "slope");
        assert_close(fitted.intercept, intercept, "intercept");
        assert_close(fitted.r_squared, r2, "r²");
        assert_close(fitted.slope_per_hour, per_hour, "slope per hour");
        assert_eq!(fitted.direction, direction, "t = {t_stat}");
        assert_eq!(fitted.forecast.len(), 5);
        for (point, (ms, value, lower, upper)) in fitted.forecast.iter().zip(forecast) {
            assert_eq!(point.timestamp, Timestamp::from_millis(ms));
            assert_close(point.value, value, "forecast");
            assert_close(point.lower, lower, "lower");
            assert_close(point.upper, upper, "upper");
        }
    }
    // Shuffled input gives the same fit: points are sorted inside.
    let mut shuffled = series.clone();
    shuffled.reverse();
    assert_eq!(trend(&shuffled, &TrendConfig::default()), trend(&series, &TrendConfig::default()));
}

#[test]
fn trend_of_an_exact_line_by_hand() {
    // y = 10 + 2i, one minute apart: b = 2, a = 10, r² = 1, SSE = 0 so the interval is
    // empty, slope per hour 2 × 60 = 120; the next step is 10 + 2·10 = 30.
    let series: Vec<_> =
        (0..10).map(|i| (Timestamp::from_millis(i * 60_000), 10.0 + 2.0 * i as f64)).collect();
    let fitted = trend(&series, &TrendConfig::default()).unwrap();
    assert_eq!((fitted.slope_per_step, fitted.intercept, fitted.r_squared), (2.0, 10.0, 1.0));
    assert_eq!(fitted.slope_per_hour, 120.0);
    assert_eq!(fitted.direction, Direction::Increasing);
    let first = fitted.forecast[0];
    assert_eq!(
        (first.timestamp, first.value, first.lower, first.upper),
        (Timestamp::from_millis(600_000), 30.0, 30.0, 30.0)
    );
    // A rise of 0.1 over 10 points around a mean of 1,000 is within the 5 % tolerance: flat.
    let gentle: Vec<_> = (0..10).map(|i| (Timestamp::from_millis(i), 1_000.0 + 0.01 * i as f64)).collect();
    assert_eq!(trend(&gentle, &TrendConfig::default()).unwrap().direction, Direction::Flat);
    let falling: Vec<_> = (0..10).map(|i| (Timestamp::from_millis(i), 100.0 - 3.0 * i as f64)).collect();
    assert_eq!(trend(&falling, &TrendConfig::default()).unwrap().direction, Direction::Decreasing);
}

#[test]
fn constant_series_report_nothing_and_a_flat_trend() {
    let constant = points(&[42.0; 200]);
    for method in [Method::ZScore, Method::Robust, Method::Ewma] {
        let mut detector = StreamingDetector::new(AnomalyConfig::for_method(method));
        for &(t, v) in &constant {
            let evaluation = detector.evaluate(t, v);
            assert_eq!(evaluation.anomaly, None, "{method:?}");
            if method != Method::Robust {
                // sd = 0: no score at all (the robust method has its floor, see below).
                assert_eq!(evaluation.score, None, "{method:?}");
            }
        }
        assert_eq!(detector.len(), 100);
        assert_eq!(detector.observed(), 200);
    }
    let fitted = trend(&constant, &TrendConfig::default()).unwrap();
    assert_eq!((fitted.slope_per_step, fitted.r_squared, fitted.direction), (0.0, 0.0, Direction::Flat));
    assert!(fitted.forecast.iter().all(|p| p.value == 42.0 && p.lower == 42.0 && p.upper == 42.0));
}

#[test]
fn robust_floor_puts_the_margin_at_the_threshold() {
    // 50 × 100 (MAD = 0), then x. Linear floor = 0.5·100·0.6745/3.5, so
    // M = 0.6745·(x − 100)/floor = 3.5·(x − 100)/50: 160 → 4.2 (flagged), 140 → 2.8 (not).
    let mut config = AnomalyConfig::for_method(Method::Robust);
    for (x, expected) in [(160.0, 4.2), (140.0, 2.8), (40.0, -4.2)] {
        let mut detector = StreamingDetector::new(config);
        for i in 0..50 {
            detector.observe(at(i), 100.0);
        }
        let evaluation = detector.evaluate(at(50), x);
        assert_close(evaluation.score.unwrap(), expected, "linear floor");
        assert_eq!(evaluation.anomaly.is_some(), expected.abs() > 3.5);
        let band = evaluation.band.unwrap();
        assert_eq!((band.expected, band.lower, band.upper), (100.0, 50.0, 150.0));
    }
    // Log scale: floor = ln(1.5)·0.6745/3.5, so M = 3.5·(ln 161 − ln 101)/ln 1.5
    // = 4.024991141940261 (python3: 3.5*(math.log1p(160)-math.log1p(100))/math.log1p(0.5)).
    config.log_scale = true;
    let mut detector = StreamingDetector::new(config);
    for i in 0..50 {
        detector.observe(at(i), 100.0);
    }
    let anomaly = detector.observe(at(50), 160.0).unwrap();
    assert_close(anomaly.score, 4.024_991_141_940_261, "log floor");
    assert_close(anomaly.expected, 100.0, "expected back in milliseconds");
    // All zeros on a linear scale: MAD and floor are 0, nothing to divide by, no score.
    let mut detector = StreamingDetector::new(AnomalyConfig::for_method(Method::Robust));
    for i in 0..50 {
        detector.observe(at(i), 0.0);
    }
    assert_eq!(detector.evaluate(at(50), 5.0), Evaluation::default());
}

#[test]
fn too_few_points_say_nothing() {
    // 29 calm points and a huge spike: below min_points (30) nothing is scored.
    for method in [Method::ZScore, Method::Robust, Method::Ewma] {
        let mut values: Vec<f64> = (0..29).map(|i| 100.0 + noise(i)).collect();
        values.push(1e6);
        assert!(detect(&points(&values), &AnomalyConfig::for_method(method)).is_empty(), "{method:?}");
        // One more calm point and the 31st point is scored.
        values.insert(0, 100.0);
        let found = detect(&points(&values), &AnomalyConfig::for_method(method));
        assert_eq!(found.len(), 1, "{method:?}");
        assert_eq!((found[0].kind, found[0].severity), (AnomalyKind::Spike, Severity::Critical));
    }
    assert!(detect(&[], &AnomalyConfig::default()).is_empty());
    let two = points(&[1.0, 2.0]);
    assert_eq!(trend(&two, &TrendConfig::default()), None);
    assert_eq!(trend(&points(&[1.0, f64::NAN, 2.0]), &TrendConfig::default()), None);
    assert!(trend(&points(&[1.0, 2.0, 4.0]), &TrendConfig::default()).is_some());
}

#[test]
fn spike_drop_and_level_shift_get_their_kinds() {
    // Calm: 100 ± 2.5 (sd ≈ 1.5). A spike and a drop beyond the robust ±50 % margin, then,
    // once both have left the window, a sustained shift of +4 (≈ 2.7 sd).
    let mut values: Vec<f64> = (0..300).map(|i| 100.0 + 0.25 * noise(i)).collect();
    values[120] = 300.0;
    values[150] = 20.0;
    for v in &mut values[260..] {
        *v += 4.0;
    }
    let series = points(&values);
    for method in [Method::ZScore, Method::Robust, Method::Ewma] {
        let found = detect(&series, &AnomalyConfig::for_method(method));
        let find = |i: usize| {
            found
                .iter()
                .find(|a| a.timestamp == at(i))
                .unwrap_or_else(|| panic!("{method:?} at {i}: {found:?}"))
        };
        let spike = find(120);
        assert_eq!((spike.kind, spike.value, spike.method), (AnomalyKind::Spike, 300.0, method));
        assert!(spike.score > 0.0 && (spike.expected - 100.0).abs() < 1.0);
        let drop = find(150);
        assert_eq!(drop.kind, AnomalyKind::Drop);
        assert!(drop.score < 0.0);
        assert!(found.iter().all(|a| a.timestamp >= at(120)), "{method:?}: {found:?}");
        if method != Method::Ewma {
            assert!(found.iter().all(|a| a.kind != AnomalyKind::LevelShift));
        }
    }
    let ewma = detect(&series, &AnomalyConfig::for_method(Method::Ewma));
    let shifts: Vec<_> = ewma.iter().filter(|a| a.kind == AnomalyKind::LevelShift).collect();
    assert!(shifts.len() >= 3, "{ewma:?}");
    assert!(shifts.iter().all(|a| a.timestamp >= at(262) && a.score > 3.0), "{shifts:?}");
    // The spike and drop are clipped before they reach the EWMA: no level shift after them.
    assert!(ewma.iter().all(|a| a.timestamp == at(120) || a.timestamp == at(150) || a.timestamp >= at(260)));
}

#[test]
fn severity_follows_the_score_bands() {
    // Notes §3.2: 3–4 low, 4–5 medium, 5–7 high, > 7 critical (by |score|).
    let cases = [
        (3.2, Severity::Low),
        (-3.99, Severity::Low),
        (4.0, Severity::Medium),
        (-4.5, Severity::Medium),
        (5.0, Severity::High),
        (7.0, Severity::High),
        (-7.01, Severity::Critical),
        (f64::NAN, Severity::Low),
    ];
    for (score, severity) in cases {
        assert_eq!(severity_for_score(score), severity, "{score}");
    }
}

fn all_finite(evaluation: &Evaluation) -> bool {
    let band =
        evaluation.band.is_none_or(|b| b.expected.is_finite() && b.lower.is_finite() && b.upper.is_finite());
    let anomaly = evaluation
        .anomaly
        .as_ref()
        .is_none_or(|a| a.value.is_finite() && a.score.is_finite() && a.expected.is_finite());
    band && anomaly
        && evaluation.score.is_none_or(f64::is_finite)
        && evaluation.ewma_score.is_none_or(f64::is_finite)
}

#[test]
fn degenerate_input_never_yields_nan() {
    let huge = f64::MAX;
    let inputs: Vec<(&str, Vec<f64>)> = vec![
        ("all equal", vec![7.0; 150]),
        ("single point", vec![3.0]),
        ("zeros", vec![0.0; 150]),
        ("zeros then a value", [vec![0.0; 100], vec![5.0, -5.0]].concat()),
        ("huge constant", vec![huge; 150]),
        ("huge alternating", (0..150).map(|i| if i % 2 == 0 { huge } else { -huge }).collect()),
        ("huge spike", [vec![1.0; 100], vec![huge, -huge, 1.0]].concat()),
        ("tiny", (0..150).map(|i| 1e-300 * (i % 7) as f64).collect()),
        ("non-finite", [vec![1.0; 60], vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.0]].concat()),
        ("negative logs", (0..150).map(|i| -50.0 + (i % 9) as f64).collect()),
    ];
    for (name, values) in &inputs {
        for method in [Method::ZScore, Method::Robust, Method::Ewma] {
            for log_scale in [false, true] {
                let config = AnomalyConfig { log_scale, min_points: 2, ..AnomalyConfig::for_method(method) };
                let mut detector = StreamingDetector::new(config);
                for (i, v) in values.iter().enumerate() {
                    let evaluation = detector.evaluate(at(i), *v);
                    assert!(
                        all_finite(&evaluation),
                        "{name} {method:?} log={log_scale} at {i}: {evaluation:?}"
                    );
                    if let Some(anomaly) = &evaluation.anomaly {
                        let json = serde_json::to_string(anomaly).unwrap();
                        assert!(!json.contains("null"), "{json}");
                    }
                }
            }
        }
        let series = points(values);
        if let Some(fitted) = trend(&series, &TrendConfig { horizon: 50, ..TrendConfig::default() }) {
            let numbers = [fitted.slope_per_step, fitted.slope_per_hour, fitted.intercept, fitted.r_squared];
            assert!(numbers.iter().all(|v| v.is_finite()), "{name}: {fitted:?}");
            assert!((0.0..=1.0).contains(&fitted.r_squared));
            assert!(
                fitted.forecast.iter().all(|p| [p.value, p.lower, p.upper].iter().all(|v| v.is_finite()))
            );
            assert!(!serde_json::to_string(&fitted).unwrap().contains("null"), "{name}");
        }
    }
    // Non-finite values are skipped: they change nothing.
    let mut detector = StreamingDetector::new(AnomalyConfig::default());
    assert_eq!(detector.evaluate(at(0), f64::NAN), Evaluation::default());
    assert!(detector.is_empty());
    // Timestamps all equal: no spacing, slope per hour 0, forecasts at the same time.
    let same_time: Vec<_> = (0..5).map(|i| (at(0), f64::from(i))).collect();
    let fitted = trend(&same_time, &TrendConfig::default()).unwrap();
    assert_eq!((fitted.slope_per_step, fitted.slope_per_hour), (1.0, 0.0));
    assert!(fitted.forecast.iter().all(|p| p.timestamp == at(0)));
}

#[test]
fn batch_equals_streaming_and_sorts_its_input() {
    let series = points(&series_a());
    let config = small(Method::ZScore);
    let mut detector = StreamingDetector::new(config);
    let streamed: Vec<_> = series.iter().filter_map(|&(t, v)| detector.observe(t, v)).collect();
    assert_eq!(detect(&series, &config), streamed);
    // `evaluate` reports the same anomalies as `observe`, for every method.
    for method in [Method::ZScore, Method::Robust, Method::Ewma] {
        let config = AnomalyConfig { log_scale: true, ..small(method) };
        let (mut observing, mut evaluating) =
            (StreamingDetector::new(config), StreamingDetector::new(config));
        for &(t, v) in points(&series_b()).iter() {
            assert_eq!(observing.observe(t, v), evaluating.evaluate(t, v).anomaly, "{method:?}");
        }
    }
    let mut reversed = series.clone();
    reversed.reverse();
    assert_eq!(detect(&reversed, &config), streamed);
    detector.reset();
    assert_eq!((detector.len(), detector.observed(), detector.is_ready()), (0, 0, false));
}

fn event(id: usize, agent: Option<AgentType>, operation: &str, duration: f64) -> Event {
    let mut event = MetricEvent::performance(Source::ClaudeCli, operation, duration).with_timestamp(at(id));
    event.agent_type = agent;
    event.into_event(at(id)).tap_id(id)
}

trait TapId {
    fn tap_id(self, id: usize) -> Self;
}

impl TapId for Event {
    fn tap_id(mut self, id: usize) -> Self {
        self.id = format!("e-{id:04}");
        self
    }
}

#[test]
fn detect_in_events_groups_by_agent_type_and_operation() {
    // Three series, interleaved, delivered newest first: a spike only in (worker, tool:Bash).
    let mut events = Vec::new();
    for i in 0..120 {
        let calm = 100.0 + noise(i);
        let bash = if i == 100 { 5_000.0 } else { calm };
        events.push(event(3 * i, Some(AgentType::Worker), "tool:Bash", bash));
        events.push(event(3 * i + 1, Some(AgentType::Manager), "tool:Bash", calm));
        events.push(event(3 * i + 2, None, "tool:Read", calm));
    }
    // An error event has no duration: it is in no series.
    let error = MetricEvent::new(
        Source::ClaudeCli,
        crate::event::Payload::Error(crate::event::ErrorPayload {
            operation: Some("tool:Bash".into()),
            message: "boom".into(),
            code: None,
            extra: Default::default(),
        }),
    );
    events.push(error.with_agent_type(AgentType::Worker).into_event(at(1)));
    events.reverse();

    let found = detect_in_events(&events, "duration", &AnomalyConfig::for_latency());
    let keys: Vec<_> =
        found.iter().map(|s| (s.agent_type.as_deref(), s.operation.as_deref(), s.points)).collect();
    assert_eq!(
        keys,
        vec![
            (None, Some("tool:Read"), 120),
            (Some("manager"), Some("tool:Bash"), 120),
            (Some("worker"), Some("tool:Bash"), 120)
        ]
    );
    assert!(found[0].anomalies.is_empty() && found[1].anomalies.is_empty());
    let spikes = &found[2].anomalies;
    assert_eq!(spikes.len(), 1);
    assert_eq!(
        (spikes[0].timestamp, spikes[0].value, spikes[0].kind),
        (at(300), 5_000.0, AnomalyKind::Spike)
    );
    assert_eq!(spikes[0].method, Method::Robust);

    let json = serde_json::to_value(&found[2]).unwrap();
    assert_eq!(json["agentType"], "worker");
    assert_eq!(json["anomalies"][0]["kind"], "spike");
    assert_eq!(json["anomalies"][0]["method"], "robust");
    assert_eq!(json["anomalies"][0]["severity"], spikes[0].severity.as_str());
    assert!(json["anomalies"][0]["expected"].is_number());
}

#[test]
fn configs_speak_the_wire_format() {
    let robust: AnomalyConfig = serde_json::from_str(r#"{"method":"robust"}"#).unwrap();
    assert_eq!(robust, AnomalyConfig::for_method(Method::Robust));
    assert_eq!(robust.threshold, 3.5);
    let ewma: AnomalyConfig = serde_json::from_str(
        r#"{"method":"ewma","window":50,"minPoints":10,"ewmaLambda":0.3,"ewmaLimit":2.5,"logScale":true}"#,
    )
    .unwrap();
    assert_eq!(
        (ewma.window, ewma.min_points, ewma.ewma_lambda, ewma.ewma_limit, ewma.log_scale),
        (50, 10, 0.3, 2.5, true)
    );
    assert_eq!(ewma.threshold, 3.0);
    assert_eq!(serde_json::from_str::<AnomalyConfig>("{}").unwrap(), AnomalyConfig::default());
    for bad in [
        r#"{"window":1}"#,
        r#"{"minPoints":500}"#,
        r#"{"ewmaLambda":0}"#,
        r#"{"threshold":-1}"#,
        r#"{"colour":1}"#,
    ] {
        assert!(serde_json::from_str::<AnomalyConfig>(bad).is_err(), "{bad}");
    }
    let round_trip: AnomalyConfig =
        serde_json::from_str(&serde_json::to_string(&AnomalyConfig::for_latency()).unwrap()).unwrap();
    assert_eq!(round_trip, AnomalyConfig::for_latency());
    assert!(serde_json::to_string(&AnomalyConfig::default()).unwrap().contains("\"minPoints\":30"));

    let latency = AnomalyConfig::for_latency();
    assert_eq!(
        (latency.method, latency.threshold, latency.log_scale, latency.window),
        (Method::Robust, 3.5, true, 100)
    );
    assert_eq!(
        serde_json::to_string(&[Method::ZScore, Method::Robust, Method::Ewma]).unwrap(),
        r#"["zscore","robust","ewma"]"#
    );
    assert_eq!(
        serde_json::to_string(&[AnomalyKind::Spike, AnomalyKind::Drop, AnomalyKind::LevelShift]).unwrap(),
        r#"["spike","drop","levelShift"]"#
    );
    assert_eq!(
        serde_json::to_string(&[Direction::Increasing, Direction::Decreasing, Direction::Flat]).unwrap(),
        r#"["increasing","decreasing","flat"]"#
    );
    let trend_config: TrendConfig = serde_json::from_str(r#"{"lastN":20}"#).unwrap();
    assert_eq!(trend_config, TrendConfig { last_n: 20, ..TrendConfig::default() });
    assert!(TrendConfig { confidence: 1.0, ..TrendConfig::default() }.validate().is_err());
    for bad in [
        r#"{"confidence":1.5}"#,
        r#"{"horizon":1000000}"#,
        r#"{"flatTolerance":-0.1}"#,
        r#"{"lastN":5,"x":1}"#,
    ] {
        assert!(serde_json::from_str::<TrendConfig>(bad).is_err(), "{bad}");
    }

    // Invalid settings given in code are clamped, not a panic.
    let detector = StreamingDetector::new(AnomalyConfig {
        window: 0,
        min_points: 0,
        threshold: f64::NAN,
        ewma_lambda: 7.0,
        ..AnomalyConfig::default()
    });
    let clamped = detector.config();
    assert_eq!(
        (clamped.window, clamped.min_points, clamped.threshold, clamped.ewma_lambda),
        (2, 2, 3.0, 1.0)
    );
    let odd = TrendConfig { confidence: f64::NAN, flat_tolerance: -1.0, ..TrendConfig::default() };
    assert!(trend(&points(&[1.0, 2.0, 4.0]), &odd).is_some());
}

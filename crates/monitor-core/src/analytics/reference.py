#!/usr/bin/env python3
"""Independent reference values for monitor_core::analytics tests.

Regenerate with (numpy 2.4.6, scipy 1.17.1 were used):

    pip install numpy scipy
    python3 crates/monitor-core/src/analytics/reference.py > crates/monitor-core/src/analytics/reference.rs

Each statistic is computed here with numpy/scipy directly from the formulas of
shared/notes/alerting-and-timescale.md §3.2, not from the Rust code:

- z-score: numpy mean / std(ddof=1) of the previous W points.
- robust: numpy median, scipy.stats.median_abs_deviation(scale=1.0); M = 0.6745 (x - med) / MAD,
  MAD floored at margin * 0.6745 / threshold (margin 0.5 |med|, or ln 1.5 on the log scale);
  the script asserts where the floor binds so the MAD itself is what most points test.
- EWMA: E_t = lam * clip(x_t, mean +- T sd) + (1 - lam) E_{t-1}, E_0 = x_0; score (E - mean) / (sd sqrt(lam / (2 - lam))).
- trend: scipy.stats.linregress (slope, intercept, rvalue, stderr); prediction interval with
  scipy.stats.t.ppf and the textbook formula s sqrt(1 + 1/n + (x0 - xbar)^2 / Sxx).
"""

import math

import numpy as np
from scipy import stats


def noise(i):
    # Integers and halves only, so the Rust tests rebuild the same data exactly.
    return ((i * 37) % 23) - 11 + 0.5 * ((i * 11) % 5)


def series_a():
    x = [100.0 + 4.0 * noise(i) for i in range(80)]
    x[50] += 150.0
    x[65] -= 50.0
    return np.array(x)


def series_b():
    # A shift of about 1.9 sd at index 110: the point z-scores barely notice, the EWMA does.
    return np.array([100.0 + 4.0 * noise(i) + (50.0 if i >= 110 else 0.0) for i in range(150)])


def series_c():
    # Far from zero, drifting, with a spike a thousand times the level: the running sums'
    # cancellation and eviction paths, at the default window.
    x = [1e9 + 4.0 * noise(i) + 0.5 * i for i in range(2000)]
    x[650] = 1e12
    return np.array(x)


C_INDICES = [100, 250, 649, 650, 651, 749, 750, 751, 752, 1500, 1999]

W, MIN_POINTS = 20, 10
# Series B runs with the defaults of AnomalyConfig (window 100, 30 points of warm-up).
EWMA_W, EWMA_MIN_POINTS = 100, 30


def zscores(x, w=W, min_points=MIN_POINTS):
    out = []
    for i in range(len(x)):
        prev = x[max(0, i - w) : i]
        if len(prev) < min_points:
            continue
        out.append((x[i] - prev.mean()) / prev.std(ddof=1))
    return out


def robust_scores(x, threshold, log, w=W, min_points=MIN_POINTS):
    y = np.sign(x) * np.log1p(np.abs(x)) if log else x
    out, floored = [], []
    for i in range(len(y)):
        prev = y[max(0, i - w) : i]
        if len(prev) < min_points:
            continue
        med = np.median(prev)
        mad = stats.median_abs_deviation(prev, scale=1.0)
        margin = math.log1p(0.5) if log else 0.5 * abs(med)
        floor = margin * 0.6745 / threshold
        if mad < floor:
            floored.append(i)
        out.append(0.6745 * (y[i] - med) / max(mad, floor))
    return out, floored


def ewma_scores(x, lam=0.2, threshold=3.0, w=W, min_points=MIN_POINTS):
    e = None
    zs, es = [], []
    for i in range(len(x)):
        prev = x[max(0, i - w) : i]
        ready = len(prev) >= min_points
        if ready:
            mu, sd = prev.mean(), prev.std(ddof=1)
            inp = min(max(x[i], mu - threshold * sd), mu + threshold * sd)
        else:
            inp = x[i]
        e = inp if e is None else lam * inp + (1 - lam) * e
        if ready:
            zs.append((x[i] - mu) / sd)
            es.append((e - mu) / (sd * math.sqrt(lam / (2 - lam))))
    return zs, es


def trend_ref(ts_ms, y, last_n, horizon=5, confidence=0.95):
    ts_ms, y = ts_ms[-last_n:], y[-last_n:]
    n = len(y)
    x = np.arange(n, dtype=float)
    fit = stats.linregress(x, y)
    resid = y - (fit.intercept + fit.slope * x)
    s = math.sqrt(float(np.sum(resid**2)) / (n - 2))
    sxx = float(np.sum((x - x.mean()) ** 2))
    t = stats.t.ppf((1 + confidence) / 2, n - 2)
    gaps = sorted(np.diff(ts_ms))
    spacing = gaps[(len(gaps) - 1) // 2]
    forecast = []
    for h in range(1, horizon + 1):
        x0 = n - 1 + h
        value = fit.intercept + fit.slope * x0
        half = t * s * math.sqrt(1 + 1 / n + (x0 - x.mean()) ** 2 / sxx)
        forecast.append((int(ts_ms[-1] + h * spacing), value, value - half, value + half))
    return {
        "slope": fit.slope,
        "intercept": fit.intercept,
        "r2": fit.rvalue**2,
        "t_stat": abs(fit.slope) / fit.stderr,
        "slope_per_hour": fit.slope * 3_600_000 / spacing,
        "forecast": forecast,
    }


def trend_data():
    # 30 points, about a minute apart with jitter; y = 5 + 0.3 i + noise.
    ts = np.array([i * 60_000 + ((i * 13) % 7) * 1_000 for i in range(30)], dtype=float)
    y = np.array([5.0 + 0.3 * i + 0.5 * noise(i) for i in range(30)])
    return ts, y


def rust_array(name, values):
    body = ", ".join(repr(float(v)) for v in values)
    return f"pub(super) const {name}: [f64; {len(values)}] = [{body}];"


def main():
    a, b = series_a(), series_b()
    z = zscores(a)
    robust_lin, floored_lin = robust_scores(a, 3.5, log=False)
    robust_log, floored_log = robust_scores(a, 3.5, log=True)
    ewma_z, ewma_e = ewma_scores(b, w=EWMA_W, min_points=EWMA_MIN_POINTS)
    c = series_c()
    zc = zscores(c, w=100, min_points=30)
    zc = [zc[i - 30] for i in C_INDICES]
    ts, y = trend_data()
    full = trend_ref(ts, y, 30)
    last20 = trend_ref(ts, y, 20)

    print("//! Reference values from `reference.py` (numpy 2.4.6, scipy 1.17.1); do not edit by hand.")
    print("//! Regenerate: `python3 reference.py > reference.rs` in this directory, then rustfmt.")
    print()
    print("/// Window and warm-up used for every reference series.")
    print(f"pub(super) const WINDOW: usize = {W};")
    print(f"pub(super) const MIN_POINTS: usize = {MIN_POINTS};")
    print("/// z = (x - mean) / std(ddof=1) of the previous W points of series A, from index MIN_POINTS on.")
    print(rust_array("ZSCORE_A", z))
    print("/// 0.6745 (x - median) / max(MAD, floor) of series A (linear), from index MIN_POINTS on.")
    print(rust_array("ROBUST_A", robust_lin))
    print(f"/// Indices of series A where the MAD floor binds (linear): {floored_lin}.")
    print("/// The same on the log scale y = ln(1 + x).")
    print(rust_array("ROBUST_LOG_A", robust_log))
    print(f"/// Indices where the floor binds (log): {floored_log}.")
    print("/// Window and warm-up of series B (the defaults).")
    print(f"pub(super) const EWMA_WINDOW: usize = {EWMA_W};")
    print(f"pub(super) const EWMA_MIN_POINTS: usize = {EWMA_MIN_POINTS};")
    print("/// Point z-scores of series B (level shift +50 at index 110), from index EWMA_MIN_POINTS on.")
    print(rust_array("EWMA_Z_B", ewma_z))
    print("/// EWMA scores (E - mean) / (sd sqrt(lam / (2 - lam))) of series B, from index EWMA_MIN_POINTS on.")
    print(rust_array("EWMA_SCORE_B", ewma_e))
    print("/// Indices of series C (window 100, 30 points of warm-up) whose z-scores are checked.")
    print(f"pub(super) const C_INDICES: [usize; {len(C_INDICES)}] = {C_INDICES};")
    print("/// z-scores of series C at C_INDICES.")
    print(rust_array("ZSCORE_C", zc))
    for label, ref in (("ALL", full), ("LAST20", last20)):
        print(f"/// scipy.stats.linregress over the trend data ({label}): slope, intercept, r^2, |b|/SE_b, slope per hour.")
        print(rust_array(f"TREND_{label}", [ref["slope"], ref["intercept"], ref["r2"], ref["t_stat"], ref["slope_per_hour"]]))
        print(f"/// Forecast (timestamp ms, value, lower, upper) with t.ppf(0.975, n - 2) ({label}).")
        rows = ", ".join(f"({t}, {float(v)!r}, {float(lo)!r}, {float(hi)!r})" for t, v, lo, hi in ref["forecast"])
        print(f"pub(super) const FORECAST_{label}: [(i64, f64, f64, f64); 5] = [{rows}];")


if __name__ == "__main__":
    main()

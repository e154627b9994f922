import { useMemo, useState } from 'react';
import { TimeSeriesChart } from '../components/TimeSeriesChart';
import type { ChartData } from '../lib/series';

/** Synthetic points, deterministic (a fixed LCG), so the browser test measures the same
 * chart every run: one series of `n` points a second apart, a noisy sine with spikes. */
export function syntheticSeries(n: number, seriesCount = 1): ChartData {
  const x = new Array<number>(n);
  const start = 1_790_000_000;
  for (let i = 0; i < n; i++) x[i] = start + i;
  let seed = 42;
  const rand = () => {
    seed = (seed * 1_664_525 + 1_013_904_223) >>> 0;
    return seed / 2 ** 32;
  };
  const series = Array.from({ length: seriesCount }, (_, s) => ({
    key: `s${s}`,
    label: `series ${s + 1}`,
    group: {},
    values: x.map((_, i) => 200 + 80 * Math.sin(i / 500 + s) + 40 * rand() + (rand() < 0.001 ? 600 : 0)),
  }));
  return { x, series };
}

/** `#/bench?n=50000&series=1`: renders a synthetic chart and shows how long it took. */
export function BenchView({ n, series }: { n: number; series: number }) {
  const data = useMemo(() => syntheticSeries(n, series), [n, series]);
  const [ms, setMs] = useState<number | null>(null);
  return (
    <section className="card">
      <h2>
        Chart benchmark: {n.toLocaleString('en-US')} points × {series} series
      </h2>
      <p data-testid="bench-result" data-ms={ms ?? ''}>
        {ms === null ? 'rendering…' : `first draw in ${ms.toFixed(1)} ms`}
      </p>
      <TimeSeriesChart data={data} onRender={setMs} testId="bench-chart" />
    </section>
  );
}

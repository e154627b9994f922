// Number, duration and time formatting shared by every view. Pure functions: tested in
// format.test.ts.

const DASH = '—';

/** 1234 → "1,234"; 12345 → "12.3k"; 2.5e6 → "2.5M"; fractions keep up to 2 digits. */
export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${trim(value / 1e9, 1)}G`;
  if (abs >= 1e6) return `${trim(value / 1e6, 1)}M`;
  if (abs >= 1e4) return `${trim(value / 1e3, 1)}k`;
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return trim(value, abs >= 100 ? 0 : abs >= 10 ? 1 : 2);
}

/** toFixed without trailing fractional zeros: 1.50 → "1.5", 850 → "850". */
function trim(value: number, digits: number): string {
  const s = value.toFixed(digits);
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/** Milliseconds → "850 ms", "1.25 s", "2m 05s", "1h 02m". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return DASH;
  const sign = ms < 0 ? '-' : '';
  const a = Math.abs(ms);
  if (a < 1) return `${sign}${trim(a, 2)} ms`;
  if (a < 1000) return `${sign}${trim(a, a < 10 ? 1 : 0)} ms`;
  if (a < 60_000) return `${sign}${trim(a / 1000, 2)} s`;
  if (a < 3_600_000) {
    const m = Math.floor(a / 60_000);
    const s = Math.floor((a % 60_000) / 1000);
    return `${sign}${m}m ${String(s).padStart(2, '0')}s`;
  }
  const h = Math.floor(a / 3_600_000);
  const m = Math.floor((a % 3_600_000) / 60_000);
  return `${sign}${h}h ${String(m).padStart(2, '0')}m`;
}

/** A ratio (0.0123) → "1.23%"; small non-zero ratios keep two significant digits. */
export function formatPercent(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return DASH;
  const pct = ratio * 100;
  if (pct === 0) return '0%';
  const abs = Math.abs(pct);
  const digits = abs >= 10 ? 1 : abs >= 1 ? 2 : Math.min(4, 1 - Math.floor(Math.log10(abs)));
  return `${trim(pct, digits)}%`;
}

/** Events per minute → "12.5/min" (or "/s" above 600/min). */
export function formatRate(perMinute: number | null | undefined): string {
  if (perMinute === null || perMinute === undefined || !Number.isFinite(perMinute)) return DASH;
  if (perMinute >= 600) return `${formatNumber(perMinute / 60)}/s`;
  return `${formatNumber(perMinute)}/min`;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** Local wall-clock time, with milliseconds when asked: "14:03:07" / "14:03:07.123". */
export function formatClock(ts: string | number | Date, withMs = false): string {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return DASH;
  const base = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withMs ? `${base}.${pad(d.getMilliseconds(), 3)}` : base;
}

/** Local date and time: "2026-11-28 14:03:07". */
export function formatDateTime(ts: string | number | Date): string {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return DASH;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${formatClock(d)}`;
}

/** How long ago, from `now`: "just now", "42s ago", "5m ago", "3h ago", "2d ago". */
export function formatAgo(ts: string | number | Date, now: number = Date.now()): string {
  const t = new Date(ts).getTime();
  if (Number.isNaN(t)) return DASH;
  const s = Math.round((now - t) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/** A short one-line description of an event's payload for the feed. */
export function describePayload(type: string, payload: Record<string, unknown>): string {
  const p = payload ?? {};
  const str = (k: string) => (typeof p[k] === 'string' ? (p[k] as string) : undefined);
  const num = (k: string) => (typeof p[k] === 'number' ? (p[k] as number) : undefined);
  switch (type) {
    case 'performance': {
      const parts = [str('operation') ?? '?', formatDuration(num('duration'))];
      if (p.success === false) parts.push('failed');
      return parts.join(' · ');
    }
    case 'error':
      return [str('operation'), str('code'), str('message')].filter(Boolean).join(' · ');
    case 'coordination':
      return [
        `${str('managerId') ?? '?'} → ${str('workerId') ?? '?'}`,
        str('phase'),
        str('taskId'),
        num('coordinationScore') !== undefined ? `score ${formatNumber(num('coordinationScore'))}` : undefined,
        num('latencyMs') !== undefined ? formatDuration(num('latencyMs')) : undefined,
      ]
        .filter(Boolean)
        .join(' · ');
    case 'quality':
      return `${str('metric') ?? '?'} = ${formatNumber(num('score'))}`;
    default:
      return JSON.stringify(p).slice(0, 120);
  }
}

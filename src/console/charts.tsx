/**
 * Sparklines and the per-minute chart as plain SVG: presentation attributes only (the CSP allows
 * no inline style), each chart labelled with what it shows for screen readers.
 */
import type { ActivityMinute } from "./types.js";

const W = 120;
const H = 28;

/** A line over `values` (null = no data that minute, drawn as a gap). */
export function Sparkline({ values, label }: { values: (number | null)[]; label: string }) {
  const max = Math.max(1, ...values.map((v) => v ?? 0));
  const step = values.length > 1 ? W / (values.length - 1) : 0;
  const segments: string[] = [];
  let current: string[] = [];
  values.forEach((v, i) => {
    if (v === null) {
      if (current.length > 0) segments.push(current.join(" "));
      current = [];
      return;
    }
    current.push(`${(i * step).toFixed(1)},${(H - 2 - (v / max) * (H - 4)).toFixed(1)}`);
  });
  if (current.length > 0) segments.push(current.join(" "));
  return (
    <svg class="spark" role="img" aria-label={label} width={W} height={H} viewBox={`0 0 ${W} ${H}`}>
      {segments.map((points) =>
        points.includes(" ") ? (
          <polyline key={points} points={points} fill="none" stroke="currentColor" stroke-width="1.5" />
        ) : (
          <circle key={points} cx={points.split(",")[0]} cy={points.split(",")[1]} r="1.5" fill="currentColor" />
        ),
      )}
    </svg>
  );
}

/** The share of a minute's attempts that were delivered, null when it had none. */
export const successRate = (m: ActivityMinute) => {
  const all = m.delivered + m.retry + m.dead_lettered;
  return all === 0 ? null : m.delivered / all;
};

const OUTCOMES = [
  { key: "delivered", color: "#2e7d32" },
  { key: "retry", color: "#ef6c00" },
  { key: "dead_lettered", color: "#c62828" },
] as const;

/** Stacked bars of attempts per minute by outcome, with p50 and p99 latency as lines on their own scale. */
export function ActivityChart({ minutes }: { minutes: ActivityMinute[] }) {
  const width = 720;
  const height = 180;
  const bar = width / Math.max(1, minutes.length);
  const most = Math.max(1, ...minutes.map((m) => m.delivered + m.retry + m.dead_lettered));
  const slowest = Math.max(1, ...minutes.map((m) => m.p99_ms ?? 0));
  const total = (k: (typeof OUTCOMES)[number]["key"]) => minutes.reduce((n, m) => n + m[k], 0);
  const line = (pick: (m: ActivityMinute) => number | null) =>
    minutes
      .map((m, i) => [i, pick(m)] as const)
      .filter(([, v]) => v !== null)
      .map(([i, v]) => `${(i * bar + bar / 2).toFixed(1)},${(height - ((v ?? 0) / slowest) * height).toFixed(1)}`)
      .join(" ");
  const summary =
    `Attempts per minute over ${minutes.length} minutes: ${total("delivered")} delivered, ` +
    `${total("retry")} retried, ${total("dead_lettered")} dead-lettered; slowest p99 ${slowest} ms`;
  return (
    <figure class="chart">
      <svg role="img" aria-label={summary} width="100%" viewBox={`0 0 ${width} ${height}`}>
        {minutes.map((m, i) => {
          let y = height;
          return OUTCOMES.map(({ key, color }) => {
            const h = (m[key] / most) * height;
            y -= h;
            return h > 0 ? (
              <rect key={key} x={i * bar} y={y} width={Math.max(1, bar - 1)} height={h} fill={color} />
            ) : null;
          });
        })}
        <polyline points={line((m) => m.p50_ms)} fill="none" stroke="#1565c0" stroke-width="1.5" />
        <polyline
          points={line((m) => m.p99_ms)}
          fill="none"
          stroke="#6a1b9a"
          stroke-width="1.5"
          stroke-dasharray="4 3"
        />
      </svg>
      <figcaption>
        {OUTCOMES.map(({ key }) => (
          <span key={key} class={`legend legend-${key}`}>
            {key.replace("_", "-")} {total(key)}
          </span>
        ))}
        <span class="legend legend-p50">p50 latency</span>
        <span class="legend legend-p99">p99 latency (max {slowest} ms)</span>
      </figcaption>
    </figure>
  );
}

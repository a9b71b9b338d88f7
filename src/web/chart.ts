import type { StatisticsResult } from "../gen/goldmane/api_pb.js";
import { s } from "./dom.js";
import { formatClock, formatCount } from "./format.js";

/** One plotted series. */
export interface Series {
  name: "allowed" | "denied" | "passed";
  points: number[];
}

/** Allowed/denied/passed per time point of one policy (ingress + egress summed). */
export function seriesOf(r: StatisticsResult): { x: number[]; series: Series[] } {
  const sum = (a: bigint[], b: bigint[]) => r.x.map((_, i) => Number(a[i] ?? 0n) + Number(b[i] ?? 0n));
  return {
    x: r.x.map(Number),
    series: [
      { name: "allowed", points: sum(r.allowedIn, r.allowedOut) },
      { name: "denied", points: sum(r.deniedIn, r.deniedOut) },
      { name: "passed", points: sum(r.passedIn, r.passedOut) },
    ],
  };
}

const W = 720;
const H = 240;
const M = { left: 56, right: 12, top: 12, bottom: 28 };

/** "Nice" upper bound for the y axis: 1, 2 or 5 times a power of ten. */
function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

/**
 * Draws a line chart as inline SVG (no chart library): one polyline per series, y ticks at
 * quarters of a nice maximum, up to six time ticks. A single point is drawn as a short step so
 * it stays visible.
 */
export function lineChart(x: number[], series: Series[], unit: string): SVGElement {
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": `${unit} over time`, "data-testid": "chart-svg" });
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const x0 = x[0] ?? 0;
  const x1 = x.length > 1 ? x[x.length - 1]! : x0 + 1;
  const yMax = niceMax(Math.max(0, ...series.flatMap((se) => se.points)));
  const px = (t: number) => M.left + ((t - x0) / (x1 - x0)) * plotW;
  const py = (v: number) => M.top + plotH - (v / yMax) * plotH;

  for (let i = 0; i <= 4; i++) {
    const v = (yMax / 4) * i;
    svg.append(s("line", { x1: M.left, x2: W - M.right, y1: py(v), y2: py(v), class: "grid" }));
    svg.append(s("text", { x: M.left - 6, y: py(v) + 4, "text-anchor": "end", class: "tick" }, formatCount(v)));
  }
  const ticks = Math.min(6, x.length);
  for (let i = 0; i < ticks; i++) {
    const t = ticks === 1 ? x0 : x0 + ((x1 - x0) * i) / (ticks - 1);
    svg.append(s("text", { x: px(t), y: H - 8, "text-anchor": "middle", class: "tick" }, formatClock(Math.round(t))));
  }
  svg.append(s("line", { x1: M.left, x2: M.left, y1: M.top, y2: M.top + plotH, class: "axis" }));
  svg.append(s("line", { x1: M.left, x2: W - M.right, y1: M.top + plotH, y2: M.top + plotH, class: "axis" }));

  for (const se of series) {
    const pts = x.length === 1 ? [[M.left, py(se.points[0] ?? 0)], [W - M.right, py(se.points[0] ?? 0)]] : x.map((t, i) => [px(t), py(se.points[i] ?? 0)]);
    const total = se.points.reduce((a, b) => a + b, 0);
    svg.append(
      s("polyline", { points: pts.map(([a, b]) => `${a!.toFixed(1)},${b!.toFixed(1)}`).join(" "), class: `series ${se.name}`, "data-series": se.name, "data-total": total },
        s("title", {}, `${se.name}: ${formatCount(total)} ${unit}`)),
    );
    // Markers keep sparse series readable (a time series has a point per bucket with data).
    if (x.length <= 120) {
      x.forEach((t, i) => svg.append(s("circle", { cx: (x.length === 1 ? (M.left + W - M.right) / 2 : px(t)).toFixed(1), cy: py(se.points[i] ?? 0).toFixed(1), r: 2.5, class: `dot ${se.name}` })));
    }
  }
  return svg;
}

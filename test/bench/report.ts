/** One line of the benchmark table: `area/case`, a value and its unit, and a note. */
export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  note?: string;
  /** A target to compare against, e.g. "≥ 100000". */
  target?: string;
}

/** Formats rows as a Markdown table. */
export function table(rows: readonly BenchRow[]): string {
  const fmt = (v: number) => (Math.abs(v) >= 100 ? Math.round(v).toLocaleString("en-US") : v.toFixed(v < 1 ? 3 : 2));
  const lines = ["| case | value | unit | target | note |", "|---|---:|---|---|---|"];
  for (const r of rows) lines.push(`| ${r.name} | ${fmt(r.value)} | ${r.unit} | ${r.target ?? ""} | ${r.note ?? ""} |`);
  return lines.join("\n");
}

/** Percentile (nearest rank) of a list of numbers. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

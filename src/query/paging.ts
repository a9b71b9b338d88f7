/** A page request: page_size 0 means "everything in one page" (goldmane-spec §4.6). */
export interface PageSpec {
  readonly page: number;
  readonly pageSize: number;
}

/** Totals of a paged answer; always correct, also for a page past the end (DESIGN §4). */
export interface PageMeta {
  readonly totalPages: number;
  readonly totalResults: number;
}

/** Computes the totals for `total` results. */
export function pageMeta(total: number, p: PageSpec): PageMeta {
  if (total === 0) return { totalPages: 0, totalResults: 0 };
  return { totalPages: p.pageSize > 0 ? Math.ceil(total / p.pageSize) : 1, totalResults: total };
}

/** The half-open index range of the requested page within `total` sorted results. */
export function pageBounds(total: number, p: PageSpec): { from: number; to: number } {
  if (p.pageSize === 0) return { from: 0, to: total };
  const from = Math.min(total, p.page * p.pageSize);
  return { from, to: Math.min(total, from + p.pageSize) };
}

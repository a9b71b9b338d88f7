import type { FilterHintsAnswer, FilterHintsQuery } from "./filter-hints.js";
import type { KeyPredicate } from "./filter.js";
import type { ListAnswer, ListQuery } from "./list.js";
import type { StatisticsAnswer, StatisticsQuery } from "./statistics.js";

/** An answer from the history with the resolution (bucket width, seconds) it was computed at. */
export interface HistoryAnswer<T> {
  readonly answer: T;
  readonly resolutionSec: number;
}

/**
 * Where the query services look for a range that starts before the oldest bucket in memory
 * (docs/DESIGN.md §10). The services know nothing of how it is stored; the PostgreSQL history
 * (src/history/) is the one implementation. The same rules as the in-memory queries apply, at the
 * resolution the source picked (whole buckets of that resolution only).
 */
export interface HistorySource {
  list(q: ListQuery & { scope?: KeyPredicate }): Promise<HistoryAnswer<ListAnswer>>;
  filterHints(q: FilterHintsQuery): Promise<HistoryAnswer<FilterHintsAnswer>>;
  statistics(q: StatisticsQuery): Promise<HistoryAnswer<StatisticsAnswer>>;
}

/** The history store cannot answer now (database unreachable or failing): UNAVAILABLE. */
export class HistoryUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HistoryUnavailableError";
  }
}

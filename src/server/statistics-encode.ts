import { WireWriter } from "../model/pre-encoded.js";
import type { StatisticsRow, StatisticsSeries } from "../query/statistics.js";

/**
 * A StatisticsResult encoded straight from a row (field numbers of goldmane/api.proto): the same
 * bytes as `toBinary(StatisticsResultSchema, statisticsResult(row))`, which a unit test checks,
 * without a bigint per value — a PolicyRule time series holds millions of them.
 */
export function encodeStatisticsResult(r: StatisticsRow): Uint8Array {
  const policy = new WireWriter()
    .int64Field(1, r.kind)
    .stringField(2, r.namespace)
    .stringField(3, r.name)
    .stringField(4, r.tier)
    .int64Field(5, r.action)
    .int64Field(7, r.ruleIndex)
    .finish();
  const w = new WireWriter()
    .messageField(1, policy)
    .int64Field(2, r.direction)
    .int64Field(3, r.groupBy)
    .int64Field(4, r.type)
    .packedField(5, r.allowedIn)
    .packedField(6, r.allowedOut)
    .packedField(7, r.deniedIn)
    .packedField(8, r.deniedOut)
    .packedField(9, r.passedIn)
    .packedField(10, r.passedOut);
  if (r.x) w.packedField(11, r.x);
  return w.finish();
}

/**
 * A StatisticsResult encoded straight from a query's typed arrays (the same bytes as
 * {@link encodeStatisticsResult} of the series' row): each packed field is written from its
 * column of the interleaved values, with no array per field and no bigint per value.
 */
export function encodeStatisticsSeries(s: StatisticsSeries): Uint8Array {
  const policy = new WireWriter()
    .int64Field(1, s.kind)
    .stringField(2, s.namespace)
    .stringField(3, s.name)
    .stringField(4, s.tier)
    .int64Field(5, s.action)
    .int64Field(7, s.ruleIndex)
    .finish();
  const w = new WireWriter().messageField(1, policy).int64Field(2, s.direction).int64Field(3, s.groupBy).int64Field(4, s.type);
  for (let k = 0; k < 6; k++) w.packedStrided(5 + k, s.values, k, 6, s.length);
  if (s.x) w.packedStrided(11, s.x, 0, 1, s.length);
  return w.finish();
}

/**
 * The figures analysts read, computed from the analytics read models. Pure functions over
 * documents and a window; the resolver only fetches. A window is half-open: [from, to).
 */
export interface Window {
  from: string;
  to: string;
}

export const inWindow = (at: string | null | undefined, w: Window): boolean => !!at && at >= w.from && at < w.to;
const seconds = (from: string, to: string) => (Date.parse(to) - Date.parse(from)) / 1000;
const mean = (xs: readonly number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
const rate = (part: number, whole: number): number | null => (whole ? part / whole : null);

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return new Map([...out.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

export interface RepairDoc {
  machineId: string;
  category: string;
  requestedAt: string;
  claimedAt: string | null;
  finishedAt: string | null;
  outcome: 'COMPLETED' | 'NOT_COMPLETED' | 'WITHDRAWN' | null;
}

export interface RepairFigures {
  key: string;
  finished: number;
  completed: number;
  notCompleted: number;
  withdrawn: number;
  /** finished repairs that ended COMPLETED */
  successRate: number | null;
  /** mean of request -> outcome over the completed repairs */
  meanTimeToRepairSeconds: number | null;
  /** mean of request -> claim over the finished repairs that were claimed */
  meanTimeToClaimSeconds: number | null;
}

/** Repairs that finished within the window: outcomes and mean time to repair. */
export function repairFigures(key: string, docs: readonly RepairDoc[]): RepairFigures {
  const completed = docs.filter((d) => d.outcome === 'COMPLETED');
  const claimed = docs.filter((d) => d.claimedAt);
  return {
    key,
    finished: docs.length,
    completed: completed.length,
    notCompleted: docs.filter((d) => d.outcome === 'NOT_COMPLETED').length,
    withdrawn: docs.filter((d) => d.outcome === 'WITHDRAWN').length,
    successRate: rate(completed.length, docs.length),
    meanTimeToRepairSeconds: mean(completed.map((d) => seconds(d.requestedAt, d.finishedAt!))),
    meanTimeToClaimSeconds: mean(claimed.map((d) => seconds(d.requestedAt, d.claimedAt!))),
  };
}

export function repairsBy(docs: readonly RepairDoc[], key: (d: RepairDoc) => string): RepairFigures[] {
  return [...groupBy(docs, key)].map(([k, group]) => repairFigures(k, group));
}

export interface IssueReportDoc {
  machineId: string;
  tenantId: string;
  category: string;
  reportedAt: string;
}

export interface Count {
  key: string;
  count: number;
}

export const countBy = <T>(docs: readonly T[], key: (d: T) => string): Count[] =>
  [...groupBy(docs, key)].map(([k, group]) => ({ key: k, count: group.length })).sort((a, b) => b.count - a.count || a.key.localeCompare(b.key));

export interface RepeatOffender {
  machineId: string;
  reports: number;
  tenants: string[];
  categories: string[];
  firstReportedAt: string;
  lastReportedAt: string;
}

/** Machines reported at least `min` times within the window, most reported first. */
export function repeatOffenders(docs: readonly IssueReportDoc[], min: number): RepeatOffender[] {
  return [...groupBy(docs, (d) => d.machineId)]
    .filter(([, group]) => group.length >= min)
    .map(([machineId, group]) => {
      const times = group.map((d) => d.reportedAt).sort();
      return {
        machineId,
        reports: group.length,
        tenants: [...new Set(group.map((d) => d.tenantId))].sort(),
        categories: [...new Set(group.map((d) => d.category))].sort(),
        firstReportedAt: times[0],
        lastReportedAt: times[times.length - 1],
      };
    })
    .sort((a, b) => b.reports - a.reports || a.machineId.localeCompare(b.machineId));
}

export interface DrainDoc {
  node: string;
  kind: string;
  mode: string;
  status: string;
  startedAt: string;
  finishedAt: string | null;
}

export interface DrainFigures {
  key: string;
  started: number;
  finished: number;
  completed: number;
  failed: number;
  canceled: number;
  /** of the finished drains, the share that did not complete */
  failureRate: number | null;
  meanDurationSeconds: number | null;
}

/** Drains started within the window, grouped. Anything finished but not COMPLETED or CANCELED counts as failed. */
export function drainsBy(docs: readonly DrainDoc[], key: (d: DrainDoc) => string): DrainFigures[] {
  return [...groupBy(docs, key)].map(([k, group]) => {
    const finished = group.filter((d) => d.finishedAt);
    const completed = finished.filter((d) => d.status === 'COMPLETED').length;
    const canceled = finished.filter((d) => d.status === 'CANCELED').length;
    return {
      key: k,
      started: group.length,
      finished: finished.length,
      completed,
      canceled,
      failed: finished.length - completed - canceled,
      failureRate: rate(finished.length - completed, finished.length),
      meanDurationSeconds: mean(finished.map((d) => seconds(d.startedAt, d.finishedAt!))),
    };
  });
}

export interface OperationDoc {
  type: string;
  outcome: 'SUCCEEDED' | 'FAILED' | 'CANCELED' | null;
  requestedAt: string;
  finishedAt: string | null;
}

export interface OperationFigures {
  type: string;
  requested: number;
  succeeded: number;
  failed: number;
  canceled: number;
  /** of the finished operations, the share that succeeded */
  successRate: number | null;
  meanDurationSeconds: number | null;
}

/** Operations requested within the window, by type. */
export function operationsByType(docs: readonly OperationDoc[]): OperationFigures[] {
  return [...groupBy(docs, (d) => d.type)].map(([type, group]) => {
    const finished = group.filter((d) => d.finishedAt && d.outcome);
    const succeeded = finished.filter((d) => d.outcome === 'SUCCEEDED');
    return {
      type,
      requested: group.length,
      succeeded: succeeded.length,
      failed: finished.filter((d) => d.outcome === 'FAILED').length,
      canceled: finished.filter((d) => d.outcome === 'CANCELED').length,
      successRate: rate(succeeded.length, finished.length),
      meanDurationSeconds: mean(finished.map((d) => seconds(d.requestedAt, d.finishedAt!))),
    };
  });
}

export interface StateIntervalDoc {
  machineId: string;
  state: string;
  from: string;
  to: string | null;
}

export interface TimeInState {
  machineId: string;
  state: string;
  seconds: number;
}

/** Seconds each machine spent in each state within the window; an open interval runs until `now`. */
export function timeInState(intervals: readonly StateIntervalDoc[], w: Window, now: string): TimeInState[] {
  const totals = new Map<string, TimeInState>();
  const end = now < w.to ? now : w.to;
  for (const i of intervals) {
    const from = i.from > w.from ? i.from : w.from;
    const to = (i.to ?? end) < end ? (i.to ?? end) : end;
    if (to <= from) continue;
    const k = `${i.machineId}\u0000${i.state}`;
    const t = totals.get(k) ?? { machineId: i.machineId, state: i.state, seconds: 0 };
    t.seconds += seconds(from, to);
    totals.set(k, t);
  }
  return [...totals.values()].sort((a, b) => a.machineId.localeCompare(b.machineId) || a.state.localeCompare(b.state));
}

import { randomUUID } from 'node:crypto';
import { CommandBus } from '@nestjs/cqrs';
import { INestApplicationContext } from '@nestjs/common';
import { EventStore, NewEvent, StreamNotFoundError } from '../../../src/event-store/event-store.port';
import { machineDecider, machineStream } from '../../../src/machines/machine.decider';
import { newEventId } from '../../../src/messaging/command-pipeline';
import { DecideCommand } from '../../../src/messaging/decide.command';
import { measure, measurePair, Row, spreadOf, throughput } from '../harness';
import type { BenchStores } from '../stores';
import { caughtUp, startBenchApp } from './bench-app';

export interface BenchContext {
  dir: string;
  quick: boolean;
  stores: BenchStores;
}

const meta = () => ({
  actor: 'bench',
  correlationId: randomUUID(),
  causationId: null,
  requestId: null,
  occurredAt: new Date().toISOString(),
  schemaVersion: 1,
});
// Ids as the command pipeline makes them for events no requestId derives (time-ordered UUIDv7).
const event = (type: string, data: Record<string, unknown>): NewEvent => ({ id: newEventId(), type, data, metadata: meta() });

/**
 * Durable appends from 100 concurrent appenders: one transaction each vs group commit. On the
 * servers, where grouping is EventStoreDB's own and has no switch, the baseline is one appender.
 */
export async function appendScenarios(ctx: BenchContext): Promise<Row[]> {
  // Rounds are short (about a second a pair): five even in the quick run, for a steadier median.
  const rounds = { warmup: 1, rounds: 5 };
  const total = ctx.quick ? 2_000 : 5_000;
  const embedded = ctx.stores.kind === 'embedded';
  const baselineName = embedded ? 'one txn per append' : 'one appender';
  // Group commit runs ten times the appends, so both sides are timed over a similar span: a
  // grouped round of the same count lasts a few tens of milliseconds, where one slow fsync decides it.
  const run = (groupCommit: boolean, id: () => string = newEventId) => async () => {
    const store = await ctx.stores.place('append').events({ groupCommit });
    const rate = await throughput(groupCommit || embedded ? 100 : 1, groupCommit ? total * 10 : total, (i) => store.append(`s-${i}`, [{ ...event('Appended', { i }), id: id() }], 'no_stream'));
    await store.close();
    return rate;
  };
  const { baseline: one, figure: grouped } = await measurePair(run(false), run(true), rounds);
  const ratio = grouped.median / one.median;
  // Ids a requestId derives (sagas, executors, idempotent mutations) are name-based: each lands at
  // a random place in the id index, as any random id does.
  const scattered = await measure(run(true, randomUUID), { warmup: 0, rounds: 3 });
  return [
    {
      scenario: `durable append, ${embedded ? 'one transaction per append (100 appenders)' : 'one appender at a time'}`,
      figure: one.median,
      unit: 'events/s',
      baseline: null,
      baselineName: null,
      ratio: null,
      target: '—',
      pass: null,
      spread: spreadOf(one),
    },
    {
      scenario: `durable append with group commit (100 appenders)`,
      figure: grouped.median,
      unit: 'events/s',
      baseline: one.median,
      baselineName,
      ratio,
      target: 'ratio >= 10',
      pass: ratio >= 10,
      spread: spreadOf(grouped),
    },
    {
      scenario: '  the same with ids that land at random places (as requestIds derive them)',
      figure: scattered.median,
      unit: 'events/s',
      baseline: one.median,
      baselineName,
      ratio: scattered.median / one.median,
      target: '—',
      pass: null,
      spread: spreadOf(scattered),
    },
  ];
}

/**
 * 100 concurrent clients over 1,000 machine streams, each command reading its stream and
 * appending: through the CommandBus and the generic decider handler, against the same reads
 * and appends done directly on the store.
 *
 * The app runs as a server does: started once and warmed by the warm-up round, then measured
 * round after round, its projections and sagas running beside the commands. The baseline's store
 * lives as long. Each round works on 1,000 streams of its own, so both sides read streams of the
 * same length in every round. The app's projections catch up with the round before and with the
 * round's set-up before its commands start: a round's time holds the work of its own commands
 * (and none of their projections' work that outlasts it).
 * The same pair with a fresh app and a fresh store every round, the first commands after a
 * start (cold code on new threads), is printed beside it.
 */
export async function commandScenarios(ctx: BenchContext): Promise<Row[]> {
  // 10,000 commands a round in --quick too: with 5,000 the bus's share of a round's fixed costs
  // was larger, and the quick ratio ran lower than the full suite's (0.62-0.85 against 0.99-1.19
  // the same day; 1.00-1.08 with 10,000). Three pairs in --quick, seven in the full suite.
  const rounds = { warmup: 1, rounds: ctx.quick ? 3 : 7 };
  const total = 10_000;
  const streams = 1_000;
  const at = new Date().toISOString();

  /** One round on the store directly: 1,000 new streams (set-up, not measured), then the commands. */
  const directRound = async (store: EventStore, round: string) => {
    const id = (m: number) => `${round}m${m % streams}`;
    await throughput(100, streams, (m) => store.append(machineStream(id(m)), [event('MachineRegistered', { id: id(m) })], 'no_stream'));
    return throughput(100, total, async (i) => {
      const stream = machineStream(id(i));
      let history;
      try {
        history = await store.readStream(stream);
      } catch (err) {
        if (!(err instanceof StreamNotFoundError)) throw err;
        history = [];
      }
      const revision = history.length - 1;
      await store.append(stream, [event('MachineLabelsChanged', { id: id(i), labels: { n: String(i) } })], revision);
    });
  };

  // The app with its GraphQL module, as the server builds it (no HTTP side).
  const startApp = () => startBenchApp(ctx.stores.place('bus').env, { graphql: true });

  /** The same round through the CommandBus of a running app (its set-up projected before the commands start). */
  const busRound = async (app: INestApplicationContext, round: string) => {
    const bus = app.get(CommandBus);
    const id = (m: number) => `${round}m${m % streams}`;
    const context = () => ({ actor: 'bench', correlationId: randomUUID(), issuedAt: at });
    await throughput(100, streams, (m) =>
      bus.execute(new DecideCommand(machineDecider, machineStream(id(m)), { type: 'RegisterMachine', id: id(m), phase: 'READY', hypervisor: false, capacity: null, labels: {}, at }, context())),
    );
    await caughtUp(app);
    return throughput(100, total, (i) =>
      bus.execute(new DecideCommand(machineDecider, machineStream(id(i)), { type: 'SetMachineLabels', id: id(i), labels: { n: String(i) }, at }, context())),
    );
  };
  // Steady state: one app, one store, all rounds.
  const store = await ctx.stores.place('direct').events();
  const app = await startApp();
  let directRounds = 0;
  let busRounds = 0;
  const { baseline: base, figure: bus } = await measurePair(
    async () => {
      await caughtUp(app);
      return directRound(store, `d${directRounds++}`);
    },
    async () => {
      await caughtUp(app);
      return busRound(app, `b${busRounds++}`);
    },
    rounds,
  );
  await app.close();
  await store.close();
  const ratio = bus.median / base.median;

  const steady: Row = {
    scenario: 'commands: 100 clients, 1,000 streams, read+decide+append via CommandBus (a running app)',
    figure: bus.median,
    unit: 'commands/s',
    baseline: base.median,
    baselineName: 'direct store reads+appends',
    ratio,
    target: 'ratio >= 0.7 and >= 5,000/s',
    pass: ratio >= 0.7 && bus.median >= 5_000,
    spread: spreadOf(bus),
  };
  // The first commands after a start, in the full suite only (to keep --quick under two minutes):
  // a fresh app and a fresh store every round, so no warm-up round (the cold start is what is
  // measured), three rounds.
  if (ctx.quick) return [steady];
  const cold = await measurePair(
    async () => {
      const fresh = await ctx.stores.place('direct').events();
      const rate = await directRound(fresh, 'c');
      await fresh.close();
      return rate;
    },
    async () => {
      const fresh = await startApp();
      const rate = await busRound(fresh, 'c');
      await fresh.close();
      return rate;
    },
    { warmup: 0, rounds: 3 },
  );
  return [
    steady,
    {
      scenario: '  the same just after a start (a fresh app and store every round)',
      figure: cold.figure.median,
      unit: 'commands/s',
      baseline: cold.baseline.median,
      baselineName: 'direct store reads+appends',
      ratio: cold.figure.median / cold.baseline.median,
      target: '—',
      pass: null,
      spread: spreadOf(cold.figure),
    },
  ];
}

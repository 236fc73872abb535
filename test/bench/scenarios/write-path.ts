import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { CommandBus } from '@nestjs/cqrs';
import { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from '../../../src/app/app.module';
import { loadConfig } from '../../../src/config/config';
import { NewEvent, StreamNotFoundError } from '../../../src/event-store/event-store.port';
import { SqliteEventStore } from '../../../src/event-store/sqlite/sqlite-event-store';
import { machineDecider, machineStream } from '../../../src/machines/machine.decider';
import { newEventId } from '../../../src/messaging/command-pipeline';
import { DecideCommand } from '../../../src/messaging/decide.command';
import { measure, measurePair, Row, spreadOf, throughput } from '../harness';

export interface BenchContext {
  dir: string;
  quick: boolean;
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

/** Durable appends from 100 concurrent appenders: one transaction each vs group commit. */
export async function appendScenarios(ctx: BenchContext): Promise<Row[]> {
  // Rounds are short (about a second a pair): five even in the quick run, for a steadier median.
  const rounds = { warmup: 1, rounds: 5 };
  const total = ctx.quick ? 2_000 : 5_000;
  // Group commit runs ten times the appends, so both sides are timed over a similar span: a
  // grouped round of the same count lasts a few tens of milliseconds, where one slow fsync decides it.
  const run = (groupCommit: boolean, id: () => string = newEventId) => async () => {
    const store = new SqliteEventStore(join(ctx.dir, `append-${randomUUID()}.db`), { groupCommit });
    const rate = await throughput(100, groupCommit ? total * 10 : total, (i) => store.append(`s-${i}`, [{ ...event('Appended', { i }), id: id() }], 'no_stream'));
    await store.close();
    return rate;
  };
  const { baseline: single, figure: grouped } = await measurePair(run(false), run(true), rounds);
  const ratio = grouped.median / single.median;
  // Ids a requestId derives (sagas, executors, idempotent mutations) are name-based: each lands at
  // a random place in the id index, as any random id does.
  const scattered = await measure(run(true, randomUUID), { warmup: 0, rounds: 3 });
  return [
    {
      scenario: 'durable append, one transaction per append (100 appenders)',
      figure: single.median,
      unit: 'events/s',
      baseline: null,
      baselineName: null,
      ratio: null,
      target: '—',
      pass: null,
      spread: spreadOf(single),
    },
    {
      scenario: 'durable append with group commit (100 appenders)',
      figure: grouped.median,
      unit: 'events/s',
      baseline: single.median,
      baselineName: 'one txn per append',
      ratio,
      target: 'ratio >= 10',
      pass: ratio >= 10,
      spread: spreadOf(grouped),
    },
    {
      scenario: '  the same with ids that land at random places (as requestIds derive them)',
      figure: scattered.median,
      unit: 'events/s',
      baseline: single.median,
      baselineName: 'one txn per append',
      ratio: scattered.median / single.median,
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
 */
export async function commandScenarios(ctx: BenchContext): Promise<Row[]> {
  const rounds = { warmup: 1, rounds: ctx.quick ? 3 : 5 };
  const total = ctx.quick ? 5_000 : 10_000;
  const streams = 1_000;
  const at = new Date().toISOString();

  const direct = async () => {
    const store = new SqliteEventStore(join(ctx.dir, `direct-${randomUUID()}.db`));
    // Setup (not measured), from the same 100 clients.
    await throughput(100, streams, (m) => store.append(machineStream(`m${m}`), [event('MachineRegistered', { id: `m${m}` })], 'no_stream'));
    const rate = await throughput(100, total, async (i) => {
      const stream = machineStream(`m${i % streams}`);
      let history;
      try {
        history = await store.readStream(stream);
      } catch (err) {
        if (!(err instanceof StreamNotFoundError)) throw err;
        history = [];
      }
      const revision = history.length - 1;
      await store.append(stream, [event('MachineLabelsChanged', { id: `m${i % streams}`, labels: { n: String(i) } })], revision);
    });
    await store.close();
    return rate;
  };

  const viaBus = async () => {
    const config = loadConfig({ DATA_DIR: join(ctx.dir, `bus-${randomUUID()}`), LOG_LEVEL: 'warn', DRYDOCK_ADMIN_KEY: 'bench-admin-key-0123456789' });
    const app: INestApplicationContext = await NestFactory.createApplicationContext(AppModule.forRoot(config), { logger: false });
    const bus = app.get(CommandBus);
    const context = () => ({ actor: 'bench', correlationId: randomUUID(), issuedAt: at });
    await throughput(100, streams, (m) =>
      bus.execute(
        new DecideCommand(machineDecider, machineStream(`m${m}`), { type: 'RegisterMachine', id: `m${m}`, phase: 'READY', hypervisor: false, capacity: null, labels: {}, at }, context()),
      ),
    );
    const rate = await throughput(100, total, (i) =>
      bus.execute(
        new DecideCommand(machineDecider, machineStream(`m${i % streams}`), { type: 'SetMachineLabels', id: `m${i % streams}`, labels: { n: String(i) }, at }, context()),
      ),
    );
    await app.close();
    return rate;
  };

  const { baseline: base, figure: bus } = await measurePair(direct, viaBus, rounds);
  const ratio = bus.median / base.median;
  return [
    {
      scenario: 'commands: 100 clients, 1,000 streams, read+decide+append via CommandBus',
      figure: bus.median,
      unit: 'commands/s',
      baseline: base.median,
      baselineName: 'direct store reads+appends',
      ratio,
      target: 'ratio >= 0.7 and >= 5,000/s',
      pass: ratio >= 0.7 && bus.median >= 5_000,
      spread: spreadOf(bus),
    },
  ];
}

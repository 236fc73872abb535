import { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Subject } from 'rxjs';
import { AppModule } from '../../../src/app/app.module';
import { loadConfig } from '../../../src/config/config';
import { EventStore } from '../../../src/event-store/event-store.port';
import { Leases, thisProcess } from '../../../src/messaging/leases';
import { ProjectionRunner } from '../../../src/messaging/projection-runner';
import { projectionRunner, ProjectionsService } from '../../../src/messaging/projections.service';
import type { Projection } from '../../../src/messaging/projection';
import { ReadStore } from '../../../src/read-store/read-store.port';

const BENCH_ENV = { LOG_LEVEL: 'warn', DRYDOCK_ADMIN_KEY: 'bench-admin-key-0123456789' };

/**
 * The app in the bench process, as `npm start` builds it from its settings (`env` over the
 * defaults), without the HTTP side: the in-process scenarios drive its modules directly.
 */
export async function startBenchApp(env: Record<string, string>, options: { graphql?: boolean } = {}): Promise<INestApplicationContext> {
  const config = loadConfig({ ...BENCH_ENV, ...env });
  // Initialised by the factory: the runners and executors are started when it resolves.
  return NestFactory.createApplicationContext(AppModule.forRoot(config, { graphql: options.graphql ?? false }), { logger: false });
}

/** Until every projection of the app has applied the log to its head (outside any measured time). */
export async function caughtUp(app: INestApplicationContext, timeoutMs = 60_000): Promise<void> {
  const projections = app.get(ProjectionsService);
  const deadline = Date.now() + timeoutMs;
  while ((await projections.statuses()).some((p) => p.lag.positions > 0)) {
    if (Date.now() > deadline) throw new Error(`the projections did not reach the head in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A rebuild as an operator asks for it (`rebuildProjection`): each named projection's runner in
 * the app rebuilds into its next generation while the rest of the app runs; resolves with the
 * seconds until every one of them has swapped.
 */
export async function rebuildSeconds(app: INestApplicationContext, names: readonly string[]): Promise<number> {
  const projections = app.get(ProjectionsService);
  const started = performance.now();
  await Promise.all(names.map((n) => projections.rebuild(n)));
  for (;;) {
    const states = await Promise.all(names.map(async (n) => (await projections.statusOf(n)).state));
    if (states.some((s) => s === 'failed')) throw new Error(`a rebuild failed: ${names.join(', ')}: ${states.join(', ')}`);
    if (states.every((s) => s !== 'rebuilding')) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  return (performance.now() - started) / 1000;
}

/**
 * Projection runners built as the app builds them (its batch settings, a lease whose fence goes
 * with every write), on stores the scenario opened itself: for a log the app's sagas and
 * executors must not act on, such as a history written straight into the store.
 */
export function appRunners(projections: readonly Projection[], events: EventStore, read: ReadStore): ProjectionRunner[] {
  const config = loadConfig(BENCH_ENV);
  const leases = new Leases(read, thisProcess(), config.projections.lease_ttl_ms);
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  return projections.map((p) => projectionRunner(p, events, read, config, leases, new Subject(), quiet));
}

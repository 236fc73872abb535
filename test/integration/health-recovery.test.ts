import { join } from 'node:path';
import { vmDecider, vmStream } from '../../src/drains/vm.decider';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { HealthMonitor, KnownTarget } from '../../src/health/health-monitor';
import { delayBefore, inStorm, observe, ProbeResult, Tracked } from '../../src/health/health.rules';
import { FLEET_HEALTH_STREAM, recoveryStream } from '../../src/health/recovery.decider';
import { RecoveryRunner } from '../../src/health/recovery-runner';
import { machineDecider, machineStream } from '../../src/machines/machine.decider';
import { CommandPipeline } from '../../src/messaging/command-pipeline';
import { Metrics } from '../../src/metrics/metrics';
import { HealthProvider, ProbeTarget } from '../../src/providers/health-provider.port';
import { ManualClock } from '../support/manual-clock';
import { silentLogger, tempDir } from '../support/temp';

const log = { ...silentLogger, error: () => undefined };
const th = { failureThreshold: 3, recoveryThreshold: 2, orphanAfterFailures: 5 };
const fresh: Tracked = { healthy: true, orphaned: false, failures: 0, successes: 0 };
const fail = (kind: 'UNHEALTHY' | 'PROCESS_GONE' | 'SOCKET_FAILED' = 'UNHEALTHY'): ProbeResult => ({ ok: false, kind, reason: kind.toLowerCase() });
const run = (results: ProbeResult[], kind: 'machine' | 'vm' = 'machine', from = fresh) => {
  let t = from;
  return results.map((r) => {
    const o = observe(t, kind, r, th);
    t = o.next;
    return o;
  });
};

describe('health rules', () => {
  it('unhealthy after failureThreshold failures in a row, not before; a success in between resets', () => {
    expect(run([fail(), fail(), fail()]).map((o) => o.transition?.healthy ?? null)).toEqual([null, null, false]);
    expect(run([fail(), fail(), { ok: true }, fail(), fail()]).every((o) => o.transition === null)).toBe(true);
  });

  it('healthy again after recoveryThreshold successes in a row', () => {
    const down = run([fail(), fail(), fail()])[2].next;
    expect(run([{ ok: true }, { ok: true }], 'machine', down).map((o) => o.transition?.healthy ?? null)).toEqual([null, true]);
    expect(run([{ ok: true }, fail(), { ok: true }], 'machine', down).every((o) => o.transition === null)).toBe(true);
  });

  it.each([
    ['PROCESS_GONE', [fail('PROCESS_GONE'), fail('PROCESS_GONE'), fail('PROCESS_GONE')], 2],
    ['SOCKET_FAILED', [fail('SOCKET_FAILED'), fail('SOCKET_FAILED'), fail('SOCKET_FAILED')], 2],
    ['STAYS_UNHEALTHY', [fail(), fail(), fail(), fail(), fail()], 4],
  ] as const)('a VM is an orphan for %s, once', (reason, results, at) => {
    const obs = run([...results, ...results], 'vm');
    const orphans = obs.map((o, i) => (o.orphan ? [i, o.orphan.reason] : null)).filter(Boolean);
    expect(orphans).toEqual([[at, reason]]);
  });

  it('machines are never orphans', () => {
    expect(run([fail('PROCESS_GONE'), fail('PROCESS_GONE'), fail('PROCESS_GONE'), fail(), fail(), fail()]).some((o) => o.orphan)).toBe(false);
  });

  it('backoff: retryInterval, then times the factor, capped', () => {
    const b = { retryIntervalMs: 100, backoffFactor: 2, maxRetryIntervalMs: 250 };
    expect([1, 2, 3, 4, 5].map((n) => delayBefore(n, b))).toEqual([0, 100, 200, 250, 250]);
  });

  it('a storm is more than the share unhealthy and at least the minimum', () => {
    const p = { unhealthyShare: 0.3, minUnhealthy: 3 };
    expect([inStorm(3, 10, p), inStorm(4, 10, p), inStorm(2, 3, p), inStorm(0, 0, p)]).toEqual([false, true, false, false]);
  });
});

/** A provider the test scripts: probe results per target, probes that never answer, recoveries that fail or wait for the test. */
class ScriptedProvider implements HealthProvider {
  readonly health = new Map<string, ProbeResult>();
  /** Targets whose probe answers only by failing when its signal aborts. */
  readonly silent = new Set<string>();
  /** Every probe whose signal aborted, in order. */
  readonly aborted: string[] = [];
  readonly recoverCalls: Array<{ key: string; at: number }> = [];
  failRecovery = true;
  holdRecovery: Promise<void> | null = null;
  inRecovery = 0;
  peak = 0;
  constructor(private readonly clock: ManualClock) {}
  async probe(t: ProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
    const key = `${t.kind}-${t.id}`;
    signal.addEventListener('abort', () => this.aborted.push(key), { once: true });
    if (this.silent.has(key)) return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('probe cancelled')), { once: true }));
    return this.health.get(key) ?? { ok: true };
  }
  async recover(t: ProbeTarget, signal: AbortSignal): Promise<void> {
    this.recoverCalls.push({ key: `${t.kind}-${t.id}`, at: this.clock.now() });
    signal.addEventListener('abort', () => this.aborted.push(`recover:${t.kind}-${t.id}`), { once: true });
    this.inRecovery++;
    this.peak = Math.max(this.peak, this.inRecovery);
    try {
      if (this.holdRecovery) await this.holdRecovery;
      if (this.failRecovery) throw new Error('BMC did not answer');
      this.health.delete(`${t.kind}-${t.id}`);
    } finally {
      this.inRecovery--;
    }
  }
}

describe('health monitor and recovery runner (real SQLite log, controllable clock)', () => {
  const dir = tempDir();
  let store: SqliteEventStore;
  let pipeline: CommandPipeline;
  let clock: ManualClock;
  let provider: ScriptedProvider;
  let runner: RecoveryRunner;
  let monitor: HealthMonitor;
  let targets: KnownTarget[];
  const at = '2026-11-21T10:00:00.000Z';
  const ctx = { actor: 'test', correlationId: 'c', causationId: null, requestId: null, issuedAt: at };

  const setup = async (opts: { machines: number; vms?: number; maxConcurrent?: number; maxRetries?: number }) => {
    store = new SqliteEventStore(join(dir.path, `events-${Math.random()}.db`));
    pipeline = new CommandPipeline(store, silentLogger, 20);
    clock = new ManualClock(undefined, () => store.settled());
    provider = new ScriptedProvider(clock);
    targets = [];
    for (let i = 1; i <= opts.machines; i++) {
      await pipeline.run(machineDecider, machineStream(`m${i}`), { type: 'RegisterMachine', id: `m${i}`, phase: 'READY', hypervisor: false, capacity: null, labels: {}, at }, ctx);
      targets.push({ kind: 'machine', id: `m${i}`, labels: {}, healthy: true, orphaned: false });
    }
    await pipeline.run(machineDecider, machineStream('hv'), { type: 'RegisterMachine', id: 'hv', phase: 'READY', hypervisor: true, capacity: { cpuCores: 8, memoryGiB: 8 }, labels: {}, at }, ctx);
    for (let v = 1; v <= (opts.vms ?? 0); v++) {
      await pipeline.run(vmDecider, vmStream(v), { type: 'CreateVm', vmid: v, name: `v${v}`, node: 'hv', tags: [], status: 'running', cpuCores: 1, memoryGiB: 1, at }, ctx);
      targets.push({ kind: 'vm', id: String(v), labels: {}, healthy: true, orphaned: false });
    }
    const metrics = new Metrics();
    runner = new RecoveryRunner({
      pipeline,
      provider,
      clock,
      metrics,
      log,
      options: { maxRetries: opts.maxRetries ?? 4, retryIntervalMs: 100, backoffFactor: 2, maxRetryIntervalMs: 250, recoveryTimeoutMs: 1_000, maxConcurrent: opts.maxConcurrent ?? 5 },
      isPaused: () => monitor.isPaused(),
      isHealthy: (t) => monitor.isHealthy(t),
      describe: async (t) => ({ kind: t.kind, id: t.id, labels: {} }),
    });
    monitor = new HealthMonitor({
      pipeline,
      provider,
      clock,
      metrics,
      log,
      thresholds: { failureThreshold: 2, recoveryThreshold: 1, orphanAfterFailures: 4 },
      storm: { unhealthyShare: 0.3, minUnhealthy: 3 },
      probeTimeoutMs: 500,
      maxConcurrentProbes: 8,
      recoveries: runner,
      targets: async () => targets,
    });
    return metrics;
  };
  const types = async (stream: string) => (await store.readStream(stream).catch(() => [])).map((e) => e.type);

  afterEach(() => {
    runner.close();
    store.close();
  });
  afterAll(() => dir.cleanup());

  it('a probe with no answer within probeTimeoutMs fails as TIMEOUT, and its signal aborts so the provider can stop; answers in time abort nothing', async () => {
    const metrics = await setup({ machines: 2 });
    provider.silent.add('machine-m1');
    let done = false;
    const round = monitor.round().then(() => (done = true));
    await clock.advance(499);
    expect([done, provider.aborted]).toEqual([false, []]);
    await clock.advance(1);
    await round;
    expect(provider.aborted).toEqual(['machine-m1']);
    const text = await metrics.text();
    expect(text).toMatch(/drydock_health_probe_failures_total\{kind="machine",reason="TIMEOUT"\} 1/);
    expect(text).toMatch(/drydock_health_probes_total\{kind="machine",result="ok"\} 1/);
    expect(clock.waiting).toBe(0); // the answered probe's timeout was cancelled
    // Timeouts count toward the threshold like any failure: the second one makes it unhealthy.
    const second = monitor.round();
    await clock.advance(500);
    await second;
    expect(provider.aborted).toEqual(['machine-m1', 'machine-m1']);
    expect((await types(machineStream('m1'))).slice(1)).toEqual(['MachineConditionChanged']);
    expect((await types(machineStream('m2'))).slice(1)).toEqual([]);
  });

  it('a round over many targets gives the event loop turns while it applies the thresholds, not only while it probes', async () => {
    await setup({ machines: 0 });
    // Already unhealthy and failing again: observing one changes what isHealthy says of it (no
    // record yet: healthy) and records nothing (no transition).
    targets = Array.from({ length: 4001 }, (_, i) => ({ kind: 'machine' as const, id: `x${i}`, labels: {}, healthy: false, orphaned: false }));
    for (const t of targets) provider.health.set(`machine-${t.id}`, fail());
    const first = targets[0];
    const last = targets[4000];
    // Once a turn of the event loop finds the first target observed, is the last one observed yet?
    let lastObservedAtFirstTurn: boolean | null = null;
    const poll = () => {
      if (monitor.isHealthy(first)) setImmediate(poll);
      else lastObservedAtFirstTurn = !monitor.isHealthy(last);
    };
    setImmediate(poll);
    await monitor.round();
    expect(lastObservedAtFirstTurn).toBe(false);
    expect([monitor.isHealthy(first), monitor.isHealthy(last)]).toEqual([false, false]);
  });

  it('only transitions are events; a machine turning unhealthy gets a recovery; attempts back off on the clock; after the last it is escalated', async () => {
    const metrics = await setup({ machines: 1 });
    provider.health.set('machine-m1', fail());
    await monitor.round();
    expect(await types(machineStream('m1'))).toEqual(['MachineRegistered']); // one failure: a metric, not an event
    await monitor.round();
    await clock.settle();
    expect((await types(machineStream('m1'))).slice(1)).toEqual(['MachineConditionChanged']);
    await clock.advance(1_000);
    await runner.idle();
    expect(provider.recoverCalls.map((c) => c.at - provider.recoverCalls[0].at)).toEqual([0, 100, 300, 550]);
    expect(await types(recoveryStream({ kind: 'machine', id: 'm1' }))).toEqual([
      'RecoveryRequested',
      ...Array(4).fill(['RecoveryAttemptStarted', 'RecoveryAttemptFailed']).flat(),
      'RecoveryEscalated',
    ]);
    const { state } = await pipeline.load(machineDecider, machineStream('m1'));
    expect(state.conditions.NEEDS_INTERVENTION?.status).toBe(true);
    expect(Object.keys(state.overrides)).toContain('degraded');
    const text = await metrics.text();
    expect(text).toMatch(/drydock_recovery_attempts_total\{kind="machine"\} 4/);
    expect(text).toMatch(/drydock_recovery_escalations_total\{kind="machine"\} 1/);
    expect(text).toMatch(/drydock_health_probe_failures_total\{kind="machine",reason="UNHEALTHY"\} 2/);
  });

  it('a recovery that works ends the episode; probes then bring the machine back', async () => {
    await setup({ machines: 1 });
    provider.failRecovery = false;
    provider.health.set('machine-m1', fail());
    await monitor.round();
    await monitor.round();
    await runner.idle();
    expect((await types(recoveryStream({ kind: 'machine', id: 'm1' }))).slice(-1)).toEqual(['RecoverySucceeded']);
    await monitor.round();
    const { state } = await pipeline.load(machineDecider, machineStream('m1'));
    expect(state.conditions.REACHABLE?.status).toBe(true);
  });

  it('an orphaned VM is recorded with its reason and recovered; a failed VM recovery escalates the VM', async () => {
    await setup({ machines: 0, vms: 1, maxRetries: 2 });
    provider.health.set('vm-1', fail('SOCKET_FAILED'));
    await monitor.round();
    await monitor.round();
    await clock.advance(1_000);
    await runner.idle();
    const events = await store.readStream(vmStream(1));
    expect(events.map((e) => e.type)).toEqual(['VmCreated', 'VmHealthChanged', 'VmOrphaned', 'VmNeedsIntervention']);
    expect(events[2].data).toMatchObject({ reason: 'SOCKET_FAILED' });
  });

  it('a recovery attempt with no answer within recoveryTimeoutMs fails as timed out, and its signal aborts', async () => {
    await setup({ machines: 1, maxRetries: 1 });
    provider.holdRecovery = new Promise(() => undefined); // the BMC never answers
    await runner.request({ kind: 'machine', id: 'm1' }, 'test', { manual: true, cause: null, context: ctx });
    await clock.advance(999);
    expect([provider.inRecovery, provider.aborted]).toEqual([1, []]);
    await clock.advance(1);
    await runner.idle();
    expect(provider.aborted).toEqual(['recover:machine-m1']);
    const events = await store.readStream(recoveryStream({ kind: 'machine', id: 'm1' }));
    expect(events.find((e) => e.type === 'RecoveryAttemptFailed')?.data).toMatchObject({ attempt: 1, error: 'timed out after 1000 ms' });
    expect(events.map((e) => e.type)).toContain('RecoveryEscalated');
  });

  it('never more recovery attempts at once than the cap', async () => {
    await setup({ machines: 0, vms: 6, maxConcurrent: 2, maxRetries: 1 });
    let release!: () => void;
    provider.holdRecovery = new Promise((r) => (release = r));
    for (let v = 1; v <= 6; v++) provider.health.set(`vm-${v}`, fail('PROCESS_GONE'));
    // Six of six unhealthy is a storm: these are operator-triggered, which storm control does not hold.
    for (let v = 1; v <= 6; v++) await runner.request({ kind: 'vm', id: String(v) }, 'test', { manual: true, cause: null, context: ctx });
    await clock.settle();
    expect(provider.inRecovery).toBe(2);
    release();
    await runner.idle();
    expect(provider.recoverCalls).toHaveLength(6);
    expect(provider.peak).toBe(2);
    expect(runner.peakConcurrent).toBe(2);
  });

  it('storm control pauses automatic recovery (an event) while manual recovery still runs, and resumes when the fleet recovers', async () => {
    const metrics = await setup({ machines: 10 });
    for (const i of [1, 2, 3, 4]) provider.health.set(`machine-m${i}`, fail());
    await monitor.round();
    await monitor.round();
    await clock.settle();
    expect(monitor.isPaused()).toBe(true);
    expect(await types(FLEET_HEALTH_STREAM)).toEqual(['AutoRecoveryPaused']);
    expect(await metrics.text()).toMatch(/drydock_auto_recovery_paused 1/);
    await clock.advance(5_000);
    expect(provider.recoverCalls).toEqual([]); // requested, held
    // An operator's recovery of m5 runs during the pause.
    await runner.request({ kind: 'machine', id: 'm5' }, 'operator says so', { manual: true, cause: 'ticket-2', context: ctx });
    await clock.advance(100);
    await clock.settle();
    expect(provider.recoverCalls.map((c) => c.key)).toContain('machine-m5');
    expect(provider.recoverCalls.map((c) => c.key)).not.toContain('machine-m2');
    for (const i of [1, 2, 3, 4]) provider.health.delete(`machine-m${i}`);
    await monitor.round();
    expect(monitor.isPaused()).toBe(false);
    expect(await types(FLEET_HEALTH_STREAM)).toEqual(['AutoRecoveryPaused', 'AutoRecoveryResumed']);
    await clock.advance(2_000);
    await runner.idle();
    // Healthy again before any attempt: the held automatic recoveries end without one.
    expect(await types(recoveryStream({ kind: 'machine', id: 'm2' }))).toEqual(['RecoveryRequested', 'RecoveryEnded']);
  });
});

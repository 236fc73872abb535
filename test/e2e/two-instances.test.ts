import { join } from 'node:path';
import { gql } from '../support/api-client';
import { startReadyServer, waitFor } from '../support/server-process';
import { tempDir } from '../support/temp';

/**
 * Two app processes on the same embedded files, as two stateless instances behind a load
 * balancer would be. Each projection and saga runs in one of them at a time, under a lease; the
 * other stands by, follows the holder's commits for its own clients, and takes over when the
 * holder dies. Fencing and derived requestIds make a late write by a dead or paused holder harmless.
 */
describe('two app processes on the same files, one killed mid-run', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('applies no projection batch and no saga command twice, and the survivor takes over', async () => {
    const env = { DATA_DIR: join(dir.path, 'data'), LOG_LEVEL: 'warn', AUTO_MACHINE_REPAIR_ENABLED: 'true', PROJECTION_BATCH_SIZE: '20' };
    const a = await startReadyServer(env);
    const b = await startReadyServer(env);
    let aAlive = true;
    try {
      const tenant = (await gql(a.port, 'mutation { createApiKey(input: { role: TENANT, tenantId: "acme", name: "t" }) { key } }')).data!.createApiKey.key as string;
      const ids = Array.from({ length: 30 }, (_, i) => `pair-${i}`);
      await gql(a.port, 'mutation($ids: [ID!]!) { registerMachines(input: { ids: $ids, phase: READY }) { id } }', { ids });
      // A started first and holds every lease: it runs every projection and saga; B stands by for all.
      const states = async (port: number) => ((await gql(port, '{ projections { name state } }')).data!.projections as Array<{ name: string; state: string }>).map((p) => p.state);
      const sagaStates = async (port: number) => ((await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { checks: { subscriptions: Array<{ kind: string; state: string }> } }).checks.subscriptions.filter((r) => r.kind === 'saga').map((r) => r.state);
      expect(new Set(await states(a.port))).toEqual(new Set(['running']));
      expect(new Set(await states(b.port))).toEqual(new Set(['standby']));
      expect(new Set(await sagaStates(a.port))).toEqual(new Set(['running']));
      expect(new Set(await sagaStates(b.port))).toEqual(new Set(['standby']));
      await waitFor(async () => (await gql(b.port, '{ machine(id: "pair-29") { id } }')).data?.machine != null, 30_000, 'B to see the machines').catch(async (e) => {
        console.error(JSON.stringify((await gql(b.port, '{ projections { name checkpoint lag state failure { error } } }')).data), JSON.stringify((await gql(a.port, '{ projections { name checkpoint lag state } }')).data), a.server.output().slice(-3000), b.server.output().slice(-3000));
        throw e;
      });

      // Tenants report issues through both instances; each report makes the saga ask for repair.
      const report = async (port: number, id: string) => {
        const inst = (await gql(port, `mutation { allocateInstance(input: { machineId: "${id}", requestId: "${id}" }) { id } }`, undefined, tenant)).data!.allocateInstance;
        await gql(port, `mutation { releaseInstance(input: { id: "${inst.id}", issue: { category: HARDWARE, summary: "ECC" } }) { id } }`, undefined, tenant);
      };
      await Promise.all(ids.slice(0, 20).map((id, i) => report(i % 2 ? a.port : b.port, id)));
      // A dies in the middle of reacting to them.
      a.server.child.kill('SIGKILL');
      await a.server.exited;
      aAlive = false;
      // The survivor sees A's process gone and takes every lease over at its next round.
      await waitFor(async () => (await states(b.port)).every((s) => s === 'running') && (await sagaStates(b.port)).every((s) => s === 'running'), 20_000, 'B to take every runner over');
      // Work after the death goes to the survivor, which must now run everything alone.
      await Promise.all(ids.slice(20).map((id) => report(b.port, id)));

      const sources = async (id: string) => ((await gql(b.port, `{ machine(id: "${id}") { healthOverrides { source } } }`)).data!.machine.healthOverrides as Array<{ source: string }>).map((o) => o.source);
      await waitFor(async () => (await Promise.all(ids.map(sources))).every((s) => s.includes('repair-request')), 20_000, 'every repair request');

      // Each saga command appended once: one repair request per machine in the log.
      for (const id of ids) {
        const added = (await gql(b.port, 'query($s: String) { events(filter: { stream: $s, types: ["HealthOverrideAdded"] }) { nodes { data } } }', { s: `machine-${id}` })).data!.events.nodes as Array<{ data: { source: string } }>;
        expect({ id, requests: added.filter((e) => e.data.source === 'repair-request').length }).toEqual({ id, requests: 1 });
      }
      // Every projection caught up on the survivor, and each read model is exactly what the log says.
      await waitFor(async () => ((await gql(b.port, '{ projections { lag state } }')).data!.projections as Array<{ lag: number; state: string }>).every((p) => p.lag === 0 && p.state === 'running'), 20_000, 'the projections');
      const names = ((await gql(b.port, '{ projections { name } }')).data!.projections as Array<{ name: string }>).map((p) => p.name);
      for (const name of names) {
        const drift = (await gql(b.port, 'query($n: String!) { verifyProjection(name: $n) { ok differences { collection id kind } } }', { n: name })).data!.verifyProjection;
        expect({ name, ...drift }).toEqual({ name, ok: true, differences: [] });
      }
      const reports = (await gql(b.port, '{ analytics { issueReports { total } } }')).data!.analytics.issueReports.total;
      expect(reports).toBe(30);
    } finally {
      if (aAlive) a.server.child.kill('SIGKILL');
      b.server.child.kill('SIGTERM');
      await b.server.exited;
    }
  }, 90_000);

  it('drives outside systems from one instance: an operation asked of the standby is run by the holder, and by the survivor once the holder dies', async () => {
    const env = { DATA_DIR: join(dir.path, 'executors'), LOG_LEVEL: 'warn', OPERATIONS_STAGE_DELAY_MS: '5' };
    const a = await startReadyServer(env);
    const b = await startReadyServer(env);
    let aAlive = true;
    try {
      const executors = async (port: number) =>
        ((await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { checks: { subscriptions: Array<{ kind: string; state: string }> } }).checks.subscriptions
          .filter((r) => r.kind === 'executor')
          .map((r) => r.state);
      // Commands of these types this process sent (its own counter): who drove the work.
      const sent = async (port: number, types: string[]) =>
        [...(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).matchAll(/^drydock_commands_total\{command="(\w+)",outcome="handled"\} (\d+)$/gm)]
          .filter((m) => types.includes(m[1]))
          .reduce((n, m) => n + Number(m[2]), 0);
      const stagesSent = (port: number) => sent(port, ['StartStage']);
      const recoverySteps = ['StartRecoveryAttempt', 'RecordRecoveryAttempt', 'EndRecovery'];
      expect(await executors(a.port)).toEqual(['running']);
      expect(await executors(b.port)).toEqual(['standby']);
      await gql(b.port, 'mutation { registerMachines(input: { ids: ["ex-1", "ex-2"], phase: READY }) { id } }');
      const reboot = async (port: number, id: string) => (await gql(port, `mutation { rebootMachine(input: { machineId: "${id}", requestId: "reboot-${id}" }) { id } }`)).data!.rebootMachine.id as string;
      const phase = async (port: number, op: string) => (await gql(port, `{ operation(id: "${op}") { phase } }`)).data!.operation?.phase;

      const first = await reboot(b.port, 'ex-1');
      await waitFor(async () => (await phase(b.port, first)) === 'SUCCEEDED', 30_000, 'the holder to run the operation asked of the standby');
      expect(await stagesSent(a.port)).toBeGreaterThan(0);
      expect(await stagesSent(b.port)).toBe(0);
      // An operator's recovery asked of the standby is recorded there and run by the holder.
      const recovery = (await gql(b.port, 'mutation { triggerRecovery(input: { machineId: "ex-1", reason: "stuck", requestId: "rec-1" }) { id } }')).data!.triggerRecovery.id as string;
      await waitFor(async () => (await gql(b.port, `{ recovery(id: "${recovery}") { status } }`)).data?.recovery.status !== 'IN_PROGRESS', 30_000, 'the holder to run the recovery');
      expect(await sent(a.port, recoverySteps)).toBeGreaterThan(0);
      expect(await sent(b.port, recoverySteps)).toBe(0);

      a.server.child.kill('SIGKILL');
      await a.server.exited;
      aAlive = false;
      await waitFor(async () => (await executors(b.port)).every((s) => s === 'running'), 20_000, 'B to take the executors over');
      const second = await reboot(b.port, 'ex-2');
      await waitFor(async () => (await phase(b.port, second)) === 'SUCCEEDED', 30_000, 'the survivor to run the next operation');
      expect(await stagesSent(b.port)).toBeGreaterThan(0);
    } finally {
      if (aAlive) a.server.child.kill('SIGKILL');
      b.server.child.kill('SIGTERM');
      await b.server.exited;
    }
  }, 90_000);
});

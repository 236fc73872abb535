import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildClientSchema, buildSchema, getIntrospectionQuery, lexicographicSortSchema, printSchema } from 'graphql';
import { collect, gql, wsClient } from '../support/api-client';
import { ServerProcess, startReadyServer, waitFor } from '../support/server-process';
import { tempDir } from '../support/temp';

const MACHINE = 'id phase effectiveState allocatable hypervisor labels revision capacity { cpuCores memoryGiB }';

describe('GraphQL API over HTTP and WebSocket', () => {
  const dir = tempDir();
  let server: ServerProcess;
  let port: number;

  beforeAll(async () => {
    ({ server, port } = await startReadyServer({ DATA_DIR: join(dir.path, 'data'), LOG_LEVEL: 'warn' }));
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    dir.cleanup();
  });

  it('serves exactly the committed schema.graphql', async () => {
    const res = await gql(port, getIntrospectionQuery({ specifiedByUrl: true, descriptions: true }));
    const served = printSchema(lexicographicSortSchema(buildClientSchema(res.data as any)));
    const committed = printSchema(lexicographicSortSchema(buildSchema(readFileSync(join(__dirname, '../../schema.graphql'), 'utf8'))));
    expect(served).toEqual(committed);
  });

  it('a mutation returns its own write, and the next query sees it (read-your-writes)', async () => {
    const reg = await gql(port, `mutation($i: RegisterMachinesInput!) { registerMachines(input: $i) { ${MACHINE} } }`, {
      i: { ids: ['hv1', 'hv2'], phase: 'READY', hypervisor: true, capacity: { cpuCores: 64, memoryGiB: 512 }, labels: { rack: 'r1' } },
    });
    expect(reg.errors).toBeUndefined();
    expect(reg.data!.registerMachines).toEqual([
      { id: 'hv1', phase: 'READY', effectiveState: 'IDLE', allocatable: true, hypervisor: true, labels: { rack: 'r1' }, revision: 0, capacity: { cpuCores: 64, memoryGiB: 512 } },
      { id: 'hv2', phase: 'READY', effectiveState: 'IDLE', allocatable: true, hypervisor: true, labels: { rack: 'r1' }, revision: 0, capacity: { cpuCores: 64, memoryGiB: 512 } },
    ]);
    const labels = await gql(port, `mutation { setMachineLabels(input: { machineId: "hv1", labels: { rack: "r7" } }) { labels revision } }`);
    expect(labels.data!.setMachineLabels).toEqual({ labels: { rack: 'r7' }, revision: 1 });
    const read = await gql(port, `{ machine(id: "hv1") { labels revision } }`);
    expect(read.data!.machine).toEqual({ labels: { rack: 'r7' }, revision: 1 });
  });

  it('filters and pages machines with a cursor', async () => {
    await gql(port, `mutation { registerMachines(input: { ids: ["n1", "n2", "n3"], labels: { pool: "new" } }) { id } }`);
    const page1 = await gql(port, `{ machines(filter: { phase: FACTORY_READY, labels: { pool: "new" } }, first: 2) { nodes { id effectiveState } totalCount pageInfo { hasNextPage endCursor } } }`);
    expect(page1.data!.machines.nodes).toEqual([{ id: 'n1', effectiveState: 'NEW' }, { id: 'n2', effectiveState: 'NEW' }]);
    expect(page1.data!.machines.totalCount).toBe(3);
    expect(page1.data!.machines.pageInfo.hasNextPage).toBe(true);
    const page2 = await gql(port, `query($after: String) { machines(filter: { phase: FACTORY_READY }, first: 2, after: $after) { nodes { id } pageInfo { hasNextPage } } }`, {
      after: page1.data!.machines.pageInfo.endCursor,
    });
    expect(page2.data!.machines).toEqual({ nodes: [{ id: 'n3' }], pageInfo: { hasNextPage: false } });
  });

  it('bad input is BAD_USER_INPUT naming the field, and appends nothing', async () => {
    const before = (await gql(port, `{ projections { name checkpoint } }`)).data!.projections;
    const badId = await gql(port, `mutation { registerMachines(input: { ids: ["ok-1", "not ok!"] }) { id } }`);
    expect(badId.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'ids' });
    const badCapacity = await gql(port, `mutation { registerMachines(input: { ids: ["ok-2"], capacity: { cpuCores: 0, memoryGiB: 1 } }) { id } }`);
    expect(badCapacity.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'capacity.cpuCores' });
    const badEnum = await gql(port, `mutation($i: RegisterMachinesInput!) { registerMachines(input: $i) { id } }`, { i: { ids: ['ok-3'], phase: 'SIDEWAYS' } });
    expect(badEnum.errors![0].extensions!.code).toBe('BAD_USER_INPUT');
    expect(badEnum.errors![0].message).toMatch(/phase/);
    const badLabel = await gql(port, `mutation($i: RegisterMachinesInput!) { registerMachines(input: $i) { id } }`, { i: { ids: ['ok-4'], labels: { 'bad key': 'x' } } });
    expect(badLabel.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'labels.bad key' });
    expect((await gql(port, `{ projections { name checkpoint } }`)).data!.projections).toEqual(before);
  });

  it('maps domain errors to their codes', async () => {
    const missing = await gql(port, `{ machine(id: "nope") { id } }`);
    expect(missing.errors![0].extensions!.code).toBe('NOT_FOUND');
    const dup = await gql(port, `mutation { registerMachines(input: { ids: ["hv1"] }) { id } }`);
    expect(dup.errors![0].extensions).toMatchObject({ code: 'CONFLICT', ids: ['hv1'] });
    expect(JSON.stringify(dup)).not.toMatch(/at .*\.js/);
  });

  it('machineChanged pushes the committed read model over graphql-ws', async () => {
    const client = wsClient(port);
    const sub = collect(client, `subscription { machineChanged(id: "hv2") { id labels revision } }`);
    await new Promise((r) => setTimeout(r, 200));
    await gql(port, `mutation { setMachineLabels(input: { machineId: "hv2", labels: { rack: "r9" } }) { id } }`);
    const [msg] = await sub.next(1);
    expect(msg).toEqual({ machineChanged: { id: 'hv2', labels: { rack: 'r9' }, revision: 1 } });
    sub.unsubscribe();
    await client.dispose();
  });

  it('rapid changes to one machine each produce their own message, none coalesced', async () => {
    const client = wsClient(port);
    const sub = collect(client, `subscription { machineChanged(id: "hv2") { labels } }`);
    await new Promise((r) => setTimeout(r, 200));
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => gql(port, `mutation { setMachineLabels(input: { machineId: "hv2", labels: { burst: "${i}" } }) { id } }`)),
    );
    const messages = await sub.next(10);
    expect(messages.map((m: any) => m.machineChanged.labels.burst).sort()).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    sub.unsubscribe();
    await client.dispose();
  });

  it('rebuilds a projection blue/green with progress on projectionRebuild, and the data survives', async () => {
    const client = wsClient(port);
    const sub = collect(client, `subscription { projectionRebuild(name: "machines") { progress processed total state } }`);
    // A watcher of one machine hears from the rebuilt model when it is swapped in.
    const watcher = collect(client, `subscription { machineChanged(id: "hv1") { id labels } }`);
    await new Promise((r) => setTimeout(r, 200));
    const started = await gql(port, `mutation { rebuildProjection(name: "machines") { name state rebuild { total } } }`);
    expect(started.errors).toBeUndefined();
    await waitFor(() => sub.messages.some((m: any) => m.projectionRebuild.progress === 1 && m.projectionRebuild.state === 'running'), 10_000, 'the rebuild to finish');
    const status = await gql(port, `{ projections { name state lag rebuild { progress } } }`);
    expect(status.data!.projections).toContainEqual({ name: 'machines', state: 'running', lag: 0, rebuild: null });
    const machines = await gql(port, `{ machines(first: 100) { totalCount } machine(id: "hv1") { labels } }`);
    expect(machines.data!.machines.totalCount).toBe(5);
    expect(machines.data!.machine).toEqual({ labels: { rack: 'r7' } });
    expect(await watcher.next(1)).toEqual([{ machineChanged: { id: 'hv1', labels: { rack: 'r7' } } }]);
    watcher.unsubscribe();
    const unknown = await gql(port, `mutation { rebuildProjection(name: "nope") { name } }`);
    expect(unknown.errors![0].extensions!.code).toBe('NOT_FOUND');
    sub.unsubscribe();
    await client.dispose();
  });

  it('serves an offline GraphiQL at /graphql to browsers, every asset local', async () => {
    const page = await fetch(`http://localhost:${port}/graphql`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toMatch(/GraphiQL/);
    const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(sources.length).toBeGreaterThanOrEqual(5);
    for (const src of sources) {
      expect(src).toMatch(/^\/graphql-ide\//);
      const asset = await fetch(`http://localhost:${port}${src}`);
      expect(asset.status).toBe(200);
      expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    }
  });

  it('readiness lists the projection runners', async () => {
    const ready = (await (await fetch(`http://localhost:${port}/readyz`)).json()) as any;
    expect(ready.checks.subscriptions).toContainEqual({ name: 'machines', kind: 'projection', state: 'running', serving: true });
  });
});

/**
 * The floor under the subscription scenario (its own process): what any server must do to turn
 * a mutation into a subscription message durably, and nothing else. GraphQL over HTTP POST and
 * graphql-ws on Drydock's schema (graphql-js, graphql-ws, ws), one durable append to the
 * event store per mutation (the embedded one, or EventStoreDB in the servers' run), then the
 * message to the machine's subscribers from memory: no framework, no auth, no limits, no
 * projections, no read store.
 */
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { buildSchema, graphql, type GraphQLSchema } from 'graphql';
import { map, Subject } from 'rxjs';
import { WebSocketServer } from 'ws';
import { loadConfig } from '../../../src/config/config';
import { createEventStore } from '../../../src/event-store/create-event-store';
import type { EventStore } from '../../../src/event-store/event-store.port';
import { newEventId } from '../../../src/messaging/command-pipeline';
import { toAsyncIterator } from '../../../src/graphql/async-iterator';
import { childArgs } from './child';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { useServer } = require('graphql-ws/use/ws') as typeof import('graphql-ws/dist/use/ws.js');

export interface BareFanoutArgs {
  schemaFile: string;
  /** Where its event store lives: the settings of a bench place (`test/bench/stores.ts`), opened as the app opens its log. */
  stores: Record<string, string>;
  port: number;
}

interface Machine {
  id: string;
  labels: unknown;
}

function schemaWithResolvers(file: string, store: EventStore): GraphQLSchema {
  const schema = buildSchema(readFileSync(file, 'utf8'));
  // One stream of changes per machine: a message costs its own subscribers only.
  const changes = new Map<string, Subject<Machine>>();
  const changesOf = (id: string) => changes.get(id) ?? changes.set(id, new Subject<Machine>()).get(id)!;
  const mutation = schema.getMutationType()!.getFields();
  mutation.setMachineLabels.resolve = async (_root, { input }: { input: { machineId: string; labels: unknown } }) => {
    const machine = { id: input.machineId, labels: input.labels };
    const metadata = { actor: 'bench', correlationId: randomUUID(), causationId: null, requestId: null, occurredAt: new Date().toISOString(), schemaVersion: 1 };
    await store.append(`machine-${machine.id}`, [{ id: newEventId(), type: 'MachineLabelsSet', data: { machineId: machine.id, labels: machine.labels }, metadata }], 'any');
    changesOf(machine.id).next(machine);
    return machine;
  };
  const subscription = schema.getSubscriptionType()!.getFields();
  subscription.machineChanged.subscribe = (_root, { id }: { id: string }) =>
    toAsyncIterator(changesOf(id).pipe(map((m) => ({ machineChanged: m }))));
  // The load generator waits for `{ projections { lag } }` to read 0 between rounds.
  schema.getQueryType()!.getFields().projections.resolve = () => [{ lag: 0 }];
  return schema;
}

async function main() {
  const a = childArgs<BareFanoutArgs>();
  const store = await createEventStore(loadConfig(a.stores));
  const schema = schemaWithResolvers(a.schemaFile, store);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        let status = 200;
        let body: unknown;
        try {
          const { query, variables } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { query: string; variables?: Record<string, unknown> };
          body = await graphql({ schema, source: query, variableValues: variables });
        } catch (err) {
          status = 400;
          body = { errors: [{ message: (err as Error).message }] };
        }
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      })();
    });
  });
  useServer({ schema }, new WebSocketServer({ server, path: '/graphql' }));
  server.listen(a.port, () => process.stdout.write('listening\n'));
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

import { randomUUID } from 'node:crypto';
import { EsdbEventStore } from '../../src/event-store/esdb/esdb-event-store';
import { EventStore, RecordedEvent } from '../../src/event-store/event-store.port';
import { ChainVerifier } from '../../src/event-store/hash-chain';
import { eventStoreContract, newEvent } from './event-store.contract';

const connection = process.env.EVENTSTORE_CONNECTION_STRING;

if (connection) {
  eventStoreContract('EventStoreDB', async () => new EsdbEventStore(connection));
  // The whole contract again inside a namespace of the same server (a fresh one per run).
  const namespace = `contract-${randomUUID().slice(0, 8)}`;
  eventStoreContract('EventStoreDB in a namespace', async () => new EsdbEventStore(connection, { namespace }));

  describe('EventStoreDB namespaces: installations sharing one server', () => {
    let a: EventStore;
    let b: EventStore;
    let whole: EventStore;
    let run: string;
    beforeEach(() => {
      run = randomUUID().slice(0, 8);
      a = new EsdbEventStore(connection, { namespace: `a-${run}` });
      b = new EsdbEventStore(connection, { namespace: `b-${run}` });
      whole = new EsdbEventStore(connection);
    });
    afterEach(async () => {
      await Promise.all([a.close(), b.close(), whole.close()]);
    });

    it('the same stream name in two namespaces is two streams, and each reads only its own', async () => {
      const ra = await a.append('machine-x', [newEvent('InA', { n: 1 }), newEvent('InA', { n: 2 })], 'no_stream');
      const rb = await b.append('machine-x', [newEvent('InB', { n: 1 })], 'no_stream');
      expect(ra.nextExpectedRevision).toBe(1);
      expect(rb.nextExpectedRevision).toBe(0);

      const inA = await a.readStream('machine-x');
      expect(inA.map((e) => [e.stream, e.type, e.revision])).toEqual([['machine-x', 'InA', 0], ['machine-x', 'InA', 1]]);
      expect((await b.readStream('machine-x')).map((e) => e.type)).toEqual(['InB']);
      // $all, the head, lookups by id: each namespace sees its own events only.
      expect((await a.readAll()).map((e) => e.type)).toEqual(['InA', 'InA']);
      expect((await b.readAll({ direction: 'backwards' })).map((e) => e.type)).toEqual(['InB']);
      expect(await a.headPosition()).toBe(ra.position);
      expect(await b.headPosition()).toBe(rb.position);
      const [onlyB] = await b.readStream('machine-x');
      expect(await a.readEvent(onlyB.id)).toBeNull();
      expect(await b.readEvent(onlyB.id)).toMatchObject({ stream: 'machine-x', type: 'InB' });
      // The chain covers the names the app gave: it verifies from the namespace's own reads.
      const verifier = new ChainVerifier();
      expect(verifier.feed(inA)).toBe(true);
      // On the server the streams carry their namespace; an installation without one sees them so.
      expect((await whole.readStream(`a-${run}/machine-x`)).map((e) => e.type)).toEqual(['InA', 'InA']);
    });

    it('a subscription in a namespace delivers that namespace only', async () => {
      await b.append('machine-y', [newEvent('NotForA')], 'no_stream');
      await a.append('machine-y', [newEvent('ForA')], 'no_stream');
      const sub = a.subscribeToAll();
      const seen: RecordedEvent[] = [];
      const timer = setTimeout(() => void sub.close(), 10_000);
      for await (const e of sub) {
        seen.push(e);
        if (e.stream === 'machine-y') break;
      }
      clearTimeout(timer);
      await sub.close();
      expect(seen.map((e) => [e.stream, e.type])).toEqual([['machine-y', 'ForA']]);
    });
  });
} else {
  // Conditional on a missing server, and said out loud: see README "Integration tests".
  describe('event store contract: EventStoreDB', () => {
    it.todo('runs when EVENTSTORE_CONNECTION_STRING is set (docker compose up eventstore)');
  });
}

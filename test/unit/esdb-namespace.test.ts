import type { AllStreamResolvedEvent } from '@eventstore/db-client';
import { toEsdbEvents, toEsdbFilter, toRecorded } from '../../src/event-store/esdb/esdb-event-store';
import type { RecordedEvent } from '../../src/event-store/event-store.port';
import { ChainVerifier, GENESIS_HASH } from '../../src/event-store/hash-chain';
import { newEvent } from '../contract/event-store.contract';

// The EventStoreDB adapter's namespace mapping, on events as the client delivers them: it runs
// without a server (the adapter against a server: test/contract/event-store.esdb.test.ts).
const delivered = (streamId: string, type = 'MachineRegistered'): AllStreamResolvedEvent =>
  ({
    event: { id: 'e1', streamId, revision: 3n, type, isJson: true, data: { id: 'm1' }, metadata: { actor: 'a' }, created: new Date('2026-01-01T00:00:00Z'), position: { commit: 42n, prepare: 42n } },
    commitPosition: 42n,
  }) as unknown as AllStreamResolvedEvent;

describe('EventStoreDB namespaces: the mapping', () => {
  it('an event of the namespace arrives under the name the app gave it; other namespaces and the server\'s own do not arrive', () => {
    expect(toRecorded(delivered('staging/machine-m1'), 'staging/')).toMatchObject({ stream: 'machine-m1', revision: 3, position: 42, type: 'MachineRegistered' });
    expect(toRecorded(delivered('ci/machine-m1'), 'staging/')).toBeNull();
    expect(toRecorded(delivered('machine-m1'), 'staging/')).toBeNull();
    expect(toRecorded(delivered('$stats-0.0.0.0:2113', '$statsCollected'), 'staging/')).toBeNull();
    // Without a namespace, every stream but the server's own is the installation's.
    expect(toRecorded(delivered('staging/machine-m1'), '')).toMatchObject({ stream: 'staging/machine-m1' });
  });

  it('in a namespace, subscriptions are filtered by the server on its streams, or on the asked prefixes under it', () => {
    expect(toEsdbFilter(undefined, 'staging/')).toMatchObject({ filterOn: 'streamName', prefixes: ['staging/'] });
    expect(toEsdbFilter({ streamPrefixes: ['machine-', 'vm-'] }, 'staging/')).toMatchObject({ filterOn: 'streamName', prefixes: ['staging/machine-', 'staging/vm-'] });
    // Event types are then applied as events arrive; without a namespace the server filters on them.
    expect(toEsdbFilter({ eventTypes: ['MachineRegistered'] }, 'staging/')).toMatchObject({ filterOn: 'streamName', prefixes: ['staging/'] });
    expect(toEsdbFilter({ eventTypes: ['MachineRegistered'] }, '')).toMatchObject({ filterOn: 'eventType', prefixes: ['MachineRegistered'] });
  });
});

describe('EventStoreDB: the chain as the adapter writes it', () => {
  /** The events as the server would hand them back: JSON text parsed, positions (later appends further on) and times its own. */
  const roundTrip = (written: ReturnType<typeof toEsdbEvents>, firstRevision: number): RecordedEvent[] =>
    written.map((w, i) => {
      const j = w as unknown as { id: string; type: string; data: unknown; metadata: unknown };
      const delivered = {
        event: { id: j.id, streamId: 'staging/machine-m1', revision: BigInt(firstRevision + i), type: j.type, isJson: true, data: JSON.parse(JSON.stringify(j.data)), metadata: JSON.parse(JSON.stringify(j.metadata)), created: new Date('2030-01-01T00:00:00Z'), position: { commit: BigInt(9000 + (firstRevision + i) * 100), prepare: BigInt(9000 + (firstRevision + i) * 100) } },
        commitPosition: BigInt(9000 + (firstRevision + i) * 100),
      } as unknown as AllStreamResolvedEvent;
      return toRecorded(delivered, 'staging/')!;
    });

  it('verifies from the reads: the time the adapter hashed is the time they hand out, and its edit breaks the chain', () => {
    const first = roundTrip(toEsdbEvents('machine-m1', { revision: -1, hash: GENESIS_HASH }, [newEvent('A', { n: 1 }), newEvent('B', { n: 2 })], new Date('2026-01-01T00:00:00Z')), 0);
    const next = roundTrip(toEsdbEvents('machine-m1', { revision: 1, hash: first[1].metadata.hash as string }, [newEvent('C', { n: 3 })], new Date('2026-01-02T00:00:00Z')), 2);
    const events = [...first, ...next];
    expect(events.map((e) => [e.recordedAt, e.metadata.hashVersion])).toEqual([
      ['2026-01-01T00:00:00.000Z', 2],
      ['2026-01-01T00:00:00.000Z', 2],
      ['2026-01-02T00:00:00.000Z', 2],
    ]);
    expect(new ChainVerifier().feed(events)).toBe(true);
    const edited = new ChainVerifier();
    edited.feed(events.map((e, i) => (i === 1 ? { ...e, metadata: { ...e.metadata, recordedAt: '2020-01-01T00:00:00.000Z' } } : e)));
    expect(edited.firstBreak).toMatchObject({ revision: 1, reason: 'CONTENT_CHANGED' });
  });

  it('an event written before the adapter kept the time has the server\'s', () => {
    expect(toRecorded(delivered('staging/machine-m1'), 'staging/')!.recordedAt).toBe('2026-01-01T00:00:00.000Z');
  });
});

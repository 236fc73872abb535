import type { AllStreamResolvedEvent } from '@eventstore/db-client';
import { toEsdbFilter, toRecorded } from '../../src/event-store/esdb/esdb-event-store';

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

import { EsdbEventStore } from '../../src/event-store/esdb/esdb-event-store';
import { eventStoreContract } from './event-store.contract';

const connection = process.env.EVENTSTORE_CONNECTION_STRING;

if (connection) {
  eventStoreContract('EventStoreDB', async () => new EsdbEventStore(connection));
} else {
  // Conditional on a missing server, and said out loud: see README "Integration tests".
  describe('event store contract: EventStoreDB', () => {
    it.todo('runs when EVENTSTORE_CONNECTION_STRING is set (docker compose up eventstore)');
  });
}

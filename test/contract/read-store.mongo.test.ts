import { MongoReadStore } from '../../src/read-store/mongo/mongo-read-store';
import { readStoreContract } from './read-store.contract';

const uri = process.env.MONGODB_URI;

if (uri) {
  readStoreContract('MongoDB', async () => new MongoReadStore(uri));
} else {
  // Conditional on a missing server, and said out loud: see README "Integration tests".
  describe('read store contract: MongoDB', () => {
    it.todo('runs when MONGODB_URI is set (docker compose up mongodb)');
  });
}

import { loadConfig } from '../../src/config/config';
import { embeddedStores, serverStores, withDatabase } from '../bench/stores';
import { newEvent } from '../contract/event-store.contract';
import { tempDir } from '../support/temp';

// The benchmark's places: what a scenario's apps and baselines are opened on.
describe('bench stores', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('sets the database of a MongoDB URI and keeps its hosts and options', () => {
    expect(withDatabase('mongodb://localhost:27017/drydock_test?replicaSet=rs0', 'b1')).toBe('mongodb://localhost:27017/b1?replicaSet=rs0');
    expect(withDatabase('mongodb://u:p@h1:27017,h2:27017/?replicaSet=rs0&w=majority', 'b2')).toBe('mongodb://u:p@h1:27017,h2:27017/b2?replicaSet=rs0&w=majority');
    expect(withDatabase('mongodb+srv://cluster.example.net', 'b3')).toBe('mongodb+srv://cluster.example.net/b3');
    expect(() => withDatabase('postgres://localhost/x', 'b4')).toThrow(/not a mongodb:\/\/ URI/);
  });

  it('on the servers, each place is a namespace and a database of its own that the app accepts', () => {
    const stores = serverStores(dir.path, 'esdb://localhost:2113?tls=false', 'mongodb://localhost:27017/drydock?replicaSet=rs0');
    const [a, b] = [stores.place('query'), stores.place('floor: bare')];
    const [ca, cb] = [loadConfig(a.env, dir.path), loadConfig(b.env, dir.path)];
    expect(ca.event_store.connection_string).toBe('esdb://localhost:2113?tls=false');
    expect(ca.event_store.namespace).toMatch(/^bench_[0-9a-f]{8}_0_query$/);
    expect(cb.event_store.namespace).toMatch(/^bench_[0-9a-f]{8}_1_floorbare$/);
    expect(ca.read_store.mongodb_uri).toBe(`mongodb://localhost:27017/${ca.event_store.namespace}?replicaSet=rs0`);
    expect(cb.read_store.mongodb_uri).not.toBe(ca.read_store.mongodb_uri);
  });

  it('embedded, each place is a log and a read store of its own', async () => {
    const stores = embeddedStores(dir.path);
    const [a, b] = [stores.place('one'), stores.place('one')];
    const [ea, eb] = [await a.events(), await b.events()];
    await ea.append('machine-m1', [newEvent('Registered')], 'no_stream');
    expect((await ea.readAll()).map((e) => e.stream)).toEqual(['machine-m1']);
    expect(await eb.readAll()).toEqual([]);
    const [ra, rb] = [await a.read({ writerThread: false }), await b.read({ writerThread: false })];
    await ra.commit([{ op: 'insertOne', collection: 'c', doc: { _id: 'x' } }]);
    expect(await ra.findOne('c', { _id: 'x' })).toMatchObject({ _id: 'x' });
    expect(await rb.findOne('c', { _id: 'x' })).toBeNull();
    await Promise.all([ea.close(), eb.close(), ra.close(), rb.close()]);
  });
});

import { randomUUID } from 'node:crypto';
import {
  DuplicateEventIdError,
  EventStore,
  NewEvent,
  RecordedEvent,
  StreamNotFoundError,
  WrongExpectedRevisionError,
} from '../../src/event-store/event-store.port';
import { ChainVerifier, GENESIS_HASH } from '../../src/event-store/hash-chain';

export function newEvent(type: string, data: Record<string, unknown> = {}, id: string = randomUUID()): NewEvent {
  return {
    id,
    type,
    data,
    metadata: {
      actor: 'contract-test',
      correlationId: 'c-1',
      causationId: null,
      requestId: null,
      occurredAt: new Date().toISOString(),
      schemaVersion: 1,
    },
  };
}

async function take(iterable: AsyncIterable<RecordedEvent>, n: number, timeoutMs = 10_000): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  const timer = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`only ${out.length}/${n} events arrived in ${timeoutMs} ms`)), timeoutMs).unref(),
  );
  const reading = (async () => {
    for await (const e of iterable) {
      out.push(e);
      if (out.length >= n) break;
    }
    return out;
  })();
  return Promise.race([reading, timer]);
}

/** The first n events the predicate accepts (a shared server carries other runs' events too). */
async function takeMatching(iterable: AsyncIterable<RecordedEvent>, accept: (e: RecordedEvent) => boolean, n: number, timeoutMs = 20_000): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  const timer = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`only ${out.length}/${n} events arrived in ${timeoutMs} ms`)), timeoutMs).unref(),
  );
  const reading = (async () => {
    for await (const e of iterable) {
      if (accept(e)) out.push(e);
      if (out.length >= n) break;
    }
    return out;
  })();
  return Promise.race([reading, timer]);
}

/**
 * The event store port's contract. Every adapter runs it; every stream name is unique
 * per run so the suite can run against a shared server.
 */
export function eventStoreContract(adapter: string, open: () => Promise<EventStore>): void {
  describe(`event store contract: ${adapter}`, () => {
    let store: EventStore;
    let ns: string;
    const s = (name: string) => `${ns}${name}`;

    beforeEach(async () => {
      store = await open();
      ns = `t${randomUUID().slice(0, 8)}_`;
    });
    afterEach(async () => {
      await store.close();
    });

    it('appends to a new stream at revision 0 and reports its global position', async () => {
      const r = await store.append(s('a-1'), [newEvent('A'), newEvent('B')], 'no_stream');
      expect(r.nextExpectedRevision).toBe(1);
      expect(r.position).toBeGreaterThan(0);
      const events = await store.readStream(s('a-1'));
      expect(events.map((e) => [e.type, e.revision])).toEqual([['A', 0], ['B', 1]]);
      expect(events[1].position).toBe(r.position);
      expect(events[0].position).toBeLessThan(events[1].position);
    });

    it('no_stream refuses an existing stream', async () => {
      await store.append(s('a-2'), [newEvent('A')], 'no_stream');
      await expect(store.append(s('a-2'), [newEvent('B')], 'no_stream')).rejects.toBeInstanceOf(WrongExpectedRevisionError);
    });

    it('stream_exists refuses a missing stream and accepts an existing one', async () => {
      await expect(store.append(s('a-3'), [newEvent('A')], 'stream_exists')).rejects.toBeInstanceOf(WrongExpectedRevisionError);
      await store.append(s('a-3'), [newEvent('A')], 'no_stream');
      const r = await store.append(s('a-3'), [newEvent('B')], 'stream_exists');
      expect(r.nextExpectedRevision).toBe(1);
    });

    it('an exact revision must match the last event of the stream', async () => {
      await store.append(s('a-4'), [newEvent('A'), newEvent('B')], 'no_stream');
      const err = await store.append(s('a-4'), [newEvent('C')], 0).catch((e) => e);
      expect(err).toBeInstanceOf(WrongExpectedRevisionError);
      expect(err.actual).toBe(1);
      expect((await store.append(s('a-4'), [newEvent('C')], 1)).nextExpectedRevision).toBe(2);
    });

    it('any appends whatever the stream holds', async () => {
      expect((await store.append(s('a-5'), [newEvent('A')], 'any')).nextExpectedRevision).toBe(0);
      expect((await store.append(s('a-5'), [newEvent('B')], 'any')).nextExpectedRevision).toBe(1);
    });

    it('a rejected append writes nothing', async () => {
      await store.append(s('a-6'), [newEvent('A')], 'no_stream');
      await expect(store.append(s('a-6'), [newEvent('B'), newEvent('C')], 5)).rejects.toBeInstanceOf(WrongExpectedRevisionError);
      expect((await store.readStream(s('a-6'))).map((e) => e.type)).toEqual(['A']);
    });

    it('of two concurrent appends at the same expected revision exactly one wins', async () => {
      await store.append(s('a-7'), [newEvent('A')], 'no_stream');
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, (_, i) => store.append(s('a-7'), [newEvent(`W${i}`)], 0)),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results.filter((r) => r.status === 'rejected')) {
        expect((r as PromiseRejectedResult).reason).toBeInstanceOf(WrongExpectedRevisionError);
      }
      expect(await store.readStream(s('a-7'))).toHaveLength(2);
    });

    it('a retried append with the same event ids is recognised and appends nothing', async () => {
      const events = [newEvent('A'), newEvent('B')];
      const first = await store.append(s('a-8'), events, 'no_stream');
      const again = await store.append(s('a-8'), events, 'no_stream');
      expect(again).toEqual(first);
      expect(await store.readStream(s('a-8'))).toHaveLength(2);
    });

    it('a retried one-event append is recognised and appends nothing', async () => {
      const e = newEvent('A');
      const first = await store.append(s('a-10'), [e], 'no_stream');
      expect(await store.append(s('a-10'), [e], 'no_stream')).toEqual(first);
      const f = newEvent('B');
      const second = await store.append(s('a-10'), [f], first.nextExpectedRevision);
      expect(await store.append(s('a-10'), [f], first.nextExpectedRevision)).toEqual(second);
      expect((await store.readStream(s('a-10'))).map((x) => x.type)).toEqual(['A', 'B']);
    });

    it('an event id reused for another event is refused', async () => {
      const id = randomUUID();
      await store.append(s('a-9'), [newEvent('A', {}, id)], 'no_stream');
      await expect(store.append(s('b-9'), [newEvent('B', {}, id)], 'no_stream')).rejects.toBeInstanceOf(
        DuplicateEventIdError,
      );
    });

    it('reads a stream forwards and backwards from a revision, with a limit', async () => {
      await store.append(s('r-1'), ['E0', 'E1', 'E2', 'E3', 'E4'].map((t) => newEvent(t)), 'no_stream');
      const types = (es: RecordedEvent[]) => es.map((e) => e.type);
      expect(types(await store.readStream(s('r-1'), { fromRevision: 2 }))).toEqual(['E2', 'E3', 'E4']);
      expect(types(await store.readStream(s('r-1'), { fromRevision: 1, maxCount: 2 }))).toEqual(['E1', 'E2']);
      expect(types(await store.readStream(s('r-1'), { direction: 'backwards' }))).toEqual(['E4', 'E3', 'E2', 'E1', 'E0']);
      expect(types(await store.readStream(s('r-1'), { direction: 'backwards', fromRevision: 2, maxCount: 2 }))).toEqual([
        'E2',
        'E1',
      ]);
    });

    it('reading a missing stream is a typed error', async () => {
      await expect(store.readStream(s('missing'))).rejects.toBeInstanceOf(StreamNotFoundError);
    });

    it('keeps data and metadata as written', async () => {
      const e = newEvent('A', { n: 1, nested: { list: [1, 'two'] } });
      e.metadata.requestId = 'req-1';
      e.metadata.causationId = 'cause-1';
      await store.append(s('m-1'), [e], 'no_stream');
      const [read] = await store.readStream(s('m-1'));
      expect(read.id).toBe(e.id);
      expect(read.data).toEqual(e.data);
      // As written, with the chain's fields: the hash, its predecessor's, and the rule's version
      // (2 keeps the time it hashed in the metadata: its store gives the position on commit).
      const { hash, prevHash, hashVersion, recordedAt, ...own } = read.metadata;
      expect(own).toEqual(e.metadata);
      expect({ hash, prevHash }).toEqual({ hash: expect.stringMatching(/^[0-9a-f]{64}$/), prevHash: GENESIS_HASH });
      expect(hashVersion === 2 ? { hashVersion, recordedAt } : { hashVersion, recordedAt }).toEqual(hashVersion === 2 ? { hashVersion: 2, recordedAt: read.recordedAt } : { hashVersion: 3, recordedAt: undefined });
      expect(read.stream).toBe(s('m-1'));
      expect(Date.parse(read.recordedAt)).not.toBeNaN();
    });

    it('reads $all after a position, filtered by stream prefix and by event type, both directions', async () => {
      const start = await store.headPosition();
      await store.append(s('x-1'), [newEvent('Keep'), newEvent('Drop')], 'no_stream');
      await store.append(s('y-1'), [newEvent('Keep')], 'no_stream');
      await store.append(s('x-2'), [newEvent('Keep')], 'no_stream');
      const byPrefix = await store.readAll({ from: start, filter: { streamPrefixes: [s('x-')] } });
      expect(byPrefix.map((e) => `${e.stream}:${e.type}`)).toEqual([`${s('x-1')}:Keep`, `${s('x-1')}:Drop`, `${s('x-2')}:Keep`]);
      const both = await store.readAll({ from: start, filter: { streamPrefixes: [s('x-'), s('y-')], eventTypes: ['Keep'] } });
      expect(both.map((e) => e.stream)).toEqual([s('x-1'), s('y-1'), s('x-2')]);
      const backwards = await store.readAll({ direction: 'backwards', filter: { streamPrefixes: [s('')] }, maxCount: 2 });
      expect(backwards.map((e) => e.stream)).toEqual([s('x-2'), s('y-1')]);
      const positions = byPrefix.map((e) => e.position);
      expect([...positions].sort((a, b) => a - b)).toEqual(positions);
      const afterFirst = await store.readAll({ from: byPrefix[0].position, filter: { streamPrefixes: [s('x-')] }, maxCount: 1 });
      expect(afterFirst[0].id).toBe(byPrefix[1].id);
    });

    it('fills a page of $all from past the events its filter passes over, in both directions', async () => {
      const start = await store.headPosition();
      await store.append(s('skip-1'), Array.from({ length: 10 }, () => newEvent('Skipped')), 'no_stream');
      await store.append(s('want-1'), [newEvent('Wanted'), newEvent('Wanted')], 'no_stream');
      const forwards = await store.readAll({ from: start, filter: { streamPrefixes: [s('want-')] }, maxCount: 2 });
      expect(forwards.map((e) => `${e.stream}:${e.type}`)).toEqual([`${s('want-1')}:Wanted`, `${s('want-1')}:Wanted`]);
      const backwards = await store.readAll({ direction: 'backwards', filter: { streamPrefixes: [s('skip-')] }, maxCount: 3 });
      expect(backwards.map((e) => e.stream)).toEqual([s('skip-1'), s('skip-1'), s('skip-1')]);
      expect(backwards.map((e) => e.revision)).toEqual([9, 8, 7]);
    });

    it('headPosition is the position of the last event', async () => {
      const r = await store.append(s('h-1'), [newEvent('A')], 'no_stream');
      expect(await store.headPosition()).toBeGreaterThanOrEqual(r.position);
    });

    it('a subscription catches up and goes live under concurrent appends, without gaps or duplicates', async () => {
      const filter = { streamPrefixes: [s('')] };
      for (let i = 0; i < 20; i++) await store.append(s(`sub-${i}`), [newEvent('Old'), newEvent('Old')], 'no_stream');
      const sub = store.subscribeToAll({ filter });
      const writers = Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; i < 25; i++) await store.append(s(`live-${w}`), [newEvent('New')], 'any');
      });
      const [received] = await Promise.all([take(sub, 240), Promise.all(writers)]);
      await sub.close();
      const ids = received.map((e) => e.id);
      expect(new Set(ids).size).toBe(240);
      const positions = received.map((e) => e.position);
      for (let i = 1; i < positions.length; i++) expect(positions[i]).toBeGreaterThan(positions[i - 1]);
      const all = await store.readAll({ filter, maxCount: 1000 });
      expect(ids).toEqual(all.map((e) => e.id));
    });

    it('many unfiltered subscribers at the head and one from the start: bursts larger than a read batch reach each once, in order', async () => {
      await store.append(s('before'), [newEvent('Old', { k: -1 })], 'no_stream');
      const start = await store.headPosition();
      const mine = (e: RecordedEvent) => e.stream.startsWith(ns);
      const live = Array.from({ length: 6 }, () => store.subscribeToAll({ after: start }));
      const behind = store.subscribeToAll({ after: 'start' });
      const burst = (b: number) => Array.from({ length: 700 }, (_, i) => newEvent('Burst', { k: b * 700 + i }));
      const writing = (async () => {
        for (let b = 0; b < 4; b++) await Promise.all([store.append(s(`burst-${b}`), burst(b), 'no_stream'), store.append(s(`single-${b}`), [newEvent('One', { k: 10_000 + b })], 'no_stream')]);
      })();
      const expected = 4 * 701;
      const received = await Promise.all([...live, behind].map((sub) => takeMatching(sub, mine, expected + 0)));
      await writing;
      await Promise.all([...live, behind].map((sub) => sub.close()));
      const all = (await store.readAll({ from: start, maxCount: 10_000 })).filter(mine);
      expect(all).toHaveLength(expected);
      for (const got of received.slice(0, 6)) expect(got.map((e) => e.id)).toEqual(all.map((e) => e.id));
      const fromStart = received[6];
      expect(fromStart[0].data.k).toBe(-1);
      expect(fromStart.slice(1).map((e) => e.id)).toEqual(all.slice(0, expected - 1).map((e) => e.id));
    });

    it('a subscription restarted from a checkpoint continues exactly after it', async () => {
      const filter = { streamPrefixes: [s('')] };
      for (let i = 0; i < 10; i++) await store.append(s(`cp-${i}`), [newEvent('E', { i })], 'no_stream');
      const first = store.subscribeToAll({ filter });
      const firstFour = await take(first, 4);
      await first.close();
      const checkpoint = firstFour[3].position;
      const second = store.subscribeToAll({ filter, after: checkpoint });
      const rest = await take(second, 6);
      await second.close();
      expect(rest.map((e) => e.data.i)).toEqual([4, 5, 6, 7, 8, 9]);
    });

    it('a payload hint changes nothing a consumer can see: every event arrives with its data and metadata', async () => {
      const start = await store.headPosition();
      await store.append(s('p-1'), [newEvent('Read', { n: 1 }), newEvent('Skimmed', { n: 2 }), newEvent('Read', { n: 3 })], 'no_stream');
      const sub = store.subscribeToAll({ after: start, payloadTypes: ['Read'] });
      const got = await take(sub, 3);
      await sub.close();
      expect(got.map((e) => [e.type, e.data.n, e.metadata.actor])).toEqual([
        ['Read', 1, 'contract-test'],
        ['Skimmed', 2, 'contract-test'],
        ['Read', 3, 'contract-test'],
      ]);
    });

    it('a subscription filtered by event type delivers only those types', async () => {
      const start = await store.headPosition();
      await store.append(s('f-1'), [newEvent('Skip'), newEvent('Want'), newEvent('Skip'), newEvent('Want')], 'no_stream');
      const sub = store.subscribeToAll({ after: start, filter: { eventTypes: ['Want'], streamPrefixes: [s('')] } });
      const got = await take(sub, 2);
      await sub.close();
      expect(got.map((e) => e.revision)).toEqual([1, 3]);
    });

    it('every append extends the stream hash chain, across appends of any size', async () => {
      const r = await store.append(s('h-1'), [newEvent('A', { n: 1 }), newEvent('B', { n: 2 })], 'no_stream');
      await store.append(s('h-1'), [newEvent('C', { n: 3 })], r.nextExpectedRevision);
      await store.append(s('h-1'), [newEvent('D', { n: 4 })], 'any');
      const events = await store.readStream(s('h-1'));
      expect(events.map((e) => e.metadata.prevHash)).toEqual([GENESIS_HASH, ...events.slice(0, -1).map((e) => e.metadata.hash)]);
      const verifier = new ChainVerifier();
      expect(verifier.feed(events)).toBe(true);
      expect(verifier.checked).toBe(4);
    });

    it('a changed event breaks the chain at that event', async () => {
      await store.append(s('h-2'), [newEvent('A', { n: 1 }), newEvent('B', { n: 2 }), newEvent('C', { n: 3 })], 'no_stream');
      const events = await store.readStream(s('h-2'));
      events[1] = { ...events[1], data: { n: 20 } };
      const verifier = new ChainVerifier();
      expect(verifier.feed(events)).toBe(false);
      expect(verifier.firstBreak).toMatchObject({ revision: 1, reason: 'CONTENT_CHANGED' });
    });

    it('the chain covers what the store keeps: the time recorded, and the position where the store assigns it before hashing', async () => {
      await store.append(s('h-3'), [newEvent('A', { n: 1 }), newEvent('B', { n: 2 }), newEvent('C', { n: 3 })], 'no_stream');
      const events = await store.readStream(s('h-3'));
      expect(new ChainVerifier().feed(events)).toBe(true);
      const broken = (i: number, change: Partial<RecordedEvent>) => {
        const verifier = new ChainVerifier();
        verifier.feed(events.map((e, j) => (j === i ? { ...e, ...change } : e)));
        return verifier.firstBreak;
      };
      expect(broken(1, { recordedAt: '2020-01-01T00:00:00.000Z' })).toMatchObject({ revision: 1, reason: 'CONTENT_CHANGED' });
      expect(broken(1, { metadata: { ...events[1].metadata, causationId: 'another-cause' } })).toMatchObject({ revision: 1, reason: 'CONTENT_CHANGED' });
      const version = events[0].metadata.hashVersion;
      expect([2, 3]).toContain(version);
      expect(broken(2, { position: events[2].position + 1 })).toEqual(version === 3 ? expect.objectContaining({ revision: 2, reason: 'CONTENT_CHANGED' }) : null);
    });

    it('reads one event by id, and the events caused by an event', async () => {
      const cause = newEvent('Cause');
      await store.append(s('k-1'), [cause], 'no_stream');
      const effects = [newEvent('Effect1'), newEvent('Effect2')].map((e) => ({ ...e, metadata: { ...e.metadata, causationId: cause.id } }));
      await store.append(s('k-2'), [effects[0]], 'no_stream');
      await store.append(s('k-3'), [effects[1], newEvent('Unrelated')], 'no_stream');
      expect(await store.readEvent(cause.id)).toMatchObject({ id: cause.id, stream: s('k-1'), type: 'Cause' });
      expect(await store.readEvent(randomUUID())).toBeNull();
      expect((await store.readCausedBy(cause.id)).map((e) => e.type)).toEqual(['Effect1', 'Effect2']);
      expect(await store.readCausedBy(effects[0].id)).toEqual([]);
    });

    it('appendAll writes every stream in one go, each part at its expected revision, chained as append chains', async () => {
      await store.append(s('m-2'), [newEvent('A')], 'no_stream');
      const results = await store.appendAll([
        { stream: s('m-1'), events: [newEvent('X'), newEvent('Y')], expected: 'no_stream' },
        { stream: s('m-2'), events: [newEvent('B')], expected: 0 },
        { stream: s('m-3'), events: [newEvent('Z')], expected: 'any' },
      ]);
      expect(results.map((r) => r.nextExpectedRevision)).toEqual([1, 1, 0]);
      expect(results[0].position).toBeLessThan(results[1].position);
      expect(results[1].position).toBeLessThan(results[2].position);
      expect((await store.readStream(s('m-1'))).map((e) => [e.type, e.revision])).toEqual([['X', 0], ['Y', 1]]);
      expect((await store.readStream(s('m-2'))).map((e) => e.type)).toEqual(['A', 'B']);
      const verifier = new ChainVerifier();
      verifier.feed(await store.readStream(s('m-2')));
      expect(verifier.firstBreak).toBeNull();
      expect(verifier.checked).toBe(2);
      expect(await store.headPosition()).toBe(results[2].position);
    });

    it('appendAll is all or nothing: a part refused late writes none of the parts before it', async () => {
      await store.append(s('n-3'), [newEvent('A')], 'no_stream');
      const head = await store.headPosition();
      const err = await store
        .appendAll([
          { stream: s('n-1'), events: [newEvent('X')], expected: 'no_stream' },
          { stream: s('n-2'), events: [newEvent('Y'), newEvent('Y2')], expected: 'no_stream' },
          { stream: s('n-3'), events: [newEvent('Z')], expected: 'no_stream' },
        ])
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WrongExpectedRevisionError);
      await expect(store.readStream(s('n-1'))).rejects.toBeInstanceOf(StreamNotFoundError);
      await expect(store.readStream(s('n-2'))).rejects.toBeInstanceOf(StreamNotFoundError);
      expect((await store.readStream(s('n-3'))).map((e) => e.type)).toEqual(['A']);
      expect(await store.headPosition()).toBe(head);
    });

    it('many concurrent appenders to many streams all succeed, each at its expected revision', async () => {
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          store
            .append(s(`g-${i}`), [newEvent('A')], 'no_stream')
            .then((r) => store.append(s(`g-${i}`), [newEvent('B')], r.nextExpectedRevision)),
        ),
      );
      for (const i of [0, 42, 99]) expect((await store.readStream(s(`g-${i}`))).map((e) => e.type)).toEqual(['A', 'B']);
    });
  });
}

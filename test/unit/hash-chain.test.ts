import { createHash } from 'node:crypto';
import stringify from 'safe-stable-stringify';
import { chain, chainedMetadata, ChainVerifier, eventHash, GENESIS_HASH } from '../../src/event-store/hash-chain';
import type { EventMetadata, NewEvent, RecordedEvent } from '../../src/event-store/event-store.port';

const metadata = (extra: Record<string, unknown> = {}) => ({
  actor: 'op:alice',
  correlationId: 'c-1',
  causationId: null,
  requestId: 'r-1',
  occurredAt: '2026-11-22T00:00:00.000Z',
  schemaVersion: 1,
  ...extra,
});

/**
 * The chain's definition, written out: SHA-256 over the previous hash, a newline, and the stable
 * JSON of the whole event (its metadata less both hashes): id, stream, revision, type, data and
 * metadata, with recordedAt from version 2 and position from version 3.
 */
function expectedHash(prev: string, e: Omit<RecordedEvent, 'position' | 'recordedAt'> & { position?: number; recordedAt?: string }): string {
  const { hash: _h, prevHash: _p, ...covered } = e.metadata;
  const version = (covered.hashVersion as number | undefined) ?? 1;
  const whole: Record<string, unknown> = { id: e.id, stream: e.stream, revision: e.revision, type: e.type, data: e.data, metadata: covered };
  if (version >= 2) whole.recordedAt = e.recordedAt;
  if (version >= 3) whole.position = e.position;
  return createHash('sha256').update(`${prev}\n${stringify(whole)}`).digest('hex');
}

const awkward: NewEvent[] = [
  {
    id: '0190f0a0-0000-7000-8000-000000000001',
    type: 'MachineLabelsSet',
    data: { labels: { zone: 'z1', rack: 'r"1' }, note: 'café \u2028 \ud800', n: [3, 1, { b: null, a: -0 }], big: 1e21 },
    metadata: metadata({ commandHash: 'abc' }),
  },
  { id: 'e-2', type: 'Empty', data: {}, metadata: metadata() },
  { id: 'e-\u0001"3', type: 'Ty\\pe', data: { 'k"ey': { '\n': [[], {}, ''] }, undef: undefined, date: new Date(0) }, metadata: metadata({ zeta: { b: 2, a: 1 }, alpha: [null] }) },
  // Nothing but the chain in the stored metadata (no event the app writes has so little).
  { id: 'e-4', type: 'Bare', data: { x: 1 }, metadata: {} as NewEvent['metadata'] },
];

const RECORDED_AT = '2026-11-22T00:00:01.234Z';

/** The chained events as a store reads them back from their stored text. */
function readBack(stream: string, firstPosition: number | undefined, events: readonly NewEvent[], prev = GENESIS_HASH, firstRevision = 0): RecordedEvent[] {
  const { chained } = chain(stream, firstRevision, prev, events, { recordedAt: RECORDED_AT, firstPosition });
  return chained.map((c, i) => ({
    id: c.event.id,
    stream,
    revision: firstRevision + i,
    // A store that assigns positions on commit (version 2) may give any.
    position: (firstPosition ?? 5000) + i,
    recordedAt: RECORDED_AT,
    type: c.event.type,
    data: JSON.parse(c.dataJson) as Record<string, unknown>,
    metadata: JSON.parse(c.metadataJson) as EventMetadata,
  }));
}

/** A stream chained by the first version, as files written before `hashVersion` hold it. */
function legacy(stream: string, events: readonly NewEvent[]): RecordedEvent[] {
  let prev = GENESIS_HASH;
  return events.map((e, revision) => {
    const hash = expectedHash(prev, { ...e, stream, revision });
    const read = { ...e, stream, revision, position: 100 + revision, recordedAt: RECORDED_AT, data: JSON.parse(JSON.stringify(e.data)) as Record<string, unknown>, metadata: { ...e.metadata, prevHash: prev, hash } };
    prev = hash;
    return read;
  });
}

const verify = (events: readonly RecordedEvent[]) => {
  const v = new ChainVerifier();
  v.feed(events);
  return v;
};

describe('hash chain', () => {
  it('version 1 (chains written before the version was recorded): the digests it gave still verify', () => {
    const [first] = legacy('machine-m"1', awkward);
    // The digest the first version gave for this event, at revision 7 after 'f...f'.
    const at7 = { ...first, revision: 7, metadata: { ...awkward[0].metadata } };
    expect(eventHash('f'.repeat(64), at7)).toBe('958c34ef12dfc8e77ade3b1d41e81301bf2705e48f2c89aa830b89db09d55e15');
    const v = verify(legacy('machine-m"1', awkward));
    expect(v.firstBreak).toBeNull();
    expect(v.checked).toBe(4);
  });

  it.each([
    ['3, with positions (the embedded store)', 41 as number | undefined, 3],
    ['2, without (EventStoreDB)', undefined, 2],
  ])('version %s: each event hashed over the stable JSON of the whole event as stored', (_name, firstPosition, version) => {
    const { chained, lastHash } = chain('machine-m"1', 7, 'f'.repeat(64), awkward, { recordedAt: RECORDED_AT, firstPosition });
    const read = readBack('machine-m"1', firstPosition, awkward, 'f'.repeat(64), 7);
    let prev = 'f'.repeat(64);
    chained.forEach((c, i) => {
      const want = expectedHash(prev, read[i]);
      expect(c).toMatchObject({ prevHash: prev, hash: want });
      expect(c.metadata.hashVersion).toBe(version);
      expect(chainedMetadata(c)).toEqual({ ...awkward[i].metadata, hashVersion: version, prevHash: prev, hash: want });
      expect(eventHash(prev, read[i])).toBe(want);
      prev = want;
    });
    expect(lastHash).toBe(prev);
  });

  it('hands out the stored text: the data, and the metadata with its version and both hashes, as JSON', () => {
    const { chained } = chain('s-1', 0, GENESIS_HASH, awkward, { recordedAt: RECORDED_AT, firstPosition: 1 });
    chained.forEach((c, i) => {
      expect(JSON.parse(c.dataJson)).toEqual(JSON.parse(JSON.stringify(awkward[i].data)));
      expect(JSON.parse(c.metadataJson)).toEqual(JSON.parse(JSON.stringify(chainedMetadata(c))));
      expect(JSON.parse(c.metadataJson)).toMatchObject({ hashVersion: 3, prevHash: i === 0 ? GENESIS_HASH : chained[i - 1].hash, hash: c.hash });
    });
  });

  it('a version named in the metadata the caller gave is replaced by the one the store hashes with', () => {
    const { chained } = chain('s-1', 0, GENESIS_HASH, [{ ...awkward[1], metadata: metadata({ hashVersion: 1, hash: 'x', prevHash: 'y' }) }], { recordedAt: RECORDED_AT, firstPosition: 1 });
    expect(JSON.parse(chained[0].metadataJson)).toMatchObject({ hashVersion: 3, prevHash: GENESIS_HASH, hash: chained[0].hash });
  });

  it('a chain read back verifies, and every field the store keeps breaks it when changed', () => {
    const read = readBack('s-1', 1, awkward);
    expect(verify(read).firstBreak).toBeNull();
    const changed: Array<[string, (e: RecordedEvent) => RecordedEvent]> = [
      ['data', (e) => ({ ...e, data: { ...e.data, date: new Date(1).toJSON() } })],
      ['metadata', (e) => ({ ...e, metadata: { ...e.metadata, actor: 'someone else' } })],
      ['cause', (e) => ({ ...e, metadata: { ...e.metadata, causationId: 'e-2' } })],
      ['recordedAt', (e) => ({ ...e, recordedAt: '2020-01-01T00:00:00.000Z' })],
      ['position', (e) => ({ ...e, position: 99 })],
      ['type', (e) => ({ ...e, type: 'Other' })],
      ['id', (e) => ({ ...e, id: 'e-other' })],
      ['stream', (e) => ({ ...e, stream: 's-2' })],
    ];
    for (const [field, change] of changed) {
      const events = [...read];
      events[2] = change(events[2]);
      expect({ field, break: verify(events).firstBreak }).toEqual({ field, break: expect.objectContaining({ revision: 2, reason: 'CONTENT_CHANGED' }) });
    }
  });

  it('version 2 covers the time but not the position, which its store gives on commit', () => {
    const read = readBack('s-1', undefined, awkward);
    expect(verify(read.map((e) => ({ ...e, position: e.position * 7 }))).firstBreak).toBeNull();
    expect(verify(read.map((e, i) => (i === 1 ? { ...e, recordedAt: '2020-01-01T00:00:00.000Z' } : e))).firstBreak).toMatchObject({ revision: 1, reason: 'CONTENT_CHANGED' });
  });

  it('a stream written first by the old rule and then by the new one verifies across the change', () => {
    const old = legacy('s-1', awkward.slice(0, 2));
    const newer = readBack('s-1', 102, awkward.slice(2), old[1].metadata.hash as string, 2);
    const v = verify([...old, ...newer]);
    expect(v.firstBreak).toBeNull();
    expect(v.checked).toBe(4);
    expect(v.lastRevision).toBe(3);
  });

  it('an event at a position no store assigns, or before its predecessor in the log, is a break even when its hash is recomputed', () => {
    // Chained and hashed by the rule at those positions: only the positions give them away.
    const below = readBack('s-1', -1, awkward);
    expect(verify(below).firstBreak).toMatchObject({ revision: 0, reason: 'POSITION_OUT_OF_RANGE' });
    const head = readBack('s-1', 10, awkward.slice(0, 2));
    const forged = readBack('s-1', 0, awkward.slice(2, 3), head[1].metadata.hash as string, 2);
    expect(verify([...head, ...forged]).firstBreak).toMatchObject({ revision: 2, reason: 'POSITION_OUT_OF_RANGE' });
    const before = readBack('s-1', 5, awkward.slice(2, 3), head[1].metadata.hash as string, 2);
    expect(verify([...head, ...before]).firstBreak).toMatchObject({ revision: 2, reason: 'POSITION_OUT_OF_ORDER' });
    // Read in log order instead, the same stream shows its revisions out of order.
    expect(verify([...before, ...head]).firstBreak).toMatchObject({ revision: 2, reason: 'REVISION_GAP' });
    // Past what a number holds exactly: no store assigns it either.
    expect(verify(readBack('s-1', 2 ** 53, awkward.slice(0, 1))).firstBreak).toMatchObject({ revision: 0, reason: 'POSITION_OUT_OF_RANGE' });
  });

  it('a version it does not know is a break of its own', () => {
    const read = readBack('s-1', 1, awkward);
    read[1] = { ...read[1], metadata: { ...read[1].metadata, hashVersion: 9 } };
    expect(verify(read).firstBreak).toMatchObject({ revision: 1, reason: 'UNKNOWN_HASH_VERSION' });
  });
});

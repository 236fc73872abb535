import { createHash } from 'node:crypto';
import stringify from 'safe-stable-stringify';
import { chainedMetadata, ChainVerifier, eventHash, GENESIS_HASH, seal } from '../../src/event-store/hash-chain';
import type { NewEvent } from '../../src/event-store/event-store.port';

const metadata = (extra: Record<string, unknown> = {}) => ({
  actor: 'op:alice',
  correlationId: 'c-1',
  causationId: null,
  requestId: 'r-1',
  occurredAt: '2026-11-22T00:00:00.000Z',
  schemaVersion: 1,
  ...extra,
});

/** The chain's definition, written out: SHA-256 over the previous hash, a newline, and the stable JSON of the whole event. */
function expectedHash(prev: string, stream: string, revision: number, e: NewEvent): string {
  const { hash: _h, prevHash: _p, ...covered } = e.metadata;
  const whole = stringify({ id: e.id, stream, revision, type: e.type, data: e.data, metadata: covered });
  return createHash('sha256').update(`${prev}\n${whole}`).digest('hex');
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

describe('hash chain', () => {
  it('hashes each event over the stable JSON of the whole event, as chains already written were', () => {
    const { sealed, lastHash } = seal('machine-m"1', 7, 'f'.repeat(64), awkward);
    let prev = 'f'.repeat(64);
    sealed.forEach((s, i) => {
      const want = expectedHash(prev, 'machine-m"1', 7 + i, awkward[i]);
      expect(s).toMatchObject({ prevHash: prev, hash: want });
      expect(chainedMetadata(s)).toEqual({ ...awkward[i].metadata, prevHash: prev, hash: want });
      expect(eventHash(prev, { ...s.event, metadata: chainedMetadata(s), stream: 'machine-m"1', revision: 7 + i })).toBe(want);
      prev = want;
    });
    expect(lastHash).toBe(prev);
    // A digest the first version of the chain gave for this event: the format has not moved.
    expect(sealed[0].hash).toBe('958c34ef12dfc8e77ade3b1d41e81301bf2705e48f2c89aa830b89db09d55e15');
  });

  it('hands out the stored text: the data, and the metadata with both hashes, as JSON', () => {
    const { sealed } = seal('s-1', 0, GENESIS_HASH, awkward);
    sealed.forEach((s, i) => {
      expect(JSON.parse(s.data)).toEqual(JSON.parse(JSON.stringify(awkward[i].data)));
      expect(JSON.parse(s.metadata)).toEqual(JSON.parse(JSON.stringify(chainedMetadata(s))));
      expect(JSON.parse(s.metadata)).toMatchObject({ prevHash: i === 0 ? GENESIS_HASH : sealed[i - 1].hash, hash: s.hash });
    });
  });

  it('a chain read back from the stored text verifies, and a changed byte of data breaks it', () => {
    const { sealed } = seal('s-1', 0, GENESIS_HASH, awkward);
    const read = sealed.map((s, revision) => ({ id: s.event.id, stream: 's-1', revision, type: s.event.type, data: JSON.parse(s.data), metadata: JSON.parse(s.metadata) }));
    expect(new ChainVerifier().feed(read)).toBe(true);
    read[2] = { ...read[2], data: { ...read[2].data, date: new Date(1).toJSON() } };
    const verifier = new ChainVerifier();
    expect(verifier.feed(read)).toBe(false);
    expect(verifier.firstBreak).toMatchObject({ revision: 2, reason: 'CONTENT_CHANGED' });
  });
});

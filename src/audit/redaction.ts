import type { ApiKeyEvent } from '../access/api-key.decider';
import type { RecordedEvent } from '../event-store/event-store.port';
import type { Doc } from '../read-store/read-store.port';

/** What a secret reads as wherever history, or a read model's raw documents, are served. */
export const REDACTED = '[redacted]';

type DataOf<E extends { type: string; data: object }, T extends E['type']> = Extract<E, { type: T }>['data'];

/**
 * The secrets of the log, by event type: data fields that no reader of history sees, whatever its
 * role, through any path that serves recorded events (`events`, `causationChain`, the NDJSON
 * export). An API key's hash is one: it is what a key is checked against, and a weak key could be
 * guessed from it. Who made which key, its name, role and tenant, and when, stay readable to
 * every reader of history: they are audit facts (the actor of every event names its key too).
 */
const SECRET_EVENT_FIELDS: Readonly<Record<string, readonly string[]>> = {
  ApiKeyCreated: ['hash'],
} satisfies { [T in ApiKeyEvent['type']]?: ReadonlyArray<keyof DataOf<ApiKeyEvent, T>> };

/** The same secrets where a read model keeps them, by collection (drift reports show raw documents). */
const SECRET_DOCUMENT_FIELDS: Readonly<Record<string, readonly string[]>> = {
  api_keys: ['hash'],
};

function withRedacted(data: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  const copy = { ...data };
  for (const f of fields) if (f in copy) copy[f] = REDACTED;
  return copy;
}

/** The event as history may show it: a copy with its secrets replaced by REDACTED, or the event itself when it has none. */
export function redactEvent(e: RecordedEvent): RecordedEvent {
  const fields = SECRET_EVENT_FIELDS[e.type];
  return fields ? { ...e, data: withRedacted(e.data, fields) } : e;
}

/** A read model's document as a report may show it, by the same rule. */
export function redactDocument(collection: string, doc: Doc | null): Doc | null {
  const fields = SECRET_DOCUMENT_FIELDS[collection];
  return fields && doc ? { ...doc, ...withRedacted(doc, fields) } : doc;
}

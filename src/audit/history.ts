import { AllFilter, EventStore, RecordedEvent } from '../event-store/event-store.port';
import { redactEvent } from './redaction';

/** What an auditor may filter the history by; the same for the `events` query and the NDJSON export. */
export interface HistoryFilter {
  stream?: string | null;
  category?: string | null;
  types?: readonly string[] | null;
  correlationId?: string | null;
  actor?: string | null;
  /** Recorded at or after (ISO 8601). */
  from?: string | null;
  /** Recorded before (ISO 8601). */
  to?: string | null;
}

const PAGE = 1000;

/**
 * The recorded events matching the filter, in log order (or newest first), read a page at a
 * time from the event store: memory stays bounded whatever the size of the history. The store
 * narrows by stream and type; the rest is checked here. Secrets are redacted (`redactEvent`): this
 * is history as the `events` query and the export serve it.
 */
export async function* history(
  log: EventStore,
  f: HistoryFilter,
  options: { direction?: 'forwards' | 'backwards'; after?: number } = {},
): AsyncGenerator<RecordedEvent> {
  const direction = options.direction ?? 'forwards';
  const store: AllFilter = {};
  if (f.stream) store.streamPrefixes = [f.stream];
  else if (f.category) store.streamPrefixes = [`${f.category}-`];
  if (f.types?.length) store.eventTypes = f.types;
  const keep = (e: RecordedEvent) =>
    (!f.stream || e.stream === f.stream) &&
    (!f.correlationId || e.metadata.correlationId === f.correlationId) &&
    (!f.actor || e.metadata.actor === f.actor) &&
    (!f.from || e.recordedAt >= f.from) &&
    (!f.to || e.recordedAt < f.to);
  let cursor = options.after;
  for (;;) {
    const page = await log.readAll({ direction, from: cursor, maxCount: PAGE, filter: store });
    for (const e of page) if (keep(e)) yield redactEvent(e);
    if (page.length < PAGE) return;
    cursor = page[page.length - 1].position;
  }
}

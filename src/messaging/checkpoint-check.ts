import { EventStore } from '../event-store/event-store.port';

/**
 * Whether a checkpoint belongs to this event log: the rule by which a read model (or a rebuild
 * of one) is trusted. A checkpoint says "every event up to this position is applied"; it records
 * the id of the event at that position. It does not belong when it is past the log's head (the
 * log is older than the read model: restored from an earlier backup, or emptied), or when the
 * event it names is not in the log at that position (another log, or one rewritten). A
 * checkpoint from before ids were recorded is checked against the head alone.
 *
 * `head` must be read after the checkpoint was: a checkpoint only ever names events that were in
 * the log when it was written, so read in that order a whole log is never found short.
 *
 * Returns why it does not belong, or null when it does.
 */
export async function checkpointMismatch(events: EventStore, head: number, checkpoint: number, eventId: string | null | undefined): Promise<string | null> {
  if (checkpoint > head) {
    return `checkpoint ${checkpoint} is past the end of the event log (head ${head}): the log is older than the read model (restored from an earlier backup, emptied or replaced)`;
  }
  if (checkpoint === 0 || !eventId) return null;
  const event = await events.readEvent(eventId);
  if (!event) return `the event at checkpoint ${checkpoint} (${eventId}) is not in the event log: the log is not the one the read model was built from`;
  if (event.position !== checkpoint) {
    return `the event at checkpoint ${checkpoint} (${eventId}) is at position ${event.position} in the event log: the log is not the one the read model was built from`;
  }
  return null;
}

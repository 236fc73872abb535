import { GraphQLError } from 'graphql';

/** A subscription's place under the caps; giving it back twice does nothing. */
export interface Slot {
  release(): void;
}

/**
 * Open subscriptions, counted per socket and per API key, each under its cap. A subscribe over
 * a cap is refused (TOO_MANY_SUBSCRIPTIONS, naming the cap); the socket stays open. Each slot is
 * its own, whatever id the client gave the subscription: a client reusing an id cannot make two
 * subscriptions share one slot.
 */
export class SubscriptionSlots {
  private readonly bySocket = new Map<object, Set<Slot>>();
  private readonly byKey = new Map<string, number>();

  constructor(
    private readonly perSocket: number,
    private readonly perKey: number,
  ) {}

  /** Takes a slot on a socket on behalf of a key; the slot, or the refusal. */
  acquire(socket: object, keyId: string): Slot | GraphQLError {
    const open = this.bySocket.get(socket) ?? new Set<Slot>();
    if (open.size >= this.perSocket) return refusal(`this socket has ${open.size} subscriptions open, the most one socket may have (graphql.max_subscriptions_per_socket)`, 'subscriptionsPerSocket', this.perSocket);
    const ofKey = this.byKey.get(keyId) ?? 0;
    if (ofKey >= this.perKey) return refusal(`this API key has ${ofKey} subscriptions open, the most one key may have (graphql.max_subscriptions_per_key)`, 'subscriptionsPerKey', this.perKey);
    let held = true;
    const slot: Slot = {
      release: () => {
        if (!held) return;
        held = false;
        open.delete(slot);
        if (!open.size) this.bySocket.delete(socket);
        const left = (this.byKey.get(keyId) ?? 1) - 1;
        if (left > 0) this.byKey.set(keyId, left);
        else this.byKey.delete(keyId);
      },
    };
    open.add(slot);
    this.bySocket.set(socket, open);
    this.byKey.set(keyId, ofKey + 1);
    return slot;
  }

  /** Every slot of a closed socket. */
  releaseAll(socket: object): void {
    for (const slot of [...(this.bySocket.get(socket) ?? [])]) slot.release();
  }
}

function refusal(message: string, limit: 'subscriptionsPerSocket' | 'subscriptionsPerKey', max: number): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'TOO_MANY_SUBSCRIPTIONS', limit, max } });
}

/** Sockets open per API key, under a cap. */
export class SocketCounts {
  private readonly byKey = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** Counts one more socket for a key; false (and nothing counted) when the key is at its cap. */
  acquire(keyId: string): boolean {
    const open = this.byKey.get(keyId) ?? 0;
    if (open >= this.max) return false;
    this.byKey.set(keyId, open + 1);
    return true;
  }

  release(keyId: string): void {
    const left = (this.byKey.get(keyId) ?? 1) - 1;
    if (left > 0) this.byKey.set(keyId, left);
    else this.byKey.delete(keyId);
  }
}

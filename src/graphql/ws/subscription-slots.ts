import { GraphQLError } from 'graphql';

/**
 * Open subscriptions, counted per socket and per API key, each under its cap. A subscribe over
 * a cap is refused (TOO_MANY_SUBSCRIPTIONS, naming the cap); the socket stays open.
 */
export class SubscriptionSlots {
  private readonly bySocket = new Map<object, Map<string, string>>();
  private readonly byKey = new Map<string, number>();

  constructor(
    private readonly perSocket: number,
    private readonly perKey: number,
  ) {}

  /** Takes a slot for subscription `id` of a socket, on behalf of a key; null when taken, else the refusal. */
  acquire(socket: object, keyId: string, id: string): GraphQLError | null {
    const open = this.bySocket.get(socket) ?? new Map<string, string>();
    if (open.size >= this.perSocket) return refusal(`this socket has ${open.size} subscriptions open, the most one socket may have (graphql.max_subscriptions_per_socket)`, 'socket', this.perSocket);
    const ofKey = this.byKey.get(keyId) ?? 0;
    if (ofKey >= this.perKey) return refusal(`this API key has ${ofKey} subscriptions open, the most one key may have (graphql.max_subscriptions_per_key)`, 'key', this.perKey);
    open.set(id, keyId);
    this.bySocket.set(socket, open);
    this.byKey.set(keyId, ofKey + 1);
    return null;
  }

  /** Gives the slot back; a second release of the same subscription does nothing. */
  release(socket: object, id: string): void {
    const open = this.bySocket.get(socket);
    const keyId = open?.get(id);
    if (!open || keyId === undefined) return;
    open.delete(id);
    if (!open.size) this.bySocket.delete(socket);
    const left = (this.byKey.get(keyId) ?? 1) - 1;
    if (left > 0) this.byKey.set(keyId, left);
    else this.byKey.delete(keyId);
  }

  /** Every slot of a closed socket. */
  releaseAll(socket: object): void {
    for (const id of [...(this.bySocket.get(socket)?.keys() ?? [])]) this.release(socket, id);
  }
}

function refusal(message: string, per: 'socket' | 'key', max: number): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'TOO_MANY_SUBSCRIPTIONS', limit: per === 'socket' ? 'subscriptionsPerSocket' : 'subscriptionsPerKey', max } });
}

import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import bytes from 'bytes';
import { ExecutionResult, GraphQLError, GraphQLFormattedError, type ExecutionArgs } from 'graphql';
import type { Context, OperationResult, SubscribePayload } from 'graphql-ws';
import { useServer, type Extra } from 'graphql-ws/use/ws';
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { PinoLogger } from 'nestjs-pino';
import { WebSocketServer } from 'ws';
import { ApiKeysService } from '../../access/api-keys.service';
import { RequestRateLimiter } from '../../access/rate-limiter';
import { refuseUpgradeCarryingKey } from '../../app/url-keys';
import { AppConfig } from '../../config/config';
import { formatError } from '../errors';
import { OperationLimits } from '../limits/operation-limits';
import { contextBuilder } from '../request-context';
import { bounded } from './bounded';
import { SocketCounts, SubscriptionSlots, type Slot } from './subscription-slots';

/** The close codes of this server, besides graphql-ws's own (4400-4499, 4500) and the WebSocket standard's (1009: a message over the size limit). */
export const WS_CLOSE = {
  /** The connection's key is missing, unknown or revoked. */
  UNAUTHENTICATED: 4401,
  /** Too many connection attempts without a valid key from one address. */
  RATE_LIMITED: 4429,
  /** A subscription fell `graphql.subscription_queue_limit` messages behind: the client reads slower than its subscriptions produce. */
  SLOW_CONSUMER: 4100,
  /** The key has `graphql.max_sockets_per_key` sockets open already (the standard code for a policy violation). */
  TOO_MANY_SOCKETS: 1008,
} as const;

const PATH = '/graphql';
type WsContext = Context<Record<string, unknown> | undefined, Extra & { keyId?: string }>;

/**
 * The WebSocket door: graphql-ws (`graphql-transport-ws`) on /graphql, with the same limits as
 * the HTTP door. Each operation, query, mutation or subscription, is authenticated again,
 * spends a point of the caller's rate limit, is parsed within the token limit, validated with
 * the document limits (and without introspection in production) and checked for root fields,
 * variable depth and cost, through the one `OperationLimits`. Messages are at most the HTTP body
 * limit. Subscriptions are capped per socket and per key, and each queues at most
 * `subscription_queue_limit` results for a slow reader before its socket is closed.
 */
@Injectable()
export class GraphqlWsServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private wss: WebSocketServer | null = null;
  private dispose: (() => void | Promise<void>) | null = null;
  private readonly slots: SubscriptionSlots;
  private readonly sockets: SocketCounts;

  constructor(
    private readonly http: HttpAdapterHost,
    private readonly schemaHost: GraphQLSchemaHost,
    private readonly limits: OperationLimits,
    private readonly rateLimiter: RequestRateLimiter,
    private readonly keys: ApiKeysService,
    @Inject(AppConfig) private readonly config: AppConfig,
    private readonly logger: PinoLogger,
  ) {
    this.logger.setContext('graphql-ws');
    this.slots = new SubscriptionSlots(config.graphql.max_subscriptions_per_socket, config.graphql.max_subscriptions_per_key);
    this.sockets = new SocketCounts(config.graphql.max_sockets_per_key);
  }

  onApplicationBootstrap(): void {
    const server = this.http.httpAdapter.getHttpServer() as Server;
    const wss = new WebSocketServer({ noServer: true, maxPayload: bytes.parse(this.config.graphql.body_limit) ?? undefined });
    this.wss = wss;
    this.dispose = this.serve(wss).dispose;
    const log = (details: Record<string, unknown>, message: string) => this.logger.warn(details, message);
    server.on('upgrade', (req, socket: Duplex, head: Buffer) => {
      if (refuseUpgradeCarryingKey(req, socket, log)) return;
      const path = (req.url ?? '').split('?')[0];
      if (path !== PATH) {
        socket.destroy();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    });
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.dispose?.();
    this.wss?.close();
  }

  private serve(wss: WebSocketServer) {
    const keys = this.keys;
    const authenticate = (authorization: unknown) => keys.authenticate(authorization);
    const context = contextBuilder(authenticate, (p, a) => this.rateLimiter.spend(p, a));
    const logError = (err: unknown) => this.logger.error({ err }, 'unexpected error in a GraphQL operation over WebSocket');
    const format = (e: GraphQLError): GraphQLFormattedError => formatError(e.toJSON(), e, logError);
    const queueLimit = this.config.graphql.subscription_queue_limit;
    const slots = new WeakMap<ExecutionArgs, Slot>();
    const streams = new WeakMap<object, Set<AsyncIterableIterator<ExecutionResult>>>();
    const streamsOf = (socket: object) => {
      let open = streams.get(socket);
      if (!open) streams.set(socket, (open = new Set()));
      return open;
    };

    return useServer<Record<string, unknown> | undefined, { keyId?: string }>(
      {
        schema: this.schemaHost.schema,
        // The key is checked at connection_init...
        onConnect: async (ctx: WsContext) => {
          const principal = await authenticate(ctx.connectionParams?.authorization);
          if (!principal) {
            const limited = await this.rateLimiter.spend(null, ctx.extra.request.socket.remoteAddress);
            if (limited) ctx.extra.socket.close(WS_CLOSE.RATE_LIMITED, `RATE_LIMITED: ${limited.message}`.slice(0, 120));
            else ctx.extra.socket.close(WS_CLOSE.UNAUTHENTICATED, 'UNAUTHENTICATED: connectionParams.authorization needs a valid API key');
            return false;
          }
          if (!this.sockets.acquire(principal.keyId)) {
            ctx.extra.socket.close(WS_CLOSE.TOO_MANY_SOCKETS, `TOO_MANY_SOCKETS: this key has ${this.config.graphql.max_sockets_per_key} sockets open (graphql.max_sockets_per_key)`);
            return false;
          }
          ctx.extra.keyId = principal.keyId;
          keys.trackSocket(principal.keyId, ctx.extra.socket);
          return true;
        },
        // ...and again with every operation, which then passes every limit of the HTTP door.
        onSubscribe: async (ctx: WsContext, id: string, payload: SubscribePayload): Promise<ExecutionArgs | readonly GraphQLError[]> => {
          let contextValue;
          try {
            contextValue = await context({ connectionParams: ctx.connectionParams, extra: ctx.extra });
          } catch (err) {
            if (err instanceof GraphQLError) return [err];
            throw err;
          }
          if (!contextValue.principal) return [new GraphQLError('the API key of this connection is no longer valid', { extensions: { code: 'UNAUTHENTICATED' } })];
          const schema = this.schemaHost.schema;
          const document = this.limits.parse(payload.query);
          if (document instanceof GraphQLError) return [document];
          const prepared = this.limits.prepare(schema, document, payload.operationName, payload.variables);
          if (!prepared.ok) return prepared.errors;
          const args: ExecutionArgs = { schema, document, operationName: payload.operationName, variableValues: payload.variables, contextValue };
          if (prepared.operation.operation === 'subscription') {
            const slot = this.slots.acquire(ctx.extra, contextValue.principal.keyId);
            if (slot instanceof GraphQLError) return [slot];
            slots.set(args, slot);
          }
          return args;
        },
        onOperation: async (ctx: WsContext, id: string, _payload: SubscribePayload, args: ExecutionArgs, pending: OperationResult) => {
          const result = await pending;
          const slot = slots.get(args);
          if (!isAsyncIterable(result)) {
            slot?.release();
            return undefined;
          }
          // Every stream of a socket is its own to end when the socket closes: graphql-ws keeps one
          // per id, and a client that reuses an id quickly would otherwise leave one running.
          const open = streamsOf(ctx.extra);
          const stream = bounded(
            result,
            queueLimit,
            () => {
              this.logger.warn({ keyId: ctx.extra.keyId, subscription: id, queueLimit }, 'closing a WebSocket whose subscription fell too far behind');
              ctx.extra.socket.close(WS_CLOSE.SLOW_CONSUMER, `SLOW_CONSUMER: subscription ${id} fell ${queueLimit} messages behind`.slice(0, 120));
            },
            () => {
              slot?.release();
              open.delete(stream);
            },
          );
          open.add(stream);
          return stream;
        },
        // Results and errors get the same error mapping as HTTP: a code, nothing internal.
        onNext: (_ctx: WsContext, _id: string, _payload: SubscribePayload, _args: ExecutionArgs, result: ExecutionResult) =>
          result.errors ? { ...result, errors: result.errors.map(format) } : undefined,
        onError: (_ctx: WsContext, _id: string, _payload: SubscribePayload, errors: readonly GraphQLError[]) => errors.map(format),
        onClose: async (ctx: WsContext) => {
          await Promise.all([...streamsOf(ctx.extra)].map((stream) => stream.return?.()));
          this.slots.releaseAll(ctx.extra);
          if (ctx.extra.keyId) {
            keys.untrackSocket(ctx.extra.keyId, ctx.extra.socket);
            this.sockets.release(ctx.extra.keyId);
          }
        },
      },
      wss,
    );
  }
}

function isAsyncIterable<T>(value: AsyncIterable<T> | ExecutionResult): value is AsyncIterable<T> {
  return Symbol.asyncIterator in value;
}

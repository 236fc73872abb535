import { createServer, IncomingMessage, type RequestListener, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { NestApplicationOptions } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';

/** What of an Express app the server needs: its handler, and the prototypes it gives requests and responses. */
type ExpressApp = RequestListener & { request: object; response: object };

/**
 * The request and response classes of the HTTP server: Node's own, but their instances are born
 * with Express's prototypes (`app.request`, `app.response`) instead of Node's.
 *
 * Express gives every request and response its prototypes with `Object.setPrototypeOf` when it
 * takes them. V8 copies an object whose prototype was changed, and everything hanging off it,
 * out of the young generation instead of dropping it there: at 200 requests a second a bare
 * Express app promoted 1.2 MB a second to the old generation, and 2.1 MB with pino-http, against
 * 0.2 and 0.3 MB when the objects already have the prototypes Express sets (so its
 * `setPrototypeOf` changes nothing). The old generation's garbage is what the full collections
 * that pause the event loop are for.
 */
export function expressMessageClasses(app: ExpressApp): { IncomingMessage: typeof IncomingMessage; ServerResponse: typeof ServerResponse } {
  // Node's classes are plain constructor functions, so a constructor of ours with Express's
  // prototype can run them on its own instance (as fast as Node's own `new`, where
  // `Reflect.construct` with another `new.target` took 20 µs a request). Should Node make them
  // `class`es, which cannot be called so, the server keeps Node's classes.
  if ([IncomingMessage, ServerResponse].some((c) => Function.prototype.toString.call(c).startsWith('class'))) return { IncomingMessage, ServerResponse };
  const initRequest = IncomingMessage as unknown as (this: IncomingMessage, socket: Socket) => void;
  const initResponse = ServerResponse as unknown as (this: ServerResponse, req: IncomingMessage, options?: object) => void;
  const Request = function (this: IncomingMessage, socket: Socket): void {
    initRequest.call(this, socket);
  };
  Request.prototype = app.request;
  const Response = function (this: ServerResponse, req: IncomingMessage, options?: object): void {
    initResponse.call(this, req, options);
  };
  Response.prototype = app.response;
  return { IncomingMessage: Request as unknown as typeof IncomingMessage, ServerResponse: Response as unknown as typeof ServerResponse };
}

/** Nest's Express adapter, whose plain-HTTP server makes its requests with Express's prototypes. */
export class DrydockExpressAdapter extends ExpressAdapter {
  override initHttpServer(options: NestApplicationOptions): void {
    super.initHttpServer(options);
    // HTTPS, and connection tracking bound to the server made above, stay as Nest makes them.
    if (options?.httpsOptions || options?.forceCloseConnections) return;
    const app = this.getInstance<ExpressApp>();
    this.httpServer = createServer(expressMessageClasses(app), app);
  }
}

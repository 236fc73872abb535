import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import helmet from 'helmet';
import { Logger, PinoLogger } from 'nestjs-pino';
import { AppConfig } from '../config/config';
import { EVENT_STORE, EventStore } from '../event-store/event-store.port';
import { READ_STORE, ReadStore } from '../read-store/read-store.port';
import { ideMiddleware } from '../graphql/ide';
import { httpScreen } from '../graphql/limits/http-screen';
import { OperationLimits } from '../graphql/limits/operation-limits';
import { inputValidationPipe } from '../graphql/validation';
import { AppModule, AppOptions } from './app.module';
import { bodyErrors } from './body-errors';
import { DrydockExpressAdapter } from './http-server';
import { refuseKeysInUrls } from './url-keys';

/** Warnings about requests as such, in the `http` context. */
async function httpLog(app: INestApplication): Promise<(details: Record<string, unknown>, message: string) => void> {
  const logger = await app.resolve(PinoLogger);
  logger.setContext('http');
  return (details, message) => logger.warn(details, message);
}

/** Builds the application (not yet listening): used by main, the e2e tests and the benchmarks. */
export async function createApp(config: AppConfig, options: AppOptions = {}): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, options), new DrydockExpressAdapter(), { bufferLogs: true, abortOnError: false });
  const production = process.env.NODE_ENV === 'production';
  // Security headers; the development IDE needs its inline script, production has no IDE.
  app.use(helmet({ contentSecurityPolicy: production ? undefined : false }));
  // A key in a URL is refused before anything else reads the request (see url-keys.ts).
  app.use(refuseKeysInUrls(await httpLog(app)));
  app.useBodyParser('json', { limit: config.graphql.body_limit });
  app.use(bodyErrors(config.graphql.body_limit));
  app.use('/graphql', httpScreen(app.get(OperationLimits)));
  app.useGlobalPipes(inputValidationPipe());
  // The offline IDE: in development only, and only when graphql.ide is on.
  if (config.graphql.ide && !production) app.use(ideMiddleware());
  app.useLogger(app.get(Logger));
  app.enableShutdownHooks();
  return app;
}

/** Starts listening and logs the one line that says where, on which stores, and on which Node runtime. */
export async function listen(app: INestApplication, config: AppConfig): Promise<void> {
  await app.listen(config.server.port);
  const events = app.get<EventStore>(EVENT_STORE);
  const read = app.get<ReadStore>(READ_STORE);
  app
    .get(Logger)
    .log(
      // The runtime too: `npm start` passes Node flags (package.json) that a bare `node` would not.
      { node: process.version, nodeFlags: process.execArgv },
      `Drydock listening on http://localhost:${config.server.port} (event store: ${events.description}; read store: ${read.description})`,
      'Drydock',
    );
}

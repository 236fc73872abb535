/**
 * `npm run schema`: prints the schema the app serves into schema.graphql, the committed
 * contract. test/e2e/api.test.ts fails when the served schema and the file differ.
 */
import 'reflect-metadata';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { createApp } from './app/create-app';
import { loadConfig } from './config/config';

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'drydock-schema-'));
  const app = await createApp(loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'warn' }));
  await app.init();
  const { schema } = app.get(GraphQLSchemaHost);
  writeFileSync(join(__dirname, '../../schema.graphql'), `${printSchema(lexicographicSortSchema(schema))}\n`);
  await app.close();
  rmSync(dir, { recursive: true, force: true });
}

void main();

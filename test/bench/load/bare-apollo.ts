/**
 * The baseline of the query-throughput scenario (its own process): a bare Apollo Server with
 * Drydock's schema, answering `machines` with a page held in memory: no auth, no limits, no
 * store. Every other field takes Apollo's default resolver.
 */
import { readFileSync } from 'node:fs';
import { ApolloServer } from '@apollo/server';
import { childArgs } from './child';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startStandaloneServer } = require('@apollo/server/standalone') as typeof import('@apollo/server/dist/esm/standalone/index.js');

interface BareArgs {
  schemaFile: string;
  pageFile: string;
  port: number;
}

async function main() {
  const a = childArgs<BareArgs>();
  const page = JSON.parse(readFileSync(a.pageFile, 'utf8')) as unknown;
  const server = new ApolloServer({ typeDefs: readFileSync(a.schemaFile, 'utf8'), resolvers: { Query: { machines: () => page } } });
  await startStandaloneServer(server, { listen: { port: a.port } });
  process.stdout.write('listening\n');
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});

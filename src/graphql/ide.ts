import { createReadStream } from 'node:fs';
import { dirname, join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Local copies of every asset the IDE loads: it works with no internet. */
const ASSETS: Record<string, { pkg: string; file: string; type: string }> = {
  'react.js': { pkg: 'react', file: 'umd/react.production.min.js', type: 'text/javascript' },
  'react-dom.js': { pkg: 'react-dom', file: 'umd/react-dom.production.min.js', type: 'text/javascript' },
  'graphiql.js': { pkg: 'graphiql', file: 'graphiql.min.js', type: 'text/javascript' },
  'graphiql.css': { pkg: 'graphiql', file: 'graphiql.min.css', type: 'text/css' },
  'graphql-ws.js': { pkg: 'graphql-ws', file: 'umd/graphql-ws.min.js', type: 'text/javascript' },
};

/** Package subpaths are not exported, so locate each package by its package.json. */
function assetPath(a: { pkg: string; file: string }): string {
  return join(dirname(require.resolve(`${a.pkg}/package.json`)), a.file);
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <title>Drydock GraphQL</title>
  <link rel="stylesheet" href="/graphql-ide/graphiql.css" />
  <style>html, body, #ide { height: 100%; margin: 0; }</style>
</head>
<body>
  <div id="ide"></div>
  <script src="/graphql-ide/react.js"></script>
  <script src="/graphql-ide/react-dom.js"></script>
  <script src="/graphql-ide/graphql-ws.js"></script>
  <script src="/graphql-ide/graphiql.js"></script>
  <script>
    const url = location.origin + '/graphql';
    const wsUrl = url.replace(/^http/, 'ws');
    const headers = JSON.parse(localStorage.getItem('graphiql:headers') || '{}');
    const fetcher = GraphiQL.createFetcher({
      url,
      wsClient: graphqlWs.createClient({ url: wsUrl, connectionParams: () => ({ authorization: headers.Authorization || headers.authorization }) }),
    });
    ReactDOM.createRoot(document.getElementById('ide')).render(
      React.createElement(GraphiQL, { fetcher, defaultEditorToolsVisibility: true, isHeadersEditorEnabled: true, shouldPersistHeaders: true }),
    );
  </script>
</body>
</html>`;

/**
 * Serves GraphiQL at GET /graphql for browsers (Accept: text/html) and its assets under
 * /graphql-ide/. Mounted before Apollo; every other request passes through.
 */
export function ideMiddleware() {
  const files = new Map(Object.entries(ASSETS).map(([name, a]) => [name, { path: assetPath(a), type: a.type }]));
  return (req: IncomingMessage, res: ServerResponse, next: () => void) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path === '/graphql' && (req.headers.accept ?? '').includes('text/html')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE);
      return;
    }
    if (req.method === 'GET' && path.startsWith('/graphql-ide/')) {
      const asset = files.get(path.slice('/graphql-ide/'.length));
      if (!asset) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'public, max-age=86400' });
      createReadStream(asset.path).pipe(res);
      return;
    }
    next();
  };
}

// Serves the browser demo (dist/web) on 127.0.0.1 — a secure origin, so navigator.gpu exists.
// Options: --port N (default 8080; 0 = any free port), --data DIR (also served read-only under
// /data/, e.g. --data ../shared for the fixture weights and the example video).
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const root = resolve(new URL('..', import.meta.url).pathname, 'dist/web');
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.map': 'application/json', '.json': 'application/json', '.txt': 'text/plain' };

export function startServer(port = 8080, dataDir = null) {
  const data = dataDir ? resolve(dataDir) : null;
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    let base = root;
    let rel = path === '/' ? '/index.html' : path;
    if (data && rel.startsWith('/data/')) { base = data; rel = rel.slice(5); }
    const file = join(base, rel);
    if (!file.startsWith(base) || !existsSync(file) || !statSync(file).isFile()) { res.writeHead(404).end('not found'); return; }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': statSync(file).size });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok) => server.listen(port, '127.0.0.1', () => ok(server)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (!existsSync(join(root, 'index.html'))) { console.error('serve-demo: dist/web is missing; run `node scripts/build.mjs`'); process.exit(1); }
  const data = opt('data');
  const server = await startServer(Number(opt('port', '8080')), data);
  console.error(`echoclip demo: http://127.0.0.1:${server.address().port}/${data ? `  (data: ${resolve(data)} under /data/)` : ''}`);
}

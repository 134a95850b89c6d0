// A local stand-in for the Hugging Face hub (127.0.0.1, random port) serving fixture directories
// at /{owner}/{name}/resolve/main/{file}, with ETags as the hub sends them and fault injection.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface RepoSpec {
  dir: string;
  /** Files answered with 404. */
  missing?: string[];
  /** Files served with one byte flipped (headers still carry the true checksum). */
  corrupt?: string[];
  /** file → bytes sent before the connection is dropped, for the next `times` GETs (default 1). */
  drop?: Record<string, { after: number; times?: number }>;
  /** file → bytes sent before the server stops sending (and never closes). */
  stall?: Record<string, number>;
  /** Serve LFS files (weights) through a 302 to /cdn/..., with X-Linked-Etag on the 302, as the hub does. */
  redirect?: boolean;
  /** Answer every request with a 307 to the same file in this repo (a renamed repository). */
  movedTo?: string;
  /** HTTP status to answer every request with. */
  status?: number;
}

export interface LoggedRequest { method: string; url: string; range: string | undefined }

export interface HubServer {
  url: string;
  requests: LoggedRequest[];
  close(): Promise<void>;
}

const isLfs = (file: string): boolean => /\.(safetensors|bin)$/.test(file);

export async function startHubServer(repos: Record<string, RepoSpec>): Promise<HubServer> {
  const content = new Map<string, Buffer>();
  for (const [repo, spec] of Object.entries(repos)) {
    if (spec.movedTo) continue;
    for (const f of readdirSync(spec.dir)) content.set(`${repo}/${f}`, readFileSync(path.join(spec.dir, f)));
  }
  const tags = new Map<string, string>();
  const tagOf = (key: string, file: string): string => {
    let t = tags.get(key);
    if (!t) {
      const data = content.get(key)!;
      t = isLfs(file)
        ? createHash('sha256').update(data).digest('hex')
        : createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
      tags.set(key, t);
    }
    return t;
  };
  const drops = new Map<string, number>();
  const requests: LoggedRequest[] = [];
  const sockets = new Set<import('node:net').Socket>();

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', range: req.headers.range });
    const m = /^\/(cdn\/)?([^/]+\/[^/]+)\/resolve\/main\/([^/]+)$/.exec(req.url ?? '');
    const spec = m ? repos[m[2]] : undefined;
    if (!m || !spec) { res.writeHead(404).end(); return; }
    const [, cdn, repo, file] = m;
    if (spec.status) { res.writeHead(spec.status).end(); return; }
    if (spec.movedTo) { res.writeHead(307, { Location: `/${spec.movedTo}/resolve/main/${file}` }).end(); return; }
    const key = `${repo}/${file}`;
    let data = content.get(key);
    if (!data || spec.missing?.includes(file)) { res.writeHead(404, { 'X-Error-Code': 'EntryNotFound' }).end(); return; }
    const tag = tagOf(key, file);
    if (spec.redirect && isLfs(file) && !cdn) {
      res.writeHead(302, { Location: `/cdn/${repo}/resolve/main/${file}`, 'X-Linked-Etag': `"${tag}"`, 'X-Linked-Size': String(data.length), ETag: '"not-the-hash"' });
      res.end();
      return;
    }
    if (spec.corrupt?.includes(file)) { data = Buffer.from(data); data[data.length >> 1] ^= 0x55; }
    const headers: Record<string, string> = { ETag: `"${tag}"`, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' };
    if (isLfs(file) && !spec.redirect) { headers['X-Linked-Etag'] = `"${tag}"`; headers['X-Linked-Size'] = String(data.length); }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      if (start >= data.length) { res.writeHead(416, { 'Content-Range': `bytes */${data.length}` }).end(); return; }
    }
    const body = data.subarray(start);
    const status = range ? 206 : 200;
    if (range) headers['Content-Range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
    headers['Content-Length'] = String(body.length);
    res.writeHead(status, headers);
    if (req.method === 'HEAD') { res.end(); return; }
    const drop = spec.drop?.[file];
    const dropped = drops.get(key) ?? 0;
    if (drop && dropped < (drop.times ?? 1)) {
      drops.set(key, dropped + 1);
      res.write(body.subarray(0, Math.max(0, drop.after - start)), () => res.socket?.destroy());
      return;
    }
    const stall = spec.stall?.[file];
    if (stall !== undefined) { res.write(body.subarray(0, stall)); return; } // never ends
    res.end(body);
  };

  const server: Server = createServer(handler);
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}

/**
 * The REST server's request handling: authentication, path validation, routing, and one
 * handler per route and verb (repository creation, listing, HEAD/GET, POST, DELETE, metrics).
 */
import fsp from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { errCode } from '../errors.js';
import { isId } from '../format/id.js';
import { fail, internalError, metric, notAllowed, ok, send } from './responses.js';
import { type Ctx, type Exchange, MAX_FOLDER_DEPTH, MIME_V1, MIME_V2, type ObjType, type ServerState, TYPES } from './state.js';
import { upload } from './upload.js';

const FILE_HEADERS = { 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes' } as const;
const BASIC_CHALLENGE = { 'WWW-Authenticate': 'Basic realm="restic"' } as const;

export async function handle(s: ServerState, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (s.closing) res.setHeader('Connection', 'close');
  const x: Exchange = { s, req, res };
  const rawUrl = req.url ?? '';
  const q = rawUrl.indexOf('?');
  const rawPath = q >= 0 ? rawUrl.slice(0, q) : rawUrl;
  const query = new URLSearchParams(q >= 0 ? rawUrl.slice(q + 1) : '');
  const auth = await authenticate(s, req);
  if (auth.retryAfterMs) {
    // too many failed checks from this client: refused without a check for a while
    return fail(x, 429, { 'Retry-After': String(Math.ceil(auth.retryAfterMs / 1000)) }, 64 * 1024);
  }
  const user = auth.user;
  if (s.opts.prometheus && rawPath === '/metrics') return serveMetrics(x, user);
  if (user === undefined) return fail(x, 401, BASIC_CHALLENGE, 64 * 1024);
  const parts = splitPath(rawPath);
  if (!parts) return fail(x, 400, {}, 0);
  if (s.opts.privateRepos && s.htpasswd && parts.repo[0] !== user) return fail(x, 401, {}, 0);
  const dir = path.join(s.root, ...parts.repo);
  if (dir !== s.root && !dir.startsWith(s.root + path.sep)) return fail(x, 400, {}, 0);
  const c: Ctx = { s, req, res, user, repo: parts.repo, dir };
  try {
    await route(c, parts.rest, query);
  } catch (err) {
    internalError(c, err);
  }
}

/**
 * The user name ('' without authentication), undefined when the credentials are wrong or
 * missing, and how long to wait when the client made too many failed attempts.
 */
async function authenticate(s: ServerState, req: http.IncomingMessage): Promise<{ user?: string; retryAfterMs?: number }> {
  if (!s.htpasswd) return { user: '' };
  const h = req.headers.authorization;
  const m = h ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(h) : null;
  if (!m) return {};
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return {};
  const user = decoded.slice(0, i);
  const r = await s.htpasswd.check(user, decoded.slice(i + 1), req.socket.remoteAddress ?? '');
  return r.ok ? { user } : { retryAfterMs: r.retryAfterMs };
}

function serveMetrics(x: Exchange, user: string | undefined): void {
  const { opts } = x.s;
  if (!opts.prometheusNoAuth && (user === undefined || (opts.privateRepos && !opts.noAuth && user !== 'metrics'))) {
    return fail(x, 401, BASIC_CHALLENGE, 0);
  }
  if (x.req.method !== 'GET' && x.req.method !== 'HEAD') return fail(x, 405, { Allow: 'GET, HEAD' }, 0);
  send(x.res, 200, x.s.metrics.render(), { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
}

/** Split and validate the URL path; undefined → 400. */
function splitPath(rawPath: string): { repo: string[]; rest: string[] } | undefined {
  if (!rawPath.startsWith('/')) return undefined;
  let segs: string[];
  try {
    segs = rawPath.slice(1).split('/').map(decodeURIComponent);
  } catch {
    return undefined;
  }
  let i = 0;
  while (i < segs.length - 1 && i < MAX_FOLDER_DEPTH && !(TYPES as readonly string[]).includes(segs[i]!) && segs[i] !== 'config') i++;
  const repo = segs.slice(0, i);
  const rest = segs.slice(i);
  for (const s of repo) {
    // plain names only: no traversal, no hidden entries (.htpasswd), no separators or control characters
    if (!s || s.startsWith('.') || /[/\\\p{Cc}]/u.test(s)) return undefined;
  }
  for (const s of rest) if (/[/\\\p{Cc}]/u.test(s) || s === '.' || s === '..') return undefined;
  return { repo, rest };
}

async function route(c: Ctx, rest: string[], query: URLSearchParams): Promise<void> {
  const m = c.req.method ?? '';
  if (rest.length === 1 && rest[0] === '') {
    if (m === 'POST') return createRepo(c, query);
    return notAllowed(c, ['POST']);
  }
  if (rest.length === 1 && rest[0] === 'config') return routeFile(c, path.join(c.dir, 'config'), 'config', undefined);
  const type = rest[0] as ObjType;
  if (rest.length === 2 && TYPES.includes(type)) {
    const name = rest[1]!;
    if (name === '') {
      if (m === 'GET') return list(c, type);
      return notAllowed(c, ['GET']);
    }
    if (isId(name)) return routeFile(c, objectPath(c, type, name), type, name);
  }
  fail(c, 400, {}, 0);
}

/** The config file (id undefined) or one object. */
function routeFile(c: Ctx, file: string, type: ObjType | 'config', id: string | undefined): Promise<void> | void {
  const m = c.req.method ?? '';
  if (m === 'HEAD' || m === 'GET') return headOrGet(c, file, type === 'config' ? undefined : type);
  if (m === 'POST') return upload(c, file, type, id);
  if (m === 'DELETE') return remove(c, file, type);
  return notAllowed(c, ['HEAD', 'GET', 'POST', 'DELETE']);
}

function objectPath(c: Ctx, type: ObjType, id: string): string {
  return type === 'data' ? path.join(c.dir, 'data', id.slice(0, 2), id) : path.join(c.dir, type, id);
}

async function createRepo(c: Ctx, query: URLSearchParams): Promise<void> {
  if (query.get('create') !== 'true') return fail(c, 400);
  const { dirMode } = c.s;
  c.s.log(`creating repository directories in ${c.dir}`);
  await fsp.mkdir(c.dir, { recursive: true, mode: dirMode });
  for (const t of TYPES) await fsp.mkdir(path.join(c.dir, t), { mode: dirMode }).catch(ignoreExists);
  await Promise.all(
    Array.from({ length: 256 }, (_, i) =>
      fsp.mkdir(path.join(c.dir, 'data', i.toString(16).padStart(2, '0')), { mode: dirMode }).catch(ignoreExists),
    ),
  );
  ok(c.res);
}

/** The folders holding a type's files, or undefined when the type's folder is missing. */
async function typeFolders(c: Ctx, type: ObjType): Promise<string[] | undefined> {
  const base = path.join(c.dir, type);
  try {
    if (type === 'data') {
      const entries = await fsp.readdir(base, { withFileTypes: true });
      return entries.filter((e) => e.isDirectory()).map((e) => path.join(base, e.name));
    }
    await fsp.access(base);
    return [base];
  } catch (err) {
    if (errCode(err) === 'ENOENT' || errCode(err) === 'ENOTDIR') return undefined;
    throw err;
  }
}

async function list(c: Ctx, type: ObjType): Promise<void> {
  const dirs = await typeFolders(c, type);
  if (!dirs) return fail(c, 404);
  const v2 = c.req.headers.accept === MIME_V2;
  const items: Array<{ name: string; size: number }> = [];
  for (const d of dirs) {
    const names = (await fsp.readdir(d, { withFileTypes: true })).filter((e) => e.isFile() && isId(e.name)).map((e) => e.name);
    if (v2) await addSizes(d, names, items);
    else for (const name of names) items.push({ name, size: 0 });
  }
  const body = JSON.stringify(v2 ? items : items.map((i) => i.name));
  c.res.writeHead(200, { 'Content-Type': v2 ? MIME_V2 : MIME_V1, 'Content-Length': String(Buffer.byteLength(body)) });
  c.res.end(body);
}

/** Append each file of `names` in `d` with its size (64 stats at a time); files gone meanwhile are left out. */
async function addSizes(d: string, names: string[], items: Array<{ name: string; size: number }>): Promise<void> {
  for (let i = 0; i < names.length; i += 64) {
    const batch = names.slice(i, i + 64);
    const sizes = await Promise.all(
      batch.map((n) =>
        fsp.stat(path.join(d, n)).then(
          (s) => s.size,
          () => -1,
        ),
      ),
    );
    batch.forEach((name, j) => {
      if (sizes[j]! >= 0) items.push({ name, size: sizes[j]! });
    });
  }
}

/** type undefined: the config file, which is not counted in the metrics. */
async function headOrGet(c: Ctx, file: string, type: string | undefined): Promise<void> {
  const fh = await openForRead(c, file);
  if (!fh) return;
  let handedOff = false;
  try {
    const st = await fh.stat();
    if (!st.isFile()) return fail(c, 404);
    if (c.req.method === 'HEAD') {
      c.res.writeHead(200, { ...FILE_HEADERS, 'Content-Length': String(st.size) });
      c.res.end();
      return;
    }
    const range = startGet(c, st.size);
    if (!range) return;
    if (range.end - range.start + 1 === 0) {
      c.res.end();
      if (type) metric(c, 'read', type, 0);
      return;
    }
    const stream = fh.createReadStream({ start: range.start, end: range.end, autoClose: true });
    handedOff = true;
    const sent = await pipeToResponse(c, stream, file);
    if (type && c.res.writableFinished) metric(c, 'read', type, sent);
  } finally {
    if (!handedOff) await fh.close();
  }
}

/** undefined when missing (answered 404). */
async function openForRead(c: Ctx, file: string): Promise<fsp.FileHandle | undefined> {
  try {
    return await fsp.open(file, 'r');
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return void fail(c, 404);
    throw err;
  }
}

/** Write a GET's status and headers (200 or 206 for a Range); undefined when answered 416. */
function startGet(c: Ctx, size: number): { start: number; end: number } | undefined {
  const r = parseRange(c.req.headers.range, size);
  if (r === 'bad') return void fail(c, 416, { 'Content-Range': `bytes */${size}` });
  const { start, end } = r === 'all' ? { start: 0, end: size - 1 } : r;
  const length = end - start + 1;
  if (r === 'all') c.res.writeHead(200, { ...FILE_HEADERS, 'Content-Length': String(length) });
  else c.res.writeHead(206, { ...FILE_HEADERS, 'Content-Length': String(length), 'Content-Range': `bytes ${start}-${end}/${size}` });
  return { start, end };
}

/** Stream until done or the client goes away; returns the bytes read. */
async function pipeToResponse(c: Ctx, stream: Readable, file: string): Promise<number> {
  let sent = 0;
  stream.on('data', (chunk: Buffer | string) => (sent += chunk.length));
  await new Promise<void>((resolve) => {
    stream.on('error', (err) => {
      c.s.log(`ERROR: reading ${file}: ${err.message}`);
      c.res.destroy();
      resolve();
    });
    c.res.on('close', () => {
      stream.destroy();
      resolve();
    });
    stream.pipe(c.res);
  });
  return sent;
}

/** Parse one `bytes=` range against a size; 'all' = ignore, 'bad' = 416. */
function parseRange(h: string | undefined, size: number): { start: number; end: number } | 'all' | 'bad' {
  if (h === undefined) return 'all';
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(h);
  if (!m) return h.includes(',') && /^\s*bytes\s*=/.test(h) ? 'all' : 'bad';
  const [, a, b] = m;
  if (a === '' && b === '') return 'bad';
  if (a === '') {
    const n = Number(b);
    if (n === 0) return 'bad';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  let end = b === '' ? size - 1 : Number(b);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return 'bad';
  if (start === 0 && size === 0) return 'all';
  if (start >= size) return 'bad';
  if (end >= size) end = size - 1;
  return { start, end };
}

async function remove(c: Ctx, file: string, type: ObjType | 'config'): Promise<void> {
  if (c.s.opts.appendOnly && type !== 'locks') return fail(c, 403);
  let size: number;
  try {
    size = (await fsp.stat(file)).size;
    await fsp.unlink(file);
  } catch (err) {
    const code = errCode(err);
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    return ok(c.res); // deleting is idempotent (retries)
  }
  const { quota } = c.s;
  if (quota) quota.used = Math.max(0, quota.used - size);
  if (type !== 'config') metric(c, 'delete', type, size);
  ok(c.res);
}

function ignoreExists(err: unknown): void {
  if (errCode(err) !== 'EEXIST') throw err;
}

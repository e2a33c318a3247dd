/**
 * A REST server for restic repositories, compatible with restic/rest-server (API v1 and v2)
 * so restic itself and RestBackend can use it, and hardened for use as an operator's backup
 * server:
 *
 * - authentication on by default (htpasswd with bcrypt or {SHA}); no htpasswd file and no
 *   `noAuth` → the server refuses to start;
 * - uploads are verified before they are stored: the body's SHA-256 must equal the file name
 *   (except config), the body must have a Content-Length within `maxUploadSize` (411/413),
 *   files are written to a temp file, fsynced, published with link() (never overwriting:
 *   an existing file → 403) and the directory is fsynced;
 * - request paths are validated: at most two repository folder levels of plain names, only
 *   restic's types and 64-hex names (anything else → 400; rest-server answers 404 there);
 * - `appendOnly` (no DELETE except locks, no overwrite), `privateRepos` (first folder = user),
 *   `maxSize` quota (507), Prometheus `/metrics`, TLS;
 * - `close()` stops accepting connections and waits for requests in flight.
 *
 * On disk the layout is restic's default (data/XX/<id>), as with rest-server.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { syncDir } from '../backends/local.js';
import { ResticError, errCode } from '../errors.js';
import { isId } from '../format/id.js';
import { Htpasswd } from './htpasswd.js';
import { Metrics } from './metrics.js';

const MIME_V1 = 'application/vnd.x.restic.rest.v1';
const MIME_V2 = 'application/vnd.x.restic.rest.v2';

const TYPES = ['data', 'index', 'keys', 'locks', 'snapshots'] as const;
type ObjType = (typeof TYPES)[number];
const MAX_FOLDER_DEPTH = 2;
/** restic's packs are at most 128 MiB (plus one blob); everything else is small. */
const DEFAULT_MAX_UPLOAD = 160 * 1024 * 1024;
/** Bodies of refused requests up to this size are read before answering (clean keep-alive). */
const DRAIN_LIMIT = 1 << 20;

/** The server could not start (bad options, missing files, address in use). */
export class RestServerError extends ResticError {}

export interface RestServerOptions {
  /** Data directory (created when missing). */
  path: string;
  /** `host:port`, `:port` (all interfaces) or `[v6]:port`; port 0 picks a free one. Default 127.0.0.1:8000. */
  listen?: string;
  /** Disable authentication. */
  noAuth?: boolean;
  /** htpasswd file; default `<path>/.htpasswd`. */
  htpasswdFile?: string;
  appendOnly?: boolean;
  privateRepos?: boolean;
  tls?: boolean;
  /** PEM files; defaults `<path>/public_key` and `<path>/private_key` (as rest-server). */
  tlsCert?: string;
  tlsKey?: string;
  tlsMinVersion?: '1.2' | '1.3';
  /** Quota over the whole data directory in bytes (0 or undefined: none). */
  maxSize?: number;
  prometheus?: boolean;
  prometheusNoAuth?: boolean;
  /** Largest accepted request body (default 160 MiB). */
  maxUploadSize?: number;
  /**
   * Store uploads without checking that their SHA-256 equals their name (rest-server's
   * --no-verify-upload). Off by default; only for stores of non-content-addressed test data.
   */
  noVerifyUpload?: boolean;
  /** 0770/0660 instead of 0700/0600. */
  groupAccessibleRepos?: boolean;
  /** How long close() waits for requests in flight before cutting connections (default 30 s). */
  closeTimeoutMs?: number;
  /** Log lines (startup, refused requests, internal errors). */
  log?: (line: string) => void;
}

export interface RestServer {
  /** Base URL, e.g. http://127.0.0.1:8000/ */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly metrics: Metrics;
  /** Re-read the htpasswd file (the CLI calls this on SIGHUP). */
  reloadHtpasswd(): void;
  close(): Promise<void>;
}

interface Ctx {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  user: string;
  repo: string[];
  dir: string;
}

function parseListen(listen: string): { host?: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(listen);
  if (!m) throw new RestServerError(`invalid listen address ${JSON.stringify(listen)} (use host:port, e.g. 127.0.0.1:8000)`);
  const port = Number(m[3]);
  if (port > 65535) throw new RestServerError(`invalid port in listen address ${JSON.stringify(listen)}`);
  const host = m[1] ?? m[2];
  return { host: host ? host : undefined, port };
}

/** Sum of file sizes below dir (for the quota). */
async function tallySize(dir: string): Promise<number> {
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    let entries: fs.Dirent[];
    try {
      entries = await fsp.readdir(d, { withFileTypes: true });
    } catch (err) {
      if (errCode(err) === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) total += (await fsp.stat(p)).size;
    }
  };
  await walk(dir);
  return total;
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

export async function startRestServer(opts: RestServerOptions): Promise<RestServer> {
  const log = opts.log ?? (() => {});
  if (!opts.path) throw new RestServerError('the data directory (--path) is required');
  const root = path.resolve(opts.path);
  const dirMode = opts.groupAccessibleRepos ? 0o770 : 0o700;
  const fileMode = opts.groupAccessibleRepos ? 0o660 : 0o600;
  const maxUpload = opts.maxUploadSize ?? DEFAULT_MAX_UPLOAD;
  const { host, port } = parseListen(opts.listen ?? '127.0.0.1:8000');
  try {
    await fsp.mkdir(root, { recursive: true, mode: dirMode });
  } catch (err) {
    throw new RestServerError(`cannot create data directory ${root}: ${(err as Error).message}`);
  }

  let htpasswd: Htpasswd | undefined;
  if (!opts.noAuth) {
    const file = opts.htpasswdFile ?? path.join(root, '.htpasswd');
    try {
      htpasswd = Htpasswd.load(file, (m) => log(`htpasswd: ${m}`));
    } catch (err) {
      throw new RestServerError(
        `${(err as Error).message}; authentication is on by default: create the file (e.g. htpasswd -B -c ${file} USER) or start with --no-auth`,
      );
    }
    if (htpasswd.size === 0) log(`warning: ${file} has no users; every request will be refused`);
  }

  const quota = opts.maxSize && opts.maxSize > 0 ? { max: opts.maxSize, used: await tallySize(root) } : undefined;
  const metrics = new Metrics();

  let tlsOpts: https.ServerOptions | undefined;
  if (opts.tls) {
    const certFile = opts.tlsCert ?? path.join(root, 'public_key');
    const keyFile = opts.tlsKey ?? path.join(root, 'private_key');
    try {
      tlsOpts = {
        cert: fs.readFileSync(certFile),
        key: fs.readFileSync(keyFile),
        minVersion: opts.tlsMinVersion === '1.3' ? 'TLSv1.3' : 'TLSv1.2',
      };
    } catch (err) {
      throw new RestServerError(`cannot load TLS certificate or key: ${(err as Error).message}`);
    }
  } else if (opts.tlsCert || opts.tlsKey) {
    throw new RestServerError('--tls-cert and --tls-key require --tls');
  }

  // ---- responses ----

  function send(res: http.ServerResponse, status: number, body = '', headers: Record<string, string> = {}): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const text = body || `${http.STATUS_CODES[status] ?? 'Error'}\n`;
    res.writeHead(status, {
      'Content-Type': 'text/plain; charset=utf-8',
      'X-Content-Type-Options': 'nosniff',
      'Content-Length': String(Buffer.byteLength(text)),
      ...headers,
    });
    res.end(text);
  }

  function ok(res: http.ServerResponse): void {
    res.writeHead(200, { 'Content-Length': '0' });
    res.end();
  }

  /** Answer an error; unread request bodies are drained when small, else the connection closes. */
  function fail(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    status: number,
    headers: Record<string, string> = {},
    drainLimit = DRAIN_LIMIT,
  ): void {
    if (req.complete || req.readableEnded) return send(res, status, '', headers);
    const len = Number(req.headers['content-length'] ?? NaN);
    if (Number.isSafeInteger(len) && len <= drainLimit && !closing) {
      req.on('end', () => send(res, status, '', headers));
      req.on('error', () => res.destroy());
      req.resume();
      return;
    }
    send(res, status, '', { ...headers, Connection: 'close' });
  }

  function internalError(c: Ctx, err: unknown): void {
    const code = errCode(err);
    if (code === 'ENOSPC' || code === 'EDQUOT') return fail(c.req, c.res, 507);
    log(`ERROR: ${c.req.method} ${c.req.url}: ${(err as Error)?.message ?? String(err)}`);
    fail(c.req, c.res, 500);
  }

  function notAllowed(c: Ctx, allowed: string[]): void {
    fail(c.req, c.res, 405, { Allow: allowed.join(', ') });
  }

  function metric(c: Ctx, op: 'read' | 'write' | 'delete', type: string, bytes: number): void {
    if (opts.prometheus) metrics.record(op, { user: c.user, repo: c.repo.join('/'), type }, bytes);
  }

  // ---- authentication ----

  async function authenticate(req: http.IncomingMessage): Promise<string | undefined> {
    if (!htpasswd) return '';
    const h = req.headers.authorization;
    const m = h ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(h) : null;
    if (!m) return undefined;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) return undefined;
    const user = decoded.slice(0, i);
    return (await htpasswd.validate(user, decoded.slice(i + 1))) ? user : undefined;
  }

  // ---- handlers ----

  function objectPath(c: Ctx, type: ObjType, id: string): string {
    return type === 'data' ? path.join(c.dir, 'data', id.slice(0, 2), id) : path.join(c.dir, type, id);
  }

  async function createRepo(c: Ctx, query: URLSearchParams): Promise<void> {
    if (query.get('create') !== 'true') return fail(c.req, c.res, 400);
    log(`creating repository directories in ${c.dir}`);
    await fsp.mkdir(c.dir, { recursive: true, mode: dirMode });
    for (const t of TYPES) await fsp.mkdir(path.join(c.dir, t), { mode: dirMode }).catch(ignoreExists);
    await Promise.all(
      Array.from({ length: 256 }, (_, i) =>
        fsp.mkdir(path.join(c.dir, 'data', i.toString(16).padStart(2, '0')), { mode: dirMode }).catch(ignoreExists),
      ),
    );
    ok(c.res);
  }

  async function headOrGet(c: Ctx, file: string, type: string | undefined): Promise<void> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(file, 'r');
    } catch (err) {
      const code = errCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return fail(c.req, c.res, 404);
      throw err;
    }
    let handedOff = false;
    try {
      const st = await fh.stat();
      if (!st.isFile()) return fail(c.req, c.res, 404);
      const size = st.size;
      const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes' };
      if (c.req.method === 'HEAD') {
        c.res.writeHead(200, { ...headers, 'Content-Length': String(size) });
        c.res.end();
        return;
      }
      const r = parseRange(c.req.headers.range, size);
      if (r === 'bad') return fail(c.req, c.res, 416, { 'Content-Range': `bytes */${size}` });
      const { start, end } = r === 'all' ? { start: 0, end: size - 1 } : r;
      const length = end - start + 1;
      if (r === 'all') c.res.writeHead(200, { ...headers, 'Content-Length': String(length) });
      else c.res.writeHead(206, { ...headers, 'Content-Length': String(length), 'Content-Range': `bytes ${start}-${end}/${size}` });
      if (length === 0) {
        c.res.end();
        if (type) metric(c, 'read', type, 0);
        return;
      }
      const stream = fh.createReadStream({ start, end, autoClose: true });
      handedOff = true;
      let sent = 0;
      stream.on('data', (chunk: Buffer | string) => (sent += chunk.length));
      await new Promise<void>((resolve) => {
        stream.on('error', (err) => {
          log(`ERROR: reading ${file}: ${err.message}`);
          c.res.destroy();
          resolve();
        });
        c.res.on('close', () => {
          stream.destroy();
          resolve();
        });
        stream.pipe(c.res);
      });
      if (type && c.res.writableFinished) metric(c, 'read', type, sent);
    } finally {
      if (!handedOff) await fh.close();
    }
  }

  async function list(c: Ctx, type: ObjType): Promise<void> {
    const base = path.join(c.dir, type);
    let dirs: string[];
    try {
      if (type === 'data') {
        const entries = await fsp.readdir(base, { withFileTypes: true });
        dirs = entries.filter((e) => e.isDirectory()).map((e) => path.join(base, e.name));
      } else {
        await fsp.access(base);
        dirs = [base];
      }
    } catch (err) {
      if (errCode(err) === 'ENOENT' || errCode(err) === 'ENOTDIR') return fail(c.req, c.res, 404);
      throw err;
    }
    const v2 = c.req.headers.accept === MIME_V2;
    const items: Array<{ name: string; size: number }> = [];
    for (const d of dirs) {
      const names = (await fsp.readdir(d, { withFileTypes: true })).filter((e) => e.isFile() && isId(e.name)).map((e) => e.name);
      for (let i = 0; i < names.length; i += 64) {
        const batch = names.slice(i, i + 64);
        const sizes = await Promise.all(
          batch.map((n) =>
            v2
              ? fsp.stat(path.join(d, n)).then(
                  (s) => s.size,
                  () => -1,
                )
              : Promise.resolve(0),
          ),
        );
        batch.forEach((name, j) => {
          if (sizes[j]! >= 0) items.push({ name, size: sizes[j]! });
        });
      }
    }
    const body = JSON.stringify(v2 ? items : items.map((i) => i.name));
    c.res.writeHead(200, { 'Content-Type': v2 ? MIME_V2 : MIME_V1, 'Content-Length': String(Buffer.byteLength(body)) });
    c.res.end(body);
  }

  async function upload(c: Ctx, file: string, type: ObjType | 'config', id: string | undefined): Promise<void> {
    const { req } = c;
    if (req.headers['transfer-encoding'] !== undefined || req.headers['content-length'] === undefined) {
      return send(c.res, 411, '', { Connection: 'close' });
    }
    const len = Number(req.headers['content-length']);
    if (!Number.isSafeInteger(len) || len < 0) return send(c.res, 400, '', { Connection: 'close' });
    if (len > maxUpload) return send(c.res, 413, '', { Connection: 'close' });
    const dir = path.dirname(file);
    const typeDir = type === 'config' ? c.dir : path.join(c.dir, type);
    try {
      if (!(await fsp.stat(typeDir)).isDirectory()) return fail(req, c.res, 404, {}, maxUpload);
    } catch (err) {
      if (errCode(err) === 'ENOENT' || errCode(err) === 'ENOTDIR') return fail(req, c.res, 404, {}, maxUpload);
      throw err;
    }
    if (await exists(file)) return fail(req, c.res, 403, {}, maxUpload);
    if (quota && quota.used + len > quota.max) {
      log(`refusing upload of ${len} bytes to ${c.req.url}: quota of ${quota.max} bytes reached`);
      return fail(req, c.res, 507, {}, maxUpload);
    }
    if (quota) quota.used += len; // reserved; released again on failure
    let stored = false;
    // The answer is sent only after the temp file is gone, so a refused upload leaves nothing
    // behind; store() decides it, the finally block cleans up, then it is sent.
    let answer: () => void = () => ok(c.res);
    const tmp = path.join(dir, `.${id ?? 'config'}.tmp-${randomBytes(8).toString('hex')}`);
    let fh: fsp.FileHandle | undefined;
    const store = async (): Promise<void> => {
      try {
        fh = await fsp.open(tmp, 'wx', fileMode);
      } catch (err) {
        if (errCode(err) !== 'ENOENT' || type !== 'data') throw err;
        await fsp.mkdir(dir, { recursive: true, mode: dirMode }); // data/XX removed by hand
        fh = await fsp.open(tmp, 'wx', fileMode);
      }
      const hash = createHash('sha256');
      let got = 0;
      const complete = await new Promise<boolean>((resolve, reject) => {
        let pending = Promise.resolve();
        req.on('data', (chunk: Buffer) => {
          got += chunk.length;
          hash.update(chunk);
          req.pause();
          pending = pending.then(() => writeAll(fh!, chunk)).then(() => void req.resume(), reject);
        });
        req.on('end', () => pending.then(() => resolve(req.complete), reject));
        req.on('aborted', () => resolve(false));
        req.on('error', () => resolve(false));
        req.on('close', () => {
          if (!req.complete) resolve(false);
        });
      });
      if (!complete || got !== len) {
        answer = complete ? () => send(c.res, 400) : () => c.res.destroy(); // client went away: nothing to answer
        return;
      }
      if (id !== undefined && !opts.noVerifyUpload && hash.digest('hex') !== id) {
        log(`refusing ${c.req.url}: content does not match its name (SHA-256)`);
        answer = () => send(c.res, 400, 'file content does not match hash\n');
        return;
      }
      await fh.sync().catch((err: unknown) => {
        if (errCode(err) !== 'ENOTSUP' && errCode(err) !== 'EOPNOTSUPP' && errCode(err) !== 'EINVAL') throw err;
      });
      await fh.close();
      fh = undefined;
      // link() publishes atomically and never replaces: a concurrent upload of the same name loses.
      try {
        await fsp.link(tmp, file);
      } catch (err) {
        if (errCode(err) === 'EEXIST') return void (answer = () => send(c.res, 403));
        if (errCode(err) !== 'EPERM' && errCode(err) !== 'ENOTSUP' && errCode(err) !== 'EOPNOTSUPP') throw err;
        if (await exists(file)) return void (answer = () => send(c.res, 403)); // no hard links: check, then rename
        await fsp.rename(tmp, file);
      }
      await fsp.rm(tmp, { force: true });
      await syncDir(dir);
      stored = true;
      if (type !== 'config') metric(c, 'write', type, len);
    };
    try {
      await store();
    } finally {
      if (fh) await fh.close().catch(() => undefined);
      if (!stored) {
        await fsp.rm(tmp, { force: true }).catch(() => undefined);
        if (quota) quota.used -= len;
      }
    }
    answer();
  }

  async function remove(c: Ctx, file: string, type: ObjType | 'config'): Promise<void> {
    if (opts.appendOnly && type !== 'locks') return fail(c.req, c.res, 403);
    let size = 0;
    try {
      size = (await fsp.stat(file)).size;
      await fsp.unlink(file);
    } catch (err) {
      const code = errCode(err);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      return ok(c.res); // deleting is idempotent (retries)
    }
    if (quota) quota.used = Math.max(0, quota.used - size);
    if (type !== 'config') metric(c, 'delete', type, size);
    ok(c.res);
  }

  async function route(c: Ctx, rest: string[], query: URLSearchParams): Promise<void> {
    const m = c.req.method ?? '';
    if (rest.length === 1 && rest[0] === '') {
      if (m === 'POST') return createRepo(c, query);
      return notAllowed(c, ['POST']);
    }
    if (rest.length === 1 && rest[0] === 'config') {
      const file = path.join(c.dir, 'config');
      if (m === 'HEAD' || m === 'GET') return headOrGet(c, file, undefined);
      if (m === 'POST') return upload(c, file, 'config', undefined);
      if (m === 'DELETE') return remove(c, file, 'config');
      return notAllowed(c, ['HEAD', 'GET', 'POST', 'DELETE']);
    }
    const type = rest[0] as ObjType;
    if (rest.length === 2 && TYPES.includes(type)) {
      const name = rest[1]!;
      if (name === '') {
        if (m === 'GET') return list(c, type);
        return notAllowed(c, ['GET']);
      }
      if (isId(name)) {
        const file = objectPath(c, type, name);
        if (m === 'HEAD' || m === 'GET') return headOrGet(c, file, type);
        if (m === 'POST') return upload(c, file, type, name);
        if (m === 'DELETE') return remove(c, file, type);
        return notAllowed(c, ['HEAD', 'GET', 'POST', 'DELETE']);
      }
    }
    fail(c.req, c.res, 400, {}, 0);
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

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (closing) res.setHeader('Connection', 'close');
    const rawUrl = req.url ?? '';
    const q = rawUrl.indexOf('?');
    const rawPath = q >= 0 ? rawUrl.slice(0, q) : rawUrl;
    const query = new URLSearchParams(q >= 0 ? rawUrl.slice(q + 1) : '');
    const user = await authenticate(req);
    if (opts.prometheus && rawPath === '/metrics') {
      if (!opts.prometheusNoAuth && (user === undefined || (opts.privateRepos && !opts.noAuth && user !== 'metrics'))) {
        return fail(req, res, 401, { 'WWW-Authenticate': 'Basic realm="restic"' }, 0);
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') return fail(req, res, 405, { Allow: 'GET, HEAD' }, 0);
      return send(res, 200, metrics.render(), { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
    }
    if (user === undefined) return fail(req, res, 401, { 'WWW-Authenticate': 'Basic realm="restic"' }, 64 * 1024);
    const parts = splitPath(rawPath);
    if (!parts) return fail(req, res, 400, {}, 0);
    if (opts.privateRepos && htpasswd && parts.repo[0] !== user) return fail(req, res, 401, {}, 0);
    const dir = path.join(root, ...parts.repo);
    if (dir !== root && !dir.startsWith(root + path.sep)) return fail(req, res, 400, {}, 0);
    const c: Ctx = { req, res, user, repo: parts.repo, dir };
    try {
      await route(c, parts.rest, query);
    } catch (err) {
      internalError(c, err);
    }
  }

  // ---- server lifecycle ----

  let closing = false;
  const active = new Set<http.ServerResponse>();
  let idle: (() => void) | undefined;
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    active.add(res);
    res.on('close', () => {
      active.delete(res);
      if (active.size === 0) idle?.();
    });
    handle(req, res).catch((err: unknown) => {
      log(`ERROR: ${req.method} ${req.url}: ${(err as Error)?.message ?? String(err)}`);
      if (!res.headersSent) send(res, 500);
      else res.destroy();
    });
  };
  const server = tlsOpts ? https.createServer(tlsOpts, onRequest) : http.createServer(onRequest);
  server.requestTimeout = 15 * 60_000; // a 160 MiB upload over a slow link
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new RestServerError(`unable to listen on ${opts.listen ?? '127.0.0.1:8000'}: ${err.message}`)));
    server.listen({ host, port }, () => resolve());
  });
  server.on('error', (err) => log(`ERROR: ${err.message}`));
  const addr = server.address() as AddressInfo;
  const urlHost = !host || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${tlsOpts ? 'https' : 'http'}://${urlHost}:${addr.port}/`;
  log(`data directory: ${root}`);
  log(
    `authentication ${htpasswd ? `enabled (${htpasswd.file})` : 'disabled'}; append-only ${opts.appendOnly ? 'on' : 'off'}; private repositories ${opts.privateRepos ? 'on' : 'off'}${quota ? `; quota ${quota.max} bytes (${quota.used} used)` : ''}`,
  );
  log(`listening on ${url}`);

  let closed: Promise<void> | undefined;
  return {
    url,
    host: addr.address,
    port: addr.port,
    metrics,
    reloadHtpasswd() {
      htpasswd?.reload();
    },
    close() {
      closed ??= (async () => {
        closing = true;
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        if (active.size > 0) {
          const timeout = opts.closeTimeoutMs ?? 30_000;
          await new Promise<void>((resolve) => {
            idle = resolve;
            const t = setTimeout(resolve, timeout);
            t.unref();
          });
        }
        server.closeAllConnections();
        await stopped;
      })();
      return closed;
    },
  };
}

function ignoreExists(err: unknown): void {
  if (errCode(err) !== 'EEXIST') throw err;
}

async function exists(file: string): Promise<boolean> {
  try {
    await fsp.lstat(file);
    return true;
  } catch (err) {
    if (errCode(err) === 'ENOENT' || errCode(err) === 'ENOTDIR') return false;
    throw err;
  }
}

async function writeAll(fh: fsp.FileHandle, data: Buffer): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off);
    off += bytesWritten;
  }
}

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
import fs, { type Dirent } from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { errCode } from '../errors.js';
import { handle } from './handlers.js';
import { Htpasswd } from './htpasswd.js';
import { Metrics } from './metrics.js';
import { send } from './responses.js';
import { DEFAULT_MAX_UPLOAD, MAX_FOLDER_DEPTH, RestServerError, type RestServerOptions, type ServerState } from './state.js';

export { RestServerError, type RestServerOptions } from './state.js';

const DEFAULT_LISTEN = '127.0.0.1:8000';

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

export async function startRestServer(opts: RestServerOptions): Promise<RestServer> {
  const log = opts.log ?? (() => {});
  if (!opts.path) throw new RestServerError('the data directory (--path) is required');
  const root = path.resolve(opts.path);
  const { host, port } = parseListen(opts.listen ?? DEFAULT_LISTEN);
  const s = await prepareState(opts, root, log);
  const tlsOpts = loadTls(opts, root);
  const inFlight = new InFlight();
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    inFlight.track(res);
    handle(s, req, res).catch((err: unknown) => {
      log(`ERROR: ${req.method} ${req.url}: ${(err as Error)?.message ?? String(err)}`);
      if (!res.headersSent) send(res, 500);
      else res.destroy();
    });
  };
  const server = tlsOpts ? https.createServer(tlsOpts, onRequest) : http.createServer(onRequest);
  server.requestTimeout = 15 * 60_000; // a 160 MiB upload over a slow link
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  const addr = await listen(server, s, host, port);
  const urlHost = !host || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${tlsOpts ? 'https' : 'http'}://${urlHost}:${addr.port}/`;
  logStartup(s, url);
  const sweeper = startTempSweeper(s);
  let closed: Promise<void> | undefined;
  return {
    url,
    host: addr.address,
    port: addr.port,
    metrics: s.metrics,
    reloadHtpasswd() {
      s.htpasswd?.reload();
    },
    close() {
      clearInterval(sweeper);
      closed ??= shutdown(s, server, inFlight);
      return closed;
    },
  };
}

function parseListen(listen: string): { host?: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(listen);
  if (!m) throw new RestServerError(`invalid listen address ${JSON.stringify(listen)} (use host:port, e.g. 127.0.0.1:8000)`);
  const port = Number(m[3]);
  if (port > 65535) throw new RestServerError(`invalid port in listen address ${JSON.stringify(listen)}`);
  const host = m[1] ?? m[2];
  return { host: host ? host : undefined, port };
}

/** Create the data directory, load the htpasswd file and tally the quota. */
async function prepareState(opts: RestServerOptions, root: string, log: (line: string) => void): Promise<ServerState> {
  const dirMode = opts.groupAccessibleRepos ? 0o770 : 0o700;
  try {
    await fsp.mkdir(root, { recursive: true, mode: dirMode });
  } catch (err) {
    throw new RestServerError(`cannot create data directory ${root}: ${(err as Error).message}`);
  }
  const htpasswd = opts.noAuth ? undefined : loadHtpasswd(opts.htpasswdFile ?? path.join(root, '.htpasswd'), log);
  return {
    opts,
    log,
    root,
    dirMode,
    fileMode: opts.groupAccessibleRepos ? 0o660 : 0o600,
    maxUpload: opts.maxUploadSize ?? DEFAULT_MAX_UPLOAD,
    htpasswd,
    quota: opts.maxSize && opts.maxSize > 0 ? { max: opts.maxSize, used: await tallySize(root) } : undefined,
    metrics: new Metrics(),
    closing: false,
  };
}

function loadHtpasswd(file: string, log: (line: string) => void): Htpasswd {
  let htpasswd: Htpasswd;
  try {
    htpasswd = Htpasswd.load(file, (m) => log(`htpasswd: ${m}`));
  } catch (err) {
    throw new RestServerError(
      `${(err as Error).message}; authentication is on by default: create the file (e.g. htpasswd -B -c ${file} USER) or start with --no-auth`,
    );
  }
  if (htpasswd.size === 0) log(`warning: ${file} has no users; every request will be refused`);
  return htpasswd;
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

function loadTls(opts: RestServerOptions, root: string): https.ServerOptions | undefined {
  if (!opts.tls) {
    if (opts.tlsCert || opts.tlsKey) throw new RestServerError('--tls-cert and --tls-key require --tls');
    return undefined;
  }
  const certFile = opts.tlsCert ?? path.join(root, 'public_key');
  const keyFile = opts.tlsKey ?? path.join(root, 'private_key');
  try {
    return {
      cert: fs.readFileSync(certFile),
      key: fs.readFileSync(keyFile),
      minVersion: opts.tlsMinVersion === '1.3' ? 'TLSv1.3' : 'TLSv1.2',
    };
  } catch (err) {
    throw new RestServerError(`cannot load TLS certificate or key: ${(err as Error).message}`);
  }
}

async function listen(server: http.Server, s: ServerState, host: string | undefined, port: number): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new RestServerError(`unable to listen on ${s.opts.listen ?? DEFAULT_LISTEN}: ${err.message}`)));
    server.listen({ host, port }, () => resolve());
  });
  server.on('error', (err) => s.log(`ERROR: ${err.message}`));
  return server.address() as AddressInfo;
}

function logStartup(s: ServerState, url: string): void {
  const { opts, htpasswd, quota } = s;
  s.log(`data directory: ${s.root}`);
  s.log(
    `authentication ${htpasswd ? `enabled (${htpasswd.file})` : 'disabled'}; append-only ${opts.appendOnly ? 'on' : 'off'}; private repositories ${opts.privateRepos ? 'on' : 'off'}${quota ? `; quota ${quota.max} bytes (${quota.used} used)` : ''}`,
  );
  s.log(`listening on ${url}`);
}

/** The responses not yet closed, so close() can wait for them. */
class InFlight {
  private readonly active = new Set<http.ServerResponse>();
  private idle: (() => void) | undefined;

  get size(): number {
    return this.active.size;
  }

  track(res: http.ServerResponse): void {
    this.active.add(res);
    res.on('close', () => {
      this.active.delete(res);
      if (this.active.size === 0) this.idle?.();
    });
  }

  /** Resolves when no response is open any more, or after timeoutMs. */
  settled(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.idle = resolve;
      const t = setTimeout(resolve, timeoutMs);
      t.unref();
    });
  }
}

/** Stop accepting connections, wait for requests in flight (up to closeTimeoutMs), then cut the rest. */
async function shutdown(s: ServerState, server: http.Server, inFlight: InFlight): Promise<void> {
  s.closing = true;
  const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  if (inFlight.size > 0) await inFlight.settled(s.opts.closeTimeoutMs ?? 30_000);
  server.closeAllConnections();
  await stopped;
  await s.htpasswd?.close();
}

/** Upload temp files (upload.ts names them `.<id>.tmp-<16 hex>`) of a server that was killed. */
const UPLOAD_TEMP_RE = /^\.(?:[0-9a-f]{64}|config)\.tmp-[0-9a-f]{16}$/;
/** A temp file untouched this long belongs to no upload in flight. */
const TEMP_MAX_AGE_MS = 60 * 60 * 1000;

/**
 * Remove upload temp files a killed server left: at start-up those last written before this
 * server started (minus a grace period), then every hour those an hour old.
 */
function startTempSweeper(s: ServerState): NodeJS.Timeout {
  const sweep = (olderThan: number) =>
    sweepTemps(s.root, olderThan, MAX_FOLDER_DEPTH + 2).then(
      (n) => n && s.log(`removed ${n} stale upload temp files`),
      (err: unknown) => s.log(`warning: temp file sweep failed: ${(err as Error)?.message ?? String(err)}`),
    );
  void sweep(Date.now() - 30_000);
  const t = setInterval(() => void sweep(Date.now() - TEMP_MAX_AGE_MS), TEMP_MAX_AGE_MS);
  t.unref();
  return t;
}

async function sweepTemps(dir: string, olderThan: number, depth: number): Promise<number> {
  let n = 0;
  let entries: Dirent[];
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && depth > 0 && !e.name.startsWith('.')) n += await sweepTemps(p, olderThan, depth - 1);
    else if (e.isFile() && UPLOAD_TEMP_RE.test(e.name)) {
      const st = await fsp.lstat(p).catch(() => undefined);
      if (
        st &&
        st.mtimeMs < olderThan &&
        (await fsp.rm(p, { force: true }).then(
          () => true,
          () => false,
        ))
      )
        n++;
    }
  }
  return n;
}

/**
 * Client of restic's REST protocol (v2 with v1 fallback), as spoken by restic/rest-server
 * and by our own `restic-ts rest-server`:
 *
 *   POST {base}/?create=true          create the layout
 *   HEAD|GET|POST|DELETE {base}/config
 *   GET  {base}/{type}/               list; v2 answers [{"name","size"}] with the v2 content type
 *   HEAD|GET|POST|DELETE {base}/{type}/{name}   (packs too: no data/XX level over REST)
 *
 * Every request carries `Accept: application/vnd.x.restic.rest.v2`; a listing is parsed as v2
 * only when the answer's Content-Type is exactly the v2 type, otherwise as v1 (a list of names,
 * followed by a HEAD per name for its size). Reads send `Range: bytes=a-b` and accept 200 or 206.
 * Connections are kept alive in a node:http agent and at most `connections` requests run at once
 * (node's own HTTP client: undici's import costs every remote command ~0.1 s of CPU at start).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { throwIfAborted, NotFoundError, ResticError, UsageError } from '../errors.js';
import {
  type Backend,
  type BackendOptions,
  type FileInfo,
  type FileType,
  type Handle,
  checkHandle,
  defaultLayoutDir,
  describeHandle,
  isIdName,
  type CallOptions,
} from './backend.js';
import { AuthenticationError, BackendRequestError, RetryBackend } from './retry.js';
import { Semaphore } from './semaphore.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS, faultOptions, parseIntOption } from './options.js';

const CONTENT_TYPE_V2 = 'application/vnd.x.restic.rest.v2';

export interface RestBackendOptions {
  /** HTTP basic auth; taken from the URL when it has `user:pass@`. */
  username?: string;
  password?: string;
  /** Extra trusted CA certificates (PEM text or buffers), added to the system roots. */
  ca?: Array<string | Buffer>;
  /** Accept any TLS certificate (only when explicitly asked for). */
  insecureTls?: boolean;
  /** TLS client certificate and private key, PEM (restic's --tls-client-cert file). */
  clientCert?: Buffer;
  /** Parallel requests (restic: `-o rest.connections`, default 5). */
  connections?: number;
  /** Headers and body inactivity timeout in ms (default 30 s). */
  timeoutMs?: number;
  /** Time to open a connection (TCP and TLS) in ms (default 10 s). */
  connectTimeoutMs?: number;
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Read CA files given with --cacert into PEM buffers (a clear error when a file is missing). */
function readCaFiles(files: string[]): Buffer[] {
  return files.map((f) => {
    try {
      return fs.readFileSync(f);
    } catch (err) {
      throw new UsageError(`cannot read CA certificate ${f}: ${(err as Error).message}`);
    }
  });
}

/** restic's --tls-client-cert file: certificate and private key in one PEM file. */
function readClientCert(file: string): Buffer {
  let pem: Buffer;
  try {
    pem = fs.readFileSync(file);
  } catch (err) {
    throw new UsageError(`unable to read client certificate/key pair: ${(err as Error).message}`);
  }
  const text = pem.toString();
  if (!/-----BEGIN [A-Z ]*CERTIFICATE-----/.test(text) || !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text))
    throw new UsageError(`unable to read client certificate/key pair: ${file} must hold a PEM certificate and its private key`);
  return pem;
}

interface Exchange {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The answer, written into `Into.alloc(length)` (a 206 of exactly that length only). */
  into?: Uint8Array;
}

/** Where a ranged answer of a known length goes instead of fresh memory. */
interface Into {
  length: number;
  alloc: (n: number) => Uint8Array;
}

/** A network error with a code, as node's own errors carry one. */
function codedError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

export class RestBackend implements Backend {
  readonly location: string;
  /** Base URL without credentials, ending in "/". */
  readonly baseUrl: string;
  private readonly auth?: string;
  private readonly agent: http.Agent;
  /** Requests in flight: close() lets them finish before it drops the connections. */
  private readonly inFlight = new Set<Promise<Exchange>>();
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly sem: Semaphore;
  /** A refused connection before the first answer means a wrong address: fail fast. */
  private everConnected = false;

  constructor(url: string, opts: RestBackendOptions = {}) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new UsageError(`invalid REST URL ${JSON.stringify(redact(url))}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new UsageError(`REST URL must start with http:// or https://, got ${redact(url)}`);
    if (u.search || u.hash) throw new UsageError(`REST URL must not have a query or fragment: ${redact(url)}`);
    const username = u.username ? decodeURIComponent(u.username) : opts.username;
    const password = u.password ? decodeURIComponent(u.password) : opts.password;
    u.username = '';
    u.password = '';
    if (!u.pathname.endsWith('/')) u.pathname += '/';
    this.baseUrl = u.toString();
    const shown = new URL(this.baseUrl);
    if (username) shown.username = encodeURIComponent(username);
    this.location = `rest:${shown.toString()}`;
    if (username !== undefined && username !== '') {
      this.auth = 'Basic ' + Buffer.from(`${username}:${password ?? ''}`, 'utf8').toString('base64');
    }
    const connections = opts.connections ?? 5;
    if (!Number.isInteger(connections) || connections < 1) throw new UsageError(`invalid number of REST connections: ${connections}`);
    const timeout = opts.timeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.sem = new Semaphore(connections);
    this.timeoutMs = timeout;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const agentOptions: https.AgentOptions = { keepAlive: true, maxSockets: connections };
    this.agent =
      u.protocol === 'https:'
        ? new https.Agent({
            ...agentOptions,
            rejectUnauthorized: !opts.insecureTls,
            ...(opts.ca?.length ? { ca: [...tls.rootCertificates, ...opts.ca.map((c) => c.toString())] } : {}),
            // one PEM file holds both: each parser takes the blocks of its own kind
            ...(opts.clientCert ? { cert: opts.clientCert, key: opts.clientCert } : {}),
          })
        : new http.Agent(agentOptions);
  }

  /**
   * `rest:http(s)://[user:pass@]host[:port]/path/` → a RestBackend wrapped in RetryBackend.
   * Credentials from the URL win over RESTIC_REST_USERNAME/RESTIC_REST_PASSWORD, then chectl's
   * REST_SERVER_USERNAME/REST_SERVER_PASSWORD. Extended options: `rest.connections`,
   * `rest.timeout` (idle; seconds, or with an ms/s/m suffix), `rest.connect-timeout`,
   * `rest.retries`, `rest.max-retry-time`.
   */
  static fromLocation(location: string, opts: BackendOptions = {}): Backend {
    const env = opts.env ?? process.env;
    const ext = opts.extended ?? {};
    const url = location.replace(/^rest:/, '');
    const connections = ext['rest.connections'] !== undefined ? parseIntOption('rest.connections', ext['rest.connections'], 1) : undefined;
    const { retries, budgetMs, timeoutMs, connectTimeoutMs } = faultOptions('rest', ext, opts.stuckRequestTimeoutMs);
    const be = new RestBackend(url, {
      username: env.RESTIC_REST_USERNAME || env.REST_SERVER_USERNAME || undefined,
      password: env.RESTIC_REST_PASSWORD ?? env.REST_SERVER_PASSWORD,
      ca: opts.cacert?.length ? readCaFiles(opts.cacert) : undefined,
      insecureTls: opts.insecureTls,
      clientCert: opts.tlsClientCert ? readClientCert(opts.tlsClientCert) : undefined,
      connections,
      timeoutMs,
      connectTimeoutMs,
    });
    return new RetryBackend(be, { retries, budgetMs });
  }

  private url(h: Handle): string {
    checkHandle(h);
    if (h.type === 'config') return this.baseUrl + 'config';
    return `${this.baseUrl}${defaultLayoutDir(h.type)}/${encodeURIComponent(h.name)}`;
  }

  /** One HTTP exchange; network failures become BackendRequestErrors with a clear message. */
  private async send(
    method: string,
    url: string,
    headers: Record<string, string> = {},
    body?: Uint8Array | fs.ReadStream,
    signal?: AbortSignal,
    into?: Into,
  ): Promise<Exchange> {
    const h: Record<string, string> = { accept: CONTENT_TYPE_V2, ...headers };
    if (this.auth) h.authorization = this.auth;
    if (body instanceof Uint8Array) h['content-length'] = String(body.length);
    await this.sem.acquire();
    try {
      let res: Exchange;
      try {
        const p = this.exchange(method, url, h, body, signal, into);
        this.inFlight.add(p);
        res = await p.finally(() => this.inFlight.delete(p));
      } catch (err) {
        throwIfAborted(signal, `${method} ${redact(url)}`);
        throw this.networkError(method, url, err);
      }
      this.everConnected = true;
      return res;
    } finally {
      this.sem.release();
    }
  }

  /** One request and its whole answer over the keep-alive agent; rejects on network errors. */
  private exchange(
    method: string,
    url: string,
    headers: Record<string, string>,
    body?: Uint8Array | fs.ReadStream,
    signal?: AbortSignal,
    into?: Into,
  ): Promise<Exchange> {
    return new Promise((resolve, reject) => {
      const mod = url.startsWith('https:') ? https : http;
      const req = mod.request(url, { method, headers, agent: this.agent, signal, timeout: this.timeoutMs });
      let connectTimer: NodeJS.Timeout | undefined;
      const fail = (err: Error): void => {
        clearTimeout(connectTimer);
        reject(err);
      };
      req.on('socket', (sock) => {
        if (!sock.connecting) return; // a kept-alive connection
        connectTimer = setTimeout(
          () => req.destroy(codedError(`connect timeout after ${this.connectTimeoutMs} ms`, 'ETIMEDOUT')),
          this.connectTimeoutMs,
        );
        sock.once(mod === https ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
      });
      req.on('timeout', () => req.destroy(codedError(`idle timeout: no data for ${this.timeoutMs} ms`, 'ETIMEDOUT')));
      req.on('error', fail);
      req.on('response', (res) => {
        clearTimeout(connectTimer);
        const take = into && res.statusCode === 206 && Number(res.headers['content-length']) === into.length;
        const out = take ? into.alloc(into.length) : undefined;
        const chunks: Buffer[] = [];
        let pos = 0;
        res.on('data', (c: Buffer) => {
          if (!out) return void chunks.push(c);
          if (pos + c.length > out.length) return void res.destroy(codedError('more bytes than the Content-Length', 'ECONNRESET'));
          out.set(c, pos);
          pos += c.length;
        });
        res.on('error', fail);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), into: out }));
        res.on('close', () => {
          if (!res.complete) fail(codedError('connection closed before the answer was complete', 'ECONNRESET'));
        });
      });
      if (body instanceof Uint8Array || body === undefined) req.end(body);
      else body.on('error', (err) => req.destroy(err)).pipe(req);
    });
  }

  private networkError(method: string, url: string, err: unknown): ResticError {
    const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
    const code = e?.code ?? e?.cause?.code;
    const where = this.location;
    if (code === 'ECONNREFUSED') {
      return new BackendRequestError(`cannot connect to ${where}: connection refused`, this.everConnected, undefined, { cause: err });
    }
    if (code === 'ENOTFOUND')
      return new BackendRequestError(`cannot connect to ${where}: host not found`, false, undefined, { cause: err });
    if (code && TLS_CODES.has(code)) {
      return new BackendRequestError(
        `TLS certificate of ${where} is not trusted (${code}); pass its CA with --cacert FILE (or --insecure-tls to skip verification)`,
        false,
        undefined,
        { cause: err },
      );
    }
    const transient = code === undefined || !/^ERR_(INVALID|TLS)/.test(code);
    const detail = e?.message ?? String(err);
    return new BackendRequestError(
      `${method} ${redact(url)}: ${detail}${code && !detail.includes(code) ? ` (${code})` : ''}`,
      transient,
      undefined,
      { cause: err },
    );
  }

  /** Errors for unexpected statuses: auth → AuthenticationError, 5xx → transient. */
  private statusError(op: string, status: number, body: Buffer): ResticError {
    const text = body.toString('utf8', 0, Math.min(body.length, 200)).split('\n')[0]!.trim();
    const detail = `HTTP ${status}${text ? ` ${text}` : ''}`;
    if (status === 401) {
      return new AuthenticationError(`authentication failed at ${this.location} (${detail}): wrong or missing user name or password`);
    }
    if (status === 507) return new BackendRequestError(`${op}: the server is out of space or over its quota (${detail})`, false, status);
    const transient = status >= 500 ? status !== 501 && status !== 505 : status === 408 || status === 429;
    return new BackendRequestError(`${op}: server answered ${detail}`, transient, status);
  }

  async create(opts?: CallOptions): Promise<void> {
    throwIfAborted(opts?.signal);
    const st = await this.send('HEAD', this.baseUrl + 'config', {}, undefined, opts?.signal);
    if (st.status === 200) throw new ResticError(`config file already exists at ${this.location}`);
    if (st.status !== 404) throw this.statusError(`check for config file at ${this.location}`, st.status, st.body);
    const res = await this.send(
      'POST',
      this.baseUrl + '?create=true',
      { 'content-type': 'binary/octet-stream' },
      new Uint8Array(0),
      opts?.signal,
    );
    if (res.status !== 200) throw this.statusError(`create repository at ${this.location}`, res.status, res.body);
  }

  async save(h: Handle, data: Uint8Array, opts?: CallOptions): Promise<void> {
    throwIfAborted(opts?.signal);
    const url = this.url(h);
    const res = await this.send('POST', url, { 'content-type': 'application/octet-stream' }, data, opts?.signal);
    if (res.status === 200) return;
    if (res.status === 403 && (await this.alreadyStored(h, data))) return;
    throw this.saveError(h, res);
  }

  /** save() streamed from a file (a pack spooled to disk): never whole in memory. */
  async saveFile(h: Handle, file: string, opts?: CallOptions): Promise<void> {
    throwIfAborted(opts?.signal);
    const size = (await fs.promises.stat(file)).size;
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(size) };
    const res = await this.send('POST', this.url(h), headers, fs.createReadStream(file), opts?.signal);
    if (res.status === 200) return;
    // As alreadyStored(): the server checked the stored file's SHA-256 against its name.
    if (
      res.status === 403 &&
      h.type !== 'config' &&
      (await this.stat(h).then(
        (fi) => fi.size === size,
        () => false,
      ))
    )
      return;
    throw this.saveError(h, res);
  }

  private saveError(h: Handle, res: { status: number; body: Buffer }): Error {
    if (res.status === 403) {
      return new BackendRequestError(
        `save ${describeHandle(h)}: the server refused to store it (HTTP 403: it exists with other content, or writing is not allowed)`,
        false,
        403,
      );
    }
    return this.statusError(`save ${describeHandle(h)}`, res.status, res.body);
  }

  /**
   * rest-server answers 403 when the file exists. A retried upload whose first attempt
   * did arrive ends here: it is a success when the stored file holds the same bytes. The
   * server checks that a file's SHA-256 equals its name, so for ID-named files a matching
   * size suffices; other files (config) are compared byte by byte.
   */
  private async alreadyStored(h: Handle, data: Uint8Array): Promise<boolean> {
    try {
      if (h.type !== 'config' && createHash('sha256').update(data).digest('hex') === h.name) {
        return (await this.stat(h)).size === data.length;
      }
      const stored = await this.load(h);
      return Buffer.from(stored.buffer, stored.byteOffset, stored.length).equals(data);
    } catch {
      return false;
    }
  }

  /**
   * A ranged load streamed into `alloc(length)` (a recycled buffer): the response is never
   * gathered in fresh memory. Anything but a plain 206 of the right size goes through load(),
   * which explains it (missing file, range beyond the end, a server ignoring ranges).
   */
  async loadInto(h: Handle, offset: number, length: number, alloc: (n: number) => Uint8Array, opts?: CallOptions): Promise<Uint8Array> {
    if (!(length > 0) || !Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length))
      return this.load(h, offset, length, opts);
    throwIfAborted(opts?.signal);
    const range = `bytes=${offset}-${offset + length - 1}`;
    const res = await this.send('GET', this.url(h), { range }, undefined, opts?.signal, { length, alloc });
    return res.into ?? this.load(h, offset, length, opts);
  }

  async load(h: Handle, offset = 0, length = 0, opts?: CallOptions): Promise<Uint8Array> {
    throwIfAborted(opts?.signal);
    const url = this.url(h);
    if (!Number.isSafeInteger(offset) || offset < 0) throw new ResticError(`load ${describeHandle(h)}: invalid offset ${offset}`);
    if (!Number.isSafeInteger(length) || length < 0) throw new ResticError(`load ${describeHandle(h)}: invalid length ${length}`);
    const range = length > 0 ? `bytes=${offset}-${offset + length - 1}` : `bytes=${offset}-`;
    const res = await this.send('GET', url, { range }, undefined, opts?.signal);
    const op = `load ${describeHandle(h)}`;
    if (res.status === 404) throw new NotFoundError(`${describeHandle(h)} does not exist at ${this.location}`);
    if (res.status === 416) {
      // An offset exactly at the end is an empty read (HTTP calls that range unsatisfiable).
      const size = totalFromContentRange(res.headers['content-range']) ?? (await this.stat(h)).size;
      if (offset === size && length === 0) return new Uint8Array(0);
      throw new ResticError(`${op}: range offset ${offset}, length ${length} is beyond the end of the file (${size} bytes)`);
    }
    if (res.status === 403) throw new AuthenticationError(`${op}: access denied by ${this.location} (HTTP 403)`);
    if (res.status !== 200 && res.status !== 206) throw this.statusError(op, res.status, res.body);
    let body = res.body;
    if (res.status === 200) {
      // The server ignored the range and sent the whole file.
      if (offset > body.length) throw new ResticError(`${op}: offset ${offset} is beyond the end of the file (${body.length} bytes)`);
      body = body.subarray(offset, length > 0 ? offset + length : undefined);
    } else {
      const total = totalFromContentRange(res.headers['content-range']);
      if (length > 0 && total !== undefined && offset + length > total) {
        throw new ResticError(`${op}: range offset ${offset}, length ${length} is beyond the end of the file (${total} bytes)`);
      }
    }
    if (length > 0 && body.length !== length) {
      if (res.status === 200) throw new ResticError(`${op}: file has ${res.body.length} bytes, wanted ${length} at offset ${offset}`);
      throw new BackendRequestError(`${op}: got ${body.length} bytes, wanted ${length} at offset ${offset}`, true);
    }
    return new Uint8Array(body.buffer, body.byteOffset, body.length);
  }

  async stat(h: Handle, opts?: CallOptions): Promise<FileInfo> {
    throwIfAborted(opts?.signal);
    const res = await this.send('HEAD', this.url(h), {}, undefined, opts?.signal);
    if (res.status === 404) throw new NotFoundError(`${describeHandle(h)} does not exist at ${this.location}`);
    if (res.status === 403) throw new AuthenticationError(`stat ${describeHandle(h)}: access denied by ${this.location} (HTTP 403)`);
    if (res.status !== 200) throw this.statusError(`stat ${describeHandle(h)}`, res.status, res.body);
    const size = Number(res.headers['content-length']);
    if (!Number.isSafeInteger(size) || size < 0)
      throw new BackendRequestError(`stat ${describeHandle(h)}: missing or invalid Content-Length`, false);
    return { name: h.name, size };
  }

  async *list(type: FileType, opts?: CallOptions): AsyncGenerator<FileInfo> {
    throwIfAborted(opts?.signal);
    if (type === 'config') return;
    const op = `list ${type} files`;
    const res = await this.send('GET', `${this.baseUrl}${defaultLayoutDir(type)}/`, {}, undefined, opts?.signal);
    if (res.status === 404) return; // no such directory: nothing stored yet
    if (res.status === 403) throw new AuthenticationError(`${op}: access denied by ${this.location} (HTTP 403)`);
    if (res.status !== 200) throw this.statusError(op, res.status, res.body);
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.body.toString('utf8'));
    } catch (err) {
      throw new BackendRequestError(`${op}: the server sent invalid JSON: ${(err as Error).message}`, false);
    }
    if (!Array.isArray(parsed)) throw new BackendRequestError(`${op}: the server sent no JSON list`, false);
    const ctype = res.headers['content-type'];
    if (ctype === CONTENT_TYPE_V2) {
      for (const item of parsed as unknown[]) {
        const it = item as { name?: unknown; size?: unknown };
        if (typeof it?.name !== 'string' || typeof it.size !== 'number' || !Number.isSafeInteger(it.size) || it.size < 0) {
          throw new BackendRequestError(`${op}: malformed v2 list entry ${JSON.stringify(item)}`, false);
        }
        if (isIdName(it.name)) yield { name: it.name, size: it.size };
      }
      return;
    }
    // API v1: names only; sizes come from a HEAD each (in parallel, bounded by the semaphore).
    const names = (parsed as unknown[]).filter((n): n is string => typeof n === 'string' && isIdName(n));
    const BATCH = 32;
    for (let i = 0; i < names.length; i += BATCH) {
      const infos = await Promise.all(
        names.slice(i, i + BATCH).map((name) =>
          this.stat({ type, name }).catch((err: unknown) => {
            if (err instanceof NotFoundError) return undefined; // removed meanwhile
            throw err;
          }),
        ),
      );
      for (const fi of infos) if (fi) yield fi;
    }
  }

  async remove(h: Handle, opts?: CallOptions): Promise<void> {
    throwIfAborted(opts?.signal);
    const res = await this.send('DELETE', this.url(h), {}, undefined, opts?.signal);
    if (res.status === 200 || res.status === 204 || res.status === 404) return;
    if (res.status === 403) {
      throw new BackendRequestError(
        `remove ${describeHandle(h)}: the server refused the deletion (HTTP 403; is the repository append-only?)`,
        false,
        403,
      );
    }
    throw this.statusError(`remove ${describeHandle(h)}`, res.status, res.body);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
    this.agent.destroy();
  }
}

function totalFromContentRange(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  const m = s ? /\/(\d+)\s*$/.exec(s) : null;
  return m ? Number(m[1]) : undefined;
}

/** A URL for messages: the password replaced. */
function redact(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*):[^/@]*@/i, '$1:***@');
}

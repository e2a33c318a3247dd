/**
 * S3 backend (AWS S3 and S3-compatible stores such as Ceph radosgw or MinIO) on
 * @aws-sdk/client-s3, in restic's default layout under an optional prefix:
 * `<prefix>/config`, `<prefix>/keys/<id>`, `<prefix>/data/<id[0:2]>/<id>`, … No marker objects.
 *
 * Locations (restic's syntax):
 *   s3:host[:port]/bucket[/prefix]               https
 *   s3:http(s)://host[:port]/bucket[/prefix]
 *   s3:s3.amazonaws.com/bucket[/prefix]          AWS, region from s3.region / AWS_DEFAULT_REGION
 * Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY [/ AWS_SESSION_TOKEN], else the SDK's
 * default chain (shared credentials file, instance metadata). Options: `-o s3.region=…`,
 * `-o s3.bucket-lookup=auto|path|dns` (auto: virtual-hosted style for AWS, path style
 * elsewhere), `-o s3.connections=N` (parallel requests, default 5 like restic),
 * `-o s3.retries=N` (see fromLocation), `-o s3.timeout=30s` (a request with no progress for this
 * long fails and is retried; default 120 s).
 *
 * The SDK's flexible checksums are set to WHEN_REQUIRED: with the newer defaults a streamed
 * body goes out as `aws-chunked` with a trailing checksum, which Ceph rejects (411) and some
 * S3 look-alikes store verbatim. We always upload whole Buffers with Content-Length and a
 * Content-MD5 (the server verifies it, as restic's minio client asks it to).
 *
 * The SDK is imported on first use so opening a local repository does not pay for it.
 * Retries: locations opened with fromLocation() go through the shared RetryBackend
 * (retry.ts: capped exponential backoff for timeouts, resets, 5xx and throttling; none for
 * refused credentials, other 4xx or missing objects). A bare S3Backend uses the SDK's
 * standard strategy (`maxAttempts`, default 3) instead.
 */
import { createHash } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type * as SdkModule from '@aws-sdk/client-s3';
import type { S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { throwIfAborted, NotFoundError, ResticError, UsageError } from '../errors.js';
import {
  type Backend,
  type FileInfo,
  type FileType,
  type Handle,
  checkHandle,
  defaultLayoutDir,
  defaultLayoutPath,
  describeHandle,
  FILE_TYPES,
  isIdName,
  type CallOptions,
  type SaveOptions,
} from './backend.js';
import { AuthenticationError, BackendRequestError, RetryBackend } from './retry.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS, faultOptions } from './options.js';
import { Semaphore } from './semaphore.js';
import { requireOptional } from './optional.js';

type Sdk = typeof SdkModule;

export type BucketLookup = 'auto' | 'path' | 'dns';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3BackendOptions {
  /** `http(s)://host[:port]`; undefined means AWS itself (endpoint resolved from the region). */
  endpoint?: string;
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing slash ('' = bucket root). */
  prefix?: string;
  /** Signing region; default us-east-1. */
  region?: string;
  /** auto (default): virtual-hosted style on AWS, path style for any other endpoint. */
  bucketLookup?: BucketLookup;
  /** Static credentials; undefined uses the SDK's default provider chain. */
  credentials?: S3Credentials;
  /** Maximum number of requests in flight (default 5, restic's default). */
  connections?: number;
  /** A request with no socket activity for this long fails with a (transient) timeout; default 30 s. */
  timeoutMs?: number;
  /** Time to open a connection; default 10 s. */
  connectTimeoutMs?: number;
  /** Total attempts per request including the first (SDK retry strategy; default 3; 1 = none). */
  maxAttempts?: number;
  /** Human-readable location for messages (default derived from endpoint/bucket/prefix). */
  location?: string;
}

/**
 * A failed S3 request (unreachable endpoint, server error, refused request) as a one-line
 * message; `transient` tells the retry wrapper whether another attempt may succeed. Refused
 * credentials are AuthenticationError instead, missing objects and buckets NotFoundError.
 */
export class S3Error extends BackendRequestError {
  constructor(
    message: string,
    transient: boolean,
    /** S3 error code (NoSuchBucket, SlowDown, …) or errno code (ECONNREFUSED, …). */
    readonly s3Code: string | undefined,
    status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, transient, status, options);
  }
}

const DEFAULT_REGION = 'us-east-1';
const DEFAULT_CONNECTIONS = 5;
const AWS_HOST_RE = /(^|\.)amazonaws\.com(\.cn)?$/i;

// ---------------------------------------------------------------------------------------
// Location parsing

export interface ParsedS3Location {
  /** `http(s)://host[:port]` */
  endpoint: string;
  host: string;
  bucket: string;
  prefix: string;
}

/** Parse `s3:…` as restic 0.14 does (the prefix is path.Clean'ed; no prefix = bucket root). */
export function parseS3Location(location: string): ParsedS3Location {
  if (!location.startsWith('s3:')) throw new UsageError(`invalid S3 location ${JSON.stringify(location)}: must start with "s3:"`);
  let rest = location.slice(3);
  let scheme = 'https';
  let host: string;
  let pathPart: string;
  if (/^https?:\/\//i.test(rest)) {
    let url: URL;
    try {
      url = new URL(rest);
    } catch {
      throw new UsageError(`invalid S3 location ${JSON.stringify(location)}: not a valid URL`);
    }
    if (url.username || url.password)
      throw new UsageError(
        `invalid S3 location ${JSON.stringify(location)}: credentials belong in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY`,
      );
    if (url.search || url.hash) throw new UsageError(`invalid S3 location ${JSON.stringify(location)}: unexpected query or fragment`);
    scheme = url.protocol.slice(0, -1).toLowerCase();
    host = url.host;
    pathPart = decodeURIComponent(url.pathname.replace(/^\//, ''));
  } else {
    if (rest.startsWith('//')) rest = rest.slice(2); // s3://host/bucket
    const slash = rest.indexOf('/');
    host = slash < 0 ? rest : rest.slice(0, slash);
    pathPart = slash < 0 ? '' : rest.slice(slash + 1);
  }
  if (!host) throw new UsageError(`invalid S3 location ${JSON.stringify(location)}: host not found`);
  const slash = pathPart.indexOf('/');
  const bucket = slash < 0 ? pathPart : pathPart.slice(0, slash);
  if (!bucket) throw new UsageError(`invalid S3 location ${JSON.stringify(location)}: bucket name not found`);
  const prefix = cleanPrefix(slash < 0 ? '' : pathPart.slice(slash + 1));
  return { endpoint: `${scheme}://${host}`, host, bucket, prefix };
}

/** Go's path.Clean for a relative key prefix; '' for none. */
function cleanPrefix(p: string): string {
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return out.join('/');
}

export interface S3LocationContext {
  env?: NodeJS.ProcessEnv;
  /** `-o key=value` options; only `s3.*` keys are looked at. */
  extended?: Record<string, string>;
  /** `--stuck-request-timeout` in ms (the default for `s3.timeout`). */
  stuckRequestTimeoutMs?: number;
}

const S3_OPTIONS = [
  's3.region',
  's3.bucket-lookup',
  's3.connections',
  's3.retries',
  's3.timeout',
  's3.connect-timeout',
  's3.max-retry-time',
];

/** Backend options for an `s3:` location, from the environment and `-o s3.*` options. */
export function s3OptionsFromLocation(location: string, ctx: S3LocationContext = {}): S3BackendOptions {
  const env = ctx.env ?? process.env;
  const ext = ctx.extended ?? {};
  for (const k of Object.keys(ext)) {
    if (k.startsWith('s3.') && !S3_OPTIONS.includes(k))
      throw new UsageError(`option ${k} is not known (S3 options: ${S3_OPTIONS.join(', ')})`);
  }
  const parsed = parseS3Location(location);
  const lookup = (ext['s3.bucket-lookup'] ?? 'auto').toLowerCase();
  if (lookup !== 'auto' && lookup !== 'path' && lookup !== 'dns') {
    throw new UsageError(`bad bucket-lookup style ${JSON.stringify(ext['s3.bucket-lookup'])} must be "auto", "path" or "dns"`);
  }
  let connections: number | undefined;
  if (ext['s3.connections'] !== undefined) {
    connections = Number(ext['s3.connections']);
    if (!Number.isInteger(connections) || connections < 1)
      throw new UsageError(`invalid s3.connections ${JSON.stringify(ext['s3.connections'])}`);
  }
  const { timeoutMs, connectTimeoutMs } = faultOptions('s3', ext, ctx.stuckRequestTimeoutMs);
  const keyId = env.AWS_ACCESS_KEY_ID ?? '';
  const secret = env.AWS_SECRET_ACCESS_KEY ?? '';
  if (!keyId && secret) throw new UsageError('unable to open S3 backend: Key ID ($AWS_ACCESS_KEY_ID) is empty');
  if (keyId && !secret) throw new UsageError('unable to open S3 backend: Secret ($AWS_SECRET_ACCESS_KEY) is empty');
  const credentials = keyId
    ? { accessKeyId: keyId, secretAccessKey: secret, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) }
    : undefined;
  // s3.amazonaws.com is AWS's global name: let the SDK pick the regional endpoint.
  const isGlobalAws = parsed.host.toLowerCase() === 's3.amazonaws.com' && parsed.endpoint.startsWith('https:');
  return {
    endpoint: isGlobalAws ? undefined : parsed.endpoint,
    bucket: parsed.bucket,
    prefix: parsed.prefix,
    region: ext['s3.region'] || env.AWS_DEFAULT_REGION || DEFAULT_REGION,
    bucketLookup: lookup,
    credentials,
    connections,
    timeoutMs,
    connectTimeoutMs,
    location,
  };
}

// ---------------------------------------------------------------------------------------
// Backend

export class S3Backend implements Backend {
  readonly location: string;
  readonly bucket: string;
  readonly prefix: string;
  private readonly opts: S3BackendOptions;
  private readonly sem: Semaphore;
  private clientP?: Promise<{ sdk: Sdk; client: S3Client }>;
  private closed = false;
  /** Whether the endpoint ever answered (a refused connection after that is transient). */
  private answered = false;

  constructor(opts: S3BackendOptions) {
    if (!opts.bucket) throw new UsageError('S3: bucket name is empty');
    this.opts = opts;
    this.bucket = opts.bucket;
    this.prefix = cleanPrefix(opts.prefix ?? '');
    this.location =
      opts.location ?? `s3:${opts.endpoint ?? 'https://s3.amazonaws.com'}/${this.bucket}${this.prefix ? `/${this.prefix}` : ''}`;
    this.sem = new Semaphore(opts.connections ?? DEFAULT_CONNECTIONS);
  }

  /**
   * Open an `s3:` location with credentials from `env` and `-o s3.*` options, wrapped in the
   * shared RetryBackend (`-o s3.retries=N`, default 6 retries with capped exponential backoff);
   * the SDK's own retries are turned off so there is one retry policy.
   */
  static fromLocation(location: string, ctx: S3LocationContext = {}): Backend {
    const opts = s3OptionsFromLocation(location, ctx);
    const { retries, budgetMs } = faultOptions('s3', ctx.extended ?? {});
    return new RetryBackend(new S3Backend({ ...opts, maxAttempts: 1 }), { retries, budgetMs });
  }

  /** Object key of a file: `<prefix>/<default layout path>`. */
  key(h: Handle): string {
    checkHandle(h);
    return this.join(defaultLayoutPath(h));
  }

  private join(p: string): string {
    return this.prefix ? `${this.prefix}/${p}` : p;
  }

  private async sdk(): Promise<{ sdk: Sdk; client: S3Client }> {
    if (this.closed) throw new ResticError(`S3 backend ${this.location} is closed`);
    this.clientP ??= (async () => {
      // The SDK warns on Node 20 about releases after January 2027; our version is pinned.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
      const sdk = await requireOptional<Sdk>('@aws-sdk/client-s3', 's3');
      const o = this.opts;
      const onAws = o.endpoint === undefined || AWS_HOST_RE.test(new URL(o.endpoint).hostname);
      const lookup = o.bucketLookup ?? 'auto';
      const connections = o.connections ?? DEFAULT_CONNECTIONS;
      const agent = { keepAlive: true, maxSockets: connections };
      const client = new sdk.S3Client({
        ...(o.endpoint !== undefined ? { endpoint: o.endpoint } : {}),
        region: o.region ?? DEFAULT_REGION,
        forcePathStyle: lookup === 'path' || (lookup === 'auto' && !onAws),
        followRegionRedirects: onAws,
        ...(o.credentials ? { credentials: o.credentials } : {}),
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        maxAttempts: o.maxAttempts ?? 3,
        // socketTimeout is an inactivity limit (a stalled request or body fails, a slow but
        // moving 128 MiB upload does not); requestTimeout would only log a warning to stderr.
        requestHandler: {
          connectionTimeout: o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
          socketTimeout: o.timeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
          httpAgent: agent,
          httpsAgent: agent,
        },
      });
      return { sdk, client };
    })();
    return this.clientP;
  }

  /** One request under the connection limit, with errors mapped to typed one-liners. */
  private async request<T>(
    what: string,
    key: string | undefined,
    signal: AbortSignal | undefined,
    fn: (sdk: Sdk, client: S3Client) => Promise<T>,
  ): Promise<T> {
    const { sdk, client } = await this.sdk();
    await this.sem.acquire();
    try {
      // The caller's signal goes with every command sent for this request.
      const c = signal
        ? ({ send: (cmd: never, o?: object) => client.send(cmd, { ...o, abortSignal: signal }) } as unknown as S3Client)
        : client;
      const res = await fn(sdk, c);
      this.answered = true;
      return res;
    } catch (err) {
      throwIfAborted(signal, `S3: ${what} ${key ?? this.bucket}`);
      if (httpStatus(err) !== undefined) this.answered = true;
      throw this.mapError(err, what, key);
    } finally {
      this.sem.release();
    }
  }

  async create(opts?: CallOptions): Promise<void> {
    throwIfAborted(opts?.signal);
    const configKey = this.join('config');
    if (await this.exists(configKey)) throw new ResticError(`config file already exists at ${this.location}`);
    const present = await this.request('checking', undefined, opts?.signal, (sdk, c) =>
      c.send(new sdk.HeadBucketCommand({ Bucket: this.bucket })).then(
        () => true,
        (err: unknown) => {
          const status = httpStatus(err);
          if (status === 404 || errName(err) === 'NoSuchBucket' || errName(err) === 'NotFound') return false;
          if (status === 403) return true; // restic: access denied to HeadBucket → assume it exists
          throw err;
        },
      ),
    );
    if (present) return;
    await this.request('creating', undefined, opts?.signal, async (sdk, c) => {
      const region = this.opts.region ?? DEFAULT_REGION;
      try {
        await c.send(
          new sdk.CreateBucketCommand({
            Bucket: this.bucket,
            ...(region !== DEFAULT_REGION ? { CreateBucketConfiguration: { LocationConstraint: region as never } } : {}),
          }),
        );
      } catch (err) {
        if (errName(err) === 'BucketAlreadyOwnedByYou') return; // created concurrently
        throw err;
      }
    });
  }

  async save(h: Handle, data: Uint8Array, opts?: SaveOptions): Promise<void> {
    throwIfAborted(opts?.signal);
    const key = this.key(h);
    // A SHA-256 the caller has (the file's ID) is the signed payload hash: the server checks
    // the body against it, so the SDK need not hash the body, and a buffer reused by the
    // caller while the request is in flight cannot be stored. Otherwise a private copy.
    const sha256 = opts?.sha256;
    const body = sha256 ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data);
    const md5 = createHash('md5').update(body).digest('base64');
    await this.request('saving', key, opts?.signal, (sdk, c) => {
      const put = new sdk.PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentLength: body.length,
        ContentMD5: md5,
        ContentType: 'application/octet-stream',
      });
      if (sha256) put.middlewareStack.add(payloadHash(sha256) as never, { step: 'build', name: 'resticPayloadHash' });
      return c.send(put);
    });
  }

  async load(h: Handle, offset = 0, length = 0, opts?: CallOptions): Promise<Uint8Array> {
    throwIfAborted(opts?.signal);
    const key = this.key(h);
    if (!Number.isSafeInteger(offset) || offset < 0) throw new ResticError(`${describeHandle(h)}: invalid offset ${offset}`);
    if (!Number.isSafeInteger(length) || length < 0) throw new ResticError(`${describeHandle(h)}: invalid length ${length}`);
    let range: string | undefined;
    if (length > 0) range = `bytes=${offset}-${offset + length - 1}`;
    else if (offset > 0) range = `bytes=${offset}-`;
    let body: Uint8Array;
    let ranged: boolean;
    try {
      ({ body, ranged } = await this.request('loading', key, opts?.signal, async (sdk, c) => {
        const res = await c.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: key, Range: range }));
        const bytes = res.Body ? await res.Body.transformToByteArray() : new Uint8Array(0);
        if (res.ContentLength !== undefined && bytes.length !== res.ContentLength) {
          throw new S3Error(`S3: loading ${key}: body ended after ${bytes.length} of ${res.ContentLength} bytes`, true, undefined);
        }
        return { body: bytes, ranged: res.ContentRange !== undefined };
      }));
    } catch (err) {
      // An offset exactly at the end is an empty read (S3 answers 416 for `bytes=SIZE-`).
      if (err instanceof S3Error && err.status === 416 && length === 0) {
        const { size } = await this.stat(h);
        if (offset === size) return new Uint8Array(0);
        throw new ResticError(`${describeHandle(h)}: offset ${offset} is beyond the end of the file (${size} bytes)`, { cause: err });
      }
      if (err instanceof S3Error && err.status === 416) {
        throw new ResticError(`${describeHandle(h)}: unexpected EOF: wanted ${length} bytes at offset ${offset}`, { cause: err });
      }
      throw err;
    }
    // A server that ignores Range sends the whole object.
    if (range && !ranged) body = body.subarray(offset, length ? offset + length : undefined);
    if (length > 0 && body.length !== length) {
      throw new ResticError(`${describeHandle(h)}: unexpected EOF: wanted ${length} bytes at offset ${offset}, got ${body.length}`);
    }
    return body;
  }

  async stat(h: Handle, opts?: CallOptions): Promise<FileInfo> {
    throwIfAborted(opts?.signal);
    const key = this.key(h);
    const res = await this.request('checking', key, opts?.signal, (sdk, c) =>
      c.send(new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: key })),
    );
    return { name: h.name, size: res.ContentLength ?? 0 };
  }

  async *list(type: FileType, opts?: CallOptions): AsyncGenerator<FileInfo> {
    throwIfAborted(opts?.signal);
    if (type === 'config') return;
    if (!FILE_TYPES.includes(type)) throw new ResticError(`invalid file type ${JSON.stringify(type)}`);
    const dir = this.join(defaultLayoutDir(type)) + '/';
    // Packs live one level down (data/XX/ID); other types directly in their directory.
    const depth = type === 'pack' ? 2 : 1;
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.request('listing', dir, opts?.signal, (sdk, c) =>
          c.send(
            new sdk.ListObjectsV2Command({
              Bucket: this.bucket,
              Prefix: dir,
              ContinuationToken: token,
              ...(depth === 1 ? { Delimiter: '/' } : {}),
            }),
          ),
        );
      } catch (err) {
        // No bucket: nothing stored yet (like listing a local repository never created).
        if (err instanceof NotFoundError) return;
        throw err;
      }
      for (const obj of page.Contents ?? []) {
        if (!obj.Key?.startsWith(dir)) continue;
        const parts = obj.Key.slice(dir.length).split('/');
        const name = parts[parts.length - 1]!;
        if (parts.length !== depth || !isIdName(name)) continue;
        yield { name, size: obj.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated && !token)
        throw new S3Error(`S3: listing ${dir}: truncated listing without a continuation token`, false, undefined);
    } while (token);
  }

  async remove(h: Handle, opts?: CallOptions): Promise<void> {
    throwIfAborted(opts?.signal);
    const key = this.key(h);
    try {
      await this.request('removing', key, opts?.signal, (sdk, c) => c.send(new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: key })));
    } catch (err) {
      if (err instanceof NotFoundError) return;
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const p = this.clientP;
    this.clientP = undefined;
    if (p) (await p.catch(() => undefined))?.client.destroy();
  }

  private async exists(key: string): Promise<boolean> {
    try {
      await this.request('checking', key, undefined, (sdk, c) => c.send(new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: key })));
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  /** SDK and network errors → NotFoundError or a one-line S3Error. */
  private mapError(err: unknown, what: string, key: string | undefined): Error {
    if (err instanceof ResticError) return err;
    const name = errName(err);
    const status = httpStatus(err);
    const where = `bucket "${this.bucket}" at ${this.opts.endpoint ?? 'AWS S3'}`;
    const obj = key !== undefined ? `${key} in ${where}` : where;
    if (name === 'NoSuchBucket') {
      return new NotFoundError(
        `${key !== undefined ? `${key}: ` : ''}bucket "${this.bucket}" does not exist at ${this.opts.endpoint ?? 'AWS S3'}`,
        { cause: err },
      );
    }
    if (name === 'NoSuchKey' || name === 'NotFound' || (status === 404 && name !== 'NoSuchUpload')) {
      return new NotFoundError(`${key ?? 'object'} does not exist in ${where}`, { cause: err });
    }
    if (name === 'CredentialsProviderError') {
      return new AuthenticationError('S3: no credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY', { cause: err });
    }
    const msg = oneLine((err as Error)?.message)
      .replace(/^@smithy\/[\w-]+ - /, '')
      .replace(/ \((?:configured by client requestHandler|service default socket timeout)\)/, '');
    const detail = msg && msg !== name && msg !== 'UnknownError' ? `: ${msg}` : '';
    const statusText = status ? ` (HTTP ${status})` : '';
    // The SDK corrects its clock from this answer; the next attempt is signed correctly.
    if (name === 'RequestTimeTooSkewed')
      return new S3Error(`S3: ${what} ${obj}: clock skew${statusText}`, true, name, status, { cause: err });
    if (status === 401 || status === 403 || (name !== undefined && AUTH_CODES.has(name))) {
      const code = name && !/^\d+$/.test(name) && name !== 'Unknown' && name !== 'UnknownError' ? `${name}: ` : '';
      return new AuthenticationError(
        `S3: access denied ${what} ${obj} (${code}HTTP ${status ?? '?'}); check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
        { cause: err },
      );
    }
    const netCode = networkCode(err);
    if (status === undefined && (netCode || name === 'TimeoutError' || name === 'RequestTimeout')) {
      const why = msg || netCode || name;
      // Refused or unknown host before any answer: a wrong endpoint, not a hiccup — fail fast.
      const transient = this.answered || !(netCode === 'ECONNREFUSED' || netCode === 'ENOTFOUND');
      return new S3Error(
        `S3: cannot reach ${this.opts.endpoint ?? 'AWS S3'} while ${what}${key !== undefined ? ` ${key}` : ''}: ${why}`,
        transient,
        netCode ?? name,
        undefined,
        { cause: err },
      );
    }
    const transient =
      status === undefined || status >= 500 || status === 408 || status === 429 || (name !== undefined && TRANSIENT_CODES.has(name));
    if (status !== undefined && /Deserialization error|XML parse error/.test(msg)) {
      // an answer without S3's XML error document (a proxy, a load balancer): its status says it all
      return new S3Error(
        `S3: ${what} ${obj} failed: HTTP ${status} ${STATUS_CODES[status] ?? ''}`.trimEnd(),
        transient,
        undefined,
        status,
        { cause: err },
      );
    }
    return new S3Error(`S3: ${what} ${obj} failed: ${name ?? 'error'}${statusText}${detail}`, transient, name, status, { cause: err });
  }
}

const AUTH_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
]);
const TRANSIENT_CODES = new Set([
  'SlowDown',
  'InternalError',
  'ServiceUnavailable',
  'RequestTimeout',
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
]);

function errName(err: unknown): string | undefined {
  const e = err as Partial<S3ServiceException> & { Code?: string };
  return e?.Code ?? e?.name;
}

function httpStatus(err: unknown): number | undefined {
  return (err as Partial<S3ServiceException>)?.$metadata?.httpStatusCode;
}

/** errno-style code of a connection failure, also inside AggregateError (happy eyeballs). */
function networkCode(err: unknown): string | undefined {
  const e = err as { code?: string; errors?: unknown[]; cause?: unknown };
  if (e?.code && NETWORK_CODES.has(e.code)) return e.code;
  if (Array.isArray(e?.errors))
    for (const inner of e.errors) {
      const c = networkCode(inner);
      if (c) return c;
    }
  if (e?.cause && e.cause !== err) return networkCode(e.cause);
  return undefined;
}

function oneLine(s: string | undefined): string {
  return (s ?? '').replace(/\s+/g, ' ').trim();
}

/** The SDK's middleware handler, as far as payloadHash() needs it. */
type SdkHandler = (args: { request: unknown }) => Promise<unknown>;

/** A build-step middleware that sets SigV4's payload hash header to a SHA-256 known in advance (see save()). */
function payloadHash(sha256: string): (next: SdkHandler) => SdkHandler {
  return (next) => (args) => {
    const req = args.request as { headers?: Record<string, string> };
    if (req.headers) req.headers['x-amz-content-sha256'] = sha256;
    return next(args);
  };
}

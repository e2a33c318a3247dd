/**
 * POST of a repository file: the request is admitted (Content-Length, size limit, existing
 * type folder, no overwrite, quota), its body written to a temp file while hashed, checked
 * against the file's name, fsynced and published with link() (never replacing a file).
 */
import { type Hash, createHash, randomBytes } from 'node:crypto';
import type http from 'node:http';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { syncDir } from '../backends/local.js';
import { errCode } from '../errors.js';
import { fail, metric, ok, send } from './responses.js';
import type { Ctx, ObjType } from './state.js';

/** One upload in progress. */
interface Upload {
  readonly c: Ctx;
  readonly file: string;
  readonly type: ObjType | 'config';
  readonly id: string | undefined;
  readonly len: number;
  readonly tmp: string;
  fh: fsp.FileHandle | undefined;
  stored: boolean;
}

export async function upload(c: Ctx, file: string, type: ObjType | 'config', id: string | undefined): Promise<void> {
  const len = await admitUpload(c, file, type);
  if (len === undefined) return;
  const { quota } = c.s;
  if (quota) quota.used += len; // reserved; released again on failure
  const tmp = path.join(path.dirname(file), `.${id ?? 'config'}.tmp-${randomBytes(8).toString('hex')}`);
  const u: Upload = { c, file, type, id, len, tmp, fh: undefined, stored: false };
  // The answer is sent only after the temp file is gone, so a refused upload leaves nothing
  // behind; store() decides it, the finally block cleans up, then it is sent.
  let answer: () => void;
  try {
    answer = await store(u);
  } finally {
    if (u.fh) await u.fh.close().catch(() => undefined);
    if (!u.stored) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      if (quota) quota.used -= len;
    }
  }
  answer();
}

/** The body's length when the upload may go ahead; undefined when it was answered already. */
async function admitUpload(c: Ctx, file: string, type: ObjType | 'config'): Promise<number | undefined> {
  const { req, s } = c;
  if (req.headers['transfer-encoding'] !== undefined || req.headers['content-length'] === undefined) {
    return void send(c.res, 411, '', { Connection: 'close' });
  }
  const len = Number(req.headers['content-length']);
  if (!Number.isSafeInteger(len) || len < 0) return void send(c.res, 400, '', { Connection: 'close' });
  if (len > s.maxUpload) return void send(c.res, 413, '', { Connection: 'close' });
  const typeDir = type === 'config' ? c.dir : path.join(c.dir, type);
  if (!(await isDirectory(typeDir))) return void fail(c, 404, {}, s.maxUpload);
  if (await exists(file)) return void fail(c, 403, {}, s.maxUpload);
  if (s.quota && s.quota.used + len > s.quota.max) {
    s.log(`refusing upload of ${len} bytes to ${req.url}: quota of ${s.quota.max} bytes reached`);
    return void fail(c, 507, {}, s.maxUpload);
  }
  return len;
}

/** Receive, verify and publish the file; returns the answer to send after cleaning up. */
async function store(u: Upload): Promise<() => void> {
  const { c } = u;
  const fh = await openTemp(u);
  u.fh = fh;
  const body = await receiveBody(c.req, fh);
  if (!body.complete || body.got !== u.len) {
    return body.complete ? () => send(c.res, 400) : () => c.res.destroy(); // client went away: nothing to answer
  }
  if (u.id !== undefined && !c.s.opts.noVerifyUpload && body.hash.digest('hex') !== u.id) {
    c.s.log(`refusing ${c.req.url}: content does not match its name (SHA-256)`);
    return () => send(c.res, 400, 'file content does not match hash\n');
  }
  await fh.sync().catch((err: unknown) => {
    if (errCode(err) !== 'ENOTSUP' && errCode(err) !== 'EOPNOTSUPP' && errCode(err) !== 'EINVAL') throw err;
  });
  await fh.close();
  u.fh = undefined;
  if (!(await publish(u.tmp, u.file))) return () => send(c.res, 403);
  await fsp.rm(u.tmp, { force: true });
  await syncDir(path.dirname(u.file));
  u.stored = true;
  if (u.type !== 'config') metric(c, 'write', u.type, u.len);
  return () => ok(c.res);
}

async function openTemp(u: Upload): Promise<fsp.FileHandle> {
  const { dirMode, fileMode } = u.c.s;
  try {
    return await fsp.open(u.tmp, 'wx', fileMode);
  } catch (err) {
    if (errCode(err) !== 'ENOENT' || u.type !== 'data') throw err;
    await fsp.mkdir(path.dirname(u.tmp), { recursive: true, mode: dirMode }); // data/XX removed by hand
    return await fsp.open(u.tmp, 'wx', fileMode);
  }
}

/** Write the request body to fh, hashing it; complete is false when the client went away. */
async function receiveBody(req: http.IncomingMessage, fh: fsp.FileHandle): Promise<{ complete: boolean; got: number; hash: Hash }> {
  const hash = createHash('sha256');
  let got = 0;
  const complete = await new Promise<boolean>((resolve, reject) => {
    let pending = Promise.resolve();
    req.on('data', (chunk: Buffer) => {
      got += chunk.length;
      hash.update(chunk);
      req.pause();
      pending = pending.then(() => writeAll(fh, chunk)).then(() => void req.resume(), reject);
    });
    req.on('end', () => pending.then(() => resolve(req.complete), reject));
    req.on('aborted', () => resolve(false));
    req.on('error', () => resolve(false));
    req.on('close', () => {
      if (!req.complete) resolve(false);
    });
  });
  return { complete, got, hash };
}

/** Move tmp to file unless file exists (false then). */
async function publish(tmp: string, file: string): Promise<boolean> {
  // link() publishes atomically and never replaces: a concurrent upload of the same name loses.
  try {
    await fsp.link(tmp, file);
  } catch (err) {
    if (errCode(err) === 'EEXIST') return false;
    if (errCode(err) !== 'EPERM' && errCode(err) !== 'ENOTSUP' && errCode(err) !== 'EOPNOTSUPP') throw err;
    if (await exists(file)) return false; // no hard links: check, then rename
    await fsp.rename(tmp, file);
  }
  return true;
}

async function isDirectory(dir: string): Promise<boolean> {
  try {
    return (await fsp.stat(dir)).isDirectory();
  } catch (err) {
    if (errCode(err) === 'ENOENT' || errCode(err) === 'ENOTDIR') return false;
    throw err;
  }
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

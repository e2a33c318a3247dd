/**
 * A REST or S3 request in flight stops when its signal fires (issue 15 item 2): a server on
 * 127.0.0.1 that accepts and never answers, a load that would otherwise wait for the
 * backend's timeout, and an abort after 200 ms.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError, type ResticError, Repository } from '../../src/index.js';
import { RestBackend } from '../../src/entries/rest.js';
import { S3Backend } from '../../src/entries/s3.js';

let server: net.Server;
let port = 0;
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

describe('remote backends and AbortSignal', () => {
  it('aborts a request the server never answers, promptly and with ABORTED', async () => {
    const b = new RestBackend(`http://127.0.0.1:${port}/repo/`);
    const started = Date.now();
    const err = await b
      .load({ type: 'config', name: 'config' }, 0, 0, { signal: AbortSignal.timeout(200) })
      .then(() => null)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortedError);
    expect((err as ResticError).code).toBe('ABORTED');
    expect(Date.now() - started).toBeLessThan(30_000);
    await b.close();
  });

  it('Repository.open through the retrying REST backend stops on the signal too', async () => {
    const b = RestBackend.fromLocation(`rest:http://127.0.0.1:${port}/repo/`);
    const err = await Repository.open(b, 'pw', { signal: AbortSignal.timeout(200) }).catch((e: unknown) => e);
    expect((err as ResticError).code).toBe('ABORTED');
    await b.close();
  });

  it('S3: a GetObject the server never answers stops on the signal', async () => {
    const b = new S3Backend({
      endpoint: `http://127.0.0.1:${port}`,
      bucket: 'bucket',
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    });
    const started = Date.now();
    const err = await b
      .load({ type: 'config', name: 'config' }, 0, 0, { signal: AbortSignal.timeout(200) })
      .then(() => null)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortedError);
    expect(Date.now() - started).toBeLessThan(30_000);
    await b.close();
  });
});

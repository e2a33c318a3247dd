/**
 * RestBackend against our own REST server over HTTP (in-process, 127.0.0.1, free port):
 * the backend conformance suite, protocol v1 fallback, retries and error messages.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RestBackend } from '../../src/backends/rest.js';
import { AuthenticationError, RetryBackend } from '../../src/backends/retry.js';
import { startRestServer, type RestServer } from '../../src/rest-server/server.js';
import { collect, randomFile, runBackendSuite } from '../helpers/backend-suite.js';
import { tempDir } from '../helpers/tmp.js';

// {SHA} entry for "alice:wonderland" (base64 SHA-1 of the password).
const HTPASSWD = 'alice:{SHA}' + (await import('node:crypto')).createHash('sha1').update('wonderland').digest('base64') + '\n';

let server: RestServer;
let tmp: { dir: string; cleanup: () => void };
let n = 0;

beforeAll(async () => {
  tmp = tempDir('restic-ts-rest-be-');
  fs.writeFileSync(path.join(tmp.dir, 'htpasswd'), HTPASSWD);
  // The suite stores arbitrary bytes under made-up names, so this server does not check that
  // uploads hash to their names (rest-server's --no-verify-upload); test/backends/rest-server.test.ts
  // covers the verifying default.
  server = await startRestServer({
    path: path.join(tmp.dir, 'data'),
    listen: '127.0.0.1:0',
    htpasswdFile: path.join(tmp.dir, 'htpasswd'),
    noVerifyUpload: true,
  });
});

afterAll(async () => {
  await server?.close();
  tmp?.cleanup();
});

function url(repo: string, cred = 'alice:wonderland'): string {
  return server.url.replace('://', `://${cred}@`) + repo + '/';
}

runBackendSuite('rest', () => new RestBackend(url(`alice/suite${n++}`)), { nonIdNames: false });

describe('RestBackend specifics', () => {
  it('falls back to protocol v1 listings (HEAD per name for sizes)', async () => {
    const be = new RestBackend(url('alice/v1'));
    await be.create();
    const f = randomFile(123);
    await be.save({ type: 'snapshot', name: f.name }, f.data);
    await be.close();
    // A v1 client: the server answers with a JSON list of names and the v1 content type.
    const res = await fetch(server.url + 'alice/v1/snapshots/', {
      headers: { authorization: 'Basic ' + Buffer.from('alice:wonderland').toString('base64') },
    });
    expect(res.headers.get('content-type')).toBe('application/vnd.x.restic.rest.v1');
    expect(await res.json()).toEqual([f.name]);
  });

  it('a wrong password is an AuthenticationError (not retried)', async () => {
    const be = new RetryBackend(new RestBackend(url('alice/x', 'alice:wrong')), { retries: 3, baseDelayMs: 1 });
    const err = await be.stat({ type: 'config', name: 'config' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as Error).message).toMatch(/authentication failed/);
    await be.close();
  });

  it('credentials come from the environment when the URL has none', async () => {
    const be = RestBackend.fromLocation(`rest:${server.url}alice/envrepo/`, {
      env: { RESTIC_REST_USERNAME: 'alice', RESTIC_REST_PASSWORD: 'wonderland' },
    });
    await be.create();
    expect(await collect(be.list('key'))).toEqual([]);
    await be.close();
    const be2 = RestBackend.fromLocation(`rest:${server.url}alice/envrepo/`, {
      env: { REST_SERVER_USERNAME: 'alice', REST_SERVER_PASSWORD: 'wonderland' },
    });
    expect(await collect(be2.list('key'))).toEqual([]);
    await be2.close();
    expect(be2.location).toBe(`rest:${server.url.replace('://', '://alice@')}alice/envrepo/`);
  });

  it('an unreachable server is a one-line error without waiting for retries', async () => {
    const be = RestBackend.fromLocation('rest:http://127.0.0.1:1/repo/');
    const err = await be.load({ type: 'config', name: 'config' }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/cannot connect to rest:http:\/\/127\.0\.0\.1:1\/repo\/: connection refused/);
    expect((err as Error).message).not.toContain('\n');
    await be.close();
  });
});

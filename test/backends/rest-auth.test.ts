/**
 * REST server authentication under load (our `restic-ts rest-server` as its own process, so
 * its bcrypt worker threads are the ones users get):
 * - a burst of wrong passwords from many clients does not delay a legitimate request;
 * - an unknown user costs the same bcrypt as a known one (user names not found by timing);
 * - a client with too many failed attempts is refused (429) without a check for a while,
 *   other clients and cached credentials are not.
 * Clients are told apart by source address: 127.0.0.x are all loopback on Linux.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bcryptHash } from '../../src/rest-server/htpasswd.js';
import { startRestServerProcess, type ServerProcess } from '../helpers/spawn-async.js';
import { tempDir } from '../helpers/tmp.js';

const tmp = tempDir('restic-ts-restauth-');
let server: ServerProcess;
let port: number;

beforeAll(async () => {
  const data = path.join(tmp.dir, 'data');
  fs.mkdirSync(path.join(data, 'repo'), { recursive: true });
  // cost 10: rest-server's htpasswd -B default, ~50-100 ms per check in JavaScript
  const lines = [`alice:${await bcryptHash('right', randomBytes(16), 10)}`, `bob:${await bcryptHash('builder', randomBytes(16), 10)}`];
  fs.writeFileSync(path.join(tmp.dir, 'htpasswd'), lines.join('\n') + '\n');
  server = await startRestServerProcess(['--path', data, '--htpasswd-file', path.join(tmp.dir, 'htpasswd')]);
  port = Number(new URL(server.url).port);
}, 60_000);

afterAll(async () => {
  await server?.stop();
  tmp.cleanup();
});

/** One GET /repo/config with basic auth from source address `from`; status and ms taken. */
function get(user: string, password: string, from = '127.0.0.1'): Promise<{ status: number; ms: number; retryAfter?: string }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/repo/config',
        method: 'GET',
        localAddress: from,
        agent: false,
        headers: { authorization: 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64') },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            ms: performance.now() - started,
            retryAfter: res.headers['retry-after'] as string | undefined,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('REST server authentication under load', () => {
  it('150 wrong passwords from 15 clients do not hold up a legitimate request', async () => {
    expect((await get('alice', 'right')).status).toBe(404); // authenticated (no config yet); now cached
    const attack = Array.from({ length: 150 }, (_, i) => get('bob', `guess${i}`, `127.0.0.${10 + (i % 15)}`));
    await new Promise((r) => setTimeout(r, 100)); // the burst has arrived
    const legit = await get('alice', 'right');
    const answers = await Promise.all(attack);
    console.log(`legitimate request during 150 wrong-password requests: ${legit.ms.toFixed(0)} ms`);
    expect(legit.status).toBe(404);
    expect(answers.every((a) => a.status === 401)).toBe(true);
    // bcrypt on the event loop made this take seconds; a behaviour bound, not a benchmark
    expect(legit.ms).toBeLessThan(1500);
  }, 120_000);

  it('an unknown user costs a bcrypt check like a known user with a wrong password', async () => {
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 5; i++) {
      known.push((await get('bob', `nope${i}`, `127.0.1.${i + 1}`)).ms);
      unknown.push((await get(`mallory${i}`, 'x', `127.0.2.${i + 1}`)).ms);
    }
    console.log(`wrong password: median ${median(known).toFixed(1)} ms; unknown user: median ${median(unknown).toFixed(1)} ms`);
    expect(median(unknown)).toBeGreaterThan(median(known) / 2);
  }, 60_000);

  it('too many failures from one client: 429 without a check; other clients and cached credentials still pass', async () => {
    const from = '127.0.3.1';
    for (let i = 0; i < 10; i++) expect((await get('bob', `wrong${i}`, from)).status).toBe(401);
    const refused = await get('bob', 'builder', from); // right password, but this client must wait
    expect(refused.status).toBe(429);
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    expect((await get('bob', 'wrong again', from)).status).toBe(429);
    expect((await get('bob', 'builder', '127.0.3.2')).status).toBe(404); // another client
    expect((await get('alice', 'right', from)).status).toBe(404); // cached credentials pass
  }, 60_000);
});

/**
 * Every operation of an operator pod inside a 128 MiB memory cgroup (issue 14): first backup to
 * our REST server (which runs outside the cgroup), restore from REST and from a local
 * repository, check --read-data, prune after forgetting half the snapshots. The CLI finds the
 * limit itself (its own cgroup), as it would in a container. These are memory bounds, not
 * timings. Needs root (the test creates the cgroup) and fails with a clear message otherwise.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CgroupResult, describeRun, findHierarchy, withMemoryCgroup } from '../helpers/cgroup.js';
import { TEST_SCRYPT, cli } from '../helpers/cli.js';
import { type ServerProcess, startRestServerProcess } from '../helpers/spawn-async.js';
import { tempDir } from '../helpers/tmp.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli.js');
const MiB = 1024 * 1024;
const LIMIT = 128 * MiB;
const PASSWORD = 'memory-test';
const env = { RESTIC_PASSWORD: PASSWORD };

let tmp: { dir: string; cleanup: () => void };
let data: string;
let server: ServerProcess;
let restRepo: string;
let localRepo: string;

/** Small random files and two large half-text files: blobs of every size, compression on. */
function generate(dir: string): number {
  let total = 0;
  for (let d = 0; d < 20; d++) fs.mkdirSync(path.join(dir, 'small', `d${d}`), { recursive: true });
  for (let i = 0; i < 2000; i++) {
    const buf = crypto.randomBytes(1024 + ((i * 7919) % (63 * 1024)));
    fs.writeFileSync(path.join(dir, 'small', `d${i % 20}`, `f${i}.bin`), buf);
    total += buf.length;
  }
  const text = Buffer.from('lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod\n'.repeat(4096));
  for (let f = 0; f < 2; f++) {
    const fd = fs.openSync(path.join(dir, `large${f}.dat`), 'w');
    for (let k = 0; k < 16; k++) {
      const part = k % 2 ? crypto.randomBytes(4 * MiB) : Buffer.concat(Array.from({ length: 15 }, () => text)).subarray(0, 4 * MiB);
      fs.writeSync(fd, part);
      total += part.length;
    }
    fs.closeSync(fd);
  }
  return total;
}

function inCgroup(args: string[]): Promise<CgroupResult> {
  return withMemoryCgroup(LIMIT, (cg) =>
    cg.run(process.execPath, [CLI, ...args], { PATH: process.env.PATH, HOME: process.env.HOME, RESTIC_TS_SCRYPT: TEST_SCRYPT, ...env }),
  );
}

function expectFits(r: CgroupResult): void {
  expect(r.oomKilled, describeRun(r, LIMIT)).toBe(false);
  expect(r.code, describeRun(r, LIMIT)).toBe(0);
}

/** Sum of file sizes and a digest of every file's path and content. */
function treeDigest(root: string): { bytes: number; digest: string } {
  const h = crypto.createHash('sha256');
  let bytes = 0;
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const b = fs.readFileSync(p);
        bytes += b.length;
        h.update(path.relative(root, p)).update(b);
      }
    }
  };
  walk(root);
  return { bytes, digest: h.digest('hex') };
}

describe('every operation inside a 128 MiB memory cgroup', () => {
  let dataSize = 0;
  beforeAll(async () => {
    const h = findHierarchy();
    if (typeof h === 'string') throw new Error(h);
    tmp = tempDir('restic-ts-memcg-');
    data = path.join(tmp.dir, 'data');
    dataSize = generate(data);
    fs.mkdirSync(path.join(tmp.dir, 'rest'));
    server = await startRestServerProcess(['--path', path.join(tmp.dir, 'rest'), '--no-auth']);
    restRepo = `rest:${server.url}repo`;
    localRepo = path.join(tmp.dir, 'local');
    for (const repo of [restRepo, localRepo]) {
      const r = cli(['-r', repo, 'init'], env);
      expect(r.code, r.stderr).toBe(0);
    }
  }, 300_000);

  afterAll(async () => {
    await server?.stop();
    tmp?.cleanup();
  });

  it('first backup → REST', async () => {
    expectFits(await inCgroup(['-r', restRepo, 'backup', '-q', '--compression', 'auto', data]));
  }, 600_000);

  it('restore ← REST', async () => {
    const target = path.join(tmp.dir, 'restore-rest');
    expectFits(await inCgroup(['-r', restRepo, 'restore', 'latest', '--target', target]));
    const got = treeDigest(path.join(target, data));
    expect(got).toEqual(treeDigest(data));
    expect(got.bytes).toBe(dataSize);
    fs.rmSync(target, { recursive: true, force: true });
  }, 600_000);

  it('restore ← local and check --read-data', async () => {
    for (let i = 0; i < 4; i++) {
      // Four snapshots with some files changed each time (for the prune below).
      for (let k = i; k < 2000; k += 50) fs.writeFileSync(path.join(data, 'small', `d${k % 20}`, `f${k}.bin`), crypto.randomBytes(4096));
      const r = cli(['-r', localRepo, 'backup', '-q', data], env);
      expect(r.code, r.stderr).toBe(0);
    }
    const target = path.join(tmp.dir, 'restore-local');
    expectFits(await inCgroup(['-r', localRepo, 'restore', 'latest', '--target', target]));
    expect(treeDigest(path.join(target, data))).toEqual(treeDigest(data));
    fs.rmSync(target, { recursive: true, force: true });
    expectFits(await inCgroup(['-r', localRepo, 'check', '--read-data']));
  }, 900_000);

  it('prune after forgetting half the snapshots', async () => {
    const f = cli(['-r', localRepo, 'forget', '--keep-last', '2'], env);
    expect(f.code, f.stderr).toBe(0);
    expectFits(await inCgroup(['-r', localRepo, 'prune']));
    const snaps = JSON.parse(cli(['-r', localRepo, 'snapshots', '--json'], env).stdout) as unknown[];
    expect(snaps).toHaveLength(2);
    const c = cli(['-r', localRepo, 'check', '--read-data'], env);
    expect(c.code, c.stderr).toBe(0);
  }, 600_000);
});

// The kill-9 campaign (`npm run torture -- --kills 100`): random SIGKILLs of restic-ts
// backup, prune, forget and copy on a local repository and on one behind our REST server,
// and SIGKILLs of the REST server itself mid-backup. After every kill: restic 0.14's
// `check --read-data` must pass (after `restic-ts unlock`: restic 0.14 wants stale locks
// gone), no earlier snapshot may be lost (only those a killed forget was told to remove
// may go), a new backup must succeed and its restore must equal the
// source. At the end the temp files the kills left are aged past the safe age and the next
// backup + prune must leave none (nor any lock). Uses dist/ (run `npm run build` first) and
// restic on PATH. Prints one line per round and a JSON summary as the last line; exit 1 on
// any failure.
//
//   node scripts/torture.mjs [--kills N] [--seed S] [--backends local,rest] [--dir D] [--keep]
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { clearTimeout } from 'node:timers';
import { fileURLToPath } from 'node:url';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/cli.js');
const RESTIC = process.env.RESTIC_BIN ?? 'restic';
const PASSWORD = 'torture';

function parseArgs(argv) {
  const o = { kills: 10, seed: Date.now() % 100000, backends: ['local', 'rest'], dir: undefined, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--kills') o.kills = Number(argv[++i]);
    else if (a === '--seed') o.seed = Number(argv[++i]);
    else if (a === '--backends') o.backends = argv[++i].split(',');
    else if (a === '--dir') o.dir = argv[++i];
    else if (a === '--keep') o.keep = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!(o.kills > 0)) throw new Error('--kills must be a positive number');
  return o;
}

/** mulberry32: a seeded generator, so a failing campaign can be replayed with --seed. */
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n) => Math.floor(next() * n), pick: (xs) => xs[Math.floor(next() * xs.length)] };
}

const baseEnv = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  TZ: process.env.TZ,
  RESTIC_PASSWORD: PASSWORD,
  RESTIC_TS_SCRYPT: '1024:8:1',
};

/** Run to completion, or SIGKILL after `killAfterMs`; resolves with code, signal and output. */
function run(cmd, args, { killAfterMs, limitMs = 600_000, env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...baseEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s) => (err += s));
    const timers = [setTimeout(() => child.kill('SIGKILL'), limitMs)];
    if (killAfterMs !== undefined) timers.push(setTimeout(() => child.kill('SIGKILL'), killAfterMs));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      timers.forEach(clearTimeout);
      resolve({ code, signal, out, err });
    });
  });
}

const ours = (repo, args, opts) => run(process.execPath, [CLI, '-r', repo, ...args], opts);
const restic = (repo, args, opts) => run(RESTIC, ['-r', repo, '--no-cache', ...args], opts);

function must(r, what) {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code ?? r.signal}):\n${r.out}\n${r.err}`);
  return r.out;
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Our REST server as a child process on a fixed port (restarted after each kill). */
class RestServer {
  constructor(dir, port) {
    this.dir = dir;
    this.port = port;
    this.child = undefined;
  }
  async start() {
    this.child = spawn(process.execPath, [CLI, 'rest-server', '--path', this.dir, '--no-auth', '--listen', `127.0.0.1:${this.port}`], {
      env: baseEnv,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    this.child.stderr.setEncoding('utf8').on('data', (s) => (log += s));
    for (let i = 0; i < 300 && !/listening on/.test(log); i++) await sleep(20);
    if (!/listening on/.test(log)) throw new Error(`rest-server did not start:\n${log}`);
    this.exited = new Promise((r) => this.child.once('exit', r));
  }
  async kill() {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Change the source: rewrite some files with new random data, delete and add a few. */
function mutate(src, r) {
  const files = [];
  for (const d of fs.readdirSync(src)) for (const f of fs.readdirSync(path.join(src, d))) files.push(path.join(src, d, f));
  const buf = (n) => {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i += 4) b.writeUInt32LE((r.next() * 2 ** 32) >>> 0, i);
    return b;
  };
  for (let i = 0; i < 25; i++) fs.writeFileSync(r.pick(files), buf(50_000 + r.int(150_000) * 4));
  for (let i = 0; i < 3; i++) fs.rmSync(r.pick(files), { force: true });
  for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(src, `d${r.int(8)}`, `n${r.int(1e9)}`), buf(4 * (1000 + r.int(60_000))));
}

function makeSource(src, r) {
  for (let d = 0; d < 8; d++) {
    fs.mkdirSync(path.join(src, `d${d}`), { recursive: true });
    for (let f = 0; f < 40; f++) fs.writeFileSync(path.join(src, `d${d}`, `f${f}`), Buffer.alloc(100 + r.int(100_000), f));
  }
  mutate(src, r);
}

/** SHA-256 of every file under dir, by relative path. */
function digest(dir) {
  const out = new Map();
  const walk = (d, rel) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p, path.join(rel, e.name));
      else out.set(path.join(rel, e.name), createHash('sha256').update(fs.readFileSync(p)).digest('hex'));
    }
  };
  walk(dir, '');
  return out;
}

async function snapshotIds(repo) {
  const list = JSON.parse(must(await ours(repo, ['snapshots', '--json']), 'snapshots'));
  return list.map((s) => s.id);
}

/** Temp files (ours, restic's, the REST server's) anywhere under dir. */
function tempFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/-tmp-|-restic-temp-|^\.[0-9a-f]{64}\.tmp-|^\.config\.tmp-/.test(e.name)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

const OPS = {
  local: ['backup', 'backup', 'prune', 'forget', 'copy'],
  rest: ['backup', 'prune', 'forget', 'copy', 'server-kill', 'server-kill'],
};
/** Kill windows (ms): long enough to land inside the work, short enough to hit every phase. */
const WINDOW = { backup: 1500, prune: 1500, forget: 1200, copy: 1800, 'server-kill': 1500 };

/** One round: the operation, killed (or not) at a random moment; what may disappear. */
async function attack(t, op, r) {
  const at = 30 + r.int(WINDOW[op]);
  const extra = t.kind === 'rest' ? ['-o', 'rest.retries=3'] : [];
  if (op === 'backup') return { res: await ours(t.repo, [...extra, 'backup', '--host', 'torture', t.src], { killAfterMs: at }), at };
  if (op === 'prune') return { res: await ours(t.repo, [...extra, 'prune', '--max-unused', '0'], { killAfterMs: at }), at };
  if (op === 'forget') {
    const ids = await snapshotIds(t.repo);
    // keep the newest: forget one of the older ones (with --prune, to be killed mid-prune too)
    const victim = ids.length > 2 ? ids[r.int(ids.length - 2)] : undefined;
    if (!victim) return { res: { code: 0, out: '', err: '' }, at, skipped: true };
    return { res: await ours(t.repo, [...extra, 'forget', '--prune', victim], { killAfterMs: at }), at, mayLose: [victim] };
  }
  if (op === 'copy') {
    const res = await ours(t.copyRepo, ['copy', '--from-repo', t.repo, '--from-password-file', t.pwFile], { killAfterMs: at });
    return { res, at, copied: true };
  }
  // server-kill: the REST server dies during a backup; the client must end on its own, in one line
  const started = Date.now();
  const client = ours(t.repo, [...extra, 'backup', '--host', 'torture', t.src]);
  await sleep(at);
  await t.server.kill();
  const res = await client;
  await t.server.start();
  return { res, at, serverKill: true, clientMs: Date.now() - started - at };
}

/** After a kill: restic checks everything, nothing earlier is lost, a new backup restores exactly. */
async function verify(t, before, mayLose, copied) {
  // a killed command leaves its lock; restic 0.14 wants `unlock` first (it removes stale ones only)
  must(await ours(t.repo, ['unlock']), 'unlock');
  if (copied) must(await ours(t.copyRepo, ['unlock']), 'unlock (copy destination)');
  must(await restic(t.repo, ['check', '--read-data']), 'restic check --read-data');
  if (copied) must(await restic(t.copyRepo, ['check', '--read-data']), 'restic check --read-data (copy destination)');
  const now = new Set(await snapshotIds(t.repo));
  const lost = before.filter((id) => !now.has(id) && !mayLose.includes(id));
  mutate(t.src, t.r);
  const out = must(await ours(t.repo, ['backup', '--host', 'torture', t.src]), 'backup after the kill');
  const id = /snapshot ([0-9a-f]{8}) saved/.exec(out)?.[1];
  const target = path.join(t.dir, 'restore');
  fs.rmSync(target, { recursive: true, force: true });
  must(await ours(t.repo, ['restore', id, '--target', target]), 'restore');
  const want = digest(t.src);
  const got = digest(path.join(target, t.src));
  const same = want.size === got.size && [...want].every(([k, v]) => got.get(k) === v);
  if (!same) throw new Error(`restore of ${id} differs from the source`);
  return lost;
}

async function setup(kind, root, r) {
  const dir = path.join(root, kind);
  fs.mkdirSync(dir, { recursive: true });
  const t = { kind, dir, r, src: path.join(dir, 'src'), copyRepo: path.join(dir, 'copy'), pwFile: path.join(dir, 'pw') };
  fs.writeFileSync(t.pwFile, PASSWORD);
  makeSource(t.src, r);
  if (kind === 'rest') {
    t.server = new RestServer(path.join(dir, 'server'), await freePort());
    await t.server.start();
    t.repo = `rest:http://127.0.0.1:${t.server.port}/repo/`;
    t.storage = path.join(dir, 'server');
  } else {
    t.repo = path.join(dir, 'repo');
    t.storage = t.repo;
  }
  must(await ours(t.repo, ['init']), 'init');
  must(await ours(t.copyRepo, ['init', '--from-repo', t.repo, '--from-password-file', t.pwFile, '--copy-chunker-params']), 'init copy');
  must(await ours(t.repo, ['backup', '--host', 'torture', t.src]), 'first backup');
  return t;
}

/** Age every temp file past the safe age; then backup + prune (and a server restart) must leave none. */
async function cleanUp(t) {
  const old = new Date(Date.now() - 2 * 3600_000);
  const before = [...tempFiles(t.storage), ...tempFiles(t.copyRepo)];
  for (const f of before) fs.utimesSync(f, old, old);
  if (t.server) {
    await t.server.kill();
    await t.server.start();
    await sleep(500);
  }
  must(await ours(t.repo, ['backup', '--host', 'torture', t.src]), 'final backup');
  must(await ours(t.repo, ['prune']), 'final prune');
  must(await ours(t.copyRepo, ['prune']), 'final prune (copy destination)');
  must(await restic(t.repo, ['check', '--read-data']), 'final restic check');
  const after = [...tempFiles(t.storage), ...tempFiles(t.copyRepo)];
  const locks = [t.storage, t.copyRepo].flatMap((d) => {
    const l = t.server && d === t.storage ? path.join(d, 'repo', 'locks') : path.join(d, 'locks');
    return fs.existsSync(l) ? fs.readdirSync(l) : [];
  });
  return { before: before.length, after: after.length, locks: locks.length };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const r = rng(o.seed);
  const root = o.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'restic-ts-torture-'));
  const summary = { seed: o.seed, kills: 0, serverKills: 0, rounds: 0, checkErrors: 0, snapshotsLost: 0, failures: [], leftovers: {} };
  const targets = [];
  try {
    for (const kind of o.backends) targets.push(await setup(kind, root, r));
    const perOp = {};
    while (summary.kills < o.kills && summary.rounds < o.kills * 4) {
      summary.rounds++;
      const t = r.pick(targets);
      const op = r.pick(OPS[t.kind]);
      const before = await snapshotIds(t.repo);
      const a = await attack(t, op, r);
      if (a.skipped) continue;
      const killed = a.res.signal === 'SIGKILL' || a.serverKill;
      if (killed) summary.kills++;
      if (a.serverKill) summary.serverKills++;
      perOp[op] = (perOp[op] ?? 0) + (killed ? 1 : 0);
      let note = '';
      if (a.serverKill) {
        const lines = (a.res.out + a.res.err).trim().split('\n').filter(Boolean).length;
        note = ` client exit ${a.res.code} ${(a.clientMs / 1000).toFixed(1)} s after, ${lines} line(s)`;
        if (a.res.code !== 0 && a.res.err.trim().split('\n').length !== 1) summary.failures.push(`round ${summary.rounds}: ${a.res.err}`);
      } else if (!killed && a.res.code !== 0) {
        summary.failures.push(`round ${summary.rounds}: ${op} ended ${a.res.code} without a kill: ${a.res.err}`);
      }
      try {
        const lost = await verify(t, before, a.mayLose ?? [], a.copied);
        summary.snapshotsLost += lost.length;
        if (lost.length) summary.failures.push(`round ${summary.rounds}: lost ${lost.join(', ')}`);
      } catch (err) {
        summary.checkErrors++;
        summary.failures.push(`round ${summary.rounds} (${t.kind} ${op} killed at ${a.at} ms): ${err.message}`);
      }
      console.log(
        `round ${summary.rounds}: ${t.kind} ${op} ${killed ? `killed at ${a.at} ms` : 'finished first'}${note}; check ok so far: ${summary.checkErrors === 0}`,
      );
    }
    summary.perOp = perOp;
    for (const t of targets) summary.leftovers[t.kind] = await cleanUp(t);
  } finally {
    for (const t of targets) await t.server?.kill();
    if (!o.keep) fs.rmSync(root, { recursive: true, force: true });
  }
  const clean = Object.values(summary.leftovers).every((l) => l.after === 0 && l.locks === 0);
  const ok = summary.kills >= o.kills && summary.checkErrors === 0 && summary.snapshotsLost === 0 && !summary.failures.length && clean;
  console.log(JSON.stringify({ ok, ...summary }));
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err?.stack ?? String(err));
    process.exit(1);
  },
);

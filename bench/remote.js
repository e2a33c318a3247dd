#!/usr/bin/env node
// restic-ts vs. restic 0.14 over a network: each store behind bench/delay-proxy.js (round-trip
// delay, default 25 ms; optional bandwidth cap), both tools in the same run, each with its own
// cache directory (restic with its cache, as users run it). Per store and operation:
//   backup1  first backup (cold cache)          backup2  unchanged re-backup (warm cache)
//   backup2n unchanged re-backup, --no-cache    backup3  re-backup with ≈1 % of files changed
//   restore  restore latest                     check    check            checkrd  check --read-data
// wall time and what crossed the proxy: bytes down/up, HTTP requests (REST, S3) or request
// turns (SFTP: the client spoke again after the server answered), connections; for REST also
// the server's own counters (--prometheus: blob files read/written).
//
//   npm run bench -- --remote [--store rest,s3,sftp] [--size 64] [--dataset mixed]
//        [--rtt 25] [--mbit 0] [--ops backup1,…] [--dir /tmp/restic-ts-bench-net]
//
// --size: dataset MiB (bench/gen.js, scaled from its 1 GiB recipes; default 64, ≈1,250 small
// files + 4 × 6 MiB). One run per tool: on a shared machine the wall times are noisy.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { URL, fileURLToPath, pathToFileURL } from 'node:url';
import { generate, datasetBytes, modify } from './gen.js';
import { startDelayProxy } from './delay-proxy.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const CLI = path.join(root, 'dist', 'cli.js');
const argv = process.argv.slice(2);
const arg = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const storeNames = arg('store', 'rest,s3,sftp').split(',').filter(Boolean);
const sizeMiB = Number(arg('size', '64'));
const dataset = arg('dataset', 'mixed');
const rttMs = Number(arg('rtt', '25'));
const mbit = Number(arg('mbit', '0'));
const OPS = ['backup1', 'backup2', 'backup2n', 'backup3', 'restore', 'check', 'checkrd'];
const ops = arg('ops', OPS.join(',')).split(',');
const base = arg('dir', path.join(os.tmpdir(), 'restic-ts-bench-net'));
const TOOLS = ['restic', 'restic-ts'];
for (const s of storeNames) if (!['rest', 's3', 'sftp'].includes(s)) throw new Error(`unknown store ${s} (rest, s3 or sftp)`);
for (const o of ops) if (!OPS.includes(o)) throw new Error(`unknown op ${o} (${OPS.join(', ')})`);
if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);

const OP_LABEL = {
  backup1: 'first backup',
  backup2: 'unchanged re-backup',
  backup2n: 'unchanged, --no-cache',
  backup3: 're-backup, 1 % changed',
  restore: 'restore',
  check: 'check',
  checkrd: 'check --read-data',
};
/** Throughput ops report restic-ts ÷ restic MiB/s (higher is better), the others time ratios. */
const THROUGHPUT = new Set(['backup1', 'restore', 'check', 'checkrd']);
const scale = sizeMiB / 1024;
const data = path.join(base, `data-${dataset}-${sizeMiB}M`);

// ---------------------------------------------------------------------------------------
// stores: each behind a proxy → { label, repo(tool), args(tool), env, restMetrics?, teardown }

async function startRestServer(dir) {
  const logFile = path.join(base, 'rest-server.log');
  const fd = fs.openSync(logFile, 'w');
  const child = spawn(process.execPath, [CLI, 'rest-server', '--path', dir, '--no-auth', '--prometheus', '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'ignore', fd],
  });
  fs.closeSync(fd);
  for (let i = 0; i < 300; i++) {
    const m = /listening on (http:\/\/\S+)/.exec(fs.readFileSync(logFile, 'utf8'));
    if (m) return { url: m[1], child };
    if (child.exitCode !== null) throw new Error(`rest-server exited (${child.exitCode})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGTERM');
  throw new Error('rest-server did not start');
}

const stopChild = (child) =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });

async function loadTestHelper(name) {
  const { transformSync } = await import('esbuild');
  const src = fs.readFileSync(path.join(root, 'test', 'helpers', `${name}.ts`), 'utf8');
  const out = path.join(base, `${name}-helper.mjs`);
  fs.writeFileSync(out, transformSync(src, { loader: 'ts', format: 'esm', target: 'node20' }).code);
  return import(pathToFileURL(out).href);
}

const portOf = (url) => Number(new URL(url).port);

const stores = {
  async rest() {
    const dir = path.join(base, 'rest-data');
    fs.rmSync(dir, { recursive: true, force: true });
    const { url, child } = await startRestServer(dir);
    const proxy = await startDelayProxy({ port: portOf(url), rttMs, mbit, http: true });
    const via = `http://127.0.0.1:${proxy.port}/`;
    return {
      label: 'REST (our rest-server)',
      proxy,
      env: {},
      repo: (tool) => `rest:${via}bench-${tool}/`,
      args: () => [],
      // the server's own counters, read directly (not through the proxy)
      restMetrics: async () => parseMetrics(await (await globalThis.fetch(`${url}metrics`)).text()),
      teardown: async () => {
        await proxy.close();
        await stopChild(child);
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  },

  async s3() {
    const ceph = await (await loadTestHelper('ceph')).startCeph();
    const proxy = await startDelayProxy({ port: portOf(ceph.endpoint), rttMs, mbit, http: true });
    const tag = `${process.pid}-${Date.now().toString(36)}`;
    return {
      label: 'S3 (Ceph radosgw)',
      proxy,
      env: ceph.env,
      repo: (tool) => `s3:http://127.0.0.1:${proxy.port}/bench-${tag}-${tool}`,
      args: () => [],
      teardown: async () => {
        await proxy.close();
        await ceph.stop();
      },
    };
  },

  async sftp() {
    const sshd = await (await loadTestHelper('sshd')).startSshd();
    const proxy = await startDelayProxy({ port: sshd.port, rttMs, mbit });
    const dir = path.join(sshd.home, 'bench');
    fs.mkdirSync(dir, { recursive: true });
    // the host key, now known under the proxy's port
    const knownHosts = path.join(base, 'known_hosts');
    fs.writeFileSync(knownHosts, fs.readFileSync(sshd.knownHosts, 'utf8').replaceAll(`]:${sshd.port} `, `]:${proxy.port} `));
    const command = sshd
      .sftpCommand()
      .replace(`-p ${sshd.port}`, `-p ${proxy.port}`)
      .replace(`UserKnownHostsFile=${sshd.knownHosts}`, `UserKnownHostsFile=${knownHosts}`);
    return {
      label: 'SFTP (OpenSSH sshd)',
      proxy,
      env: {},
      repo: (tool) => (tool === 'restic' ? `sftp:root@127.0.0.1:${dir}/restic` : `sftp://root@127.0.0.1:${proxy.port}/${dir}/restic-ts`),
      args: (tool) =>
        tool === 'restic' ? ['-o', `sftp.command=${command}`] : ['--ssh-key-file', sshd.clientKey, '-o', `sftp.known-hosts=${knownHosts}`],
      teardown: async () => {
        await proxy.close();
        await sshd.stop();
      },
    };
  },
};

/** rest-server's Prometheus counters, summed per repository: { repo: { reads, readBytes, writes, writeBytes } }. */
function parseMetrics(text) {
  const out = {};
  for (const m of text.matchAll(/^rest_server_blob_(read|write)(_bytes)?_total\{repo="([^"]*)".*\} (\d+)$/gm)) {
    const r = (out[m[3]] ??= { reads: 0, readBytes: 0, writes: 0, writeBytes: 0 });
    r[`${m[1]}${m[2] ? 'Bytes' : 's'}`] += Number(m[4]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// running

function command(tool, store, args) {
  const pre = tool === 'restic' ? ['restic', []] : [process.execPath, [CLI]];
  return [pre[0], [...pre[1], '-r', store.repo(tool), ...store.args(tool), ...args]];
}

function toolEnv(tool, store) {
  // Each tool's temp files in its own directory: a temp file in /tmp, an ancestor of the data,
  // would change that directory's node and make the other tool's next backup store a new tree.
  const tmp = path.join(base, `tmp-${tool}`);
  fs.mkdirSync(tmp, { recursive: true });
  return { ...process.env, ...store.env, TMPDIR: tmp, RESTIC_PASSWORD: 'benchpass', RESTIC_CACHE_DIR: path.join(base, `cache-${tool}`) };
}

/** Run a tool (asynchronously: the proxy lives in this process, a sync spawn would stall it). */
function run(tool, store, args, timeFile) {
  let [cmd, a] = command(tool, store, args);
  // /usr/bin/time: CPU seconds, which a crowded machine distorts far less than wall time
  if (timeFile) [cmd, a] = ['/usr/bin/time', ['-o', timeFile, '-f', '%U %S %M', cmd, ...a]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, a, { env: toolEnv(tool, store), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${tool} ${args.join(' ')} failed (${code}):\n${out}`))));
  });
}

/**
 * Each restore goes to a directory of its own, all removed when the bench ends: on this
 * machine's ext4 (no journal) creating a file costs a scan past every inode of its block group
 * freed in the last minutes, so a restore right after removing the other tool's restore paid
 * for its files (about 0.3 ms per file) and the tool that restored second was always slower.
 */
const restoreRoot = path.join(base, 'restore');

function opArgs(op, tool, storeName) {
  const target = path.join(restoreRoot, `${storeName}-${tool}`);
  switch (op) {
    case 'backup1':
    case 'backup2':
    case 'backup3':
      return ['backup', '--host', 'bench', '-q', data];
    case 'backup2n':
      return ['--no-cache', 'backup', '--host', 'bench', '-q', data];
    case 'restore':
      return ['restore', 'latest', '--target', target, '-q'];
    case 'check':
      return ['check', '-q'];
    case 'checkrd':
      return ['check', '--read-data', '-q'];
  }
}

/** Run one op with one tool (asynchronously: the proxy lives in this process). */
async function measure(tool, store, op, storeName) {
  const args = opArgs(op, tool, storeName);
  const before = store.restMetrics ? (await store.restMetrics())[`bench-${tool}`] : undefined;
  store.proxy.reset();
  const timeFile = fs.existsSync('/usr/bin/time') ? path.join(base, 'time.txt') : undefined;
  const t0 = performance.now();
  await run(tool, store, args, timeFile);
  const wall = (performance.now() - t0) / 1000;
  const net = store.proxy.snapshot();
  const r = { wall, ...net, requestCount: Object.values(net.requests).reduce((a, b) => a + b, 0) };
  if (timeFile) {
    const [user, sys, rssKiB] = fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
    Object.assign(r, { cpu: user + sys, rssMiB: rssKiB / 1024 });
  }
  if (before) {
    const after = (await store.restMetrics())[`bench-${tool}`];
    r.server = Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - (before?.[k] ?? 0)]));
  }
  return r;
}

async function benchStore(name) {
  const store = await stores[name]();
  const rows = [];
  try {
    for (const tool of TOOLS) {
      fs.rmSync(path.join(base, `cache-${tool}`), { recursive: true, force: true });
      await run(tool, store, ['init']);
    }
    for (const [i, op] of ops.entries()) {
      if (op === 'backup3') modify(dataset, data, { scale });
      const row = { op };
      for (const tool of i % 2 ? [...TOOLS].reverse() : TOOLS) {
        row[tool] = await measure(tool, store, op, name);
        console.error(`${name} ${op.padEnd(8)} ${tool.padEnd(9)} ${row[tool].wall.toFixed(2)} s  down ${kib(row[tool].bytesDown)} KiB`);
      }
      rows.push(row);
    }
  } finally {
    if (ops.includes('backup3')) modify(dataset, data, { scale, revert: true });
    await store.teardown();
  }
  return { store: name, label: store.label, rows };
}

const kib = (n) => Math.round(n / 1024).toLocaleString('en-US');

function ratio(op, row) {
  const r = row['restic-ts'].wall / row.restic.wall;
  return THROUGHPUT.has(op) ? 1 / r : r;
}

function reqs(m) {
  const n = m.requestCount || m.turns;
  return m.server ? `${n} (${m.server.reads}r/${m.server.writes}w, ${kib(m.server.readBytes)} KiB read)` : String(n);
}

function markdown(report) {
  const lines = [
    `restic-ts vs restic ${report.restic.split(' ')[1] ?? ''} over a ${rttMs} ms round trip${mbit ? `, ${mbit} Mbit/s` : ''}, ` +
      `${dataset} dataset ${report.size_mib.toFixed(1)} MiB (${report.files} files); one run each, same run, shared 2-core machine.`,
    'Ratio: throughput restic-ts ÷ restic for first backup, restore, check (higher is better); wall time restic-ts ÷ restic for re-backups (lower is better).',
    "Requests: HTTP requests through the proxy (REST: the server's own counters in brackets: files read/written, file bytes read), SFTP: request turns.",
    '',
    'CPU: user + system seconds of the tool (the machine is shared: wall times swing with the load, CPU much less).',
    '',
    '| store | operation | restic s | restic-ts s | ratio | CPU s restic / restic-ts | restic KiB down / up | restic-ts KiB down / up | restic req | restic-ts req |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const s of report.stores) {
    for (const row of s.rows) {
      const a = row.restic;
      const b = row['restic-ts'];
      lines.push(
        `| ${s.store} | ${OP_LABEL[row.op]} | ${a.wall.toFixed(2)} | ${b.wall.toFixed(2)} | ${ratio(row.op, row).toFixed(2)}× | ` +
          `${a.cpu?.toFixed(2) ?? '–'} / ${b.cpu?.toFixed(2) ?? '–'} | ` +
          `${kib(a.bytesDown)} / ${kib(a.bytesUp)} | ${kib(b.bytesDown)} / ${kib(b.bytesUp)} | ${reqs(a)} | ${reqs(b)} |`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

fs.mkdirSync(base, { recursive: true });
fs.rmSync(restoreRoot, { recursive: true, force: true });
console.error(`generating ${dataset} dataset of ${sizeMiB} MiB in ${data} …`);
generate(dataset, data, { scale });
const report = {
  dataset,
  size_mib: datasetBytes(data) / 1048576,
  files: fs.readdirSync(data, { recursive: true }).filter((n) => !n.includes('.complete-') && fs.statSync(path.join(data, n)).isFile())
    .length,
  rtt_ms: rttMs,
  mbit,
  restic: spawnSync('restic', ['version'], { encoding: 'utf8' }).stdout.trim(),
  date: new Date().toISOString(),
  stores: [],
};
for (const name of storeNames) {
  try {
    report.stores.push(await benchStore(name));
  } catch (err) {
    console.error(`bench: ${name}: ${err.message}`);
    process.exitCode = 1;
  }
}
fs.rmSync(restoreRoot, { recursive: true, force: true });
const md = markdown(report);
console.log(md);
const resultsDir = path.join(here, 'results');
fs.mkdirSync(resultsDir, { recursive: true });
const stamp = report.date.replace(/[:.]/g, '-');
fs.writeFileSync(path.join(resultsDir, `remote-${stamp}.json`), JSON.stringify(report, null, 2) + '\n');
fs.writeFileSync(path.join(resultsDir, `remote-${stamp}.md`), md);

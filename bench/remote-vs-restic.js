#!/usr/bin/env node
// First backup of a generated dataset to a remote store, restic-ts vs. restic 0.14, in the
// same run, alternating the order, into a fresh repository each time. Prints medians and the
// throughput ratio (restic-ts ÷ restic) per store and writes JSON to bench/results/.
//
//   node bench/remote-vs-restic.js [--store rest,s3] [--size 1024] [--dataset mixed|big]
//        [--runs 3] [--dir /tmp/restic-ts-bench-remote] [--s3-endpoint http://host:port]
//        [--sftp-base sftp:user@host:/path --sftp-command "ssh -i KEY -p PORT user@host -s sftp"]
//
// Stores:
//   rest  our REST server (`restic-ts rest-server --no-auth`, a separate process on 127.0.0.1);
//         restic uses the same server.
//   s3    --s3-endpoint (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), or else a
//         throwaway Ceph radosgw started with test/helpers/ceph.ts (needs ceph-mon, ceph-osd,
//         radosgw). A fresh bucket per backup, emptied afterwards (Ceph's memstore is RAM).
//   sftp  a private OpenSSH sshd on 127.0.0.1 (test/helpers/sshd.ts) unless --sftp-base is given;
//         restic gets `-o sftp.command=…` (ssh), restic-ts the key and known_hosts file.
//
// --size is the dataset size in MiB (default 1024 = the 1 GiB of the issue; use e.g. 32 to
// try the script). Datasets come from bench/gen.js (cached per kind and size under --dir).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { generate, datasetBytes } from './gen.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const CLI = path.join(root, 'dist', 'cli.js');
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};
const storeNames = arg('store', 'rest,s3').split(',').filter(Boolean);
const sizeMiB = Number(arg('size', '1024'));
const dataset = arg('dataset', 'mixed');
const runs = Number(arg('runs', '3'));
const base = arg('dir', path.join(os.tmpdir(), 'restic-ts-bench-remote'));
if (!(sizeMiB > 0) || !(runs > 0)) throw new Error('--size and --runs must be positive numbers');
for (const s of storeNames) if (!['rest', 's3', 'sftp'].includes(s)) throw new Error(`unknown store ${s} (rest, s3 or sftp)`);
if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);

const scale = sizeMiB / 1024;
const data = path.join(base, `data-${dataset}-${sizeMiB}M`);
const cacheDir = path.join(base, 'cache');
const baseEnv = { ...process.env, RESTIC_PASSWORD: 'benchpass', RESTIC_CACHE_DIR: cacheDir };

// ---------------------------------------------------------------------------------------
// stores: setup() → { env, repo(run, tool), toolArgs(tool), cleanup(repo), teardown() }

/**
 * `restic-ts rest-server` as a child process; resolves with its URL once it listens. Its log
 * goes to a file: a pipe could fill up while this script is blocked in spawnSync.
 */
async function startRestServer(dir) {
  const logFile = path.join(base, 'rest-server.log');
  const fd = fs.openSync(logFile, 'w');
  const child = spawn(process.execPath, [CLI, 'rest-server', '--path', dir, '--no-auth', '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'ignore', fd],
  });
  fs.closeSync(fd);
  for (let i = 0; i < 300; i++) {
    const log = fs.readFileSync(logFile, 'utf8');
    const m = /listening on (http:\/\/\S+)/.exec(log);
    if (m) return { url: m[1], child };
    if (child.exitCode !== null) throw new Error(`rest-server exited (${child.exitCode}):\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGTERM');
  throw new Error(`rest-server did not start:\n${fs.readFileSync(logFile, 'utf8')}`);
}

function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

const stores = {
  async rest() {
    const dir = path.join(base, 'rest-data');
    fs.rmSync(dir, { recursive: true, force: true });
    const { url, child } = await startRestServer(dir);
    return {
      label: `REST (our rest-server at ${url})`,
      env: {},
      repo: (run, tool) => `rest:${url}run${run}-${tool}/`,
      toolArgs: () => [],
      cleanup: (repo) => fs.rmSync(path.join(dir, repo.slice(`rest:${url}`.length)), { recursive: true, force: true }),
      teardown: async () => {
        await stopChild(child);
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  },

  async s3() {
    let endpoint = arg('s3-endpoint');
    let env = {};
    let stopCeph = async () => {};
    if (!endpoint) {
      const ceph = await (await loadCephHelper()).startCeph();
      endpoint = ceph.endpoint;
      env = ceph.env;
      stopCeph = () => ceph.stop();
    }
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'; // SDK version is pinned
    const { S3Client, ListObjectsV2Command, DeleteObjectsCommand, DeleteBucketCommand } = await import('@aws-sdk/client-s3');
    const creds = { ...process.env, ...env };
    const client = new S3Client({
      endpoint,
      region: creds.AWS_DEFAULT_REGION ?? 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: creds.AWS_ACCESS_KEY_ID, secretAccessKey: creds.AWS_SECRET_ACCESS_KEY },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    const tag = `${process.pid}-${Date.now().toString(36)}`;
    return {
      label: `S3 at ${endpoint}`,
      env,
      repo: (run, tool) => `s3:${endpoint}/bench-${tag}-${run}-${tool}`,
      toolArgs: () => [],
      // the tools create the bucket on init; afterwards it is emptied and removed
      async cleanup(repo) {
        const bucket = repo.slice(`s3:${endpoint}/`.length);
        for (;;) {
          const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 })).catch(() => undefined);
          const keys = (page?.Contents ?? []).map((o) => ({ Key: o.Key }));
          if (!keys.length) break;
          await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
        }
        await client.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
      },
      async teardown() {
        client.destroy();
        await stopCeph();
      },
    };
  },

  async sftp() {
    // Without --sftp-base: a private OpenSSH sshd on 127.0.0.1 (test/helpers/sshd.ts), key-only.
    let sftpBase = arg('sftp-base');
    let command = arg('sftp-command');
    let ours = [];
    let stopSshd = async () => {};
    let localDir = null;
    if (!sftpBase) {
      const sshd = await (await loadTestHelper('sshd')).startSshd();
      localDir = path.join(sshd.home, 'bench');
      fs.mkdirSync(localDir, { recursive: true });
      sftpBase = `sftp://root@127.0.0.1:${sshd.port}/${localDir}`;
      command = sshd.sftpCommand();
      ours = ['--ssh-key-file', sshd.clientKey, '-o', `sftp.known-hosts=${sshd.knownHosts}`];
      stopSshd = () => sshd.stop();
    }
    const resticBase = localDir ? `sftp:root@127.0.0.1:${localDir}` : sftpBase;
    return {
      label: `SFTP at ${sftpBase}`,
      env: {},
      repo: (run, tool) => `${(tool === 'restic' ? resticBase : sftpBase).replace(/\/+$/, '')}/run${run}-${tool}`,
      toolArgs: (tool) => (tool === 'restic' ? (command ? ['-o', `sftp.command=${command}`] : []) : ours),
      cleanup: (repo) => {
        if (localDir) fs.rmSync(path.join(localDir, path.basename(repo)), { recursive: true, force: true });
      },
      teardown: () => stopSshd(),
    };
  },
};

/** test/helpers/<name>.ts, compiled on the fly with esbuild (they only import node builtins). */
async function loadTestHelper(name) {
  const { transformSync } = await import('esbuild');
  const src = fs.readFileSync(path.join(root, 'test', 'helpers', `${name}.ts`), 'utf8');
  const out = path.join(base, `${name}-helper.mjs`);
  fs.writeFileSync(out, transformSync(src, { loader: 'ts', format: 'esm', target: 'node20' }).code);
  return import(pathToFileURL(out).href);
}

function loadCephHelper() {
  return loadTestHelper('ceph');
}

// ---------------------------------------------------------------------------------------
// measuring

function timed(cmd, args, env) {
  const tf = path.join(base, 'time.txt');
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-v', '-o', tf, cmd, ...args], { env, encoding: 'utf8', maxBuffer: 1 << 28 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(fs.readFileSync(tf, 'utf8'))?.[1] ?? 0) / 1024;
  return { wall, rss };
}

const tools = {
  restic: { cmd: 'restic', pre: [] },
  'restic-ts': { cmd: process.execPath, pre: [CLI] },
};

function runTool(tool, store, repo, args) {
  const t = tools[tool];
  return [t.cmd, [...t.pre, '-r', repo, ...store.toolArgs(tool), ...args]];
}

/** Runs a command without timing (init), failing loudly. */
function must(cmd, args, env, what) {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function benchStore(name, MiB) {
  const store = await stores[name]();
  const env = { ...baseEnv, ...store.env };
  const results = { restic: [], 'restic-ts': [] };
  try {
    for (let i = 0; i < runs; i++) {
      for (const tool of i % 2 ? ['restic-ts', 'restic'] : ['restic', 'restic-ts']) {
        const repo = store.repo(i + 1, tool);
        fs.rmSync(cacheDir, { recursive: true, force: true });
        must(...runTool(tool, store, repo, ['init']), env, `${tool} init on ${name}`);
        const [cmd, args] = runTool(tool, store, repo, ['backup', '--host', 'bench', '-q', data]);
        const r = timed(cmd, args, env);
        results[tool].push(r);
        console.error(
          `${name} run ${i + 1} ${tool.padEnd(9)} ${r.wall.toFixed(2)} s  ${(MiB / r.wall).toFixed(1)} MiB/s  RSS ${r.rss.toFixed(0)} MiB`,
        );
        await store.cleanup(repo);
      }
    }
  } finally {
    await store.teardown();
  }
  const summary = {};
  for (const tool of Object.keys(results)) {
    const wall = median(results[tool].map((r) => r.wall));
    summary[tool] = {
      wall_s: wall,
      mib_per_s: MiB / wall,
      rss_mib: median(results[tool].map((r) => r.rss)),
      runs_s: results[tool].map((r) => r.wall),
    };
  }
  return { store: name, label: store.label, summary, ratio: summary['restic-ts'].mib_per_s / summary.restic.mib_per_s };
}

fs.mkdirSync(base, { recursive: true });
console.error(`generating ${dataset} dataset of ${sizeMiB} MiB in ${data} …`);
generate(dataset, data, { scale });
const bytes = datasetBytes(data);
const MiB = bytes / 1048576;
spawnSync('sh', ['-c', `find ${JSON.stringify(data)} -type f -exec cat {} + > /dev/null`]); // warm the page cache

const report = {
  dataset,
  size_mib: MiB,
  bytes,
  runs,
  restic: spawnSync('restic', ['version'], { encoding: 'utf8' }).stdout.trim(),
  date: new Date().toISOString(),
  stores: [],
};
for (const name of storeNames) {
  try {
    report.stores.push(await benchStore(name, MiB));
  } catch (err) {
    console.error(`bench: ${name}: ${err.message}`);
    process.exit(1);
  }
}

console.log(`first backup of ${dataset} (${MiB.toFixed(1)} MiB), ${runs} run(s) each, medians`);
for (const s of report.stores) {
  console.log(`${s.label}`);
  for (const [tool, v] of Object.entries(s.summary)) {
    console.log(
      `  ${tool.padEnd(9)} ${v.mib_per_s.toFixed(1).padStart(7)} MiB/s  ${v.wall_s.toFixed(2)} s  peak RSS ${v.rss_mib.toFixed(0)} MiB`,
    );
  }
  console.log(`  throughput ratio restic-ts / restic: ${s.ratio.toFixed(2)}x`);
}
const resultsDir = path.join(here, 'results');
fs.mkdirSync(resultsDir, { recursive: true });
const file = path.join(resultsDir, `remote-vs-restic-${storeNames.join('-')}-${sizeMiB}M-${report.date.replace(/[:.]/g, '-')}.json`);
fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
console.log(`results: ${path.relative(process.cwd(), file)}`);

#!/usr/bin/env node
// First-backup throughput of restic-ts vs. restic on the same generated dataset, in the
// same run, alternating, into fresh local repositories. Prints the ratio (ours ÷ restic).
//
//   node bench/backup-vs-restic.js [--dataset mixed|big] [--runs N] [--version 1|2]
//        [--compression auto|off] [--scale 0.25] [--dir /path/for/data]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate, datasetBytes } from './gen.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(here, '..', 'dist', 'cli.js');
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};
const dataset = arg('dataset', 'mixed');
const runs = Number(arg('runs', '1'));
const version = arg('version', '2');
const compression = arg('compression', 'auto');
const scale = Number(arg('scale', '1'));
const base = arg('dir', path.join(os.tmpdir(), 'restic-ts-bench'));
const data = path.join(base, `data-${dataset}`);
const env = { ...process.env, RESTIC_PASSWORD: 'benchpass', RESTIC_CACHE_DIR: path.join(base, 'cache') };

function timed(cmd, args) {
  const tf = path.join(base, 'time.txt');
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-v', '-o', tf, cmd, ...args], { env, encoding: 'utf8', maxBuffer: 1 << 28 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(fs.readFileSync(tf, 'utf8'))?.[1] ?? 0) / 1024;
  return { wall, rss };
}

const tools = {
  restic: (repo) => ['restic', ['-r', repo, 'backup', '--host', 'bench', '--compression', compression, '-q', data]],
  'restic-ts': (repo) => [process.execPath, [CLI, '-r', repo, 'backup', '--host', 'bench', '--compression', compression, '-q', data]],
};
const inits = {
  restic: (repo) => spawnSync('restic', ['-r', repo, 'init', '--repository-version', version], { env }),
  'restic-ts': (repo) => spawnSync(process.execPath, [CLI, '-r', repo, 'init', '--repository-version', version], { env }),
};

fs.mkdirSync(base, { recursive: true });
console.error(`generating ${dataset} dataset (scale ${scale}) in ${data} …`);
generate(dataset, data, { scale });
const bytes = datasetBytes(data);
spawnSync('sh', ['-c', `find ${JSON.stringify(data)} -type f -exec cat {} + > /dev/null`]);
const MiB = bytes / 1048576;

const results = { restic: [], 'restic-ts': [] };
for (let i = 0; i < runs; i++) {
  for (const tool of i % 2 ? ['restic-ts', 'restic'] : ['restic', 'restic-ts']) {
    const repo = path.join(base, `repo-${tool}`);
    fs.rmSync(repo, { recursive: true, force: true });
    fs.rmSync(env.RESTIC_CACHE_DIR, { recursive: true, force: true });
    const ir = inits[tool](repo);
    if (ir.status !== 0) throw new Error(`${tool} init failed: ${ir.stderr}`);
    const [cmd, args] = tools[tool](repo);
    const r = timed(cmd, args);
    results[tool].push(r);
    console.error(`run ${i + 1} ${tool.padEnd(9)} ${r.wall.toFixed(2)} s  ${(MiB / r.wall).toFixed(1)} MiB/s  RSS ${r.rss.toFixed(0)} MiB`);
    fs.rmSync(repo, { recursive: true, force: true });
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const summary = {};
for (const tool of Object.keys(results)) {
  const wall = median(results[tool].map((r) => r.wall));
  summary[tool] = { wall_s: wall, mib_per_s: MiB / wall, rss_mib: median(results[tool].map((r) => r.rss)) };
}
const ratio = summary['restic-ts'].mib_per_s / summary.restic.mib_per_s;
console.log(`dataset ${dataset} (${MiB.toFixed(1)} MiB), repo v${version}, compression ${compression}, ${runs} run(s), medians`);
for (const [tool, s] of Object.entries(summary)) console.log(`  ${tool.padEnd(9)} ${s.mib_per_s.toFixed(1).padStart(7)} MiB/s  ${s.wall_s.toFixed(2)} s  peak RSS ${s.rss_mib.toFixed(0)} MiB`);
console.log(`  throughput ratio restic-ts / restic: ${ratio.toFixed(2)}x`);
console.log(JSON.stringify({ dataset, version, compression, runs, bytes, summary, ratio }));

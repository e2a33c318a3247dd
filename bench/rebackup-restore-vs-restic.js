#!/usr/bin/env node
// Unchanged re-backup (20,000 small files + 4 large) and restore of the ≈1 GiB "mixed"
// dataset, restic-ts vs. restic in the same run, alternating. Prints time ratios.
//
//   node bench/rebackup-restore-vs-restic.js [--runs N] [--scale 1] [--dir /tmp/restic-ts-bench]
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
const runs = Number(arg('runs', '1'));
const scale = Number(arg('scale', '1'));
const base = arg('dir', path.join(os.tmpdir(), 'restic-ts-bench'));
const data = path.join(base, 'data-mixed');
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

const run = (tool, repo, args) => (tool === 'restic' ? ['restic', ['-r', repo, ...args]] : [process.execPath, [CLI, '-r', repo, ...args]]);

fs.mkdirSync(base, { recursive: true });
generate('mixed', data, { scale });
const MiB = datasetBytes(data) / 1048576;
const results = { restic: { rebackup: [], restore: [] }, 'restic-ts': { rebackup: [], restore: [] } };
for (let i = 0; i < runs; i++) {
  for (const tool of i % 2 ? ['restic-ts', 'restic'] : ['restic', 'restic-ts']) {
    const repo = path.join(base, `rr-${tool}`);
    const target = path.join(base, `restore-${tool}`);
    fs.rmSync(repo, { recursive: true, force: true });
    fs.rmSync(target, { recursive: true, force: true });
    fs.rmSync(env.RESTIC_CACHE_DIR, { recursive: true, force: true });
    for (const args of [['init'], ['backup', '-q', '--host', 'bench', data]]) {
      const [c, a] = run(tool, repo, args);
      const r = spawnSync(c, a, { env });
      if (r.status !== 0) throw new Error(`${tool} ${args[0]} failed: ${r.stderr}`);
    }
    const rb = timed(...run(tool, repo, ['backup', '-q', '--host', 'bench', data]));
    const rs = timed(...run(tool, repo, ['restore', 'latest', '--target', target]));
    results[tool].rebackup.push(rb);
    results[tool].restore.push(rs);
    console.error(`run ${i + 1} ${tool.padEnd(9)} re-backup ${rb.wall.toFixed(2)} s (RSS ${rb.rss.toFixed(0)} MiB)  restore ${rs.wall.toFixed(2)} s = ${(MiB / rs.wall).toFixed(1)} MiB/s (RSS ${rs.rss.toFixed(0)} MiB)`);
    fs.rmSync(target, { recursive: true, force: true });
    fs.rmSync(repo, { recursive: true, force: true });
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const m = (tool, op, k) => median(results[tool][op].map((r) => r[k]));
console.log(`dataset mixed (${MiB.toFixed(1)} MiB, 20,004 files), ${runs} run(s), medians`);
for (const op of ['rebackup', 'restore']) {
  const a = m('restic', op, 'wall');
  const b = m('restic-ts', op, 'wall');
  console.log(`  ${op.padEnd(9)} restic ${a.toFixed(2)} s, restic-ts ${b.toFixed(2)} s → time ratio restic-ts/restic ${(b / a).toFixed(2)} (throughput ratio ${(a / b).toFixed(2)}x); RSS ${m('restic', op, 'rss').toFixed(0)} vs ${m('restic-ts', op, 'rss').toFixed(0)} MiB`);
}
console.log(JSON.stringify(results));

#!/usr/bin/env node
// Peak RSS of restic-ts beside restic, in the same run (issue 14):
//   local:  backup, restore, check --read-data of N small files (20,000 and 200,000)
//   remote: first backup and restore of the 20,000-file set over our REST server (restic-ts
//           rest-server, outside the measured process)
// Each command runs under /usr/bin/time -v; the table gives peak RSS (MiB) and the ratio
// restic-ts ÷ restic (lower is better).
//
//   node bench/memory.js [--files 20000,200000] [--dir DIR] [--ops backup,restore,check,remote] [--ts-limit 128M]
// --ts-limit: restic-ts runs with that memory budget (RESTIC_TS_MEMORY_LIMIT), as in a pod.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(root, 'dist', 'cli.js');
const argv = process.argv.slice(2);
const arg = (name, def) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : def);
const counts = arg('files', '20000,200000').split(',').map(Number);
const ops = arg('ops', 'backup,restore,check,remote').split(',');
const base = arg('dir', path.join(os.tmpdir(), 'restic-ts-bench-memory'));
const env = { ...process.env, RESTIC_PASSWORD: 'benchpass', RESTIC_TS_SCRYPT: '16384:8:1' };
const PER_DIR = 500;
const tsLimit = arg('ts-limit', '');
const tsEnv = tsLimit ? { ...env, RESTIC_TS_MEMORY_LIMIT: tsLimit } : env;

function generate(dir, n) {
  const marker = path.join(dir, `.complete-${n}`);
  if (fs.existsSync(marker)) return;
  fs.rmSync(dir, { recursive: true, force: true });
  for (let d = 0; d * PER_DIR < n; d++) {
    const sub = path.join(dir, 'files', `d${d}`);
    fs.mkdirSync(sub, { recursive: true });
    for (let i = d * PER_DIR; i < Math.min(n, (d + 1) * PER_DIR); i++) {
      fs.writeFileSync(path.join(sub, `f${i}`), `file ${i} `.repeat(1 + (i % 97)));
    }
  }
  fs.writeFileSync(marker, '');
}

const command = (tool, repo, args) =>
  tool === 'restic' ? ['restic', ['--no-cache', '-r', repo, ...args]] : [process.execPath, [CLI, '-r', repo, ...args]];

function timed(tool, repo, args) {
  const tf = path.join(base, 'time.txt');
  const [cmd, a] = command(tool, repo, args);
  const r = spawnSync('/usr/bin/time', ['-v', '-o', tf, cmd, ...a], {
    env: tool === 'restic' ? env : tsEnv,
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-1500)}`);
  const tv = fs.readFileSync(tf, 'utf8');
  const num = (re) => Number(re.exec(tv)?.[1] ?? 0);
  return { rss: num(/Maximum resident set size \(kbytes\): (\d+)/) / 1024 };
}

function plain(tool, repo, args) {
  const [cmd, a] = command(tool, repo, args);
  const r = spawnSync(cmd, a, { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed: ${r.stderr.slice(-1500)}`);
}

/** Our REST server as a child process; resolves with its URL. */
function restServer(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const child = spawn(process.execPath, [CLI, 'rest-server', '--listen', '127.0.0.1:0', '--path', dir, '--no-auth'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let log = '';
    child.stderr.setEncoding('utf8').on('data', (s) => {
      log += s;
      const m = /listening on (http:\/\/\S+)/.exec(log);
      if (m) resolve({ url: m[1], stop: () => child.kill('SIGTERM') });
    });
    child.on('exit', (code) => reject(new Error(`rest-server exited ${code}: ${log}`)));
  });
}

const rows = [];
function measure(label, tool, repo, args, before) {
  before?.();
  const t = timed(tool, repo, args);
  rows.push({ label, tool, ...t });
  console.error(`  ${label.padEnd(34)} ${tool.padEnd(9)} RSS ${t.rss.toFixed(0).padStart(4)} MiB`);
}

async function main() {
  if (!fs.existsSync(CLI)) throw new Error('dist/cli.js missing: run `npm run build` first');
  fs.mkdirSync(base, { recursive: true });
  let server = null;
  try {
    for (const n of counts) {
      const data = path.join(base, `data-${n}`);
      generate(data, n);
      for (const tool of ['restic', 'restic-ts']) {
        const repo = path.join(base, `repo-${n}-${tool}`);
        const target = path.join(base, 'target');
        fs.rmSync(repo, { recursive: true, force: true });
        plain(tool, repo, ['init']);
        measure(`backup, ${n} files`, tool, repo, ['backup', '-q', path.join(data, 'files')]);
        if (ops.includes('restore'))
          measure(`restore, ${n} files`, tool, repo, ['restore', 'latest', '--target', target], () =>
            fs.rmSync(target, { recursive: true, force: true }),
          );
        if (ops.includes('check')) measure(`check --read-data, ${n} files`, tool, repo, ['check', '--read-data']);
        fs.rmSync(target, { recursive: true, force: true });
      }
      if (ops.includes('remote') && n === counts[0]) {
        server ??= await restServer(path.join(base, 'rest'));
        for (const tool of ['restic', 'restic-ts']) {
          const repo = `rest:${server.url}${tool}-${Date.now()}`;
          const target = path.join(base, 'target');
          plain(tool, repo, ['init']);
          measure(`REST first backup, ${n} files`, tool, repo, ['backup', '-q', path.join(data, 'files')]);
          measure(`REST restore, ${n} files`, tool, repo, ['restore', 'latest', '--target', target], () =>
            fs.rmSync(target, { recursive: true, force: true }),
          );
          fs.rmSync(target, { recursive: true, force: true });
        }
      }
    }
  } finally {
    server?.stop();
  }
  const labels = [...new Set(rows.map((r) => r.label))];
  const lines = ['| operation | restic peak RSS MiB | restic-ts peak RSS MiB | ratio (lower is better) |', '|---|---|---|---|'];
  for (const l of labels) {
    const a = rows.find((r) => r.label === l && r.tool === 'restic');
    const b = rows.find((r) => r.label === l && r.tool === 'restic-ts');
    lines.push(`| ${l} | ${a.rss.toFixed(0)} | ${b.rss.toFixed(0)} | ${(b.rss / a.rss).toFixed(2)} |`);
  }
  console.log(lines.join('\n'));
}

await main();

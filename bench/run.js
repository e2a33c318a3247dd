#!/usr/bin/env node
// restic-ts vs. the installed restic, in the same run, alternating, on deterministic datasets.
//
// Per dataset (mixed, big), config (v1, v2-auto, v2-off), run and tool, in a fresh local repo:
//   backup #1 (first backup), backup #2 (unchanged, parent), modify ≈1 % → backup #3, revert,
//   restore latest, check --read-data
// each wrapped in /usr/bin/time -v (wall time, peak RSS). Medians over the runs; ratios:
//   throughput (backup #1, restore, check --read-data): restic-ts ÷ restic (higher is better)
//   wall time (backup #2, #3) and peak RSS: restic-ts ÷ restic (lower is better)
// Prints a table, writes bench/results/<stamp>.json and .md (and latest.*).
//
//   node bench/run.js [--quick] [--runs N] [--datasets mixed,big] [--configs v1,v2-auto,v2-off]
//                     [--ops backup1,backup2,backup3,restore,check] [--dir DIR] [--readme]
//   node bench/run.js --remote [...]   → bench/remote.js (over a network delay; see there)
// --quick: datasets at scale 0.1 (≈105 MiB each, 2,000 small files); --readme: splice the
// Markdown table into README.md between the bench markers.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate, datasetBytes, modify } from './gen.js';

// --remote: the same operations over REST, S3 and SFTP through a delay proxy (bench/remote.js).
if (process.argv.includes('--remote')) {
  await import('./remote.js');
  process.exit();
}

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const CLI = path.join(root, 'dist', 'cli.js');
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const arg = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const quick = flag('quick');
const scale = Number(arg('scale', quick ? '0.1' : '1'));
const runs = Number(arg('runs', '3'));
const datasets = arg('datasets', 'mixed,big').split(',');
const configs = arg('configs', 'v1,v2-auto,v2-off').split(',');
const ops = arg('ops', 'backup1,backup2,backup3,restore,check').split(',');
const base = arg('dir', path.join(os.tmpdir(), 'restic-ts-bench'));
const TOOLS = ['restic', 'restic-ts'];
const env = { ...process.env, RESTIC_PASSWORD: 'benchpass', RESTIC_CACHE_DIR: path.join(base, 'cache') };
const MiB = 1 << 20;

const CONFIG = {
  v1: { version: '1', compression: null },
  'v2-auto': { version: '2', compression: 'auto' },
  'v2-off': { version: '2', compression: 'off' },
};
const OP_LABEL = {
  backup1: 'first backup',
  backup2: 'unchanged re-backup',
  backup3: 're-backup, 1 % changed',
  restore: 'restore',
  check: 'check --read-data',
};
/** Which ratio each op reports, and the issue's target for it. */
const OP_METRIC = {
  backup1: { kind: 'throughput', target: 1.2 },
  backup2: { kind: 'time', target: 1.0 },
  backup3: { kind: 'time', target: 1.0 },
  restore: { kind: 'throughput', target: 1.5 },
  check: { kind: 'throughput', target: 1.3 },
};

function ensureTime() {
  if (fs.existsSync('/usr/bin/time')) return;
  console.error('/usr/bin/time missing: installing the "time" package …');
  spawnSync('apt-get', ['install', '-y', 'time'], { stdio: 'inherit' });
  if (!fs.existsSync('/usr/bin/time')) throw new Error('/usr/bin/time is required (apt-get install time)');
}

function commandFor(tool, repo, args) {
  return tool === 'restic' ? ['restic', ['-r', repo, ...args]] : [process.execPath, [CLI, '-r', repo, ...args]];
}

/** Run under /usr/bin/time -v: wall seconds, peak RSS (MiB), CPU seconds. */
function timed(tool, repo, args) {
  const tf = path.join(base, 'time.txt');
  const [cmd, a] = commandFor(tool, repo, args);
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-v', '-o', tf, cmd, ...a], { env, encoding: 'utf8', maxBuffer: 1 << 28 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0)
    throw new Error(`${tool} ${args.join(' ')} failed (${r.status}):\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  const tv = fs.readFileSync(tf, 'utf8');
  const num = (re) => Number(re.exec(tv)?.[1] ?? 0);
  return {
    wall,
    rss: num(/Maximum resident set size \(kbytes\): (\d+)/) / 1024,
    cpu: num(/User time \(seconds\): ([\d.]+)/) + num(/System time \(seconds\): ([\d.]+)/),
  };
}

function plain(tool, repo, args) {
  const [cmd, a] = commandFor(tool, repo, args);
  const r = spawnSync(cmd, a, { env, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
}

/** restic-ts `check` is written by another branch; skip it (with a note) until it exists. */
function oursHasCheck() {
  const r = spawnSync(process.execPath, [CLI, 'check', '--help'], { encoding: 'utf8' });
  return r.status === 0 && /read-data/.test(r.stdout + r.stderr);
}

function warmCache(dir) {
  spawnSync('sh', ['-c', `find ${JSON.stringify(dir)} -type f -exec cat {} + > /dev/null`]);
}

function versions() {
  const rv = spawnSync('restic', ['version'], { encoding: 'utf8' }).stdout.trim();
  const ov = spawnSync(process.execPath, [CLI, 'version'], { encoding: 'utf8' }).stdout.trim();
  const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model;
  return {
    restic: rv,
    resticTs: ov,
    node: process.version,
    cpu,
    cores: os.availableParallelism(),
    memGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    kernel: os.release(),
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function main() {
  if (!fs.existsSync(CLI)) throw new Error('dist/cli.js missing: run `npm run build` first');
  ensureTime();
  fs.mkdirSync(base, { recursive: true });
  const info = versions();
  const haveCheck = oursHasCheck();
  const notes = [];
  if (ops.includes('check') && !haveCheck)
    notes.push('restic-ts has no `check --read-data` yet: check measured for restic only, ratio skipped');
  console.error(
    `restic-ts bench: ${quick ? 'QUICK ' : ''}scale ${scale}, ${runs} run(s), datasets ${datasets}, configs ${configs}, ops ${ops}`,
  );
  console.error(
    `${info.restic} | ${info.resticTs} | ${info.cpu}, ${info.cores} cores | load ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );

  const results = []; // { dataset, config, op, tool, run, wall, rss, cpu }
  const sizes = {};
  for (const ds of datasets) {
    const data = path.join(base, `data-${ds}${scale === 1 ? '' : `-${scale}`}`);
    console.error(`dataset ${ds}: generating in ${data} (kept between runs) …`);
    generate(ds, data, { scale });
    const bytes = datasetBytes(data);
    const files = fs
      .readdirSync(data, { recursive: true })
      .filter((n) => !n.toString().includes('.complete-') && fs.lstatSync(path.join(data, n)).isFile()).length;
    sizes[ds] = { bytes, MiB: +(bytes / MiB).toFixed(1), files };
    for (const cfg of configs) {
      const c = CONFIG[cfg];
      for (let run = 0; run < runs; run++) {
        for (const tool of run % 2 ? [...TOOLS].reverse() : TOOLS) {
          const repo = path.join(base, `repo-${tool}`);
          const target = path.join(base, `restore-${tool}`);
          for (const d of [repo, target, env.RESTIC_CACHE_DIR]) fs.rmSync(d, { recursive: true, force: true });
          plain(tool, repo, ['init', '--repository-version', c.version]);
          const comp = c.compression ? ['--compression', c.compression] : [];
          const backupArgs = ['backup', '-q', '--host', 'bench', ...comp, data];
          const record = (op, r) => {
            results.push({ dataset: ds, config: cfg, op, tool, run, ...r });
            const mibs = OP_METRIC[op].kind === 'throughput' ? `${(bytes / MiB / r.wall).toFixed(1)} MiB/s` : '';
            console.error(
              `  ${ds} ${cfg} run ${run + 1} ${tool.padEnd(9)} ${op.padEnd(8)} ${r.wall.toFixed(2).padStart(6)} s ${mibs.padStart(12)}  RSS ${r.rss.toFixed(0)} MiB`,
            );
          };
          warmCache(data);
          // backup #1 always runs: the other ops need its snapshot.
          const b1 = timed(tool, repo, backupArgs);
          if (ops.includes('backup1')) record('backup1', b1);
          if (ops.includes('backup2')) record('backup2', timed(tool, repo, backupArgs));
          if (ops.includes('backup3')) {
            modify(ds, data, { scale });
            try {
              record('backup3', timed(tool, repo, backupArgs));
            } finally {
              modify(ds, data, { scale, revert: true });
            }
          }
          if (ops.includes('restore')) {
            record('restore', timed(tool, repo, ['restore', 'latest', '--target', target]));
            fs.rmSync(target, { recursive: true, force: true });
          }
          if (ops.includes('check') && (tool === 'restic' || haveCheck)) record('check', timed(tool, repo, ['check', '--read-data']));
          fs.rmSync(repo, { recursive: true, force: true });
        }
      }
    }
  }

  // medians and ratios
  const rows = [];
  for (const ds of datasets) {
    for (const cfg of configs) {
      for (const op of ops) {
        const m = {};
        for (const tool of TOOLS) {
          const rs = results.filter((r) => r.dataset === ds && r.config === cfg && r.op === op && r.tool === tool);
          if (rs.length)
            m[tool] = {
              n: rs.length,
              wall: median(rs.map((r) => r.wall)),
              wallMin: Math.min(...rs.map((r) => r.wall)),
              wallMax: Math.max(...rs.map((r) => r.wall)),
              rss: median(rs.map((r) => r.rss)),
              cpu: median(rs.map((r) => r.cpu)),
            };
        }
        if (!m.restic) continue;
        const { kind, target } = OP_METRIC[op];
        const mibs = (t) => sizes[ds].bytes / MiB / m[t].wall;
        const row = { dataset: ds, config: cfg, op, kind, target, restic: m.restic, resticTs: m['restic-ts'] ?? null };
        if (m['restic-ts']) {
          row.ratio = kind === 'throughput' ? mibs('restic-ts') / mibs('restic') : m['restic-ts'].wall / m.restic.wall;
          row.rssRatio = m['restic-ts'].rss / m.restic.rss;
          row.met = (kind === 'throughput' ? row.ratio >= target : row.ratio <= target) && row.rssRatio <= 1;
        }
        rows.push(row);
      }
    }
  }
  const md = markdown(info, sizes, rows, notes);
  console.log(md);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const outDir = path.join(here, 'results');
  fs.mkdirSync(outDir, { recursive: true });
  const json = JSON.stringify(
    { date: new Date().toISOString(), quick, scale, runs, loadavg: os.loadavg(), info, sizes, notes, rows, results },
    null,
    2,
  );
  const name = `${stamp}${quick ? '-quick' : ''}`;
  fs.writeFileSync(path.join(outDir, `${name}.json`), json);
  fs.writeFileSync(path.join(outDir, `${name}.md`), md);
  fs.writeFileSync(path.join(outDir, `latest${quick ? '-quick' : ''}.json`), json);
  fs.writeFileSync(path.join(outDir, `latest${quick ? '-quick' : ''}.md`), md);
  console.error(`results: bench/results/${name}.json`);
  if (flag('readme')) spliceReadme(md);
}

function markdown(info, sizes, rows, notes) {
  const f = (x, d = 2) => (x === undefined || x === null ? '–' : x.toFixed(d));
  const lines = [];
  lines.push(
    `Machine: ${info.cpu}, ${info.cores} cores, ${info.memGiB} GiB, Linux ${info.kernel}; ${info.node}; ${info.restic}; ${info.resticTs}.`,
  );
  lines.push(
    `Datasets: ${Object.entries(sizes)
      .map(([k, v]) => `${k} ${v.MiB} MiB in ${v.files} files`)
      .join(', ')}${quick ? ' (--quick)' : ''}. ` +
      `Medians of ${runs} alternating run(s) per tool; local repositories on the same disk; warm page cache.`,
  );
  lines.push('');
  lines.push(
    '| dataset | config | operation | restic s (min–max) | restic-ts s (min–max) | restic MiB/s | restic-ts MiB/s | ratio | target | RSS restic / restic-ts MiB | RSS ratio | met |',
  );
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const mb = sizes[r.dataset].bytes / MiB;
    const s = (m) => (m ? `${f(m.wall)} (${f(m.wallMin)}–${f(m.wallMax)})` : '–');
    const tp = (m) => (m && r.kind === 'throughput' ? f(mb / m.wall, 1) : '–');
    const ratio = r.ratio === undefined ? '–' : `${f(r.ratio)}× ${r.kind === 'throughput' ? 'tput' : 'time'}`;
    const target = r.kind === 'throughput' ? `≥ ${r.target}×` : `≤ ${r.target}×`;
    lines.push(
      `| ${r.dataset} | ${r.config} | ${OP_LABEL[r.op]} | ${s(r.restic)} | ${s(r.resticTs)} | ${tp(r.restic)} | ${tp(r.resticTs)} | ${ratio} | ${target} | ${f(r.restic.rss, 0)} / ${r.resticTs ? f(r.resticTs.rss, 0) : '–'} | ${f(r.rssRatio)} | ${r.met === undefined ? '–' : r.met ? 'yes' : 'no'} |`,
    );
  }
  lines.push('');
  lines.push(
    'Throughput ratio = restic-ts MiB/s ÷ restic MiB/s (higher is better); time and RSS ratios = restic-ts ÷ restic (lower is better). "met" needs the ratio target and RSS ratio ≤ 1.',
  );
  for (const n of notes) lines.push(`Note: ${n}.`);
  return lines.join('\n');
}

function spliceReadme(md) {
  const file = path.join(root, 'README.md');
  const text = fs.readFileSync(file, 'utf8');
  const start = '<!-- bench:start -->';
  const end = '<!-- bench:end -->';
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error('README.md has no bench markers');
  fs.writeFileSync(file, text.slice(0, i + start.length) + '\n' + md + '\n' + text.slice(j));
  console.error('README.md bench table updated');
}

main();

#!/usr/bin/env node
// In-memory index cost, and RSS of a backup of many small files.
//
//   node --expose-gc bench/index-memory.js index [--blobs 1000000]
//       bytes per blob of MasterIndex (its typed arrays, and the JS heap + array-buffer
//       growth measured by process.memoryUsage) with N synthetic blobs in packs of 1,000,
//       and the time to load them from index JSON (decode + add, 50,000 blobs per file).
//   node bench/index-memory.js files [--files 200000] [--dir DIR]
//       peak RSS of `restic-ts backup` of N small files (1–4 KiB) vs. N/10 files: the growth
//       should stay near the index's share (blobs × bytes per blob), i.e. no per-file leak.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MasterIndex } from '../dist/repository/master-index.js';
import { encodeIndex, decodeIndex } from '../dist/format/index-file.js';
import { randomBytes } from './gen.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(here, '..', 'dist', 'cli.js');
const argv = process.argv.slice(2);
const arg = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const MiB = 1 << 20;

/** Resident memory after a full GC: what the index really costs (typed-array pages are touched). */
function rssNow() {
  globalThis.gc?.();
  globalThis.gc?.();
  return process.memoryUsage().rss;
}

function indexBench() {
  const N = Number(arg('blobs', '1000000'));
  const PER = 1000;
  const raw = randomBytes('index-bench', 0, Math.ceil((N * 32) / 16) * 16);
  const packs = [];
  for (let p = 0; p < N / PER; p++) {
    const blobs = [];
    for (let k = 0; k < PER; k++) {
      const n = p * PER + k;
      blobs.push({
        type: k % 50 ? 'data' : 'tree',
        id: raw.toString('hex', n * 32, n * 32 + 32),
        offset: k * 5000,
        length: 5000,
        uncompressedLength: k % 3 ? 0 : 9000,
      });
    }
    packs.push({ id: crypto.createHash('sha256').update(`pack${p}`).digest('hex'), blobs });
  }
  // index files as restic writes them (≤ 50,000 blobs each)
  const files = [];
  for (let i = 0; i < packs.length; i += 50) files.push(encodeIndex({ supersedes: [], packs: packs.slice(i, i + 50) }));
  packs.length = 0;
  // load = decode the JSON + add to the index; memory is measured around the add only
  const t0 = process.hrtime.bigint();
  const decoded = files.map((f) => decodeIndex(f).packs);
  const decodeS = Number(process.hrtime.bigint() - t0) / 1e9;
  const before = rssNow();
  const t1 = process.hrtime.bigint();
  const idx = new MasterIndex();
  for (const d of decoded) idx.addIndex(d);
  const addS = Number(process.hrtime.bigint() - t1) / 1e9;
  const after = rssNow();
  // lookups of present and absent IDs
  const t2 = process.hrtime.bigint();
  let hits = 0;
  for (let n = 0; n < N; n += 7) if (idx.has(n % 50 ? 'data' : 'tree', raw.toString('hex', n * 32, n * 32 + 32))) hits++;
  const lookupUs = (Number(process.hrtime.bigint() - t2) / 1e3 / Math.ceil(N / 7)).toFixed(2);
  const result = {
    blobs: idx.blobCount,
    packs: idx.packCount,
    indexFiles: files.length,
    indexJsonMiB: +(files.reduce((s, f) => s + f.length, 0) / MiB).toFixed(1),
    arrayBytesPerBlob: +(idx.arrayBytes / idx.blobCount).toFixed(1),
    rssDeltaBytesPerBlobNoisy: globalThis.gc ? +((after - before) / idx.blobCount).toFixed(1) : null,
    decodeJsonSeconds: +decodeS.toFixed(2),
    addToIndexSeconds: +addS.toFixed(2),
    lookupMicroseconds: +lookupUs,
    hits,
    target: '≤ 64 bytes per blob',
  };
  console.log(JSON.stringify(result));
  if (!globalThis.gc) console.error('(run with node --expose-gc for the RSS-measured figure)');
}

function filesBench() {
  const N = Number(arg('files', '200000'));
  const base = arg('dir', path.join(os.tmpdir(), 'restic-ts-bench'));
  const env = { ...process.env, RESTIC_PASSWORD: 'benchpass' };
  const make = (n) => {
    const dir = path.join(base, `small-${n}`);
    const marker = path.join(dir, '.complete');
    if (fs.existsSync(marker)) return dir;
    fs.rmSync(dir, { recursive: true, force: true });
    for (let i = 0; i < n; i++) {
      const d = path.join(dir, String(Math.floor(i / 1000)).padStart(4, '0'));
      if (i % 1000 === 0) fs.mkdirSync(d, { recursive: true });
      const size = 1024 + ((i * 2654435761) % 3072);
      fs.writeFileSync(
        path.join(d, `f${i}`),
        crypto
          .createHash('sha512')
          .update(`f${i}`)
          .digest()
          .toString('hex')
          .repeat(Math.ceil(size / 128))
          .slice(0, size),
      );
    }
    fs.writeFileSync(marker, '');
    return dir;
  };
  const out = {};
  for (const n of [Math.round(N / 10), N]) {
    const data = make(n);
    const repo = path.join(base, 'repo-files');
    fs.rmSync(repo, { recursive: true, force: true });
    spawnSync(process.execPath, [CLI, '-r', repo, 'init'], { env });
    const tf = path.join(base, 'time-files.txt');
    const t0 = Date.now();
    const r = spawnSync('/usr/bin/time', ['-v', '-o', tf, process.execPath, CLI, '-r', repo, 'backup', '-q', '--host', 'bench', data], {
      env,
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`backup failed: ${r.stderr}`);
    const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(fs.readFileSync(tf, 'utf8'))[1]) / 1024;
    out[n] = { files: n, seconds: (Date.now() - t0) / 1000, rssMiB: +rss.toFixed(1) };
    fs.rmSync(repo, { recursive: true, force: true });
    console.error(`${n} files: ${out[n].seconds.toFixed(1)} s, peak RSS ${out[n].rssMiB} MiB`);
  }
  const [small, large] = Object.values(out);
  const growth = large.rssMiB - small.rssMiB;
  // one data blob per file (files < MinSize are one chunk) + one tree per 1,000 files; ~57 B/blob
  const indexShare = ((large.files - small.files) * 64) / MiB;
  console.log(
    JSON.stringify({
      small,
      large,
      rssGrowthMiB: +growth.toFixed(1),
      indexShareMiB: +indexShare.toFixed(1),
      perExtraFileBytes: +((growth * MiB) / (large.files - small.files)).toFixed(0),
    }),
  );
}

if (argv[0] === 'files') filesBench();
else indexBench();

// Deterministic benchmark datasets (same recipe as shared/measurements.md's gen.js):
//   mixed: 20,000 random files of 1–64 KiB in 100 dirs + 4 × 100 MiB files alternating
//          8 MiB text-like / 8 MiB random regions (≈1.05 GiB)
//   big:   one 1 GiB random file
// Random bytes are an AES-CTR keystream of a label, text comes from a seeded PRNG.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

const MiB = 1 << 20;

export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const seedOf = (label) => crypto.createHash('sha256').update(label).digest().readUInt32LE(0);

export function randomBytes(label, off, len) {
  const key = crypto.createHash('sha256').update(label).digest();
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(off / 16), 8);
  return crypto.createCipheriv('aes-256-ctr', key, iv).update(Buffer.alloc(len));
}

const VOCAB = (() => {
  const r = mulberry32(12345);
  const syl = [
    'a',
    'e',
    'i',
    'o',
    'u',
    'ka',
    're',
    'to',
    'mi',
    'sa',
    'lo',
    'ne',
    'ti',
    'da',
    'po',
    'ru',
    'ch',
    'st',
    'th',
    'er',
    'in',
    'on',
    'an',
    'es',
  ];
  const out = [];
  for (let i = 0; i < 4096; i++) {
    let w = '';
    const n = 1 + (r() % 4);
    for (let j = 0; j < n; j++) w += syl[r() % syl.length];
    out.push(Buffer.from(w));
  }
  return out;
})();

export function textBytes(label, len) {
  const r = mulberry32(seedOf(label));
  const out = Buffer.allocUnsafe(len);
  let p = 0;
  let wordsLeft = 4 + (r() % 13);
  while (p < len) {
    const x = r();
    const w = (x & 63) === 0 ? Buffer.from(String(x >>> 12)) : VOCAB[(x >>> 6) & 4095];
    const n = Math.min(w.length, len - p);
    w.copy(out, p, 0, n);
    p += n;
    if (p >= len) break;
    if (--wordsLeft === 0) {
      out[p++] = ((x >>> 20) & 3) === 0 ? 0x2e : 0x0a;
      wordsLeft = 4 + (r() % 13);
    } else out[p++] = ((x >>> 24) & 15) === 0 ? 0x2c : 0x20;
  }
  return out;
}

export function generate(kind, dir, { scale = 1 } = {}) {
  const marker = path.join(dir, `.complete-${kind}-${scale}`);
  if (fs.existsSync(marker)) return;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  if (kind === 'big') {
    const size = Math.round(1024 * scale) * MiB;
    const fd = fs.openSync(path.join(dir, 'big.bin'), 'w');
    for (let off = 0; off < size; off += 16 * MiB)
      fs.writeSync(fd, randomBytes('big', off, Math.min(16 * MiB, size - off)), 0, Math.min(16 * MiB, size - off), off);
    fs.closeSync(fd);
  } else {
    const nSmall = Math.round(20000 * scale);
    const largeSize = Math.round(100 * scale) * MiB;
    for (let d = 0; d < 100; d++) fs.mkdirSync(path.join(dir, 'small', 'd' + String(d).padStart(3, '0')), { recursive: true });
    for (let i = 0; i < nSmall; i++) {
      const size = 1024 + (mulberry32(seedOf('size:' + i))() % (63 * 1024 + 1));
      fs.writeFileSync(
        path.join(dir, 'small', 'd' + String(i % 100).padStart(3, '0'), 'f' + String(i).padStart(5, '0') + '.bin'),
        randomBytes('small:' + i, 0, size),
      );
    }
    fs.mkdirSync(path.join(dir, 'large'));
    for (let f = 0; f < 4; f++) {
      const fd = fs.openSync(path.join(dir, 'large', `large${f}.dat`), 'w');
      for (let off = 0, k = 0; off < largeSize; off += 8 * MiB, k++) {
        const len = Math.min(8 * MiB, largeSize - off);
        const buf = k % 2 === 0 ? textBytes(`text:${f}:${k}`, len) : randomBytes(`large:${f}`, off, len);
        fs.writeSync(fd, buf, 0, len, off);
      }
      fs.closeSync(fd);
    }
  }
  fs.writeFileSync(marker, '');
}

export function datasetBytes(dir) {
  let total = 0;
  for (const name of fs.readdirSync(dir, { recursive: true })) {
    const st = fs.lstatSync(path.join(dir, name));
    if (st.isFile() && !name.toString().includes('.complete-')) total += st.size;
  }
  return total;
}

/** Files `modify` rewrites: ≈1 % of the dataset (mixed: every 100th small file; big: ten 1 MiB regions ≈ 1 %). */
function modifiedSmall(scale) {
  const n = Math.round(20000 * scale);
  const out = [];
  for (let i = 37; i < n; i += 100) out.push(i);
  return out;
}

/**
 * Change ≈1 % of a generated dataset (`revert` = put the original bytes back), as the
 * baseline measurements did: new random content of the same size, then a fresh mtime.
 */
export function modify(kind, dir, { scale = 1, revert = false } = {}) {
  if (kind === 'mixed') {
    for (const i of modifiedSmall(scale)) {
      const p = path.join(dir, 'small', 'd' + String(i % 100).padStart(3, '0'), 'f' + String(i).padStart(5, '0') + '.bin');
      const size = fs.statSync(p).size;
      fs.writeFileSync(p, randomBytes((revert ? 'small:' : 'mod:') + i, 0, size));
    }
  } else {
    const file = path.join(dir, 'big.bin');
    const size = fs.statSync(file).size;
    const fd = fs.openSync(file, 'r+');
    for (let k = 0; k < 10; k++) {
      const off = Math.floor((k * size) / 10 / MiB) * MiB + Math.floor(size / 20 / MiB) * MiB;
      const len = Math.min(Math.floor(size / 1000 / 16) * 16, size - off);
      fs.writeSync(fd, randomBytes(revert ? 'big' : 'bigmod', off, len), 0, len, off);
    }
    fs.closeSync(fd);
  }
}

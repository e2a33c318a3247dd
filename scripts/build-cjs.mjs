#!/usr/bin/env node
/**
 * The CommonJS build for require('restic-ts'): every library module of dist/ (tsc's ESM
 * output) transpiled one to one into dist/cjs/, with the .d.ts files beside them so
 * TypeScript sees CommonJS declarations there. `import.meta.url` becomes the URL of the ESM
 * twin, so worker threads and WASM files load from dist/ (the workers stay ES modules:
 * they use top-level await). The CLI is ESM only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist');
const out = path.join(dist, 'cjs');
const ESM_ONLY = /^(cli\.(js|d\.ts)|cli\/|parallel\/[a-z-]+-worker\.(js|d\.ts)$)/;

function files(dir, rel = '') {
  const found = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = path.posix.join(rel, e.name);
    if (e.isDirectory()) {
      if (r !== 'cjs') found.push(...files(dir, r));
    } else found.push(r);
  }
  return found;
}

fs.rmSync(out, { recursive: true, force: true });
const all = files(dist);
const js = all.filter((f) => f.endsWith('.js') && !ESM_ONLY.test(f));
await build({
  entryPoints: js.map((f) => path.join(dist, f)),
  outdir: out,
  outbase: dist,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  bundle: false,
  logLevel: 'warning',
  supported: { 'dynamic-import': false },
  define: { 'import.meta.url': '__esmTwinUrl' },
  banner: {
    js: `const __esmTwinUrl = require('node:url').pathToFileURL(__filename.replace(/([\\\\/])cjs[\\\\/](?!.*[\\\\/]cjs[\\\\/])/, '$1')).href;`,
  },
});
for (const f of all.filter((f) => f.endsWith('.d.ts') && !ESM_ONLY.test(f))) {
  fs.mkdirSync(path.dirname(path.join(out, f)), { recursive: true });
  fs.copyFileSync(path.join(dist, f), path.join(out, f));
}
fs.writeFileSync(path.join(out, 'package.json'), '{ "type": "commonjs" }\n');

/** Rewrites src/chunker/wasm-template.ts from the assembler: `npx vite-node scripts/chunker-wasm/regenerate.ts`. */
import fs from 'node:fs';
import { templateSource } from './asm.js';

const target = new URL('../../src/chunker/wasm-template.ts', import.meta.url);
fs.writeFileSync(target, templateSource());
process.stdout.write(`wrote ${target.pathname}\n`);

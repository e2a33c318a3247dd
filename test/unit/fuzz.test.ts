/**
 * Issue 18: property-based fuzzing of every decoder (pack header and trailer, index, tree,
 * snapshot, key, config, lock, encryption and unpacked framing, zstd frame, stored blob,
 * JSON, YAML, backup-server config and secrets, htpasswd, REST requests). Each input must
 * end in a value or one of our typed errors (ResticError), with bounded memory and no hang.
 * A short run here; `npm run fuzz` runs many more cases (FUZZ_RUNS) and prints the counts.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ResticError } from '../../src/errors.js';
import { startRestServer } from '../../src/rest-server/server.js';
import { fuzzTargets, httpRequest, sendRaw } from '../helpers/fuzz-targets.js';
import { tempDir } from '../helpers/tmp.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : undefined;
/** Memory a decoder may add while it runs (RSS), far below what a size bomb would take. */
const MEMORY_BOUND = 512 * 1024 * 1024;

const counts: Array<{ decoder: string; cases: number; ok: number; typed: number; peakMB: number }> = [];
/** Decoders whose property failed (an untyped error, a memory bound crossed, a hang). */
const failed: string[] = [];

afterAll(() => {
  const lines = counts.map(
    (c) =>
      `${c.decoder.padEnd(32)} ${String(c.cases).padStart(7)} ${String(c.ok).padStart(7)} ${String(c.typed).padStart(7)} ${String(c.peakMB).padStart(6)}`,
  );
  console.log(
    [
      'decoder                            cases      ok   typed  +MiB',
      ...lines,
      `failed: ${failed.length ? failed.join(', ') : 'none'} (seed ${SEED ?? 'random'}, ${RUNS} runs each)`,
    ].join('\n'),
  );
});

describe('fuzzing: every input gives a value or a typed error', () => {
  for (const t of fuzzTargets()) {
    it(t.name, async () => {
      const c = { decoder: t.name, cases: 0, ok: 0, typed: 0, peakMB: 0 };
      const base = process.memoryUsage.rss();
      let peak = base;
      failed.push(t.name); // until the property holds
      await fc.assert(
        fc.asyncProperty(t.arb, async (input) => {
          c.cases++;
          try {
            await t.run(input);
            c.ok++;
          } catch (err) {
            if (!(err instanceof ResticError)) throw err;
            c.typed++;
          }
          peak = Math.max(peak, process.memoryUsage.rss());
          expect(peak - base).toBeLessThan(MEMORY_BOUND);
        }),
        { numRuns: RUNS, seed: SEED },
      );
      c.peakMB = Math.round((peak - base) / 2 ** 20);
      counts.push(c);
      failed.pop();
      expect(c.cases).toBeGreaterThanOrEqual(RUNS);
    });
  }

  it('REST server requests', async () => {
    const tmp = tempDir('h18-fuzz-rest-');
    const root = path.join(tmp.dir, 'root');
    const server = await startRestServer({ path: root, listen: '127.0.0.1:0', noAuth: true });
    const c = { decoder: 'REST server requests', cases: 0, ok: 0, typed: 0, peakMB: 0 };
    failed.push(c.decoder);
    try {
      expect(
        await sendRaw(server.port, Buffer.from('POST /?create=true HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')),
      ).toBe(200);
      await fc.assert(
        fc.asyncProperty(httpRequest, async (req) => {
          c.cases++;
          const status = await sendRaw(server.port, req);
          // an answer (or a closed connection for unparseable HTTP), never an internal error
          expect(status === 0 || (status >= 200 && status < 500)).toBe(true);
          if (status >= 400 || status === 0) c.typed++;
          else c.ok++;
        }),
        { numRuns: RUNS, seed: SEED },
      );
      // still serving, and nothing written beside its root
      expect(await sendRaw(server.port, Buffer.from('GET /config HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))).toBeGreaterThan(0);
      expect(fs.readdirSync(tmp.dir)).toEqual(['root']);
      failed.pop();
    } finally {
      await server.close();
      tmp.cleanup();
    }
    counts.push(c);
  });
});

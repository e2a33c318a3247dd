/**
 * The layer rule (.dependency-cruiser.cjs) is itself tested: src/ keeps it, and each rule fires
 * on a small tree that breaks it, so a rule weakened by mistake fails here and not only in review.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseResult, type IForbiddenRuleType } from 'dependency-cruiser';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { forbidden } = createRequire(import.meta.url)(path.join(root, '.dependency-cruiser.cjs')) as { forbidden: IForbiddenRuleType[] };

/** Rule names broken per importing file, and how many modules the cruise read. */
async function violations(baseDir: string): Promise<{ byFile: Map<string, string[]>; modules: number }> {
  const out = await cruise(
    ['src'],
    { baseDir, validate: true, ruleSet: { forbidden }, tsPreCompilationDeps: true, doNotFollow: { path: 'node_modules' } },
    { extensions: ['.ts', '.js'] },
    { tsConfig: { fileName: path.join(root, 'tsconfig.json') } },
  );
  const { summary } = out.output as ICruiseResult;
  const byFile = new Map<string, string[]>();
  for (const v of summary.violations) byFile.set(v.from, [...(byFile.get(v.from) ?? []), v.rule.name].sort());
  return { byFile, modules: summary.totalCruised };
}

describe('layer rule', () => {
  const tmp = tempDir('restic-ts-layers-');
  afterAll(() => tmp.cleanup());

  it('src/ has no violation', async () => {
    const { byFile, modules } = await violations(root);
    expect(byFile).toEqual(new Map());
    expect(modules).toBeGreaterThan(150); // the .js specifiers resolved to the .ts sources
  });

  it('fires on an upward import, a cycle, I/O in format, a backend seeing the repository, commands importing each other', async () => {
    const files: Record<string, string> = {
      'src/errors.ts': 'export class E extends Error {}\n',
      'src/format/id.ts': "import { E } from '../errors.js';\nexport const id = E;\n",
      'src/format/impure.ts': "import fs from 'node:fs';\nexport const f = fs;\n",
      'src/format/upward.ts': "import { r } from '../repository/r.js';\nexport const u = r;\n",
      'src/repository/r.ts': "import { id } from '../format/id.js';\nexport const r = id;\n",
      'src/backends/b.ts': "import { id } from '../format/id.js';\nimport { r } from '../repository/r.js';\nexport const b = [id, r];\n",
      'src/walker/c1.ts': "import { c2 } from './c2.js';\nexport const c1 = () => c2;\n",
      'src/walker/c2.ts': "import { c1 } from './c1.js';\nexport const c2 = () => c1;\n",
      'src/ui/u.ts': "import { o } from '../operator/o.js';\nexport const u = o;\n",
      'src/operator/o.ts': 'export const o = 1;\n',
      'src/cli/cmd_a.ts': "import { b } from './cmd_b.js';\nimport { h } from './shared.js';\nexport const a = [b, h];\n",
      'src/cli/cmd_b.ts': 'export const b = 1;\n',
      'src/cli/shared.ts': "import { r } from '../repository/r.js';\nexport const h = r;\n",
    };
    for (const [name, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(tmp.dir, name)), { recursive: true });
      fs.writeFileSync(path.join(tmp.dir, name), text);
    }
    const { byFile } = await violations(tmp.dir);
    expect(Object.fromEntries(byFile)).toEqual({
      'src/format/impure.ts': ['format-is-pure'],
      'src/format/upward.ts': ['no-upward-from-format'],
      'src/backends/b.ts': ['backends-import-only-errors-and-ids', 'no-upward-from-backends'],
      // a cycle is reported once, from the module where the cruise meets it first
      'src/walker/c1.ts': ['no-circular'],
      'src/ui/u.ts': ['presentation-apart'],
      'src/cli/cmd_a.ts': ['commands-apart'],
    });
  });
});

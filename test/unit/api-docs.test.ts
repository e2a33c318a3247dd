/**
 * Every export of the root entry is documented, and every runtime export carries an
 * @example (issue 15 item 8): the API reference (`npm run docs`) is built from these.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const INDEX = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/index.ts');

describe('root entry documentation', () => {
  it('has a doc comment on every export and an example on every runtime export; at most 80 runtime names', () => {
    const program = ts.createProgram([INDEX], {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      noEmit: true,
    });
    const checker = program.getTypeChecker();
    const exports = checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(INDEX)!)!);
    const undocumented: string[] = [];
    const noExample: string[] = [];
    let values = 0;
    for (const s of exports) {
      const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
      if (!ts.displayPartsToString(target.getDocumentationComment(checker)).trim()) undocumented.push(s.name);
      if (!(target.flags & ts.SymbolFlags.Value)) continue;
      values++;
      if (!target.getJsDocTags(checker).some((t) => t.name === 'example')) noExample.push(s.name);
    }
    expect(undocumented).toEqual([]);
    expect(noExample).toEqual([]);
    expect(values).toBeLessThanOrEqual(80);
    expect(values).toBeGreaterThan(30);
  }, 60_000);
});

// Prints vitest's result per project (test/<project>/…), then the plain closing line CI
// understands: "N passed, N failed, N skipped".
import fs from 'node:fs';
const r = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const per = new Map();
for (const file of r.testResults ?? []) {
  const project = /[\\/]test[\\/]([^\\/]+)[\\/]/.exec(file.name)?.[1] ?? 'other';
  const c = per.get(project) ?? { passed: 0, failed: 0, skipped: 0 };
  for (const a of file.assertionResults ?? []) {
    if (a.status === 'passed') c.passed++;
    else if (a.status === 'failed') c.failed++;
    else c.skipped++;
  }
  per.set(project, c);
}
for (const [project, c] of [...per].sort()) console.log(`  ${project}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`);
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);

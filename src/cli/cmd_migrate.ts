import { IntegrityError } from '../errors.js';
import { MIGRATIONS, structuralProblems } from '../repository/migrations.js';
import type { Command } from './command.js';
import { openRepository, withLock } from './global.js';

/**
 * restic's `migrate`: without arguments list the migrations that apply; with names apply
 * them under an exclusive lock, checking the repository first when the migration asks for it.
 * A migration that does not apply is skipped with restic's warning (exit 0) unless --force.
 */
export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'Apply migrations',
  usage: 'restic-ts migrate [flags] [migration name] [...]',
  options: [{ name: 'force', short: 'f', kind: 'bool', help: 'apply a migration a second time' }],
  async run(ctx, args) {
    const repo = await openRepository(ctx);
    const out = (s: string) => {
      if (!ctx.quiet) ctx.stdout(s);
    };
    let firstError: unknown = null;
    try {
      await withLock(
        ctx,
        repo,
        true,
        async () => {
          if (!args.length) {
            out('available migrations:\n');
            let found = false;
            for (const m of MIGRATIONS) {
              if (!(await m.check(repo))) continue;
              out(`  ${m.name}\t${m.desc}\n`);
              found = true;
            }
            if (!found) out('no migrations found\n');
            return;
          }
          for (const name of args) {
            const m = MIGRATIONS.find((x) => x.name === name);
            if (!m) {
              ctx.stderr(`unknown migration ${JSON.stringify(name)}\n`);
              firstError ??= new IntegrityError(`unknown migration ${name}`);
              continue;
            }
            if (!(await m.check(repo))) {
              if (!ctx.opts['force']) {
                ctx.stderr(
                  `migration ${m.name} cannot be applied: check failed\nIf you want to apply this migration anyway, re-run with option --force\n`,
                );
                continue;
              }
              ctx.stderr(`check for migration ${m.name} failed, continuing anyway\n`);
            }
            if (m.repoCheck) {
              out('checking repository integrity...\n');
              const problems = await structuralProblems(repo);
              if (problems.length) {
                for (const p of problems) ctx.stderr(`${p}\n`);
                throw new IntegrityError(`repository contains errors, migration ${m.name} not applied`);
              }
              out('no errors were found\n');
            }
            out(`applying migration ${m.name}...\n`);
            try {
              await m.apply(repo);
            } catch (err) {
              ctx.stderr(`migration ${m.name} failed: ${(err as Error).message}\n`);
              firstError ??= err;
              continue;
            }
            out(`migration ${m.name}: success\n`);
          }
        },
        { honourNoLock: false },
      );
    } finally {
      await repo.close();
    }
    if (firstError) throw firstError;
    return 0;
  },
};

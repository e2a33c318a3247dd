import { IntegrityError } from '../errors.js';
import { MIGRATIONS, structuralProblems } from '../repository/migrations.js';
import type { Command } from './command.js';
import { type GlobalContext, openRepository, withLock } from './global.js';
import type { Repository } from '../repository/repository.js';

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
          if (!args.length) return listMigrations(repo, out);
          for (const name of args) {
            const err = await runMigration(ctx, repo, name, out);
            if (err !== undefined) firstError ??= err;
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

/** The migrations whose check passes. */
async function listMigrations(repo: Repository, out: (s: string) => void): Promise<void> {
  out('available migrations:\n');
  let found = false;
  for (const m of MIGRATIONS) {
    if (!(await m.check(repo))) continue;
    out(`  ${m.name}\t${m.desc}\n`);
    found = true;
  }
  if (!found) out('no migrations found\n');
}

/**
 * Apply one migration by name; returns the error to exit with later (unknown name, failed
 * migration), undefined otherwise. A damaged repository throws.
 */
async function runMigration(ctx: GlobalContext, repo: Repository, name: string, out: (s: string) => void): Promise<unknown> {
  const m = MIGRATIONS.find((x) => x.name === name);
  if (!m) {
    ctx.stderr(`unknown migration ${JSON.stringify(name)}\n`);
    return new IntegrityError(`unknown migration ${name}`);
  }
  if (!(await m.check(repo))) {
    if (!ctx.opts['force']) {
      ctx.stderr(
        `migration ${m.name} cannot be applied: check failed\nIf you want to apply this migration anyway, re-run with option --force\n`,
      );
      return undefined;
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
    return err;
  }
  out(`migration ${m.name}: success\n`);
  return undefined;
}

/**
 * Repository migrations as restic 0.14's `migrate` offers them. `upgrade_repo_v2` rewrites
 * the config with version 2 after an integrity check, keeping a copy of the old config in
 * a temporary directory until the new one is stored (and putting it back on failure).
 * The Repository object keeps its old config: reopen it to use the new version.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encrypt, decrypt } from '../crypto/index.js';
import { IntegrityError, ResticError } from '../errors.js';
import { decodeConfig, encodeConfig } from '../format/config.js';
import type { OperationOptions, Repository } from './repository.js';

/** A repository migration (restic's `migrate`). */
export interface Migration {
  name: string;
  desc: string;
  /** Whether the migration applies to this repository. */
  check(repo: Repository): Promise<boolean>;
  /** Whether the repository must pass an integrity check first. */
  repoCheck: boolean;
  /** Apply it under an exclusive lock (see OperationOptions; the CLI's lock is reused). */
  apply(repo: Repository, opts?: OperationOptions): Promise<void>;
}

class UpgradeRepoV2Error extends ResticError {}

/**
 * `upgrade_repo_v2`: a version 1 repository becomes version 2 (compression); runs under an exclusive lock.
 *
 * @example
 * ```ts
 * if (await upgradeRepoV2.check(repo) && (await structuralProblems(repo)).length === 0) await upgradeRepoV2.apply(repo);
 * ```
 */
export const upgradeRepoV2: Migration = {
  name: 'upgrade_repo_v2',
  desc: 'upgrade a repository to version 2',
  repoCheck: true,
  async check(repo) {
    return repo.config.version === 1;
  },
  apply(repo, opts) {
    return repo.runLocked('migrate upgrade_repo_v2', true, opts, () => applyUpgradeRepoV2(repo));
  },
};

async function applyUpgradeRepoV2(repo: Repository): Promise<void> {
  const h = { type: 'config' as const, name: 'config' };
  const raw = await repo.backend.load(h);
  const tempdir = fs.mkdtempSync(path.join(os.tmpdir(), 'restic-migrate-upgrade-repo-v2-'));
  const backupFile = path.join(tempdir, 'config');
  try {
    fs.writeFileSync(backupFile, raw, { mode: 0o600 });
  } catch (err) {
    throw new ResticError(`write config file backup to ${tempdir} failed: ${(err as Error).message}`, { cause: err });
  }
  const next = encrypt(repo.key, encodeConfig({ ...repo.config, version: 2 }));
  try {
    await saveReplacing(repo, next);
    const back = decodeConfig(decrypt(repo.key, await repo.backend.load(h)));
    if (back.version !== 2 || back.id !== repo.config.id || back.chunkerPolynomial !== repo.config.chunkerPolynomial) {
      throw new IntegrityError('the stored config does not read back as the upgraded one');
    }
  } catch (err) {
    const cause = (err as Error).message;
    try {
      await repo.backend.remove(h);
      await repo.backend.save(h, raw);
    } catch (reErr) {
      throw new UpgradeRepoV2Error(
        `error uploading config (${cause}), re-uploading old config failed as well (${(reErr as Error).message}), but there is a backup of the config file in ${backupFile}`,
        { cause: err },
      );
    }
    throw new UpgradeRepoV2Error(
      `error uploading config (${cause}), re-uploaded old config was successful, there is a backup of the config file in ${backupFile}`,
      { cause: err },
    );
  }
  fs.rmSync(tempdir, { recursive: true, force: true });
}

/** Overwrite the config; stores that refuse to replace a file get it removed first. */
async function saveReplacing(repo: Repository, bytes: Uint8Array): Promise<void> {
  const h = { type: 'config' as const, name: 'config' };
  try {
    await repo.backend.save(h, bytes);
  } catch {
    await repo.backend.remove(h);
    await repo.backend.save(h, bytes);
  }
}

/**
 * Every migration restic 0.14's `migrate` offers.
 *
 * @example
 * ```ts
 * for (const m of MIGRATIONS) if (await m.check(repo)) console.log(m.name, '-', m.desc);
 * ```
 */
export const MIGRATIONS: readonly Migration[] = [upgradeRepoV2];

/** restic's packer header: 4-byte length trailer, encrypted header (IV + MAC), 37/41 bytes per entry. */
function predictedPackSize(blobs: Array<{ length: number; uncompressedLength: number }>): number {
  let size = 4 + 32;
  for (const b of blobs) size += b.length + (b.uncompressedLength ? 41 : 37);
  return size;
}

/**
 * The structural checks a migration needs before it touches the config: every indexed
 * pack exists with the size its index entries predict, and every tree of every snapshot
 * loads and verifies with all its data blobs indexed. Returns the problems found (empty
 * when the repository is sound). Unreferenced packs are not problems, as in restic.
 *
 * @example
 * ```ts
 * const problems = await structuralProblems(repo);
 * if (problems.length) console.error(problems.join('\n'));
 * ```
 */
export async function structuralProblems(repo: Repository, limit = 20): Promise<string[]> {
  const problems: string[] = [];
  const add = (p: string) => {
    if (problems.length < limit) problems.push(p);
  };
  if (repo.index.packCount === 0) await repo.loadIndex();
  const sizes = new Map<string, number>();
  for await (const f of repo.backend.list('pack')) sizes.set(f.name, f.size);
  for (const p of repo.index.allPacks()) {
    const size = sizes.get(p.id);
    if (size === undefined) add(`pack ${p.id}: does not exist`);
    else if (size !== predictedPackSize(p.blobs))
      add(`pack ${p.id}: unexpected file size: got ${size}, expected ${predictedPackSize(p.blobs)}`);
  }
  const seen = new Set<string>();
  const queue: string[] = [];
  for (const { id, snapshot } of await repo.listSnapshots()) {
    if (!snapshot.tree) add(`snapshot ${id.slice(0, 8)} has no tree`);
    else queue.push(snapshot.tree);
  }
  while (queue.length) {
    const treeId = queue.pop()!;
    if (seen.has(treeId)) continue;
    seen.add(treeId);
    let nodes;
    try {
      nodes = await repo.loadTree(treeId);
    } catch (err) {
      add(`tree ${treeId}: ${(err as Error).message}`);
      continue;
    }
    for (const n of nodes) {
      if (n.type === 'dir') {
        if (n.subtree) queue.push(n.subtree);
        else add(`tree ${treeId}: dir ${JSON.stringify(Buffer.from(n.name).toString())} has no subtree`);
      } else if (n.type === 'file') {
        for (const blob of n.content ?? [])
          if (!repo.index.has('data', blob))
            add(`tree ${treeId}: file ${JSON.stringify(Buffer.from(n.name).toString())} blob ${blob} not found in index`);
      }
    }
  }
  return problems;
}

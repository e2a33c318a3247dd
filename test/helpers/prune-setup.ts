/**
 * A repository with a history of changing data, for prune and check tests: each snapshot
 * backs up its own state directory (kept on disk as the reference for restores); between
 * states about a third of the files change, some disappear and new ones appear, so removing
 * snapshots leaves packs partly used.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LocalBackend, Repository, backup } from '../../src/index.js';
import { PackWriter } from '../../src/format/pack.js';
import { encodeBlob } from '../../src/format/blob-codec.js';
import { hashId } from '../../src/format/id.js';
import { pseudoRandom } from './gentree.js';

export const PASSWORD = 'prune test password';
export const CHEAP_KDF = { N: 1024, r: 8, p: 1 };

export interface History {
  repo: string;
  /** Snapshot IDs, oldest first. */
  snapshots: string[];
  /** Directory each snapshot backed up (its reference content). */
  states: string[];
}

function writeState(dir: string, state: number, files: number): void {
  for (let j = 0; j < files; j++) {
    if ((j + state) % 11 === 0) continue; // some files come and go
    let version = 0;
    for (let k = 1; k <= state; k++) if ((j + k) % 3 === 0) version++;
    const size = 8_000 + ((j * 7919) % 60_000);
    const p = path.join(dir, `d${j % 3}`, `f${j}.bin`);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, pseudoRandom(`file ${j} version ${version}`, size));
    const t = 1_650_000_000 + j * 60 + version;
    fs.utimesSync(p, t, t);
  }
  for (const d of fs.readdirSync(dir)) fs.utimesSync(path.join(dir, d), 1_650_000_000, 1_650_000_000);
}

export async function buildHistory(
  root: string,
  opts: { states?: number; files?: number; packSize?: number; version?: number } = {},
): Promise<History> {
  const repoPath = path.join(root, 'repo');
  const repo = await Repository.init(new LocalBackend(repoPath), PASSWORD, {
    kdf: CHEAP_KDF,
    packSize: opts.packSize ?? 96 * 1024,
    version: opts.version ?? 2,
    workers: 0,
  });
  const snapshots: string[] = [];
  const states: string[] = [];
  for (let i = 0; i < (opts.states ?? 4); i++) {
    const dir = path.join(root, `state-${i}`);
    writeState(dir, i, opts.files ?? 40);
    const r = await backup(repo, [dir], { hostname: 'prunehost', time: `2022-05-0${i + 1}T10:00:00Z` });
    snapshots.push(r.snapshotId);
    states.push(dir);
  }
  await repo.close();
  return { repo: repoPath, snapshots, states };
}

/** Store `n` valid packs that no index lists (as an interrupted backup leaves behind). */
export async function addUnreferencedPacks(repoPath: string, n: number): Promise<string[]> {
  const repo = await Repository.open(new LocalBackend(repoPath), PASSWORD, { workers: 0 });
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const w = new PackWriter();
    const plain = pseudoRandom(`unreferenced ${i}`, 5000);
    const enc = encodeBlob(repo.key, repo.version, 'auto', 'data', plain);
    w.add('data', hashId(plain), enc.encrypted, enc.uncompressedLength);
    const { id, bytes } = w.finish(repo.key);
    await repo.backend.save({ type: 'pack', name: id }, bytes);
    ids.push(id);
  }
  await repo.close();
  return ids;
}

/** Delete snapshot files through our API (what forget does). */
export async function removeSnapshots(repoPath: string, ids: string[]): Promise<void> {
  const backend = new LocalBackend(repoPath);
  for (const id of ids) await backend.remove({ type: 'snapshot', name: id });
  await backend.close();
}

export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/** Copy a repository directory (restic makes files read-only; copies stay writable). */
export function copyRepo(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true, preserveTimestamps: true });
  for (const f of listFiles(to)) fs.chmodSync(path.join(to, f), 0o644);
}

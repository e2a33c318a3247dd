import { NotFoundError, UsageError } from '../errors.js';
import type { Command } from './command.js';
import { type GlobalContext, openRepository, withLock } from './global.js';
import { Out } from '../ui/output.js';
import { parseIdProblem, warn } from './read-common.js';
import type { Repository } from '../repository/repository.js';
import type { FileType } from '../backends/backend.js';
import { encodeConfig } from '../format/config.js';
import { decodeKeyFile, encodeKeyFile } from '../format/key.js';
import { decodeLock, encodeLock } from '../format/lock-file.js';
import { hashId, isId } from '../format/id.js';
import { clampR, encodeMasterKey } from '../crypto/index.js';
import { findSnapshot } from '../walker/select.js';
import { findTreeDirectory } from '../walker/walker.js';
import { bstrFromText } from '../go/bytestring.js';
import { goIndentJson } from '../go/json-indent.js';
import { goTimeJson } from '../go/time.js';
import { snapshotJson014 } from '../format/snapshot.js';

/** restic.ParseID's complaint about a string that is not a 64-hex ID. */
function parseIdError(s: string): string {
  return `unable to parse ID: ${parseIdProblem(s)}`;
}

/** A full ID, or (an extension of restic 0.14) the file of that type whose name starts with the given prefix. */
async function resolveFile(repo: Repository, type: FileType, s: string): Promise<string> {
  if (parseIdProblem(s) === null) return s.toLowerCase();
  if (!/^[0-9a-f]+$/.test(s)) throw new UsageError(parseIdError(s));
  return repo.resolveId(type, s);
}

/** What one `cat` kind prints from: the opened repository and the ID (or spec) argument. */
interface Cat {
  ctx: GlobalContext;
  repo: Repository;
  out: Out;
  arg: string;
}

/** One printer per object kind, as restic's runCat switch; in the order restic lists the kinds. */
const PRINTERS: Record<string, (c: Cat) => Promise<void>> = {
  config: catConfig,
  index: catIndex,
  snapshot: catSnapshot,
  key: catKey,
  masterkey: catMasterKey,
  lock: catLock,
  pack: catPack,
  blob: catBlob,
  tree: catTree,
};
const TYPES = Object.keys(PRINTERS);

export const catCommand: Command = {
  name: 'cat',
  summary: 'Print internal objects to stdout',
  usage: 'restic-ts cat [flags] [masterkey|config|pack ID|blob ID|snapshot ID|index ID|key ID|lock ID|tree ID|tree snapshot:subfolder]',
  options: [],
  async run(ctx, args) {
    if (args.length < 1) throw new UsageError('type not specified');
    const type = args[0]!;
    if (!TYPES.includes(type)) throw new UsageError(`invalid type ${JSON.stringify(type)}, must be one of [${TYPES.join('|')}]`);
    if (type !== 'masterkey' && type !== 'config' && args.length !== 2) throw new UsageError('ID not specified');
    const arg = args[1] ?? '';
    const repo = await openRepository(ctx);
    const out = new Out();
    try {
      await withLock(ctx, repo, false, () => PRINTERS[type]!({ ctx, repo, out, arg }));
    } finally {
      await out.flush();
      await repo.close();
    }
    return 0;
  },
};

async function catConfig({ repo, out }: Cat): Promise<void> {
  await out.text(goIndentJson(Buffer.from(encodeConfig(repo.config)).toString()) + '\n');
}

async function catMasterKey({ repo, out }: Cat): Promise<void> {
  const key = { ...repo.key, mac: { k: repo.key.mac.k, r: clampR(repo.key.mac.r) } };
  await out.text(goIndentJson(encodeMasterKey(key)) + '\n');
}

async function catIndex({ repo, out, arg }: Cat): Promise<void> {
  const id = await resolveFile(repo, 'index', arg);
  await out.bytes(await repo.loadUnpacked('index', id));
  await out.text('\n');
}

async function catSnapshot({ repo, out, arg }: Cat): Promise<void> {
  const sn = await findSnapshotOrUsage(repo, arg);
  await out.text(goIndentJson(snapshotJson014(sn.snapshot)) + '\n');
}

async function catKey({ repo, out, arg }: Cat): Promise<void> {
  const id = await resolveFile(repo, 'key', arg);
  const k = decodeKeyFile(await repo.backend.load({ type: 'key', name: id }), id);
  await out.text(goIndentJson(Buffer.from(encodeKeyFile({ ...k, created: goTimeJson(k.created) })).toString()) + '\n');
}

async function catLock({ repo, out, arg }: Cat): Promise<void> {
  const id = await resolveFile(repo, 'lock', arg);
  const l = decodeLock(await repo.loadUnpacked('lock', id));
  await out.text(goIndentJson(Buffer.from(encodeLock({ ...l, time: goTimeJson(l.time) })).toString()) + '\n');
}

async function catPack({ ctx, repo, out, arg }: Cat): Promise<void> {
  const id = await resolveFile(repo, 'pack', arg);
  const data = await repo.backend.load({ type: 'pack', name: id });
  const hash = hashId(data);
  if (hash !== id) warn(ctx, `Warning: hash of data does not match ID, want\n  ${id}\ngot:\n  ${hash}`);
  await out.bytes(data);
}

async function catBlob({ repo, out, arg }: Cat): Promise<void> {
  if (parseIdProblem(arg) !== null) throw new UsageError(parseIdError(arg));
  const id = arg.toLowerCase();
  await repo.loadIndex();
  for (const t of ['data', 'tree'] as const) {
    if (!repo.index.has(t, id)) continue;
    await out.bytes(await repo.loadBlob(t, id));
    return;
  }
  throw new NotFoundError('blob not found');
}

/** A tree ID, or `snapshot:subfolder`. */
async function catTree({ repo, out, arg }: Cat): Promise<void> {
  await repo.loadIndex();
  let treeId: string;
  if (isId(arg) && repo.index.has('tree', arg)) treeId = arg;
  else {
    const i = arg.indexOf(':');
    const spec = i >= 0 ? arg.slice(0, i) : arg;
    const sub = i >= 0 ? arg.slice(i + 1) : '';
    const sn = await findSnapshotOrUsage(repo, spec);
    if (!sn.snapshot.tree) throw new UsageError(`snapshot ${sn.id.slice(0, 8)} has no tree`);
    treeId = await findTreeDirectory(repo, sn.snapshot.tree, bstrFromText(sub));
  }
  await out.bytes(await repo.loadBlob('tree', treeId));
}

async function findSnapshotOrUsage(repo: Repository, spec: string): ReturnType<typeof findSnapshot> {
  try {
    return await findSnapshot(repo, spec);
  } catch (err) {
    throw new UsageError(`could not find snapshot: ${(err as Error).message}`);
  }
}

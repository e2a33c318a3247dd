import { UsageError, throwIfAborted } from '../errors.js';
import type { Command } from './command.js';
import { type GlobalContext, openRepository, withLock } from './global.js';
import { Out } from '../ui/output.js';
import { parseIdProblem, snapshotFilter, snapshotFilterOptions, verbose, warn } from './read-common.js';
import type { Repository } from '../repository/repository.js';
import type { Node } from '../format/node.js';
import { readPackHeader } from '../format/pack.js';
import { type ByteString, bstrFromText } from '../go/bytestring.js';
import { type FoundSnapshot, findFilteredSnapshots } from '../walker/select.js';
import { type FindObjectKind, Finder, type Instant, parseFindTime } from '../walker/find.js';
import { findNodeJson, formatLocalTime, formatNodeLine, jsonBstr } from '../ui/format.js';
import { goTimeJson } from '../go/time.js';

/** restic's statefulOutput: groups matches per snapshot, as text or one JSON array. */
class FindOutput {
  private inuse = false;
  private newsn: FoundSnapshot | null = null;
  private oldsn: FoundSnapshot | null = null;
  private hits = 0;

  constructor(
    private readonly ctx: GlobalContext,
    private readonly out: Out,
    private readonly long: boolean,
  ) {}

  startSnapshot(sn: FoundSnapshot): void {
    this.newsn = sn;
  }

  async pattern(path: ByteString, node: Node): Promise<void> {
    throwIfAborted(this.ctx.signal, 'find');
    const out = this.out;
    if (this.ctx.json) {
      if (!this.inuse) {
        await out.text('[');
        this.inuse = true;
      }
      if (this.newsn !== this.oldsn) {
        if (this.oldsn) await out.text(`],"hits":${this.hits},"snapshot":"${this.oldsn.id}"},`);
        await out.text('{"matches":[');
        this.oldsn = this.newsn;
        this.hits = 0;
      }
      if (this.hits > 0) await out.text(',');
      await out.text(findNodeJson(path, node));
      this.hits++;
      return;
    }
    if (this.newsn !== this.oldsn) {
      if (this.oldsn && verbose(this.ctx)) await out.text('\n');
      this.oldsn = this.newsn;
      const sn = this.oldsn!;
      if (verbose(this.ctx))
        await out.text(`Found matching entries in snapshot ${sn.id.slice(0, 8)} from ${formatLocalTime(sn.snapshot.time)}\n`);
    }
    await out.bstr(formatNodeLine(path, node, this.long) + '\n');
  }

  async object(kind: FindObjectKind, id: string, path: ByteString, treeId: string, sn: FoundSnapshot): Promise<void> {
    const out = this.out;
    if (this.ctx.json) {
      if (!this.inuse) {
        await out.text('[');
        this.inuse = true;
      }
      if (this.hits > 0) await out.text(',');
      await out.text(
        `{"object_type":"${kind}","id":"${id}","path":${jsonBstr(path)}` +
          (treeId ? `,"parent_tree":"${treeId}"` : '') +
          `,"snapshot":"${sn.id}","time":"${goTimeJson(sn.snapshot.time)}"}`,
      );
      this.hits++;
      return;
    }
    await out.text(`Found ${kind} ${id}\n`);
    if (kind === 'blob') {
      await out.bstr(` ... in file ${path}\n`);
      await out.text(`     (tree ${treeId})\n`);
    } else await out.bstr(` ... path ${path}\n`);
    await out.text(` ... in snapshot ${sn.id.slice(0, 8)} (${formatLocalTime(sn.snapshot.time)})\n`);
  }

  async finish(): Promise<void> {
    if (!this.ctx.json) return;
    if (this.oldsn) await this.out.text(`],"hits":${this.hits},"snapshot":"${this.oldsn.id}"}`);
    await this.out.text(this.inuse ? ']\n' : '[]\n');
  }
}

/** restic's packsToBlobs: the blob IDs of the given packs (full or 8-character IDs). */
async function packsToBlobs(ctx: GlobalContext, repo: Repository, packs: string[], blobs: Set<string>): Promise<void> {
  const wanted = new Set(packs);
  for await (const f of repo.backend.list('pack')) {
    if (!wanted.size) break;
    const key = wanted.has(f.name) ? f.name : wanted.has(f.name.slice(0, 8)) ? f.name.slice(0, 8) : null;
    if (!key) continue;
    wanted.delete(key);
    const { blobs: list } = await readPackHeader(repo.backend, repo.key, f.name, f.size);
    for (const b of list) blobs.add(b.id);
  }
  if (wanted.size) {
    const fromIndex = new Set<string>();
    for (const pack of repo.index.allPacks()) {
      const key = wanted.has(pack.id) ? pack.id : wanted.has(pack.id.slice(0, 8)) ? pack.id.slice(0, 8) : null;
      if (!key) continue;
      for (const b of pack.blobs) blobs.add(b.id);
      fromIndex.add(pack.id);
      wanted.delete(key);
      wanted.delete(pack.id);
    }
    if (fromIndex.size) {
      warn(
        ctx,
        `some pack files are missing from the repository, getting their blobs from the repository index: [${[...fromIndex].join(' ')}]\n`,
      );
    }
  }
  if (wanted.size) throw new UsageError(`unable to find pack(s): [${[...wanted].sort().join(' ')}]`);
}

export const findCommand: Command = {
  name: 'find',
  summary: 'Find a file, a directory or restic IDs',
  usage: 'restic-ts find [flags] PATTERN...',
  options: [
    { name: 'oldest', short: 'O', kind: 'string', help: 'oldest modification date/time' },
    { name: 'newest', short: 'N', kind: 'string', help: 'newest modification date/time' },
    { name: 'snapshot', short: 's', kind: 'list', help: 'snapshot id to search in (can be given multiple times)' },
    { name: 'blob', kind: 'bool', help: 'pattern is a blob-ID' },
    { name: 'tree', kind: 'bool', help: 'pattern is a tree-ID' },
    { name: 'pack', kind: 'bool', help: 'pattern is a pack-ID' },
    { name: 'show-pack-id', kind: 'bool', help: 'display the pack-ID the blobs belong to (with --blob or --tree)' },
    { name: 'ignore-case', short: 'i', kind: 'bool', help: 'ignore case for pattern' },
    { name: 'long', short: 'l', kind: 'bool', help: 'use a long listing format showing size and mode' },
    ...snapshotFilterOptions(', when no snapshot ID is given'),
  ],
  async run(ctx, args) {
    if (args.length === 0) throw new UsageError('wrong number of arguments');
    const o = ctx.opts;
    let oldest: Instant | undefined;
    let newest: Instant | undefined;
    if (o['oldest']) oldest = parseFindTime(o['oldest'] as string);
    if (o['newest']) newest = parseFindTime(o['newest'] as string);
    const [blobMode, treeMode, packMode] = [!!o['blob'], !!o['tree'], !!o['pack']];
    if (Number(blobMode) + Number(treeMode) + Number(packMode) > 1) throw new UsageError('cannot have several ID types');
    const repo = await openRepository(ctx);
    const out = new Out();
    const output = new FindOutput(ctx, out, !!o['long']);
    try {
      await withLock(ctx, repo, false, async () => {
        await repo.loadIndex();
        const finder = new Finder(repo, { patterns: args.map(bstrFromText), ignoreCase: !!o['ignore-case'], oldest, newest });
        const patterns = o['ignore-case'] ? args.map((a) => a.toLowerCase()) : args;
        const ids = await idsToFind(ctx, repo, patterns, blobMode, treeMode, packMode);
        const snapshots = await findFilteredSnapshots(repo, snapshotFilter(ctx), (o['snapshot'] as string[] | undefined) ?? [], (m) =>
          warn(ctx, m),
        );
        for (const sn of snapshots) await searchSnapshot(finder, output, out, sn, ids);
        await output.finish();
        if (o['show-pack-id'] && (ids.blobs || ids.trees)) await showPackIds(repo, out, ids);
      });
    } finally {
      await out.flush();
      await repo.close();
    }
    return 0;
  },
};

/** The blob and tree IDs searched for with --blob, --tree or --pack; none when searching names. */
interface WantedIds {
  blobs?: Set<string>;
  trees?: Set<string>;
}

async function idsToFind(
  ctx: GlobalContext,
  repo: Repository,
  patterns: string[],
  blobMode: boolean,
  treeMode: boolean,
  packMode: boolean,
): Promise<WantedIds> {
  const ids: WantedIds = {};
  if (blobMode) ids.blobs = new Set(patterns);
  if (treeMode) ids.trees = new Set(patterns);
  if (packMode) {
    ids.blobs = new Set();
    await packsToBlobs(ctx, repo, patterns, ids.blobs);
  }
  return ids;
}

async function searchSnapshot(finder: Finder, output: FindOutput, out: Out, sn: FoundSnapshot, ids: WantedIds): Promise<void> {
  output.startSnapshot(sn);
  const onTreeError = (parent: string) => void out.text(`Unable to load tree ${parent}\n ... which belongs to snapshot ${sn.id}\n`);
  if (ids.blobs || ids.trees) {
    await finder.findIds(sn, ids, (kind, id, path, parentTree) => output.object(kind, id, path, parentTree, sn), onTreeError);
  } else {
    await finder.findInSnapshot(sn, (path, node) => output.pattern(path, node), onTreeError);
  }
}

/** --show-pack-id: the pack of each searched blob or tree, from the index. */
async function showPackIds(repo: Repository, out: Out, { blobs, trees }: WantedIds): Promise<void> {
  for (const [ids, type] of [
    [blobs, 'data'],
    [trees, 'tree'],
  ] as const) {
    for (const id of ids ?? []) {
      const why = parseIdProblem(id);
      if (why !== null) {
        await out.text(`Note: cannot find pack for object '${id}', unable to parse ID: ${why}\n`);
        continue;
      }
      const loc = repo.index.lookup(type, id.toLowerCase())[0];
      if (!loc) {
        await out.text(`Object ${id.slice(0, 8).toLowerCase()} not found in the index\n`);
        continue;
      }
      await out.text(
        `Object belongs to pack ${loc.packId}\n ... Pack ${loc.packId.slice(0, 8)}: ` +
          `<Blob (${type}) ${id.slice(0, 8)}, offset ${loc.offset}, length ${loc.length}, uncompressed length ${loc.uncompressedLength}>\n`,
      );
    }
  }
}

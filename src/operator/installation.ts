/**
 * Backup and restore of a Che installation in the layout Che's operator produced with
 * `restic backup .` in /tmp/che-backup-data:
 *
 *   che-cr.yaml  db/<name>.sql  configmaps/<name>.yaml  secrets/<name>.yaml  backup-info.yaml
 *
 * at the root of the snapshot's tree, snapshot paths ["/tmp/che-backup-data"], files 0600,
 * the three folders 0755 and always present.
 * Nothing touches the local disk: manifests are serialised in memory and database dumps are
 * chunked as they stream in.
 */
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { type EntryContent, type VirtualEntry, backupEntries } from '../archiver/virtual.js';
import { IntegrityError, NotFoundError, UsageError } from '../errors.js';
import { shortId } from '../format/id.js';
import type { Node } from '../format/node.js';
import type { Repository } from '../repository/repository.js';
import type { Snapshot } from '../format/snapshot.js';
import { Restorer, type RestoreStats, readFileContent } from '../restorer/restorer.js';
import { VERSION } from '../version.js';
import { goNowString } from './status.js';
import { parseYaml, sortKeysAsGoYaml, toYaml, type YamlValue } from './yaml.js';

/** Where Che's operator collected the data; recorded as the snapshot's path. */
export const CHE_BACKUP_PATH = '/tmp/che-backup-data';
export const BACKUP_INFO_FILE = 'backup-info.yaml';
export const CHE_CR_FILE = 'che-cr.yaml';

/** A Kubernetes object, or its YAML text (stored byte for byte). */
export type Manifest = Record<string, unknown> | string;

export interface NamedManifest {
  /** File name without `.yaml`; default: the manifest's metadata.name. */
  name?: string;
  manifest: Manifest;
}

export interface DatabaseDump {
  /** Database name; stored as `db/<name>.sql`. */
  name: string;
  /** The dump: bytes, text, a Node or Web stream, or an async iterable (e.g. pg_dump's stdout). */
  dump: EntryContent;
}

/** `backup-info.yaml`, metadata file version v1. */
export interface BackupInfo {
  metadataFileVersion?: string;
  /** Default: the time of the backup. */
  creationDate?: string;
  cheVersion: string;
  /** "Kubernetes", "Openshift 3" or "Openshift 4". */
  infrastructure: string;
  appsDomain?: string;
  namespace: string;
  [extra: string]: unknown;
}

export interface CheInstallation {
  cheCluster: Manifest;
  databases?: DatabaseDump[];
  configMaps?: NamedManifest[];
  secrets?: NamedManifest[];
  info: BackupInfo;
}

export interface InstallationBackupOptions {
  /** Snapshot path (default /tmp/che-backup-data, as Che). */
  root?: string;
  /** Default: this machine's host name (restic's default). */
  hostname?: string;
  tags?: string[];
  signal?: AbortSignal;
  /** Called when all entries were read and only the upload and snapshot remain. */
  onCollected?: () => void;
  onEntry?: (path: string, bytes: number) => void;
}

export interface InstallationBackupResult {
  snapshotId: string;
  /** The 8-hex short ID (what Che showed and stored in status.snapshotId). */
  shortId: string;
  snapshot: Snapshot;
  files: number;
  bytes: number;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

function checkName(name: unknown, what: string): string {
  if (typeof name !== 'string' || !NAME_RE.test(name) || name.includes('..')) {
    throw new UsageError(`${what}: ${JSON.stringify(name)} is not a valid name (letters, digits, ".", "_" and "-")`);
  }
  return name;
}

/** YAML text of a manifest; YAML given as text is checked by parsing it and kept as it is. */
function manifestText(m: Manifest, what: string): { text: string; object: YamlValue } {
  if (typeof m === 'string') return { text: m, object: parseYaml(m, what) };
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new UsageError(`${what}: a manifest must be an object or YAML text`);
  return { text: toYaml(m, what), object: m as YamlValue };
}

function metadataName(obj: YamlValue): string | undefined {
  if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
    const md = obj['metadata'];
    if (md && typeof md === 'object' && !Array.isArray(md) && typeof md['name'] === 'string') return md['name'];
  }
  return undefined;
}

function backupInfoText(info: BackupInfo, now: Date): string {
  for (const k of ['cheVersion', 'infrastructure', 'namespace'] as const) {
    if (typeof info[k] !== 'string' || info[k] === '') throw new UsageError(`backup info: ${k} is required`);
  }
  // Che: BackupMetadata through sigs.k8s.io/yaml, i.e. JSON then yaml.v2, which sorts keys;
  // creationDate is Go's time.Now().String() (controllers/checlusterbackup/backup_data_collector.go).
  const full: Record<string, unknown> = {
    ...info,
    metadataFileVersion: info.metadataFileVersion ?? 'v1',
    creationDate: info.creationDate ?? goNowString(now),
    appsDomain: info.appsDomain ?? '',
  };
  return toYaml(sortKeysAsGoYaml(full), BACKUP_INFO_FILE);
}

/**
 * The entries of an installation in Che's layout. Manifests are validated (and names
 * checked) before the first byte is stored, so a bad one never leaves a partial backup.
 */
export function installationEntries(inst: CheInstallation, now = new Date()): VirtualEntry[] {
  if (!inst || typeof inst !== 'object') throw new UsageError('installation: expected an object');
  const file = (p: string, content: EntryContent): VirtualEntry => ({ path: p, content, mode: 0o600, mtime: now });
  const entries: VirtualEntry[] = [];
  if (inst.cheCluster === undefined) throw new UsageError('installation: cheCluster (the CheCluster manifest) is required');
  entries.push(file(CHE_CR_FILE, manifestText(inst.cheCluster, CHE_CR_FILE).text));
  // Che created db/, configmaps/ and secrets/ with os.ModePerm (0755 after the umask), empty or not.
  for (const d of ['configmaps', 'db', 'secrets']) entries.push({ path: d, type: 'dir', mode: 0o755, mtime: now });
  const seen = new Set<string>();
  const named = (list: NamedManifest[] | undefined, folder: string) => {
    for (const [i, nm] of (list ?? []).entries()) {
      const what = `${folder}[${i}]`;
      const { text, object } = manifestText(nm.manifest, what);
      const name = checkName(nm.name ?? metadataName(object), `${what} name`);
      const p = `${folder}/${name}.yaml`;
      if (seen.has(p)) throw new UsageError(`${what}: two entries would be stored as ${p}`);
      seen.add(p);
      entries.push(file(p, text));
    }
  };
  named(inst.configMaps, 'configmaps');
  named(inst.secrets, 'secrets');
  for (const [i, db] of (inst.databases ?? []).entries()) {
    const p = `db/${checkName(db.name, `databases[${i}] name`)}.sql`;
    if (seen.has(p)) throw new UsageError(`databases[${i}]: two dumps would be stored as ${p}`);
    if (db.dump === undefined || db.dump === null) throw new UsageError(`databases[${i}] (${db.name}): dump is required`);
    seen.add(p);
    entries.push(file(p, db.dump));
  }
  if (!inst.info) throw new UsageError('installation: info (backup-info.yaml metadata) is required');
  entries.push(file(BACKUP_INFO_FILE, backupInfoText(inst.info, now)));
  return entries;
}

/** Back up an installation into one snapshot of an opened repository. */
export async function backupInstallation(
  repo: Repository,
  inst: CheInstallation,
  opts: InstallationBackupOptions = {},
): Promise<InstallationBackupResult> {
  const entries = installationEntries(inst);
  const root = opts.root ?? CHE_BACKUP_PATH;
  if (!path.posix.isAbsolute(root)) throw new UsageError(`backup root ${JSON.stringify(root)} must be an absolute path`);
  async function* feed(): AsyncGenerator<VirtualEntry> {
    yield* entries;
    opts.onCollected?.();
  }
  // Files at the tree root and `paths` = [root]: exactly what `restic backup .` in root makes.
  const r = await backupEntries(repo, feed(), {
    root: '/',
    paths: [path.posix.resolve(root)],
    hostname: opts.hostname ?? os.hostname(),
    tags: opts.tags,
    signal: opts.signal,
    onEntry: opts.onEntry,
    programVersion: `restic-ts ${VERSION}`,
  });
  return { snapshotId: r.snapshotId, shortId: shortId(r.snapshotId), snapshot: r.snapshot, files: r.files, bytes: r.bytes };
}

// ---------------------------------------------------------------- restore

export interface RestoredManifest {
  name: string;
  /** The stored YAML text. */
  yaml: string;
  /** The parsed object. */
  object: YamlValue;
}

export interface RestoredDatabase {
  name: string;
  size: number;
  /** The dump's bytes, every blob verified (MAC and SHA-256) as it is read; readable again. */
  content(): AsyncGenerator<Uint8Array>;
  /** The same as a Node stream (e.g. to pipe into `psql`). */
  stream(): Readable;
}

export interface RestoredInstallation {
  snapshotId: string;
  shortId: string;
  snapshot: Snapshot;
  cheCluster: RestoredManifest;
  configMaps: RestoredManifest[];
  secrets: RestoredManifest[];
  databases: RestoredDatabase[];
  /** backup-info.yaml, parsed (undefined for a backup without it). */
  info?: Record<string, YamlValue>;
  /** Write the backup's files into `dir` (created when missing), verifying each file after writing. */
  writeTo(dir: string): Promise<RestoreStats>;
}

export interface SnapshotSelection {
  /** Narrow "latest" to snapshots of this host / with all these tags. */
  hostname?: string;
  tags?: string[];
}

function nameOf(n: Node): string {
  return Buffer.from(n.name).toString('utf8');
}

/** The tree holding che-cr.yaml: the root (Che's layout) or below the snapshot's path. */
async function dataTree(repo: Repository, snapshot: Snapshot, id: string): Promise<{ tree: string; nodes: Node[] }> {
  if (!snapshot.tree) throw new IntegrityError(`snapshot ${shortId(id)} has no tree`);
  let tree = snapshot.tree;
  let nodes = await repo.loadTree(tree);
  if (nodes.some((n) => nameOf(n) === CHE_CR_FILE)) return { tree, nodes };
  // A snapshot of the absolute path (`restic backup /tmp/che-backup-data`): walk down to it.
  if (snapshot.paths.length === 1) {
    for (const part of snapshot.paths[0]!.split('/').filter(Boolean)) {
      const n = nodes.find((x) => nameOf(x) === part);
      if (!n || n.type !== 'dir' || !n.subtree) break;
      tree = n.subtree;
      nodes = await repo.loadTree(tree);
    }
    if (nodes.some((n) => nameOf(n) === CHE_CR_FILE)) return { tree, nodes };
  }
  throw new NotFoundError(`snapshot ${shortId(id)} is not a Che installation backup (no ${CHE_CR_FILE} in it)`);
}

async function readAll(repo: Repository, node: Node): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of readFileContent(repo, node)) parts.push(p);
  const buf = Buffer.concat(parts);
  if (node.size !== undefined && buf.length !== Number(node.size)) {
    throw new IntegrityError(`${nameOf(node)}: read ${buf.length} bytes, the snapshot says ${node.size}`);
  }
  return buf;
}

/** Every data blob of a file must be in the index before anything is handed out. */
function checkIndexed(repo: Repository, node: Node, p: string): void {
  for (const id of node.content ?? []) {
    if (!repo.index.has('data', id)) throw new IntegrityError(`${p}: data blob ${id.slice(0, 16)} is missing from the repository`);
  }
}

async function restoredManifest(repo: Repository, node: Node, p: string, name: string): Promise<RestoredManifest> {
  checkIndexed(repo, node, p);
  const yaml = (await readAll(repo, node)).toString('utf8');
  return { name, yaml, object: parseYaml(yaml, p) };
}

/** A file in one of the backup's folders: its node, its name without the extension, its path in the tree. */
interface FolderFile {
  node: Node;
  name: string;
  path: string;
}

async function folder(repo: Repository, nodes: Node[], dirName: string, ext: string): Promise<FolderFile[]> {
  const d = nodes.find((n) => nameOf(n) === dirName && n.type === 'dir' && n.subtree);
  if (!d) return [];
  const out: FolderFile[] = [];
  for (const n of await repo.loadTree(d.subtree!)) {
    const name = nameOf(n);
    if (n.type === 'file' && name.endsWith(ext)) out.push({ node: n, name: name.slice(0, -ext.length), path: `${dirName}/${name}` });
  }
  return out;
}

async function findBackupSnapshot(repo: Repository, spec: string, sel: SnapshotSelection): Promise<{ id: string; snapshot: Snapshot }> {
  const filter = (s: Snapshot) => (!sel.hostname || s.hostname === sel.hostname) && (sel.tags ?? []).every((t) => s.tags?.includes(t));
  try {
    return await repo.findSnapshot(spec, filter);
  } catch (err) {
    if (err instanceof NotFoundError) {
      throw new NotFoundError(
        spec === 'latest'
          ? `no backup snapshot found in ${repo.backend.location}`
          : `no backup snapshot ${spec} in ${repo.backend.location}`,
        { cause: err },
      );
    }
    throw err;
  }
}

/** A database dump, streamed on demand; its blobs must be indexed now. */
function restoredDatabase(repo: Repository, f: FolderFile): RestoredDatabase {
  checkIndexed(repo, f.node, f.path);
  const node = f.node;
  const size = Number(node.size ?? 0);
  const content = async function* (): AsyncGenerator<Uint8Array> {
    let n = 0;
    for await (const p of readFileContent(repo, node)) {
      n += p.length;
      yield p;
    }
    if (n !== size) throw new IntegrityError(`${f.path}: read ${n} bytes, the snapshot says ${size}`);
  };
  return { name: f.name, size, content, stream: () => Readable.from(content(), { objectMode: false }) };
}

/** The backup-info file's mapping, when there is one. */
async function backupInfo(repo: Repository, nodes: Node[]): Promise<Record<string, YamlValue> | undefined> {
  const infoNode = nodes.find((n) => nameOf(n) === BACKUP_INFO_FILE && n.type === 'file');
  if (!infoNode) return undefined;
  const parsed = (await restoredManifest(repo, infoNode, BACKUP_INFO_FILE, 'backup-info')).object;
  return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : undefined;
}

/**
 * Read an installation backup: `latest`, a full snapshot ID or a unique prefix (e.g. the
 * 8-hex short ID). Manifests are read and parsed now; database dumps are streamed on demand.
 * Every blob is verified when read (MAC, then SHA-256 against its ID), every file's length
 * is checked, and all dump blobs must be indexed before this returns.
 */
export async function readInstallation(
  repo: Repository,
  snapshotSpec = 'latest',
  sel: SnapshotSelection = {},
): Promise<RestoredInstallation> {
  const spec = snapshotSpec === '' ? 'latest' : snapshotSpec;
  await repo.loadIndex();
  const { id, snapshot } = await findBackupSnapshot(repo, spec, sel);
  const { tree, nodes } = await dataTree(repo, snapshot, id);
  const cr = nodes.find((n) => nameOf(n) === CHE_CR_FILE)!;
  const cheCluster = await restoredManifest(repo, cr, CHE_CR_FILE, 'che-cr');
  const configMaps: RestoredManifest[] = [];
  for (const f of await folder(repo, nodes, 'configmaps', '.yaml')) configMaps.push(await restoredManifest(repo, f.node, f.path, f.name));
  const secrets: RestoredManifest[] = [];
  for (const f of await folder(repo, nodes, 'secrets', '.yaml')) secrets.push(await restoredManifest(repo, f.node, f.path, f.name));
  const databases: RestoredDatabase[] = [];
  for (const f of await folder(repo, nodes, 'db', '.sql')) databases.push(restoredDatabase(repo, f));
  const info = await backupInfo(repo, nodes);
  return {
    snapshotId: id,
    shortId: shortId(id),
    snapshot,
    cheCluster,
    configMaps,
    secrets,
    databases,
    info,
    writeTo: async (dir: string) => {
      const problems: string[] = [];
      const stats = await new Restorer(repo, { verify: true, onWarning: (w) => problems.push(`${w.path}: ${w.message}`) }).restoreTree(
        tree,
        dir,
      );
      if (problems.length)
        throw new IntegrityError(`restoring snapshot ${shortId(id)} failed for ${problems.length} file(s): ${problems[0]}`);
      return stats;
    },
  };
}

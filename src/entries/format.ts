/**
 * `restic-ts/format`: restic's format objects as pure codecs (no I/O): trees, snapshots,
 * lock, key, config and index files, pack headers, IDs.
 *
 * @example
 * ```ts
 * import { decodeTree, encodeTree } from 'restic-ts/format';
 * const nodes = decodeTree(encodeTree([]));
 * ```
 */
export { encodeTree, decodeTree, encodeNode, sortNodes, compareNames } from '../format/tree.js';
export { type Snapshot, encodeSnapshot, decodeSnapshot, snapshotJsonWithId } from '../format/snapshot.js';
export { type LockInfo, encodeLock, decodeLock, describeLock, conflicts as lockConflicts } from '../format/lock-file.js';
export { type KeyFile, encodeKeyFile, decodeKeyFile } from '../format/key.js';
export { type Config, encodeConfig, decodeConfig, MAX_REPO_VERSION } from '../format/config.js';
export { type IndexFile, type IndexPack, encodeIndex, decodeIndex, INDEX_MAX_BLOBS } from '../format/index-file.js';
export { type BlobType, type PackedBlob, encodeHeader as encodePackHeader, decodeHeader as decodePackHeader } from '../format/pack.js';
export { type Node, type NodeType, type ExtendedAttribute, GoMode } from '../format/node.js';
export { hashId, isId, shortId } from '../format/id.js';

/** Read-side library: tree walking, path patterns, find / diff / stats, snapshot selection, restic's output formats. */
export { type ByteString, bstr, bstrBytes, bstrFromText, bstrText, cleanPath, joinPath, hasPathPrefix } from '../go/bytestring.js';
export { walkTree, findTreeDirectory, WalkError, type TreeLoader, type WalkVisitor, type VisitResult } from './walker.js';
export {
  filterMatch,
  filterChildMatch,
  goFilepathMatch,
  prepareFilterPattern,
  BadPatternError,
  type FilterPattern,
} from '../go/pattern.js';
export { listNodes, type ListOptions } from './ls.js';
export { Finder, parseFindTime, type FindPatternOptions, type FindObjectKind, type Instant } from './find.js';
export { diffTrees, nodesEqual, type DiffChange, type DiffOptions, type DiffResult, type DiffStat } from './diff.js';
export { StatsCollector, statsJson, STATS_MODES, type StatsMode, type StatsResult } from './stats.js';
export {
  findSnapshot,
  findSnapshotId,
  findLatestSnapshot,
  findFilteredSnapshots,
  snapshotMatches,
  parseTagLists,
  type SnapshotFilter,
  type FoundSnapshot,
} from './select.js';
export { snapshotJsonWithId } from '../format/snapshot.js';
export { goIndentJson } from '../go/json-indent.js';
export { goTimeJson } from '../go/time.js';

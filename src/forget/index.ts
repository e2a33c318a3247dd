export { type Duration, parseDuration, formatDuration, isZeroDuration } from './duration.js';
export {
  type ExpirePolicy,
  type KeepReason,
  type KeepCounters,
  type PolicyResult,
  type SnapshotEntry,
  applyPolicy,
  formatPolicy,
  isEmptyPolicy,
} from './policy.js';
export { type GroupByOptions, type GroupKey, type SnapshotGroup, groupSnapshots, parseGroupByOptions, groupKeyJson } from './group.js';
export {
  type ForgetGroup,
  type ForgetOptions,
  type ForgetPlanOptions,
  type ForgetResult,
  forget,
  planForget,
  planForgetAsync,
  forgetJson,
  removedIds,
  deleteSnapshots,
} from './forget.js';
export {
  type SnapshotSelector,
  loadSnapshots,
  splitTagList,
  parseTagListFlags,
  hasTags,
  selectorMatches,
  addTags,
  removeTags,
} from './tags.js';
export { type TagChange, applyTagChange, changeSnapshotTags } from './tag.js';

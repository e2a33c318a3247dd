/**
 * What `check` reports. Errors make the repository "contain errors" (exit 1); hints are
 * non-critical observations restic prints with a suggestion (rebuild-index or prune).
 */

export type FindingKind =
  /** An index file could not be loaded or decoded (fatal for the rest of the check). */
  | 'index-unreadable'
  /** A pack is listed in more than one index file. */
  | 'duplicate-pack'
  /** An index file uses the pre-0.7 array format. */
  | 'old-index-format'
  /** An index file is superseded by another one that is present. */
  | 'obsolete-index'
  /** A pack holds both tree and data blobs. */
  | 'mixed-pack'
  /** A blob is stored in more than one pack. */
  | 'duplicate-blobs'
  /** An indexed pack is not in the repository. */
  | 'missing-pack'
  /** A pack's size differs from the size its index entries predict. */
  | 'pack-size'
  /** A pack in the repository that no index references. */
  | 'orphaned-pack'
  /** A snapshot file cannot be loaded. */
  | 'snapshot'
  /** A tree cannot be loaded, or one of its nodes is broken or refers to a blob not indexed. */
  | 'tree'
  /** --read-data found a damaged pack. */
  | 'read-data';

/** One problem (or hint) check() found, with what it concerns. */
export interface Finding {
  kind: FindingKind;
  /** Errors are critical; hints are not. */
  severity: 'error' | 'hint';
  /** One line in restic's words. */
  message: string;
  pack?: string;
  tree?: string;
  index?: string;
  /** Several errors that belong to one tree or pack. */
  details?: string[];
}

export function error(kind: FindingKind, message: string, extra: Partial<Finding> = {}): Finding {
  return { kind, severity: 'error', message, ...extra };
}

export function hint(kind: FindingKind, message: string, extra: Partial<Finding> = {}): Finding {
  return { kind, severity: 'hint', message, ...extra };
}

/**
 * What the REST server's modules share: its options, the per-server state the handlers read
 * (data directory, modes, htpasswd, quota, metrics) and the per-request context.
 */
import type http from 'node:http';
import { ResticError } from '../errors.js';
import type { Htpasswd } from './htpasswd.js';
import type { Metrics } from './metrics.js';

export const MIME_V1 = 'application/vnd.x.restic.rest.v1';
export const MIME_V2 = 'application/vnd.x.restic.rest.v2';

export const TYPES = ['data', 'index', 'keys', 'locks', 'snapshots'] as const;
export type ObjType = (typeof TYPES)[number];
export const MAX_FOLDER_DEPTH = 2;
/** restic's packs are at most 128 MiB (plus one blob); everything else is small. */
export const DEFAULT_MAX_UPLOAD = 160 * 1024 * 1024;
/** Bodies of refused requests up to this size are read before answering (clean keep-alive). */
export const DRAIN_LIMIT = 1 << 20;

/** The server could not start (bad options, missing files, address in use). */
export class RestServerError extends ResticError {}

export interface RestServerOptions {
  /** Data directory (created when missing). */
  path: string;
  /** `host:port`, `:port` (all interfaces) or `[v6]:port`; port 0 picks a free one. Default 127.0.0.1:8000. */
  listen?: string;
  /** Disable authentication. */
  noAuth?: boolean;
  /** htpasswd file; default `<path>/.htpasswd`. */
  htpasswdFile?: string;
  appendOnly?: boolean;
  privateRepos?: boolean;
  tls?: boolean;
  /** PEM files; defaults `<path>/public_key` and `<path>/private_key` (as rest-server). */
  tlsCert?: string;
  tlsKey?: string;
  tlsMinVersion?: '1.2' | '1.3';
  /** Quota over the whole data directory in bytes (0 or undefined: none). */
  maxSize?: number;
  prometheus?: boolean;
  prometheusNoAuth?: boolean;
  /** Largest accepted request body (default 160 MiB). */
  maxUploadSize?: number;
  /**
   * Store uploads without checking that their SHA-256 equals their name (rest-server's
   * --no-verify-upload). Off by default; only for stores of non-content-addressed test data.
   */
  noVerifyUpload?: boolean;
  /** 0770/0660 instead of 0700/0600. */
  groupAccessibleRepos?: boolean;
  /** How long close() waits for requests in flight before cutting connections (default 30 s). */
  closeTimeoutMs?: number;
  /** Log lines (startup, refused requests, internal errors). */
  log?: (line: string) => void;
}

/** One running server's settings and mutable state. */
export interface ServerState {
  readonly opts: RestServerOptions;
  readonly log: (line: string) => void;
  /** Absolute data directory. */
  readonly root: string;
  readonly dirMode: number;
  readonly fileMode: number;
  readonly maxUpload: number;
  readonly htpasswd: Htpasswd | undefined;
  /** Bytes used below root, with uploads in progress reserved. */
  readonly quota: { max: number; used: number } | undefined;
  readonly metrics: Metrics;
  /** close() was called: answers carry `Connection: close`, refused bodies are not drained. */
  closing: boolean;
}

/** A request and its response, before the user and repository are known. */
export interface Exchange {
  s: ServerState;
  req: http.IncomingMessage;
  res: http.ServerResponse;
}

/** An authenticated request for one repository. */
export interface Ctx extends Exchange {
  user: string;
  repo: string[];
  /** The repository's directory. */
  dir: string;
}

/** Parsing of backends' `-o key=value` options (connections, retries, timeouts). */
import { UsageError } from '../errors.js';

/** A whole number ≥ min. */
export function parseIntOption(name: string, v: string, min: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`invalid value for -o ${name}: ${JSON.stringify(v)}`);
  return n;
}

/** "30", "30s", "500ms", "2m" → milliseconds. */
function parseDurationOption(name: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new UsageError(`invalid value for -o ${name}: ${JSON.stringify(v)} (use e.g. 30s or 500ms)`);
  const n = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
  if (n <= 0) throw new UsageError(`invalid value for -o ${name}: ${JSON.stringify(v)}`);
  return Math.round(n);
}

/** Default idle timeout: a request with no progress for this long fails (restic: 5 min). */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
/** Default time to open a connection (TCP, and TLS or SSH handshake). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** The fault-handling options every remote backend takes, `-o <scheme>.<name>=value`. */
export interface FaultOptions {
  /** `<scheme>.retries`: attempts after the first. */
  retries?: number;
  /** `<scheme>.max-retry-time`: total retry time per operation. */
  budgetMs?: number;
  /** `<scheme>.timeout`, else `--stuck-request-timeout`: no progress for this long fails a request. */
  timeoutMs: number;
  /** `<scheme>.connect-timeout`. */
  connectTimeoutMs: number;
}

export function faultOptions(scheme: string, ext: Record<string, string>, stuckRequestTimeoutMs?: number): FaultOptions {
  const get = (name: string) => ext[`${scheme}.${name}`];
  const dur = (name: string) => (get(name) !== undefined ? parseDurationOption(`${scheme}.${name}`, get(name)!) : undefined);
  return {
    retries: get('retries') !== undefined ? parseIntOption(`${scheme}.retries`, get('retries')!, 0) : undefined,
    budgetMs: dur('max-retry-time'),
    timeoutMs: dur('timeout') ?? stuckRequestTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    connectTimeoutMs: dur('connect-timeout') ?? DEFAULT_CONNECT_TIMEOUT_MS,
  };
}

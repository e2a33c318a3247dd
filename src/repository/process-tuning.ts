/**
 * The process-wide settings restic-ts may change, all off unless the host opts in: a library
 * leaves its host process as it found it. The CLI turns them all on.
 */
import v8 from 'node:v8';
import { allowGcTuning } from '../parallel/worker-gc.js';
import { ignoreSighupWhileLocked } from './lock.js';

/** The process-wide settings tuneProcess() may turn on. */
export interface ProcessTuning {
  /**
   * Set V8's --expose-gc and collect garbage on worker threads every few MiB, and raise glibc's
   * malloc trim threshold once (flatter memory, fewer page faults in big restores and checks).
   */
  gc?: boolean;
  /** Ignore SIGHUP while a lock is held: restic probes lock holders on its host with SIGHUP. */
  ignoreSighupWhileLocked?: boolean;
  /**
   * Let V8 run code longer before its optimizing compiler takes it (a larger interrupt
   * budget): a command of a second or two otherwise spends much of its CPU on optimizing
   * code it then runs only briefly, while the hot loops of long runs are optimized anyway.
   */
  jit?: boolean;
}

/** V8's interrupt budget (its default is 67,584): see ProcessTuning.jit and the README. */
const INTERRUPT_BUDGET = 300_000;

/**
 * Opt in to process-wide tuning; with no argument, all of it (as the CLI does).
 *
 * @example
 * ```ts
 * tuneProcess({ ignoreSighupWhileLocked: true });
 * ```
 */
export function tuneProcess(t: ProcessTuning = { gc: true, ignoreSighupWhileLocked: true, jit: true }): void {
  if (t.jit) v8.setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET}`);
  if (t.gc !== undefined) allowGcTuning(t.gc);
  if (t.ignoreSighupWhileLocked !== undefined) ignoreSighupWhileLocked(t.ignoreSighupWhileLocked);
}

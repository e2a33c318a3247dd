/**
 * This restic-ts version (recorded in snapshots as program_version).
 *
 * @example
 * ```ts
 * console.log(`restic-ts ${VERSION}`);
 * ```
 */
export const VERSION = '0.1.0';

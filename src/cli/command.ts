import type { CommandInfo } from './args.js';
import type { GlobalContext } from './global.js';

export interface Command extends CommandInfo {
  /** Returns the exit code. */
  run(ctx: GlobalContext, args: string[]): Promise<number>;
}

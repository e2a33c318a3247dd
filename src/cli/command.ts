import type { OptionSpec } from './args.js';
import type { GlobalContext } from './global.js';

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: OptionSpec[];
  /** Returns the exit code. */
  run(ctx: GlobalContext, args: string[]): Promise<number>;
}

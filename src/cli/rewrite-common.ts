/** Output shared by `rewrite` and `repair snapshots` (restic's filterAndReplaceSnapshot words). */
import type { GlobalContext } from './global.js';
import type { RewriteEvent } from '../repair/rewrite.js';
import { goTimeString } from '../go/time.js';
import { goList } from '../walker/select.js';

/** restic's Snapshot.String(): "snapshot 1234abcd of [/p] at 2024-… by user@host". */
export function printReplaceEvent(ctx: GlobalContext, e: RewriteEvent, verbose: boolean): void {
  if (ctx.quiet) return;
  if (e.type === 'snapshot') {
    const s = e.snapshot;
    ctx.stdout(
      `\nsnapshot ${e.id.slice(0, 8)} of ${goList(s.paths)} at ${goTimeString(s.time)} by ${s.username ?? ''}@${s.hostname ?? ''}\n`,
    );
  } else if (e.type === 'message') ctx.stdout(e.text + '\n');
  else if (verbose) ctx.stdout(`${e.type === 'excluded' ? 'excluding' : 'including'} ${JSON.stringify(e.path)}\n`);
}

export function replaceSummary(changed: number, dryRun: boolean): string {
  if (changed === 0) return dryRun ? '\nno snapshots would be modified\n' : '\nno snapshots were modified\n';
  return dryRun ? `\nwould modify ${changed} snapshots\n` : `\nmodified ${changed} snapshots\n`;
}

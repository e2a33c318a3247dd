import { UsageError } from '../errors.js';
import type { Command } from './command.js';
import { openRepository, withLock } from './global.js';
import { Out } from '../ui/output.js';
import { verbose, warn } from './read-common.js';
import { findSnapshot } from '../walker/select.js';
import { type DiffStat, diffTrees } from '../walker/diff.js';
import { jsonBstr, resticFormatBytes } from '../ui/format.js';
import { goJsonString } from '../go/json-string.js';

function statJson(s: DiffStat): string {
  return `{"files":${s.files},"dirs":${s.dirs},"others":${s.others},"data_blobs":${s.dataBlobs},"tree_blobs":${s.treeBlobs},"bytes":${s.bytes}}`;
}

const pad5 = (n: number) => String(n).padStart(5);

export const diffCommand: Command = {
  name: 'diff',
  summary: 'Show differences between two snapshots',
  usage: 'restic-ts diff [flags] snapshot-ID snapshot-ID',
  options: [{ name: 'metadata', kind: 'bool', help: 'print changes in metadata' }],
  async run(ctx, args) {
    if (args.length !== 2) throw new UsageError('specify two snapshot IDs');
    const repo = await openRepository(ctx);
    const out = new Out();
    try {
      await withLock(ctx, repo, false, async () => {
        const load = async (spec: string) => {
          try {
            return await findSnapshot(repo, spec);
          } catch (err) {
            throw new UsageError((err as Error).message);
          }
        };
        const sn1 = await load(args[0]!);
        const sn2 = await load(args[1]!);
        if (!ctx.json && verbose(ctx)) await out.text(`comparing snapshot ${sn1.id.slice(0, 8)} to ${sn2.id.slice(0, 8)}:\n\n`);
        await repo.loadIndex();
        if (!sn1.snapshot.tree) throw new UsageError(`snapshot ${sn1.id.slice(0, 8)} has nil tree`);
        if (!sn2.snapshot.tree) throw new UsageError(`snapshot ${sn2.id.slice(0, 8)} has nil tree`);
        const stats = await diffTrees(repo, sn1.snapshot.tree, sn2.snapshot.tree, {
          metadata: !!ctx.opts['metadata'],
          onWarning: (m) => warn(ctx, m),
          onChange: async (c) => {
            if (ctx.quiet) return;
            if (ctx.json) await out.text(`{"message_type":"change","path":${jsonBstr(c.path)},"modifier":${goJsonString(c.modifier)}}\n`);
            else await out.bstr(c.modifier.padEnd(5) + c.path + '\n');
          },
        });
        if (ctx.json) {
          await out.text(
            `{"message_type":"statistics","source_snapshot":${goJsonString(args[0]!)},"target_snapshot":${goJsonString(args[1]!)},` +
              `"changed_files":${stats.changedFiles},"added":${statJson(stats.added)},"removed":${statJson(stats.removed)}}\n`,
          );
        } else {
          const { added: a, removed: r } = stats;
          await out.text(
            '\n' +
              `Files:       ${pad5(a.files)} new, ${pad5(r.files)} removed, ${pad5(stats.changedFiles)} changed\n` +
              `Dirs:        ${pad5(a.dirs)} new, ${pad5(r.dirs)} removed\n` +
              `Others:      ${pad5(a.others)} new, ${pad5(r.others)} removed\n` +
              `Data Blobs:  ${pad5(a.dataBlobs)} new, ${pad5(r.dataBlobs)} removed\n` +
              `Tree Blobs:  ${pad5(a.treeBlobs)} new, ${pad5(r.treeBlobs)} removed\n` +
              `  Added:   ${resticFormatBytes(a.bytes).padEnd(5)}\n` +
              `  Removed: ${resticFormatBytes(r.bytes).padEnd(5)}\n`,
          );
        }
      });
    } finally {
      await out.flush();
      await repo.close();
    }
    return 0;
  },
};

/** restic 0.14's prune summary (printPruneStats), as lines. */
import { resticFormatBytes as formatBytes } from './format.js';
import type { PruneStats } from '../prune/plan.js';

function formatPercent(n: number, d: number): string {
  if (d === 0) return '';
  return `${Math.min(100, (100 * n) / d).toFixed(2)}%`;
}

const num = (n: number) => String(n).padStart(10);

/** `detailed` adds the lines restic prints only at -vv. */
export function pruneStatsText(s: PruneStats, detailed = true): string {
  let out = '';
  const totalBlobs = s.blobs.used + s.blobs.unused + s.blobs.duplicate;
  const totalSize = s.size.used + s.size.duplicate + s.size.unused + s.size.unref;
  const unusedSize = s.size.duplicate + s.size.unused;
  if (detailed) {
    out += `\nused:         ${num(s.blobs.used)} blobs / ${formatBytes(s.size.used)}\n`;
    if (s.blobs.duplicate > 0) out += `duplicates:   ${num(s.blobs.duplicate)} blobs / ${formatBytes(s.size.duplicate)}\n`;
    out += `unused:       ${num(s.blobs.unused)} blobs / ${formatBytes(s.size.unused)}\n`;
    if (s.size.unref > 0) out += `unreferenced:                    ${formatBytes(s.size.unref)}\n`;
    out += `total:        ${num(totalBlobs)} blobs / ${formatBytes(totalSize)}\n`;
    out += `unused size: ${formatPercent(unusedSize, totalSize)} of total size\n`;
  }
  const totalPrune = s.size.remove + s.size.repackrm + s.size.unref;
  const unusedAfter = unusedSize - s.size.remove - s.size.repackrm;
  out += `\nto repack:    ${num(s.blobs.repack)} blobs / ${formatBytes(s.size.repack)}\n`;
  out += `this removes: ${num(s.blobs.repackrm)} blobs / ${formatBytes(s.size.repackrm)}\n`;
  out += `to delete:    ${num(s.blobs.remove)} blobs / ${formatBytes(s.size.remove + s.size.unref)}\n`;
  out += `total prune:  ${num(s.blobs.remove + s.blobs.repackrm)} blobs / ${formatBytes(totalPrune)}\n`;
  out += `remaining:    ${num(totalBlobs - (s.blobs.remove + s.blobs.repackrm))} blobs / ${formatBytes(totalSize - totalPrune)}\n`;
  out += `unused size after prune: ${formatBytes(unusedAfter)} (${formatPercent(unusedAfter, totalSize - totalPrune)} of remaining size)\n\n`;
  if (detailed) {
    out += `totally used packs: ${num(s.packs.used)}\n`;
    out += `partly used packs:  ${num(s.packs.partlyUsed)}\n`;
    out += `unused packs:       ${num(s.packs.unused)}\n\n`;
    out += `to keep:      ${num(s.packs.keep)} packs\n`;
    out += `to repack:    ${num(s.packs.repack)} packs\n`;
    out += `to delete:    ${num(s.packs.remove)} packs\n`;
    if (s.packs.unref > 0) out += `to delete:    ${num(s.packs.unref)} unreferenced packs\n\n`;
  }
  return out;
}

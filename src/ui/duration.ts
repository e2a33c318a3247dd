/** Text formatting helpers shared by commands. */

export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** "2006-01-02 15:04:05" in the zone recorded in the time string. */
export function formatSnapshotTime(goTime: string): string {
  return goTime.slice(0, 10) + ' ' + goTime.slice(11, 19);
}

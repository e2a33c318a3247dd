/** The forget policy module on its own (against restic 0.14: test/interop/forget-policy.test.ts). */
import { describe, expect, it } from 'vitest';
import type { Snapshot } from '../../src/format/snapshot.js';
import { applyPolicy, parseDuration, formatDuration, formatPolicy } from '../../src/forget/index.js';

describe('policy module', () => {
  const at = (time: string, id: string) => ({ id, snapshot: { time, tree: null, paths: ['/'] } as Snapshot });

  it('buckets by the wall clock of the recorded zone and by ISO weeks across years', () => {
    const now = Date.UTC(2022, 0, 1);
    const days = applyPolicy(
      [
        at('2021-01-04T00:30:00+02:00', 'a'), // wall Jan 4 (UTC: Jan 3 22:30)
        at('2021-01-03T23:00:00Z', 'b'), // newest instant, wall Jan 3
        at('2021-01-04T00:10:00+02:00', 'c'), // wall Jan 4 again, older than a
      ],
      { daily: 5 },
      now,
    );
    expect(days.keep.map((e) => e.id)).toEqual(['b', 'a']);
    expect(days.remove.map((e) => e.id)).toEqual(['c']);
    expect(days.reasons[1]!.counters).toEqual({ last: 0, hourly: 0, daily: 3, weekly: 0, monthly: 0, yearly: 0 });
    const weeks = applyPolicy(
      [at('2020-12-28T12:00:00Z', 'mon-2020-53'), at('2021-01-03T12:00:00Z', 'sun-2020-53'), at('2021-01-04T12:00:00Z', 'mon-2021-01')],
      { weekly: 5 },
      now,
    );
    expect(weeks.keep.map((e) => e.id)).toEqual(['mon-2021-01', 'sun-2020-53']);
    expect(weeks.remove.map((e) => e.id)).toEqual(['mon-2020-53']);
  });

  it('keep-within uses calendar arithmetic from the newest snapshot that is not in the future', () => {
    const list = [
      at('2024-03-31T00:00:00Z', 'latest'),
      at('2024-03-02T00:00:00Z', 'on'),
      at('2024-03-02T00:00:00.000000001Z', 'in'),
      at('2099-01-01T00:00:00Z', 'future'),
    ];
    const r = applyPolicy(list, { within: parseDuration('1m') }, Date.UTC(2025, 0, 1));
    // 2024-03-31 − 1 month = 2024-02-31 → 2024-03-02
    expect(r.keep.map((e) => e.id).sort()).toEqual(['future', 'in', 'latest']);
    expect(r.reasons.find((x) => x.entry.id === 'in')!.matches).toEqual(['within 1m']);
  });

  it('parses durations as restic does', () => {
    expect(parseDuration(' 1y2m3d4h ')).toEqual({ years: 1, months: 2, days: 3, hours: 4 });
    expect(parseDuration('5d1d')).toEqual({ years: 0, months: 0, days: 1, hours: 0 }); // later pair wins
    expect(parseDuration('-2h')).toEqual({ years: 0, months: 0, days: 0, hours: -2 });
    expect(formatDuration(parseDuration('0y3h'))).toBe('3h');
    for (const bad of ['1', 'd', '1x', '1d-', '--1d']) expect(() => parseDuration(bad), bad).toThrow();
  });

  it('formats the policy as restic does', () => {
    expect(
      formatPolicy({ last: 2, daily: 7, withinDaily: parseDuration('1m2d'), tags: [['a', 'b'], ['c']], within: parseDuration('3h') }),
    ).toBe(
      'keep 2 latest, 7 daily snapshots, daily snapshots within 1m2d and all snapshots with tags [[a, b] [c]] and all snapshots within 3h of the newest',
    );
  });
});

/** Lock protocol of the library: restic's conflict and stale rules, self-clearing, retry, refresh. */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { LockError, MemoryBackend, Repository } from '../../src/index.js';
import { TEST_KDF_PARAMS } from '../../src/crypto/kdf.js';
import { type LockEvent, RepositoryLock, ignoreSighupWhileLocked, isStale, newLockInfo } from '../../src/repository/lock.js';
import { type LockInfo, decodeLock, encodeLock } from '../../src/format/lock-file.js';
import { formatGoDuration, parseGoDuration } from '../../src/go/duration.js';
import { formatGoTime } from '../../src/go/time.js';

/** A PID that belonged to a process which has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid!;
}

function goTimeAgo(ms: number): string {
  const t = Date.now() - ms;
  return formatGoTime(BigInt(Math.floor(t / 1000)), (t % 1000) * 1e6, 0);
}

function info(over: Partial<LockInfo>): LockInfo {
  return { ...newLockInfo(false), ...over };
}

let repo: Repository;
beforeEach(async () => {
  repo = await Repository.init(new MemoryBackend(), 'pw', { kdf: TEST_KDF_PARAMS });
});

async function plant(l: LockInfo): Promise<string> {
  return repo.saveUnpacked('lock', encodeLock(l));
}

async function lockIds(): Promise<string[]> {
  const out: string[] = [];
  for await (const id of repo.listIds('lock')) out.push(id);
  return out.sort();
}

describe('lock file JSON', () => {
  it('round-trips and omits uid/gid when 0, as restic does', () => {
    const l: LockInfo = {
      time: '2026-01-02T03:04:05.123456789+01:00',
      exclusive: true,
      hostname: 'h',
      username: 'u',
      pid: 42,
      uid: 0,
      gid: 0,
    };
    expect(Buffer.from(encodeLock(l)).toString()).toBe(
      '{"time":"2026-01-02T03:04:05.123456789+01:00","exclusive":true,"hostname":"h","username":"u","pid":42}',
    );
    expect(decodeLock(encodeLock({ ...l, uid: 1000, gid: 100 }))).toMatchObject({ uid: 1000, gid: 100, pid: 42, exclusive: true });
  });
});

describe('stale rule (restic 0.14 Lock.Stale)', () => {
  it('judges age, host and process', () => {
    const here = os.hostname();
    expect(isStale(info({ hostname: here, pid: process.pid }))).toBe(false);
    expect(isStale(info({ hostname: here, pid: deadPid() }))).toBe(true);
    expect(isStale(info({ hostname: 'elsewhere', pid: deadPid() }))).toBe(false);
    expect(isStale(info({ hostname: 'elsewhere', time: goTimeAgo(29 * 60_000) }))).toBe(false);
    expect(isStale(info({ hostname: 'elsewhere', time: goTimeAgo(31 * 60_000) }))).toBe(true);
    expect(isStale(info({ hostname: here, pid: process.pid, time: goTimeAgo(31 * 60_000) }))).toBe(true);
  });
});

describe('Go durations', () => {
  it('formats like time.Duration.String and parses like time.ParseDuration', () => {
    expect(formatGoDuration(0)).toBe('0s');
    expect(formatGoDuration(850)).toBe('850ms');
    expect(formatGoDuration(5 * 60_000 + 3250)).toBe('5m3.25s');
    expect(formatGoDuration(2 * 3_600_000 + 1000)).toBe('2h0m1s');
    expect(parseGoDuration('1h30m')).toBe(5_400_000);
    expect(parseGoDuration('1.5s')).toBe(1500);
    expect(parseGoDuration('250ms')).toBe(250);
    expect(() => parseGoDuration('5')).toThrow();
    expect(() => parseGoDuration('5x')).toThrow();
  });
});

describe('acquiring', () => {
  it('lets non-exclusive locks share and keeps exclusive ones alone', async () => {
    const a = await repo.acquireLock(false);
    const b = await repo.acquireLock(false);
    expect((await lockIds()).length).toBe(2);
    const err = await repo.acquireLock(true).catch((e) => e);
    expect(err).toBeInstanceOf(LockError);
    expect(err.exitCode).toBe(11);
    expect(err.message).not.toContain('\n');
    expect(err.message).toMatch(
      new RegExp(
        `^unable to create lock in backend: repository is already locked by PID ${process.pid} on ${os.hostname()} by \\S* \\(UID \\d+, GID \\d+\\), lock was created at \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d \\(.+ ago\\), storage ID [0-9a-f]{8}$`,
      ),
    );
    await a.release();
    await b.release();
    expect(await lockIds()).toEqual([]);
    const x = await repo.acquireLock(true);
    const err2 = await repo.acquireLock(false).catch((e) => e);
    expect(err2.message).toContain('repository is already locked exclusively by PID');
    await x.release();
    expect(await lockIds()).toEqual([]);
  });

  it('reports why the lock check failed, not the failed removal of its own lock file', async () => {
    const be = new MemoryBackend();
    const r = await Repository.init(be, 'pw', { kdf: TEST_KDF_PARAMS });
    let written = false;
    const save = be.save.bind(be);
    const list = be.list.bind(be);
    vi.spyOn(be, 'save').mockImplementation(async (h, data, o) => {
      await save(h, data, o);
      if (h.type === 'lock') written = true;
    });
    // the store goes away between writing the lock and checking for others
    vi.spyOn(be, 'list').mockImplementation((type, o) => {
      if (type === 'lock' && written) throw new Error('list: store went away');
      return list(type, o);
    });
    vi.spyOn(be, 'remove').mockRejectedValue(new Error('remove: store went away'));
    await expect(r.acquireLock(true)).rejects.toThrow('list: store went away');
  });

  it('removes conflicting stale locks itself and reports each one', async () => {
    const dead = await plant(info({ exclusive: true, hostname: os.hostname(), pid: deadPid() }));
    const old = await plant(info({ hostname: 'other-host', time: goTimeAgo(45 * 60_000) }));
    const live = await plant(info({ hostname: 'other-host' })); // not stale, does not conflict with a shared lock
    const events: LockEvent[] = [];
    const l = await repo.acquireLock(false, { onEvent: (e) => events.push(e) });
    // only the conflicting one (exclusive) had to go; the old shared one does not block
    const removed = events.filter((e) => e.type === 'stale-lock-removed');
    expect(removed.map((e) => (e as { id: string }).id)).toEqual([dead]);
    expect(removed[0]!.type === 'stale-lock-removed' && removed[0]!.message).toMatch(/^removed stale lock held by PID \d+ on /);
    expect(await lockIds()).toEqual([old, live, l.id].sort());
    await l.release();
    // an exclusive lock conflicts with all: the stale old one is removed, the live one blocks
    const err = await repo.acquireLock(true, { onEvent: (e) => events.push(e) }).catch((e) => e);
    expect(err).toBeInstanceOf(LockError);
    expect(err.message).toContain('on other-host');
    expect(await lockIds()).toEqual([live]);
  });

  it('leaves stale locks alone when asked to (restic 0.14 behaviour)', async () => {
    const dead = await plant(info({ exclusive: true, hostname: os.hostname(), pid: deadPid() }));
    await expect(repo.acquireLock(false, { removeStale: false })).rejects.toBeInstanceOf(LockError);
    expect(await lockIds()).toEqual([dead]);
  });

  it('waits for a live holder with --retry-lock and gets the lock once it is released', async () => {
    const holder = await repo.acquireLock(true);
    const events: LockEvent[] = [];
    // The first retry comes after restic's 5 s; fake timeouts (the clock still runs at real speed)
    // let the test skip that pause once the holder has released its lock.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'], shouldAdvanceTime: true });
    try {
      const waiter = repo.acquireLock(false, {
        retryMs: 60_000,
        onEvent: (e) => {
          events.push(e);
          if (e.type === 'waiting') void holder.release().then(() => vi.advanceTimersByTimeAsync(e.retryInMs));
        },
      });
      const l = await waiter;
      expect(events.some((e) => e.type === 'waiting' && e.message.startsWith('repo already locked, waiting up to'))).toBe(true);
      expect(await lockIds()).toEqual([l.id]);
      await l.release();
    } finally {
      vi.useRealTimers();
    }
  }, 30_000);

  it('gives up with LockError when the retry time ends', async () => {
    const holder = await repo.acquireLock(true);
    await expect(repo.acquireLock(true, { retryMs: 300 })).rejects.toBeInstanceOf(LockError);
    await holder.release();
  });
});

describe('holding', () => {
  it('refreshes by writing a new lock file and removing the old one', async () => {
    const events: LockEvent[] = [];
    let refreshed!: () => void;
    const done = new Promise<void>((r) => (refreshed = r));
    const l = await repo.acquireLock(true, {
      refreshIntervalMs: 20,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'refreshed') refreshed();
      },
    });
    const first = l.id;
    const firstTime = l.info.time;
    await done;
    const ev = events.find((e) => e.type === 'refreshed')!;
    expect(ev.type === 'refreshed' && ev.previousId).toBe(first);
    await l.release();
    expect(l.id).not.toBe(first);
    expect(Date.parse(l.info.time)).toBeGreaterThanOrEqual(Date.parse(firstTime));
    expect(await lockIds()).toEqual([]);
  });

  it('installs no SIGHUP handler unless the host opted in (a library leaves its process alone)', async () => {
    const before = process.listenerCount('SIGHUP');
    const l = await repo.acquireLock(false);
    expect(RepositoryLock.heldCount).toBe(1);
    expect(process.listenerCount('SIGHUP')).toBe(before);
    await l.release();
  });

  it('after ignoreSighupWhileLocked(), ignores SIGHUP (restic probes holders with it) only while a lock is held', async () => {
    ignoreSighupWhileLocked(true);
    try {
      const before = process.listenerCount('SIGHUP');
      const l = await repo.acquireLock(false);
      expect(RepositoryLock.heldCount).toBe(1);
      expect(process.listenerCount('SIGHUP')).toBe(before + 1);
      await l.release();
      await l.release(); // idempotent
      expect(process.listenerCount('SIGHUP')).toBe(before);
    } finally {
      ignoreSighupWhileLocked(false);
    }
  });
});

describe('unlock', () => {
  it('removes stale locks only, or all of them', async () => {
    const stale = await plant(info({ hostname: os.hostname(), pid: deadPid() }));
    const old = await plant(info({ hostname: 'x', time: goTimeAgo(31 * 60_000) }));
    const live = await plant(info({ hostname: 'x' }));
    const mine = await repo.acquireLock(false);
    expect((await repo.removeLocks()).sort()).toEqual([stale, old].sort());
    expect(await lockIds()).toEqual([live, mine.id].sort());
    expect((await repo.removeLocks(true)).sort()).toEqual([live, mine.id].sort());
    expect(await lockIds()).toEqual([]);
    await mine.release(); // its file is gone already: releasing is still fine
  });
});

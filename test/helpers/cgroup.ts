/**
 * Memory cgroups for tests (needs root): run a command under a memory limit and tell whether
 * the kernel killed it for memory. cgroup v1 (`memory.limit_in_bytes`) or v2 (`memory.max`),
 * whichever this machine mounts with the memory controller. The cgroup is made inside this
 * process's own memory cgroup where possible (so it stays within whatever limits that one
 * has) and is always removed again.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';

interface Hierarchy {
  version: 1 | 2;
  /** Where the cgroup for this test goes (a directory in the cgroup filesystem). */
  parent: string;
}

const MOUNT_RE = /^\S+ (\S+) (cgroup2?) (\S+) /;

function mounts(): Array<{ dir: string; type: string; opts: string[] }> {
  const out: Array<{ dir: string; type: string; opts: string[] }> = [];
  for (const line of fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const m = MOUNT_RE.exec(line);
    if (m) out.push({ dir: m[1]!, type: m[2]!, opts: m[3]!.split(',') });
  }
  return out;
}

/** This process's path in the v1 memory hierarchy ("4:memory:/a/b") or the v2 one ("0::/a/b"). */
function ownPath(version: 1 | 2): string {
  for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (version === 1 && m[1]!.split(',').includes('memory')) return m[2]!;
    if (version === 2 && m[1] === '') return m[2]!;
  }
  return '/';
}

const writable = (dir: string): boolean => {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
};

function v2HasMemory(dir: string): boolean {
  try {
    return fs.readFileSync(path.join(dir, 'cgroup.subtree_control'), 'utf8').split(/\s+/).includes('memory');
  } catch {
    return false;
  }
}

/** Where a memory cgroup can be made, or why none can. */
export function findHierarchy(): Hierarchy | string {
  if (process.getuid?.() !== 0) return 'memory cgroup tests need root (they create a cgroup)';
  const all = mounts();
  const v1 = all.find((m) => m.type === 'cgroup' && m.opts.includes('memory'));
  if (v1) {
    const own = path.join(v1.dir, ownPath(1));
    return { version: 1, parent: fs.existsSync(own) && writable(own) ? own : v1.dir };
  }
  for (const m of all.filter((x) => x.type === 'cgroup2')) {
    // The nearest ancestor that already hands the memory controller to its children: a
    // v2 cgroup with processes in it cannot enable it for new children itself.
    let dir = path.join(m.dir, ownPath(2));
    while (dir.startsWith(m.dir)) {
      if (v2HasMemory(dir) && writable(dir)) return { version: 2, parent: dir };
      if (dir === m.dir) break;
      dir = path.dirname(dir);
    }
  }
  return 'no cgroup v1 "memory" hierarchy and no cgroup v2 with the memory controller enabled: cannot create a memory cgroup';
}

export interface CgroupResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The kernel's OOM killer struck inside the cgroup. */
  oomKilled: boolean;
  /** The cgroup's peak charge (process memory and page cache), when the kernel reports it. */
  peakBytes: number | null;
  stdout: string;
  stderr: string;
}

let serial = 0;

/** A memory cgroup of `limitBytes`; `remove()` kills what is left in it and deletes it. */
export class MemoryCgroup {
  readonly dir: string;
  readonly version: 1 | 2;

  constructor(readonly limitBytes: number) {
    const h = findHierarchy();
    if (typeof h === 'string') throw new Error(h);
    this.version = h.version;
    this.dir = path.join(h.parent, `restic-ts-test-${process.pid}-${++serial}`);
    fs.mkdirSync(this.dir);
    try {
      if (h.version === 1) {
        fs.writeFileSync(path.join(this.dir, 'memory.limit_in_bytes'), String(limitBytes));
        // No escape into swap: memory+swap capped at the same figure where the kernel has it.
        const memsw = path.join(this.dir, 'memory.memsw.limit_in_bytes');
        if (fs.existsSync(memsw)) fs.writeFileSync(memsw, String(limitBytes));
      } else {
        fs.writeFileSync(path.join(this.dir, 'memory.max'), String(limitBytes));
        const swap = path.join(this.dir, 'memory.swap.max');
        if (fs.existsSync(swap)) fs.writeFileSync(swap, '0');
      }
    } catch (err) {
      fs.rmdirSync(this.dir);
      throw err;
    }
  }

  private read(file: string): string | null {
    try {
      return fs.readFileSync(path.join(this.dir, file), 'utf8');
    } catch {
      return null;
    }
  }

  /** OOM kills counted by the kernel in this cgroup. */
  oomKills(): number {
    const text = this.read(this.version === 1 ? 'memory.oom_control' : 'memory.events') ?? '';
    return Number(/^oom_kill (\d+)/m.exec(text)?.[1] ?? 0);
  }

  peakBytes(): number | null {
    const s = this.read(this.version === 1 ? 'memory.max_usage_in_bytes' : 'memory.peak');
    return s === null ? null : Number(s.trim());
  }

  /**
   * Run `cmd args` inside the cgroup: a shell writes its own PID into cgroup.procs and then
   * execs the command, so nothing of it runs outside. `limitMs` kills it when it hangs.
   */
  run(cmd: string, args: string[], env: NodeJS.ProcessEnv, limitMs = 600_000): Promise<CgroupResult> {
    const procs = path.join(this.dir, 'cgroup.procs');
    const script = 'echo $$ > "$1" || exit 125; shift; exec "$@"';
    return new Promise((resolve, reject) => {
      const child = spawn('/bin/sh', ['-c', script, 'sh', procs, cmd, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
      child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const oomKilled = this.oomKills() > 0 || (signal === 'SIGKILL' && (this.read('memory.failcnt') ?? '0').trim() !== '0');
        resolve({ code, signal, oomKilled, peakBytes: this.peakBytes(), stdout, stderr });
      });
    });
  }

  /** Kill anything still inside, then delete the cgroup (retrying while the kernel lets go of it). */
  async remove(): Promise<void> {
    for (let attempt = 0; attempt < 50; attempt++) {
      for (const pid of (this.read('cgroup.procs') ?? '').split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
      try {
        fs.rmdirSync(this.dir);
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return;
        if (code !== 'EBUSY') throw err;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`could not remove cgroup ${this.dir}`);
  }
}

/** A fresh memory cgroup for `fn`, removed afterwards whatever happens. */
export async function withMemoryCgroup<T>(limitBytes: number, fn: (cg: MemoryCgroup) => Promise<T>): Promise<T> {
  const cg = new MemoryCgroup(limitBytes);
  try {
    return await fn(cg);
  } finally {
    await cg.remove();
  }
}

/** One-line summary of a run for an assertion message. */
export function describeRun(r: CgroupResult, limitBytes: number): string {
  const peak = r.peakBytes === null ? '?' : `${(r.peakBytes / 2 ** 20).toFixed(0)} MiB`;
  const how = r.oomKilled ? 'OOM-killed' : r.signal ? `killed by ${r.signal}` : `exit ${r.code}`;
  return `${how} in a ${limitBytes / 2 ** 20} MiB cgroup (peak charge ${peak}): ${r.stderr.trim().split('\n').slice(-5).join(' | ')}`;
}

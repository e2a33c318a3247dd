/**
 * What a restic user sees: the live progress line on a terminal (and not on a pipe), the
 * restore summary, -v/-vv backup lines, help for every command, global flags restic
 * accepts, and one-line errors with restic's exit codes (text and --json).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, TEST_SCRYPT } from '../helpers/cli.js';
import { resticOk } from '../helpers/restic.js';
import { pseudoRandom } from '../helpers/gentree.js';
import { tempDir } from '../helpers/tmp.js';
import { COMMANDS } from '../../src/cli/commands.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli.js');
const PASSWORD = 'ui';
const env = { RESTIC_PASSWORD: PASSWORD };
let tmp: ReturnType<typeof tempDir>;
let repo: string;
let src: string;

beforeAll(() => {
  tmp = tempDir();
  repo = path.join(tmp.dir, 'repo');
  src = path.join(tmp.dir, 'src');
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
  for (let i = 0; i < 60; i++) fs.writeFileSync(path.join(src, i % 2 ? 'sub' : '', `f${i}`), pseudoRandom(`ui${i}`, 512 * 1024));
  expect(cli(['-r', repo, 'init'], env).code).toBe(0);
});
afterAll(() => tmp.cleanup());

/** Like cli() but without blocking the worker (vitest needs its event loop on a busy machine). */
function cliAsync(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TZ: process.env.TZ, RESTIC_TS_SCRYPT: TEST_SCRYPT, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Our CLI under a pseudo-terminal (util-linux `script`), so stdout is a TTY. */
function underTty(args: string[], extraEnv: Record<string, string> = {}): { code: number; output: string } {
  const cmd = [process.execPath, CLI, ...args].map(shellQuote).join(' ');
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TZ: process.env.TZ,
      TERM: 'xterm',
      RESTIC_TS_SCRYPT: TEST_SCRYPT,
      ...env,
      ...extraEnv,
    },
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, output: r.stdout };
}

/** The status lines drawn in place: "\r<erase line>text" not followed by a newline. */
function statusLines(output: string): string[] {
  return [...output.matchAll(/\r\x1b\[2K([^\r\n]+)/g)].map((m) => m[1]!);
}

describe('progress on a terminal', () => {
  it('backup and restore draw a live line with files, bytes, throughput and ETA; a pipe gets none', () => {
    const fast = { RESTIC_PROGRESS_FPS: '1000' };
    const b = underTty(['-r', repo, 'backup', src], fast);
    expect(b.code, b.output).toBe(0);
    const bl = statusLines(b.output);
    expect(bl.length).toBeGreaterThan(1);
    expect(
      bl.some((l) =>
        /^\[\d+:\d\d\] \d+\.\d\d%  \d+ files [\d.]+ (B|KiB|MiB), total 60 files 30\.000 MiB, [\d.]+ (B|KiB|MiB|GiB)\/s ETA \d+:\d\d/.test(
          l,
        ),
      ),
      bl.join('\n'),
    ).toBe(true);
    expect(b.output).toMatch(/Files:\s+60 new,\s+0 changed,\s+0 unmodified/);

    const target = path.join(tmp.dir, 'tty-restore');
    const r = underTty(['-r', repo, 'restore', 'latest', '--target', target], fast);
    expect(r.code, r.output).toBe(0);
    const rl = statusLines(r.output);
    expect(rl.length).toBeGreaterThan(1);
    expect(
      rl.some((l) =>
        /^\[\d+:\d\d\] \d+\.\d\d%  \d+ files\/dirs [\d.]+ (B|KiB|MiB), total \d+ files\/dirs 30\.000 MiB, [\d.]+ (B|KiB|MiB|GiB)\/s ETA \d+:\d\d/.test(
          l,
        ),
      ),
      rl.join('\n'),
    ).toBe(true);
    expect(r.output).toMatch(/Summary: Restored 6\d files\/dirs \(30\.000 MiB\) in \d+:\d\d/);

    // on a pipe: no escape sequences and no status line, only the summaries
    const pb = cli(['-r', repo, 'backup', src], { ...env, ...fast });
    expect(pb.code).toBe(0);
    expect(pb.stdout).not.toMatch(/\x1b|\r|ETA/);
    const pr = cli(['-r', repo, 'restore', 'latest', '--target', path.join(tmp.dir, 'pipe-restore')], { ...env, ...fast });
    expect(pr.code).toBe(0);
    expect(pr.stdout).not.toMatch(/\x1b|\r|ETA/);
    // --quiet draws nothing even on a terminal
    const q = underTty(['-r', repo, '-q', 'backup', src], fast);
    expect(q.code).toBe(0);
    expect(statusLines(q.output)).toEqual([]);
  });
});

describe('restore summary', () => {
  it('text like restic 0.17 and --json status/summary in its shape', () => {
    const t = cli(['-r', repo, 'restore', 'latest', '--target', path.join(tmp.dir, 'r1')], env);
    expect(t.code).toBe(0);
    const lines = t.stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      new RegExp(
        `^restoring snapshot [0-9a-f]{8} of \\[${src}\\] at \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d+ [+-]\\d{4} \\S+ by \\S+@\\S+ to ${path.join(tmp.dir, 'r1')}$`,
      ),
    );
    // every node of the tree from / down: 60 files, src, sub and the directories above src
    const depth = src.split('/').filter(Boolean).length;
    expect(lines[1]).toMatch(new RegExp(`^Summary: Restored ${60 + 1 + depth} files/dirs \\(30\\.000 MiB\\) in \\d+:\\d\\d$`));

    const j = cli(['-r', repo, '--json', 'restore', 'latest', '--target', path.join(tmp.dir, 'r2')], {
      ...env,
      RESTIC_PROGRESS_FPS: '1000',
    });
    expect(j.code).toBe(0);
    const msgs = j.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const status = msgs.filter((m) => m.message_type === 'status');
    expect(status.length).toBeGreaterThan(0);
    for (const s of status) {
      expect(
        Object.keys(s).every((k) =>
          ['message_type', 'seconds_elapsed', 'percent_done', 'total_files', 'files_restored', 'total_bytes', 'bytes_restored'].includes(k),
        ),
      ).toBe(true);
      expect(s.percent_done).toBeGreaterThanOrEqual(0);
      expect(s.percent_done).toBeLessThanOrEqual(1);
    }
    const summary = msgs[msgs.length - 1];
    expect(summary).toMatchObject({
      message_type: 'summary',
      total_files: 60 + 1 + depth,
      files_restored: 60 + 1 + depth,
      total_bytes: 60 * 512 * 1024,
      bytes_restored: 60 * 512 * 1024,
    });
    expect(
      Object.keys(summary).every((k) =>
        ['message_type', 'seconds_elapsed', 'total_files', 'files_restored', 'total_bytes', 'bytes_restored'].includes(k),
      ),
    ).toBe(true);
  });
});

describe('verbose backup', () => {
  it("-vv prints restic's new/modified/unchanged lines for the same items restic names", () => {
    const v = path.join(tmp.dir, 'vsrc');
    fs.mkdirSync(path.join(v, 'd'), { recursive: true });
    fs.writeFileSync(path.join(v, 'a'), 'a');
    fs.writeFileSync(path.join(v, 'd', 'b'), 'b');
    fs.writeFileSync(path.join(v, 'd', 'c'), 'c');
    const first = cli(['-r', repo, '-vv', 'backup', v], env);
    expect(first.code).toBe(0);
    const items = (out: string) =>
      out
        .split('\n')
        .filter((l) => /^(new|modified|unchanged) /.test(l))
        .map((l) => l.replace(/, saved in .*$/, ''))
        .sort();
    // restic also names the intermediate directories above an absolute target
    const above = v
      .split('/')
      .slice(1, -1)
      .map((_, i, parts) => `new       /${parts.slice(0, i + 1).join('/')}/`);
    expect(items(first.stdout)).toEqual(
      [...above, `new       ${v}/`, `new       ${v}/a`, `new       ${v}/d/`, `new       ${v}/d/b`, `new       ${v}/d/c`].sort(),
    );
    expect(first.stdout).toMatch(/^new       .*\/a, saved in \d+\.\d{3}s \(1 B added\)$/m);
    expect(first.stdout).toMatch(/^Data Blobs:\s+\d+ new$/m);

    fs.writeFileSync(path.join(v, 'd', 'c'), 'changed');
    const ours = cli(['-r', repo, '--verbose=2', 'backup', v], env);
    expect(ours.code).toBe(0);
    // restic, on the same repository with our snapshot as parent, names the same items the same way
    const theirs = resticOk(repo, PASSWORD, ['-vv', 'backup', v]);
    const paths = (l: string[]) => l.map((x) => x.slice(10)).sort();
    expect(paths(items(ours.stdout))).toEqual(paths(items(theirs)));
    // the directories above tmp.dir (/tmp) change whenever other processes add files there
    const own = (l: string[]) => l.filter((x) => x.slice(10).startsWith(tmp.dir));
    expect(own(items(theirs)).length).toBeGreaterThan(3);
    expect(own(items(theirs)).every((l) => l.startsWith('unchanged '))).toBe(true);
    expect(items(ours.stdout)).toContain(`modified  ${v}/d/c`);
    expect(items(ours.stdout)).toContain(`unchanged ${v}/a`);
    // -v alone (verbosity 2) shows the blob counts but no per-item lines
    const one = cli(['-r', repo, '-v', 'backup', v], env);
    expect(one.code).toBe(0);
    expect(items(one.stdout)).toEqual([]);
    expect(one.stdout).toMatch(/^Tree Blobs:\s+\d+ new$/m);
  });
});

describe('global flags', () => {
  it('--cache-dir and --no-cache are accepted (no cache is kept)', () => {
    const r = cli(['-r', repo, '--no-cache', '--cache-dir', path.join(tmp.dir, 'cache'), 'snapshots', '--json'], env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).length).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(tmp.dir, 'cache'))).toBe(false);
  });

  it('-o: unknown keys of the backend, empty and repeated keys are errors, as in restic', async () => {
    for (const [opts, msg] of [
      [['-o', 'local.foo=1'], 'Fatal: option local.foo is not known'],
      [['-o', '=x'], 'Fatal: empty key is not a valid option'],
      [['-o', 'a=1', '-o', 'a=2'], 'Fatal: key "a" present more than once'],
    ] as const) {
      const r = await cliAsync(['-r', repo, ...opts, 'snapshots'], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(msg + '\n');
    }
    expect((await cliAsync(['-r', repo, '-o', 'local.connections=2', 'snapshots'], env)).code).toBe(0);
  });
});

describe('help', () => {
  it('help, help <command> and <command> --help for every command', async () => {
    const top = await cliAsync(['help']);
    expect(top.code).toBe(0);
    for (const c of COMMANDS) {
      expect(top.stdout).toContain(`  ${c.name}`);
      for (const args of [
        ['help', c.name],
        [c.name, c.name === 'ls' ? '-h' : '--help'],
      ]) {
        const r = await cliAsync(args);
        expect(r.code, args.join(' ')).toBe(0);
        expect(r.stdout).toContain(c.summary);
        expect(r.stdout).toContain(`Usage:\n  ${c.usage}`);
        expect(r.stdout).toContain('Global Flags:');
        for (const o of c.options) expect(r.stdout).toContain(`--${o.name}`);
      }
    }
    expect((await cliAsync(['--help'])).code).toBe(0);
  });
});

describe('exit codes', () => {
  it('0, 1, 3, 10 and 12 each with one human line, and a JSON error under --json', async () => {
    const missing = path.join(tmp.dir, 'missing-repo');
    const unreadable = ['backup', '/proc/self/mem'];
    const cases: Array<[string[], Record<string, string>, number, RegExp]> = [
      [['-r', repo, 'snapshots'], env, 0, /^$/],
      [['-r', repo, 'backup', '--no-such-flag', src], env, 1, /unknown flag: --no-such-flag/],
      [['-r', repo, 'snapshots', '--latest'], env, 1, /flag needs an argument: --latest/],
      [['-r', repo, '-v=x', 'snapshots'], env, 1, /unknown shorthand flag|invalid argument/],
      [['-r', repo, ...unreadable], env, 3, /mem/],
      [['-r', missing, 'snapshots'], env, 10, /repository does not exist/],
      [['-r', repo, 'snapshots'], { RESTIC_PASSWORD: 'wrong' }, 12, /wrong password or no key found/],
    ];
    for (const [args, e, code, msg] of cases) {
      const t = await cliAsync(args, e);
      expect(t.code, `${args.join(' ')}: ${t.stderr}`).toBe(code);
      if (code === 0) continue;
      expect(t.stderr).toMatch(msg);
      expect(t.stderr.trim().split('\n'), t.stderr).toHaveLength(1);
      const j = await cliAsync(['--json', ...args], e);
      expect(j.code).toBe(code);
      const lines = j.stderr
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines).toHaveLength(1);
      if (code === 3) expect(lines[0]).toMatchObject({ message_type: 'error', during: 'archival', item: '/proc/self/mem' });
      else expect(lines[0]).toMatchObject({ message_type: 'exit_error', code });
      expect(JSON.stringify(lines[0])).toMatch(msg);
    }
    expect(fs.existsSync(missing)).toBe(false);
  });
});

describe('--one-file-system', () => {
  it('stops at a tmpfs mounted inside the tree (keeping the mount point), as restic does', async () => {
    const root = path.join(tmp.dir, 'ofs');
    const mnt = path.join(root, 'mnt');
    fs.mkdirSync(mnt, { recursive: true });
    fs.writeFileSync(path.join(root, 'outside'), 'on the root fs');
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { encoding: 'utf8' });
    expect(m.status, `mount needs root: ${m.stderr}`).toBe(0);
    try {
      fs.writeFileSync(path.join(mnt, 'inside'), 'on the tmpfs');
      expect(fs.statSync(mnt).dev).not.toBe(fs.statSync(root).dev);
      const listing = async (tool: 'ours' | 'restic', x: boolean) => {
        const tag = `${tool}-${x}`;
        if (tool === 'ours') expect((await cliAsync(['-r', repo, 'backup', '--tag', tag, ...(x ? ['-x'] : []), root], env)).code).toBe(0);
        else resticOk(repo, PASSWORD, ['backup', '--tag', tag, ...(x ? ['--one-file-system'] : []), root]);
        const r = await cliAsync(['-r', repo, 'ls', '--recursive', 'latest', '--tag', tag, root], env);
        expect(r.code).toBe(0);
        return r.stdout.split('\n').filter((l) => l.startsWith(root));
      };
      const oursX = await listing('ours', true);
      expect(oursX).toContain(mnt); // the mount point itself is kept
      expect(oursX).not.toContain(path.join(mnt, 'inside'));
      expect(oursX).toContain(path.join(root, 'outside'));
      expect(oursX).toEqual(await listing('restic', true));
      expect(await listing('ours', false)).toContain(path.join(mnt, 'inside'));
    } finally {
      spawnSync('umount', [mnt]);
    }
  });
});

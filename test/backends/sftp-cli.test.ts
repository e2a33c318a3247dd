/**
 * The CLI over sftp: against a real OpenSSH sshd started for this file: our round trip,
 * restic 0.14 ↔ restic-ts on the same server (restic through the `ssh` binary with
 * `-o sftp.command`), one-line errors with restic's exit codes, and a backup that survives
 * its SSH sessions being killed.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TEST_SCRYPT, cli } from '../helpers/cli.js';
import { diffTrees, generateTree } from '../helpers/gentree.js';
import { resticOk } from '../helpers/restic.js';
import { freePort, haveSshd, startSshd, type Sshd } from '../helpers/sshd.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'correct horse battery staple';
const CLI_JS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli.js');

let sshd: Sshd;
let tmp: ReturnType<typeof tempDir>;
let src: string;
let home: string;
let seq = 0;

beforeAll(async () => {
  if (!haveSshd())
    throw new Error(
      'OpenSSH sshd (/usr/sbin/sshd, ssh-keygen) is required for the SFTP tests and must run as root: apt-get install openssh-server',
    );
  tmp = tempDir('restic-ts-sftp-cli-');
  src = path.join(tmp.dir, 'src');
  generateTree(src, { bigFileSize: 6 * 1024 * 1024 });
  home = path.join(tmp.dir, 'home'); // no ~/.ssh: keys and known_hosts come from flags
  fs.mkdirSync(home);
  sshd = await startSshd();
}, 60_000);

afterAll(async () => {
  await sshd?.stop();
  tmp?.cleanup();
});
// Child processes run synchronously: give vitest's worker a turn of the event loop between tests.
beforeEach(() => new Promise<void>((r) => setImmediate(r)));

function repoDir(tag: string): string {
  return path.join(sshd.home, `${tag}-${++seq}`);
}

/** Our location for an absolute directory, and the flags that go with it. */
function ours(dir: string, key = sshd.clientKey, knownHosts = sshd.knownHosts): string[] {
  return ['-r', `sftp://root@127.0.0.1:${sshd.port}/${dir}`, '--ssh-key-file', key, '-o', `sftp.known-hosts=${knownHosts}`];
}

/** restic's location for the same directory (host and port are in sftp.command). */
function theirs(dir: string): string {
  return `sftp:root@127.0.0.1:${dir}`;
}

function resticArgs(args: string[]): string[] {
  return ['-o', `sftp.command=${sshd.sftpCommand()}`, ...args];
}

const env = () => ({ RESTIC_PASSWORD: PASSWORD, HOME: home });

function expectOneLine(stderr: string, re: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(re);
}

describe('CLI over sftp on OpenSSH', () => {
  it('round trip: init, backup, snapshots, restore identical', () => {
    const dir = repoDir('roundtrip');
    let r = cli([...ours(dir), 'init'], env());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(fs.readdirSync(path.join(dir, 'data'))).toHaveLength(256);
    r = cli([...ours(dir), 'backup', '--host', 'ours', src], env());
    expect(r.code, r.stderr).toBe(0);
    r = cli([...ours(dir), 'snapshots', '--json'], env());
    expect(r.code, r.stderr).toBe(0);
    const snaps = JSON.parse(r.stdout);
    expect(snaps).toHaveLength(1);
    expect(snaps[0].hostname).toBe('ours');
    expect(snaps[0].paths).toEqual([src]);
    const target = path.join(tmp.dir, 'restore-roundtrip');
    r = cli([...ours(dir), 'restore', 'latest', '--target', target], env());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(diffTrees(src, path.join(target, src), { mtimeToleranceNs: 1000n })).toEqual([]);
  });

  it('restic-ts writes, restic 0.14 checks --read-data and restores identically', () => {
    const dir = repoDir('ours');
    expect(cli([...ours(dir), 'init'], env()).code).toBe(0);
    const r = cli([...ours(dir), 'backup', '--host', 'ours', src], env());
    expect(r.code, r.stderr).toBe(0);
    const snaps = JSON.parse(resticOk(theirs(dir), PASSWORD, resticArgs(['snapshots', '--json'])));
    expect(snaps.map((s: { hostname: string }) => s.hostname)).toEqual(['ours']);
    resticOk(theirs(dir), PASSWORD, resticArgs(['check', '--read-data']));
    const target = path.join(tmp.dir, 'restore-by-restic');
    resticOk(theirs(dir), PASSWORD, resticArgs(['restore', 'latest', '--target', target]));
    expect(diffTrees(src, path.join(target, src))).toEqual([]);
  });

  it('restic 0.14 writes, restic-ts lists and restores identically', () => {
    const dir = repoDir('theirs');
    resticOk(theirs(dir), PASSWORD, resticArgs(['init']));
    resticOk(theirs(dir), PASSWORD, resticArgs(['backup', '--host', 'resticd', src]));
    let r = cli([...ours(dir), 'snapshots', '--json'], env());
    expect(r.code, r.stderr).toBe(0);
    const snaps = JSON.parse(r.stdout);
    expect(snaps).toHaveLength(1);
    expect(snaps[0].hostname).toBe('resticd');
    const target = path.join(tmp.dir, 'restore-restic-repo');
    r = cli([...ours(dir), 'restore', 'latest', '--target', target], env());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(diffTrees(src, path.join(target, src), { mtimeToleranceNs: 1000n })).toEqual([]);
  });
});

describe('errors users can cause, over sftp', () => {
  let dir: string;
  beforeAll(() => {
    dir = repoDir('errors');
    const r = cli([...ours(dir), 'init'], env());
    expect(r.code, r.stderr).toBe(0);
  });

  it('an unknown host key: one line, exit 1; the explicit opt-out connects', () => {
    const empty = path.join(tmp.dir, 'known_hosts_empty');
    fs.writeFileSync(empty, '');
    let r = cli([...ours(dir, sshd.clientKey, empty), 'snapshots'], env());
    expect(r.code).toBe(1);
    expectOneLine(r.stderr, /^Fatal: host key verification failed: \[127\.0\.0\.1\]:\d+ is not in .*sftp\.insecure-host-key=true/);
    expect(r.stdout).toBe('');
    // Without any -o sftp.known-hosts the default ~/.ssh/known_hosts (absent here) is used: refused too.
    r = cli(['-r', `sftp://root@127.0.0.1:${sshd.port}/${dir}`, '--ssh-key-file', sshd.clientKey, 'snapshots'], env());
    expect(r.code).toBe(1);
    expectOneLine(r.stderr, new RegExp(`is not in ${home.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/\\.ssh/known_hosts`));
    r = cli([...ours(dir, sshd.clientKey, empty), '-o', 'sftp.insecure-host-key=true', 'snapshots', '--json'], env());
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([]);
  });

  it('a key the server refuses: one line, exit 1', () => {
    const r = cli([...ours(dir, sshd.unauthorizedKey), 'snapshots'], env());
    expect(r.code).toBe(1);
    expectOneLine(
      r.stderr,
      /^Fatal: SSH authentication failed for root@127\.0\.0\.1:\d+: the server refused the key \(.*stranger_ed25519\)$/,
    );
  });

  it('a missing key file and no key at all: one line, exit 1', () => {
    let r = cli([...ours(dir, path.join(tmp.dir, 'nope')), 'snapshots'], env());
    expect(r.code).toBe(1);
    expectOneLine(r.stderr, /^Fatal: cannot read SSH private key .*nope \(--ssh-key-file\): ENOENT$/);
    r = cli(['-r', `sftp://root@127.0.0.1:${sshd.port}/${dir}`, 'snapshots'], env());
    expect(r.code).toBe(1);
    expectOneLine(r.stderr, /^Fatal: no SSH private key: use --ssh-key-file FILE, SSH_KEY_FILE or SSH_KEY/);
  });

  it('SSH_KEY_FILE and SSH_KEY (chectl names) work like --ssh-key-file', () => {
    const base = ['-r', `sftp://root@127.0.0.1:${sshd.port}/${dir}`, '-o', `sftp.known-hosts=${sshd.knownHosts}`, 'snapshots', '--json'];
    let r = cli(base, { ...env(), SSH_KEY_FILE: sshd.clientKeyRsa });
    expect(r.code, r.stderr).toBe(0);
    r = cli(base, { ...env(), SSH_KEY: fs.readFileSync(sshd.clientKey, 'utf8') });
    expect(r.code, r.stderr).toBe(0);
  });

  it('no repository at the path: exit 10', () => {
    const r = cli([...ours(repoDir('missing')), 'snapshots'], env());
    expect(r.code).toBe(10);
    expectOneLine(
      r.stderr,
      /^Fatal: repository does not exist: unable to open config file at sftp:\/\/root@127\.0\.0\.1:\d+\/\/.*missing-\d+$/,
    );
  });

  it('an unreachable host: one line, exit 1', async () => {
    const port = await freePort();
    const r = cli(
      [
        '-r',
        `sftp://root@127.0.0.1:${port}//srv/repo`,
        '--ssh-key-file',
        sshd.clientKey,
        '-o',
        `sftp.known-hosts=${sshd.knownHosts}`,
        'snapshots',
      ],
      env(),
    );
    expect(r.code).toBe(1);
    expectOneLine(r.stderr, new RegExp(`^Fatal: cannot connect to root@127\\.0\\.0\\.1:${port}: connection refused$`));
  });
});

describe('dropped connections during a backup', () => {
  it('a backup whose SSH sessions are killed repeatedly reconnects and completes; restic checks it', async () => {
    const big = path.join(tmp.dir, 'bigsrc');
    generateTree(big, { bigFileSize: 48 * 1024 * 1024 });
    const dir = repoDir('drops');
    expect(cli([...ours(dir), 'init'], env()).code).toBe(0);
    const child = spawn(process.execPath, [CLI_JS, ...ours(dir), 'backup', '--host', 'dropped', big], {
      env: { PATH: process.env.PATH, TZ: process.env.TZ, RESTIC_TS_SCRYPT: TEST_SCRYPT, ...env() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.resume();
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
    // Kill every SSH session of the running backup, three times, with room to make progress between.
    // The first kill waits until the backup is under way (its lock is on the server): a first
    // connection that never completes is a failure to connect, not a dropped link.
    let drops = 0;
    let done = false;
    void exited.then(() => (done = true));
    const locks = path.join(dir, 'locks');
    while (!done && !(fs.existsSync(locks) && fs.readdirSync(locks).length > 0)) await new Promise((r) => setTimeout(r, 50));
    while (!done && drops < 3) {
      await new Promise((r) => setTimeout(r, drops === 0 ? 300 : 1000));
      if (!done && sshd.dropConnections() > 0) drops++;
    }
    const code = await exited;
    expect(drops).toBeGreaterThan(0);
    expect(code, stderr).toBe(0);
    // The repository is complete and valid: restic reads every byte of it and restores.
    resticOk(theirs(dir), PASSWORD, resticArgs(['check', '--read-data']));
    const r = cli([...ours(dir), 'restore', 'latest', '--target', path.join(tmp.dir, 'restore-drops')], env());
    expect(r.code, r.stderr).toBe(0);
    expect(diffTrees(big, path.join(tmp.dir, 'restore-drops', big), { mtimeToleranceNs: 1000n })).toEqual([]);
  }, 300_000);
});

/**
 * A private OpenSSH sshd for tests: 127.0.0.1 on a random free port, its own config,
 * host key and client keys in a temp dir, public-key authentication only, the
 * internal-sftp subsystem. Nothing in /etc is used or touched (only /run/sshd, the
 * privilege separation directory sshd insists on, is created when missing).
 *
 *   const sshd = await startSshd();
 *   ... sftp://root@127.0.0.1:${sshd.port}//abs/path, key sshd.clientKey, known_hosts sshd.knownHosts
 *   await sshd.stop();
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const SSHD = '/usr/sbin/sshd';

/** sshd and ssh-keygen are installed and we can run sshd as root (needed to log in as root). */
export function haveSshd(): boolean {
  if (!fs.existsSync(SSHD)) return false;
  if (spawnSync('ssh-keygen', ['-?'], { encoding: 'utf8' }).error) return false;
  return process.getuid?.() === 0;
}

export interface Sshd {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The login user (root: the only user a test sshd can authenticate without PAM setup). */
  readonly user: string;
  /** Temp dir holding config, keys and logs; remove with stop(). */
  readonly dir: string;
  /** Directory internal-sftp starts in: relative repository paths resolve here. */
  readonly home: string;
  /** Authorized client private keys (ed25519 in OpenSSH format, RSA in PEM format). */
  readonly clientKey: string;
  readonly clientKeyRsa: string;
  /** A valid private key that is not authorized. */
  readonly unauthorizedKey: string;
  /** known_hosts with the host key as `[127.0.0.1]:PORT ssh-ed25519 …` (plain). */
  readonly knownHosts: string;
  /** Same entry in hashed form (`|1|salt|hash`, as `ssh-keygen -H` writes it). */
  readonly knownHostsHashed: string;
  /** The host's public key line (`ssh-ed25519 AAAA… comment`). */
  readonly hostPublicKey: string;
  /** PID of the listening sshd. */
  readonly pid: number;
  /** `-o sftp.command=…` for restic: ssh with our key, our known_hosts, strict checking. */
  sftpCommand(key?: string): string;
  /** Kill the per-connection sshd processes (drops every open session); the listener stays. */
  dropConnections(): number;
  /** Stop sshd (listener and sessions) and remove the temp dir. */
  stop(): Promise<void>;
}

/** `extraConfig`: more sshd_config lines (e.g. `MaxSessions 1`). */
export async function startSshd(opts: { extraConfig?: string[] } = {}): Promise<Sshd> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'restic-ts-sshd-'));
  const home = path.join(dir, 'home');
  fs.mkdirSync(home);
  const keygen = (file: string, ...args: string[]) => {
    const r = spawnSync('ssh-keygen', ['-q', '-N', '', '-f', file, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
  };
  const hostKey = path.join(dir, 'host_ed25519');
  const clientKey = path.join(dir, 'client_ed25519');
  const clientKeyRsa = path.join(dir, 'client_rsa');
  const unauthorizedKey = path.join(dir, 'stranger_ed25519');
  keygen(hostKey, '-t', 'ed25519', '-C', 'testhost');
  keygen(clientKey, '-t', 'ed25519', '-C', 'testclient');
  keygen(clientKeyRsa, '-t', 'rsa', '-b', '3072', '-m', 'PEM', '-C', 'testclient-rsa');
  keygen(unauthorizedKey, '-t', 'ed25519', '-C', 'stranger');
  const authorized = path.join(dir, 'authorized_keys');
  fs.writeFileSync(authorized, fs.readFileSync(`${clientKey}.pub`, 'utf8') + fs.readFileSync(`${clientKeyRsa}.pub`, 'utf8'));
  fs.chmodSync(authorized, 0o644);
  // sshd refuses to start without its privilege separation directory (/run is a tmpfs).
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

  const config = path.join(dir, 'sshd_config');
  fs.writeFileSync(
    config,
    [
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorized}`,
      'StrictModes no',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'UsePAM no',
      'UseDNS no',
      'X11Forwarding no',
      'AllowTcpForwarding no',
      'PrintMotd no',
      'LogLevel VERBOSE',
      // -d: the session starts in `home`, so relative paths stay inside the temp dir.
      `Subsystem sftp internal-sftp -d ${home}`,
      ...(opts.extraConfig ?? []),
      '',
    ].join('\n'),
  );
  const check = spawnSync(SSHD, ['-t', '-f', config], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`sshd -t rejected the test config: ${check.stderr}`);

  const port = await freePort();
  const log = fs.openSync(path.join(dir, 'sshd.log'), 'a');
  // -p overrides any Port line; -D stays in the foreground so the PID is the listener's.
  const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', config, '-p', String(port)], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForPort(port, child);
  } catch (err) {
    child.kill('SIGTERM');
    throw new Error(`${(err as Error).message}\n${fs.readFileSync(path.join(dir, 'sshd.log'), 'utf8')}`, { cause: err });
  }
  const pid = child.pid!;

  const hostPublicKey = fs.readFileSync(`${hostKey}.pub`, 'utf8').trim();
  const knownHosts = path.join(dir, 'known_hosts');
  fs.writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostPublicKey}\n`);
  const knownHostsHashed = path.join(dir, 'known_hosts_hashed');
  fs.copyFileSync(knownHosts, knownHostsHashed);
  const hash = spawnSync('ssh-keygen', ['-H', '-f', knownHostsHashed], { encoding: 'utf8' });
  if (hash.status !== 0) throw new Error(`ssh-keygen -H failed: ${hash.stderr}`);
  fs.rmSync(`${knownHostsHashed}.old`, { force: true });

  let stopped = false;
  return {
    host: '127.0.0.1',
    port,
    user: 'root',
    dir,
    home,
    clientKey,
    clientKeyRsa,
    unauthorizedKey,
    knownHosts,
    knownHostsHashed,
    hostPublicKey,
    pid,
    sftpCommand(key = clientKey) {
      return [
        'ssh',
        `-p ${port}`,
        `-i ${key}`,
        `-o UserKnownHostsFile=${knownHosts}`,
        '-o GlobalKnownHostsFile=/dev/null',
        '-o StrictHostKeyChecking=yes',
        '-o BatchMode=yes',
        '-o IdentitiesOnly=yes',
        '-o LogLevel=ERROR',
        'root@127.0.0.1',
        '-s sftp',
      ].join(' ');
    },
    dropConnections() {
      // Each session is served by descendants of the listener: a privileged monitor per
      // connection and its unprivileged child running internal-sftp. Kill the whole subtree
      // so the TCP connection closes at once (the child alone would keep the socket open).
      const procs = descendantsOf(pid);
      killAll(procs);
      return procs.length;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      killAll(descendantsOf(pid));
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once the port accepts a TCP connection; rejects when sshd exits first. */
async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`sshd exited (${child.exitCode ?? child.signalCode}) before accepting connections`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** All descendants of a process (children first, then theirs), from /proc. */
function descendantsOf(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      // pid (comm) state ppid …; comm may contain spaces and parentheses.
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* process ended while scanning */
    }
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift()!;
    for (const [child, pp] of parent) {
      if (pp === p) {
        out.push(child);
        queue.push(child);
      }
    }
  }
  return out;
}

function killAll(pids: number[]): void {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/**
 * A throwaway Ceph mini cluster for the S3 tests: one ceph-mon, one ceph-osd on the
 * in-memory `memstore` objectstore and one radosgw (S3 on 127.0.0.1), cephx off, no
 * systemd, everything in a temp dir. Cold start ≈ 11.5 s here, so a test file starts ONE
 * cluster (beforeAll) and uses a bucket per test.
 *
 *   const ceph = await startCeph();          // ceph.endpoint = 'http://127.0.0.1:PORT'
 *   ...                                      // keys: ceph.accessKey / ceph.secretKey
 *   await ceph.stop();                       // TERM, then KILL, by recorded PID; removes the dir
 *
 * Ports: radosgw listens on BASE, the mon on BASE+1 (v2) and BASE+2 (v1), the OSD binds in
 * BASE+10..BASE+60. BASE is random; the three fixed ports are checked free before use.
 * Needs the Debian packages ceph-mon, ceph-osd and radosgw (scripts/test-all.sh installs them).
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const CEPH_ACCESS_KEY = 'TESTKEY';
export const CEPH_SECRET_KEY = 'TESTSECRET';

const BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph', 'monmaptool', 'ceph-authtool'];
/** How long the whole start may take before we give up (cold start is ~11.5 s). */
const START_TIMEOUT_MS = 120_000;

export interface CephCluster {
  /** `http://127.0.0.1:PORT` (radosgw). */
  readonly endpoint: string;
  readonly port: number;
  readonly accessKey: string;
  readonly secretKey: string;
  /** Temp dir holding config, mon data and logs (removed by stop()). */
  readonly dir: string;
  /** Environment for restic / restic-ts: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. */
  readonly env: Record<string, string>;
  /** SIGKILL radosgw (the S3 endpoint dies; mon and OSD stay): for fault tests. */
  killGateway(): void;
  stop(): Promise<void>;
}

/** Whether the Ceph binaries are installed (the S3 tests fail clearly when they are not). */
export function hasCeph(): boolean {
  return BINARIES.every((b) => spawnSync('sh', ['-c', `command -v ${b}`], { stdio: 'ignore' }).status === 0);
}

export async function startCeph(): Promise<CephCluster> {
  const missing = BINARIES.filter((b) => spawnSync('sh', ['-c', `command -v ${b}`], { stdio: 'ignore' }).status !== 0);
  if (missing.length) {
    throw new Error(`Ceph is not installed (missing ${missing.join(', ')}); install the Debian packages ceph-mon ceph-osd radosgw`);
  }
  const base = await findBasePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'restic-ts-ceph-'));
  const cluster = new Cluster(dir, base);
  try {
    await cluster.start();
  } catch (err) {
    const logs = cluster.logTail();
    await cluster.stop();
    throw new Error(`Ceph mini cluster did not start: ${(err as Error).message}${logs ? `\n${logs}` : ''}`, { cause: err });
  }
  return cluster;
}

class Cluster implements CephCluster {
  readonly endpoint: string;
  readonly accessKey = CEPH_ACCESS_KEY;
  readonly secretKey = CEPH_SECRET_KEY;
  readonly env = { AWS_ACCESS_KEY_ID: CEPH_ACCESS_KEY, AWS_SECRET_ACCESS_KEY: CEPH_SECRET_KEY };
  private readonly conf: string;
  private readonly children: Array<{ name: string; child: ChildProcess; exited: boolean }> = [];
  private readonly onExit = (): void => this.killAllSync();
  private stopped = false;

  constructor(
    readonly dir: string,
    readonly port: number,
  ) {
    this.endpoint = `http://127.0.0.1:${port}`;
    this.conf = path.join(dir, 'ceph.conf');
  }

  async start(): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    const d = this.dir;
    const p = this.port;
    for (const sub of ['mon/a', 'osd/0', 'run', 'log', 'rgw']) fs.mkdirSync(path.join(d, sub), { recursive: true });
    const fsid = randomUUID();
    const monAddr = `[v2:127.0.0.1:${p + 1},v1:127.0.0.1:${p + 2}]`;
    fs.writeFileSync(this.conf, cephConf(d, p, fsid, monAddr));
    process.once('exit', this.onExit);

    const c = ['-c', this.conf];
    await run('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', monAddr, path.join(d, 'monmap')]);
    await run('ceph-authtool', ['--create-keyring', path.join(d, 'keyring'), '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']);
    await run('ceph-mon', [...c, '--mkfs', '-i', 'a', '--monmap', path.join(d, 'monmap'), '--keyring', path.join(d, 'keyring')]);
    this.daemon('mon', 'ceph-mon', [...c, '-i', 'a', '-f']);

    const osdUuid = randomUUID();
    await run('ceph', [...c, '--connect-timeout', '20', 'osd', 'new', osdUuid], 30_000);
    await run('ceph-osd', [...c, '-i', '0', '--mkfs', '--osd-uuid', osdUuid], 60_000);
    this.daemon('osd', 'ceph-osd', [...c, '-i', '0', '-f']);
    this.daemon('rgw', 'radosgw', [...c, '-n', 'client.rgw', '-f']);

    // radosgw opens its port only once it has created its pools on the OSD.
    while (!(await canConnect(p))) {
      const dead = this.children.find((ch) => ch.exited);
      if (dead) throw new Error(`${dead.name} exited early`);
      if (Date.now() > deadline) throw new Error(`radosgw did not listen on ${this.endpoint} within ${START_TIMEOUT_MS / 1000} s`);
      await sleep(100);
    }
    await run(
      'radosgw-admin',
      [...c, 'user', 'create', '--uid=test', '--display-name=test', `--access-key=${CEPH_ACCESS_KEY}`, `--secret=${CEPH_SECRET_KEY}`],
      60_000,
    );
    // Ready means: an HTTP answer from radosgw.
    while (!(await httpAnswers(this.endpoint))) {
      if (Date.now() > deadline) throw new Error(`radosgw at ${this.endpoint} never answered HTTP`);
      await sleep(100);
    }
  }

  private daemon(name: string, cmd: string, args: string[]): void {
    const out = fs.openSync(path.join(this.dir, 'log', `${name}.out`), 'a');
    const child = spawn(cmd, args, { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    const entry = { name, child, exited: false };
    child.on('exit', () => (entry.exited = true));
    child.on('error', () => (entry.exited = true));
    this.children.push(entry);
  }

  /** Last lines of the daemon logs, for start failures. */
  logTail(): string {
    const out: string[] = [];
    for (const f of ['mon.out', 'osd.out', 'rgw.out', 'client.rgw.log']) {
      try {
        const lines = fs
          .readFileSync(path.join(this.dir, 'log', f), 'utf8')
          .trimEnd()
          .split('\n')
          .slice(-5);
        if (lines.join('')) out.push(`--- ${f}\n${lines.join('\n')}`);
      } catch {
        /* no such log */
      }
    }
    return out.join('\n');
  }

  killGateway(): void {
    for (const c of this.children) if (c.name === 'rgw' && !c.exited && c.child.pid !== undefined) signal(c.child.pid, 'SIGKILL');
  }

  /** TERM every daemon by PID, wait up to 2 s, KILL the rest, remove the temp dir. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const alive = () => this.children.filter((c) => !c.exited && c.child.pid !== undefined);
    for (const c of alive().reverse()) signal(c.child.pid!, 'SIGTERM');
    for (let i = 0; i < 20 && alive().length; i++) await sleep(100);
    for (const c of alive()) signal(c.child.pid!, 'SIGKILL');
    for (let i = 0; i < 50 && alive().length; i++) await sleep(100);
    process.removeListener('exit', this.onExit);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Last resort when the test process exits without afterAll (crash): no orphan daemons. */
  private killAllSync(): void {
    for (const c of this.children) if (!c.exited && c.child.pid !== undefined) signal(c.child.pid, 'SIGKILL');
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

function cephConf(d: string, p: number, fsid: string, monAddr: string): string {
  return `[global]
fsid = ${fsid}
mon host = ${monAddr}
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
ms mon client mode = crc secure
ms client mode = crc secure
ms cluster mode = crc secure
ms service mode = crc secure
run dir = ${d}/run
admin socket = ${d}/run/$name.asok
log file = ${d}/log/$name.log
pid file = ${d}/run/$name.pid
public addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind ipv6 = false
ms bind port min = ${p + 10}
ms bind port max = ${p + 60}
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail crit = 0
mon data avail warn = 1
osd objectstore = memstore
memstore device bytes = 4294967296
osd data = ${d}/osd/$id
mon data = ${d}/mon/$id
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:${p} tcp_nodelay=1
rgw data = ${d}/rgw
`;
}

/** Run a setup tool; reject with its output when it fails or hangs. */
function run(cmd: string, args: string[], timeout = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout, killSignal: 'SIGKILL', maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err) {
        const why = (err as { killed?: boolean }).killed ? `timed out after ${timeout / 1000} s` : `failed (${err.message.split('\n')[0]})`;
        reject(new Error(`${cmd} ${why}: ${String(stderr).trim().split('\n').slice(-3).join(' | ')}`));
      } else resolve(String(stdout));
    });
  });
}

/** A random base port whose radosgw and mon ports are free (the OSD picks from a 50-port range). */
async function findBasePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 40000);
    const free = await Promise.all([base, base + 1, base + 2].map(portFree));
    if (free.every(Boolean)) return base;
  }
  throw new Error('no free port block found for the Ceph mini cluster');
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.setTimeout(1000);
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('timeout', () => {
      sock.destroy();
      resolve(false);
    });
    sock.once('error', () => resolve(false));
  });
}

/** Any HTTP status from `GET /` (anonymous ListBuckets) means radosgw serves requests. */
async function httpAnswers(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(endpoint + '/', { signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    return res.status > 0;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

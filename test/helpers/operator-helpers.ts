/**
 * Shared pieces of the operator tests: a Che-like installation (CheCluster, configmaps,
 * secrets, two generated SQL dumps streamed from generators) and the checks every backend
 * runs on it (restore by latest and by short ID byte-identically, real restic restores the
 * same files).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import type { CheInstallation, RestoredInstallation } from '../../src/entries/operator.js';
import { resticAsync } from './spawn-async.js';

export const MiB = 1024 * 1024;
/** Cheap keys for repositories the tests create (restic opens them fast too). */
export const TEST_KDF = { N: 1024, r: 8, p: 1 };
/** Che's internal server password broke on `'`; ours must not break on anything. */
export const HARD_PASSWORD = `it's a "quoted" pass phrase with spaces, ümlauts, 日本語 and \\ back\\slashes`;

/** A deterministic SQL dump of `size` bytes, produced chunk by chunk (never held in memory whole). */
export async function* sqlDump(seed: number, size: number): AsyncGenerator<Uint8Array> {
  let x = seed >>> 0 || 1;
  const rnd = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  let left = size;
  let row = 0;
  const header = `--\n-- PostgreSQL database dump (seed ${seed})\n--\nCOPY public.workspace (id, name, attributes) FROM stdin;\n`;
  let pending = Buffer.from(header);
  while (left > 0) {
    const lines: string[] = [];
    for (let i = 0; i < 600; i++) {
      const id = rnd().toString(16).padStart(8, '0') + rnd().toString(36);
      lines.push(
        `${row++}\tworkspace-${id}\t{"memory":"${rnd() % 8192}Mi","cpu":"${rnd() % 4000}m","token":"${rnd().toString(36)}${rnd().toString(36)}${rnd().toString(36)}"}\n`,
      );
    }
    const buf = Buffer.concat([pending, Buffer.from(lines.join(''))]);
    pending = Buffer.alloc(0);
    const take = Math.min(left, buf.length);
    left -= take;
    yield buf.subarray(0, take);
  }
}

/** SHA-256 and length of what a generator yields. */
export async function digest(source: AsyncIterable<Uint8Array>): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of source) {
    h.update(c);
    size += c.length;
  }
  return { sha256: h.digest('hex'), size };
}

export function fileDigest(file: string): { sha256: string; size: number } {
  const data = fs.readFileSync(file);
  return { sha256: createHash('sha256').update(data).digest('hex'), size: data.length };
}

export const CHE_CLUSTER = {
  apiVersion: 'org.eclipse.che/v1',
  kind: 'CheCluster',
  metadata: { name: 'eclipse-che', namespace: 'eclipse-che' },
  spec: {
    server: { cheFlavor: 'che', customCheProperties: { CHE_LIMITS_USER_WORKSPACES_RUN_COUNT: '2' }, serverExposureStrategy: 'multi-host' },
    database: { externalDb: false, chePostgresDb: 'dbche', chePostgresSecret: 'che-postgres-secret' },
    auth: { identityProviderURL: '', openShiftoAuth: false },
    storage: { pvcStrategy: 'common', pvcClaimSize: '10Gi' },
    k8s: { ingressDomain: '192.168.49.2.nip.io' },
  },
};

/** A configmap as `kubectl get -o yaml` prints it (YAML text, kept byte for byte). */
export const CA_CONFIGMAP_YAML = `apiVersion: v1
data:
  ca.crt: |
    -----BEGIN CERTIFICATE-----
    MIIBszCCAVmgAwIBAgIUJ8J3kSx7q0Kn0b3Xn3t3d1bGQ3MwCgYIKoZIzj0EAwIw
    -----END CERTIFICATE-----
kind: ConfigMap
metadata:
  labels:
    app.kubernetes.io/component: ca-bundle
    app.kubernetes.io/part-of: che.eclipse.org
  name: custom-certs
  namespace: eclipse-che
`;

export const POSTGRES_SECRET = {
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'che-postgres-secret', namespace: 'eclipse-che' },
  type: 'Opaque',
  data: { user: 'cGdjaGU=', password: 'c2VjcmV0' },
};

export const DUMP_SIZES = { dbche: 50 * MiB, keycloak: 50 * MiB } as const;

/** The installation; each call makes fresh dump generators (streams are read once). */
export function cheInstallation(sizes: Record<string, number> = DUMP_SIZES): CheInstallation {
  return {
    cheCluster: CHE_CLUSTER,
    configMaps: [{ manifest: CA_CONFIGMAP_YAML }],
    secrets: [{ manifest: POSTGRES_SECRET }],
    databases: Object.entries(sizes).map(([name, size], i) => ({ name, dump: sqlDump(i + 1, size) })),
    info: { cheVersion: '7.41.2', infrastructure: 'Kubernetes', appsDomain: '192.168.49.2.nip.io', namespace: 'eclipse-che' },
  };
}

/** Expected digests of the dumps of cheInstallation(sizes). */
export async function expectedDumps(sizes: Record<string, number> = DUMP_SIZES): Promise<Record<string, { sha256: string; size: number }>> {
  const out: Record<string, { sha256: string; size: number }> = {};
  let i = 0;
  for (const [name, size] of Object.entries(sizes)) out[name] = await digest(sqlDump(++i, size));
  return out;
}

/** The parsed objects and the dump streams of a restored installation are the ones backed up. */
export async function expectRestoredInstallation(
  inst: RestoredInstallation,
  dumps: Record<string, { sha256: string; size: number }>,
): Promise<void> {
  expect(inst.cheCluster.object).toEqual(CHE_CLUSTER);
  expect(inst.configMaps.map((c) => c.name)).toEqual(['custom-certs']);
  expect(inst.configMaps[0]!.yaml).toBe(CA_CONFIGMAP_YAML);
  expect((inst.configMaps[0]!.object as { data: Record<string, string> }).data['ca.crt']).toContain('BEGIN CERTIFICATE');
  expect(inst.secrets.map((s) => [s.name, s.object])).toEqual([['che-postgres-secret', POSTGRES_SECRET]]);
  expect(inst.info).toMatchObject({
    metadataFileVersion: 'v1',
    cheVersion: '7.41.2',
    infrastructure: 'Kubernetes',
    namespace: 'eclipse-che',
  });
  expect(inst.databases.map((d) => d.name).sort()).toEqual(Object.keys(dumps).sort());
  for (const db of inst.databases) {
    expect(db.size).toBe(dumps[db.name]!.size);
    expect(await digest(db.content())).toEqual(dumps[db.name]);
  }
}

/** A directory restored from the backup (by us or by restic) holds Che's layout with identical files. */
export function expectRestoredDir(dir: string, dumps: Record<string, { sha256: string; size: number }>): void {
  const files = (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
  expect(files).toEqual(
    [
      'backup-info.yaml',
      'che-cr.yaml',
      'configmaps/custom-certs.yaml',
      ...Object.keys(dumps)
        .sort()
        .map((n) => `db/${n}.sql`),
      'secrets/che-postgres-secret.yaml',
    ].sort(),
  );
  expect(fs.readFileSync(path.join(dir, 'configmaps/custom-certs.yaml'), 'utf8')).toBe(CA_CONFIGMAP_YAML);
  for (const [name, d] of Object.entries(dumps)) expect(fileDigest(path.join(dir, 'db', `${name}.sql`))).toEqual(d);
  expect(fs.statSync(path.join(dir, 'db', `${Object.keys(dumps)[0]}.sql`)).mode & 0o777).toBe(0o600);
}

/** Stages of the events, in order, with their states. */
export function stagesOf(events: Array<{ state: string; stage: string }>): string[] {
  return events.map((e) => `${e.state}:${e.stage}`);
}

/** The real restic, asynchronously; throws with its output when it fails. */
export async function resticAsyncOk(repo: string, password: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await resticAsync(repo, password, args, env);
  if (r.code !== 0) throw new Error(`restic ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

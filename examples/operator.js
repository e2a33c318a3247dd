#!/usr/bin/env node
// An operator's backup job in miniature (Eclipse Che's CheClusterBackup / CheClusterRestore):
// back up a Che installation — the CheCluster manifest, a CA configmap, the DB secret and a
// PostgreSQL dump streamed from a generator — list the snapshots, restore by the 8-character
// ID and check every byte. Runs twice: against a local repository and against the internal
// backup server (our REST server, in-process, with generated credentials).
//
//   npm run build && node examples/operator.js
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  LocalBackend,
  Repository,
  backupCheInstallation,
  backupInstallation,
  cheBackupStatus,
  openBackupRepository,
  readInstallation,
  restoreCheInstallation,
  startInternalBackupServer,
} from '../dist/index.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'restic-ts-operator-'));
const DUMP_BYTES = 8 * 1024 * 1024;

/** What `pg_dump dbche` would stream; here generated, never held in memory whole. */
async function* pgDump() {
  yield Buffer.from('--\n-- PostgreSQL database dump\n--\nCOPY public.workspace (id, name) FROM stdin;\n');
  let sent = 0;
  for (let row = 0; sent < DUMP_BYTES; row++) {
    const line = Buffer.from(`${row}\tworkspace-${crypto.createHash('md5').update(String(row)).digest('hex')}\n`);
    sent += line.length;
    yield line;
  }
}

const installation = () => ({
  cheCluster: {
    apiVersion: 'org.eclipse.che/v1',
    kind: 'CheCluster',
    metadata: { name: 'eclipse-che' },
    spec: { database: { chePostgresDb: 'dbche' } },
  },
  configMaps: [
    {
      manifest:
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: custom-certs\ndata:\n  ca.crt: |\n    -----BEGIN CERTIFICATE-----\n    MIIB...\n    -----END CERTIFICATE-----\n',
    },
  ],
  secrets: [{ manifest: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'che-postgres-secret' }, data: { user: 'cGdjaGU=' } } }],
  databases: [{ name: 'dbche', dump: pgDump() }],
  info: { cheVersion: '7.41.2', infrastructure: 'Kubernetes', namespace: 'eclipse-che' },
});

async function sha256(chunks) {
  const h = crypto.createHash('sha256');
  for await (const c of chunks) h.update(c);
  return h.digest('hex');
}

async function listSnapshots(repo) {
  for (const { id, snapshot } of await repo.listSnapshots())
    console.log(`  ${id.slice(0, 8)}  ${snapshot.time.slice(0, 19)}  ${snapshot.hostname}  ${snapshot.paths.join(' ')}`);
}

const expected = await sha256(pgDump());

// 1. A local repository, with the library's lower-level calls.
{
  console.log('== local repository');
  const repo = await Repository.init(new LocalBackend(path.join(work, 'repo')), `it's a "local" pässword`);
  const { shortId } = await backupInstallation(repo, installation(), { hostname: 'che-operator' });
  console.log(`Backup snapshot ID: ${shortId}`);
  await listSnapshots(repo);
  const inst = await readInstallation(repo, shortId);
  const ok = (await sha256(inst.databases[0].content())) === expected;
  console.log(`restored ${inst.cheCluster.object.kind} ${inst.cheCluster.object.metadata.name}, dump identical: ${ok}`);
  await repo.close();
  if (!ok) process.exitCode = 1;
}

// 2. The internal backup server, through a configuration object and status events.
{
  console.log('== internal backup server');
  const internal = await startInternalBackupServer({ dir: path.join(work, 'internal-server') });
  try {
    console.log(`  listening on ${internal.server.url} as ${internal.secrets['backup-rest-server-credentials'].username}`);
    const source = { configuration: internal.configuration, secrets: internal.secrets };
    // CheClusterBackup.status exactly as Che's operator wrote it (its stage strings verbatim).
    const onStatus = (s) => console.log(`  status: ${JSON.stringify(cheBackupStatus(s))}`);
    const { shortId } = await backupCheInstallation(source, installation(), { onStatus });
    console.log(`Backup snapshot ID: ${shortId}`);
    const { repo } = await openBackupRepository(internal.resolved, { create: false });
    await listSnapshots(repo);
    await repo.close();
    const target = path.join(work, 'restored');
    const r = await restoreCheInstallation(source, shortId, { target, onStatus });
    const ok =
      (await sha256(r.installation.databases[0].content())) === expected &&
      (await sha256([fs.readFileSync(path.join(target, 'db', 'dbche.sql'))])) === expected;
    await r.close();
    console.log(`restored into ${target}: ${fs.readdirSync(target).sort().join(', ')}; dump identical: ${ok}`);
    if (!ok) process.exitCode = 1;
  } finally {
    await internal.close();
  }
}

fs.rmSync(work, { recursive: true, force: true });

/**
 * --tls-client-cert (restic's flag and RESTIC_TLS_CLIENT_CERT): our REST server behind a
 * TLS front that demands a client certificate. Without the certificate the handshake is
 * refused; with it restic-ts backs up (at a 4 MiB --pack-size) and restic 0.14, given the
 * same file, checks the repository with --read-data and restores the data.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRestServer, type RestServer } from '../../src/rest-server/server.js';
import { cliAsync, resticAsync } from '../helpers/spawn-async.js';
import { tempDir } from '../helpers/tmp.js';

const PASSWORD = 'mtls-pw';
const tmp = tempDir('restic-ts-mtls-');
let rest: RestServer;
let front: https.Server;
let repo: string;
let serverPem: string;
let clientPem: string;
let src: string;

/** A self-signed certificate (EC P-256) for 127.0.0.1; returns "cert+key" PEM file path. */
function selfSigned(name: string): { cert: string; key: string; both: string } {
  const cert = path.join(tmp.dir, `${name}.crt`);
  const key = path.join(tmp.dir, `${name}.key`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' }); // prettier-ignore
  const both = path.join(tmp.dir, `${name}.pem`);
  fs.writeFileSync(both, Buffer.concat([fs.readFileSync(cert), fs.readFileSync(key)]));
  return { cert, key, both };
}

beforeAll(async () => {
  const server = selfSigned('server');
  const client = selfSigned('client');
  serverPem = server.cert;
  clientPem = client.both;
  rest = await startRestServer({ path: path.join(tmp.dir, 'rest'), listen: '127.0.0.1:0', noAuth: true });
  const backend = new URL(rest.url);
  // TLS with client authentication in front of the plain REST server
  front = https.createServer(
    {
      cert: fs.readFileSync(server.cert),
      key: fs.readFileSync(server.key),
      ca: fs.readFileSync(client.cert),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      const fwd = http.request(
        { host: backend.hostname, port: backend.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 500, answer.headers);
          answer.pipe(res);
        },
      );
      fwd.on('error', () => res.destroy());
      req.pipe(fwd);
    },
  );
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', () => r()));
  repo = `rest:https://127.0.0.1:${(front.address() as AddressInfo).port}/repo`;
  src = path.join(tmp.dir, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'data.bin'), crypto.randomBytes(10 * 1024 * 1024));
});

afterAll(async () => {
  front?.closeAllConnections();
  await new Promise((r) => front?.close(r));
  await rest?.close();
  tmp.cleanup();
});

describe('--tls-client-cert', () => {
  it('is needed by the server, and lets restic-ts and restic 0.14 work on the repository', async () => {
    const env = { RESTIC_PASSWORD: PASSWORD };
    const refused = await cliAsync(['-r', repo, '--cacert', serverPem, 'init'], env);
    expect(refused.code).not.toBe(0);
    const init = await cliAsync(['-r', repo, '--cacert', serverPem, '--tls-client-cert', clientPem, 'init'], env);
    expect(init.code, init.stderr).toBe(0);
    const backup = await cliAsync(['-r', repo, '--cacert', serverPem, '--pack-size', '4', 'backup', src], {
      ...env,
      RESTIC_TLS_CLIENT_CERT: clientPem,
    });
    expect(backup.code, backup.stderr).toBe(0);
    // 10 MiB of random data at a 4 MiB target: two or more data packs (one by default)
    const packs = fs
      .readdirSync(path.join(tmp.dir, 'rest', 'repo', 'data'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => fs.statSync(path.join(e.parentPath, e.name)).size);
    expect(packs.filter((s) => s > 1024 * 1024).length).toBeGreaterThanOrEqual(2);

    const flags = ['--cacert', serverPem, '--tls-client-cert', clientPem];
    const check = await resticAsync(repo, PASSWORD, [...flags, 'check', '--read-data']);
    expect(check.code, check.stderr).toBe(0);
    const target = path.join(tmp.dir, 'restored');
    const restore = await resticAsync(repo, PASSWORD, [...flags, 'restore', 'latest', '--target', target]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(fs.readFileSync(path.join(target, src, 'data.bin')).equals(fs.readFileSync(path.join(src, 'data.bin')))).toBe(true);
  });

  it('names a file without a key in one line', async () => {
    const r = await cliAsync(['-r', repo, '--cacert', serverPem, '--tls-client-cert', serverPem, 'snapshots'], {
      RESTIC_PASSWORD: PASSWORD,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `Fatal: unable to read client certificate/key pair: ${serverPem} must hold a PEM certificate and its private key\n`,
    );
  });
});

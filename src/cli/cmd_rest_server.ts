/**
 * `restic-ts rest-server`: our REST server (src/rest-server) with rest-server's flags.
 * Differences from restic/rest-server: --listen defaults to 127.0.0.1:8000 (not all
 * interfaces), --path is required (rest-server defaults to a temp directory, which loses
 * backups on reboot), and a missing htpasswd file stops the server unless --no-auth is given.
 */
import { UsageError } from '../errors.js';
import { sizeBytes } from '../go/size.js';
import { startRestServer } from '../rest-server/server.js';
import type { Command } from './command.js';

/** "1073741824", "500M", "2GiB" → bytes (binary multiples). */
function parseSize(v: string, flag: string): number {
  const n = sizeBytes(v, true);
  if (n === undefined) throw new UsageError(`invalid value for ${flag}: ${JSON.stringify(v)} (bytes, or with a K/M/G/T suffix)`);
  if (!Number.isSafeInteger(n)) throw new UsageError(`invalid value for ${flag}: ${JSON.stringify(v)}`);
  return n;
}

export const restServerCommand: Command = {
  name: 'rest-server',
  summary: 'Run a REST server for restic repositories (compatible with restic/rest-server)',
  usage: 'restic-ts rest-server --path DIR [--listen 127.0.0.1:8000] [--htpasswd-file F | --no-auth] [flags]',
  options: [
    { name: 'path', kind: 'string', help: 'data directory (required)' },
    { name: 'listen', kind: 'string', help: 'listen address host:port (default 127.0.0.1:8000; use :8000 for all interfaces)' },
    { name: 'no-auth', kind: 'bool', help: 'disable authentication' },
    {
      name: 'htpasswd-file',
      kind: 'string',
      help: 'location of .htpasswd file (default: "<data directory>/.htpasswd"); bcrypt and {SHA} entries',
    },
    { name: 'append-only', kind: 'bool', help: 'enable append only mode' },
    { name: 'private-repos', kind: 'bool', help: 'users can only access their private repo' },
    { name: 'tls', kind: 'bool', help: 'turn on TLS support' },
    { name: 'tls-cert', kind: 'string', help: 'TLS certificate path (default "<data directory>/public_key")' },
    { name: 'tls-key', kind: 'string', help: 'TLS key path (default "<data directory>/private_key")' },
    { name: 'tls-min-ver', kind: 'string', help: 'TLS min version, one of (1.2|1.3) (default 1.2)' },
    { name: 'max-size', kind: 'string', help: 'the maximum size of the repository in bytes (K/M/G/T suffixes allowed)' },
    { name: 'max-upload-size', kind: 'string', help: 'largest accepted upload (default 160M)' },
    {
      name: 'no-verify-upload',
      kind: 'bool',
      help: 'do not verify the integrity of uploaded data. DO NOT enable unless the rest-server runs on a very low-power device',
    },
    { name: 'prometheus', kind: 'bool', help: 'enable Prometheus metrics' },
    { name: 'prometheus-no-auth', kind: 'bool', help: 'disable auth for Prometheus /metrics endpoint' },
    { name: 'group-accessible-repos', kind: 'bool', help: 'let filesystem group be able to access repo files' },
  ],
  async run(ctx, args) {
    if (args.length) throw new UsageError(`rest-server expects no arguments - unknown argument: ${args[0]}`);
    const o = ctx.opts;
    const dataPath = o['path'] as string | undefined;
    if (!dataPath) throw new UsageError('--path is required: the directory the repositories are stored in');
    const minVer = (o['tls-min-ver'] as string | undefined) ?? '1.2';
    if (minVer !== '1.2' && minVer !== '1.3')
      throw new UsageError(`unsupported TLS min version ${JSON.stringify(minVer)}, allowed: 1.2 or 1.3`);
    const log = (line: string) => ctx.stderr(line + '\n');
    const server = await startRestServer({
      path: dataPath,
      listen: o['listen'] as string | undefined,
      noAuth: !!o['no-auth'],
      htpasswdFile: o['htpasswd-file'] as string | undefined,
      appendOnly: !!o['append-only'],
      privateRepos: !!o['private-repos'],
      tls: !!o['tls'],
      tlsCert: o['tls-cert'] as string | undefined,
      tlsKey: o['tls-key'] as string | undefined,
      tlsMinVersion: minVer,
      maxSize: o['max-size'] !== undefined ? parseSize(o['max-size'] as string, '--max-size') : undefined,
      maxUploadSize: o['max-upload-size'] !== undefined ? parseSize(o['max-upload-size'] as string, '--max-upload-size') : undefined,
      noVerifyUpload: !!o['no-verify-upload'],
      prometheus: !!o['prometheus'],
      prometheusNoAuth: !!o['prometheus-no-auth'],
      groupAccessibleRepos: !!o['group-accessible-repos'],
      log,
    });
    await new Promise<void>((resolve) => {
      const stop = (sig: string) => {
        log(`${sig} received, finishing requests in flight`);
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onTerm);
        process.off('SIGHUP', onHup);
        server.close().then(resolve, resolve);
      };
      const onInt = () => stop('SIGINT');
      const onTerm = () => stop('SIGTERM');
      const onHup = () => {
        try {
          server.reloadHtpasswd();
          log('reloaded htpasswd file');
        } catch (err) {
          log(`could not reload htpasswd file: ${(err as Error).message}`);
        }
      };
      process.on('SIGINT', onInt);
      process.on('SIGTERM', onTerm);
      process.on('SIGHUP', onHup);
    });
    return 0;
  },
};

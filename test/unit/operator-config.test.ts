/**
 * Issue 7 without servers: configuration validation (each error its own message), Che's
 * defaults and locations, the server choice for "backup before update", the YAML subset, the
 * installation layout (checked before anything is stored). The local round trip that restic
 * restores is test/interop/operator-local-restic.test.ts; examples/operator.js (with the
 * internal REST server) is test/backends/operator-example.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  BackupConfigError,
  type BackupServerSpec,
  YamlError,
  chooseBackupBeforeUpdateServer,
  installationEntries,
  parseYaml,
  resolveBackupServer,
  resticUrlWithCredentials,
  toYaml,
} from '../../src/index.js';
import { CA_CONFIGMAP_YAML, CHE_CLUSTER, HARD_PASSWORD, cheInstallation } from '../helpers/operator-helpers.js';

const PEM =
  '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n';
const secrets = {
  pw: { 'repo-password': 'secret' },
  single: { whatever: 'only-one' },
  two: { a: '1', b: '2' },
  creds: { username: 'u', password: 'p' },
  aws: { awsAccessKeyId: 'AK', awsSecretAccessKey: 'SK' },
  ssh: { 'ssh-privatekey': PEM },
  notpem: { 'ssh-privatekey': 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI… user@host' },
  truncated: { 'ssh-privatekey': '-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n' },
};
const rest = { hostname: 'backup.example.org', repositoryPasswordSecretRef: 'pw' };
const awss3 = { repositoryPath: 'che-backups/cluster1', repositoryPasswordSecretRef: 'pw', awsAccessKeySecretRef: 'aws' };
const sftp = {
  username: 'backup',
  hostname: 'sftp.example.org',
  repositoryPath: '/srv/che',
  repositoryPasswordSecretRef: 'pw',
  sshKeySecretRef: 'ssh',
};

function errorOf(spec: BackupServerSpec): string {
  try {
    resolveBackupServer({ spec }, secrets);
  } catch (err) {
    expect(err).toBeInstanceOf(BackupConfigError);
    expect((err as BackupConfigError).exitCode).toBe(1);
    return (err as Error).message;
  }
  throw new Error('expected a BackupConfigError');
}

describe('backup server configuration', () => {
  it('applies Che defaults: REST https:8000, S3 https s3.amazonaws.com, SFTP port 22', () => {
    expect(resolveBackupServer({ spec: { rest } }, secrets)).toMatchObject({
      kind: 'rest',
      location: 'rest:https://backup.example.org:8000/',
      repositoryPassword: 'secret',
      env: {},
    });
    expect(resolveBackupServer({ spec: { awss3 } }, secrets)).toMatchObject({
      kind: 'awss3',
      location: 's3:https://s3.amazonaws.com/che-backups/cluster1',
      env: { AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK' },
    });
    const s = resolveBackupServer({ spec: { sftp } }, secrets, { knownHostsFile: '/k' });
    expect(s).toMatchObject({ kind: 'sftp', location: 'sftp://backup@sftp.example.org:22//srv/che', sshPrivateKey: PEM });
    expect(s.env).toEqual({ SSH_KEY: PEM });
    expect(
      resolveBackupServer({ spec: { sftp: { ...sftp, repositoryPath: 'rel/repo', port: 2222 } } }, secrets, { knownHostsFile: '/k' })
        .location,
    ).toBe('sftp://backup@sftp.example.org:2222/rel/repo');
  });

  it('takes explicit protocol, port, path, credentials and a single-key password secret', () => {
    const r = resolveBackupServer(
      {
        spec: {
          rest: {
            ...rest,
            protocol: 'http',
            port: 8080,
            repositoryPath: '/che/',
            repositoryPasswordSecretRef: 'single',
            credentialsSecretRef: 'creds',
          },
        },
      },
      secrets,
    );
    expect(r).toMatchObject({
      location: 'rest:http://backup.example.org:8080/che/',
      repositoryPassword: 'only-one',
      username: 'u',
      password: 'p',
      env: { RESTIC_REST_USERNAME: 'u', RESTIC_REST_PASSWORD: 'p' },
    });
    expect(
      resolveBackupServer({ spec: { awss3: { ...awss3, protocol: 'http', hostname: '127.0.0.1', port: 7480 } } }, secrets).location,
    ).toBe('s3:http://127.0.0.1:7480/che-backups/cluster1');
  });

  it('the restic 0.14 URL embeds REST credentials percent-encoded; the location never does', () => {
    const r = resolveBackupServer(
      { spec: { rest: { ...rest, credentialsSecretRef: 'x' } } },
      { ...secrets, x: { username: 'us er', password: HARD_PASSWORD } },
    );
    expect(r.location).toBe('rest:https://backup.example.org:8000/');
    const url = new URL(resticUrlWithCredentials(r).slice(5));
    expect(decodeURIComponent(url.username)).toBe('us er');
    expect(decodeURIComponent(url.password)).toBe(HARD_PASSWORD);
  });

  it('gives each configuration error its own precise message', () => {
    expect(errorOf({})).toBe('backup server configuration has no server section: set exactly one of rest, awss3 or sftp');
    expect(errorOf({ rest, awss3 })).toBe(
      'backup server configuration has 2 server sections (rest, awss3): set exactly one of rest, awss3 or sftp',
    );
    expect(errorOf({ rest, awss3, sftp })).toBe(
      'backup server configuration has 3 server sections (rest, awss3, sftp): set exactly one of rest, awss3 or sftp',
    );
    expect(errorOf({ rest: { ...rest, repositoryPasswordSecretRef: 'missing' } })).toBe(
      'secret "missing" referenced by rest.repositoryPasswordSecretRef was not found',
    );
    expect(errorOf({ rest: { ...rest, repositoryPasswordSecretRef: 'two' } })).toBe(
      'secret "two" (rest.repositoryPasswordSecretRef) has no "repo-password" key and more than one key (a, b)',
    );
    expect(errorOf({ rest: { ...rest, credentialsSecretRef: 'pw' } })).toBe(
      'secret "pw" (rest.credentialsSecretRef) has no "username" key (it has: repo-password)',
    );
    expect(errorOf({ rest: { ...rest, credentialsSecretRef: 'creds2' } })).toBe(
      'secret "creds2" referenced by rest.credentialsSecretRef was not found',
    );
    expect(errorOf({ awss3: { ...awss3, awsAccessKeySecretRef: 'creds' } })).toBe(
      'secret "creds" (awss3.awsAccessKeySecretRef) has no "awsAccessKeyId" key (it has: username, password)',
    );
    // A single-key secret is the key, whatever the key's name (Che); this one is no key.
    expect(errorOf({ sftp: { ...sftp, sshKeySecretRef: 'pw' } })).toBe(
      'secret "pw" (sftp.sshKeySecretRef): the SSH key is not a PEM or OpenSSH private key (it must start with "-----BEGIN … PRIVATE KEY-----")',
    );
    expect(errorOf({ sftp: { ...sftp, sshKeySecretRef: 'two' } })).toBe(
      'secret "two" (sftp.sshKeySecretRef) has no "ssh-privatekey" key and more than one other key (a, b)',
    );
    expect(errorOf({ sftp: { ...sftp, sshKeySecretRef: 'notpem' } })).toBe(
      'secret "notpem" (sftp.sshKeySecretRef): the SSH key is not a PEM or OpenSSH private key (it must start with "-----BEGIN … PRIVATE KEY-----")',
    );
    expect(errorOf({ sftp: { ...sftp, sshKeySecretRef: 'truncated' } })).toBe(
      'secret "truncated" (sftp.sshKeySecretRef): the SSH key is not a complete PEM or OpenSSH private key (expected "-----BEGIN … PRIVATE KEY-----" … "-----END … PRIVATE KEY-----")',
    );
    expect(errorOf({ rest: { ...rest, hostname: '' } })).toBe('rest.hostname is required');
    expect(errorOf({ rest: { ...rest, hostname: 'https://backup.example.org:8000' } })).toBe(
      'rest.hostname "https://backup.example.org:8000" is not a host name (give the name or address only, without protocol, port or path)',
    );
    expect(errorOf({ rest: { ...rest, protocol: 'ftp' } })).toBe('rest.protocol must be "http" or "https", got "ftp"');
    expect(errorOf({ rest: { ...rest, port: 70000 } })).toBe('rest.port must be a port number between 1 and 65535, got 70000');
    expect(errorOf({ awss3: { ...awss3, repositoryPath: 'Bad_Bucket/x' } })).toBe(
      'awss3.repositoryPath: "Bad_Bucket" is not a valid bucket name (3-63 characters: a-z, 0-9, "." and "-")',
    );
    expect(errorOf({ sftp: { ...sftp, repositoryPath: '' } })).toBe('sftp.repositoryPath is required');
    expect(errorOf({ sftp: { ...sftp, username: 'a@b' } })).toBe('sftp.username "a@b" must not contain "@", ":", "/" or spaces');
  });

  it('chooses the server for "backup before update" as Che did', () => {
    const a = { metadata: { name: 'a' }, spec: { rest } };
    const b = { metadata: { name: 'b', annotations: { 'che.eclipse.org/backup-before-update': 'true' } }, spec: { awss3 } };
    const c = { metadata: { name: 'c' }, spec: { sftp } };
    expect(chooseBackupBeforeUpdateServer([a])).toEqual({ kind: 'configuration', configuration: a, reason: 'only' });
    expect(chooseBackupBeforeUpdateServer([a, b, c])).toEqual({ kind: 'configuration', configuration: b, reason: 'annotated' });
    expect(chooseBackupBeforeUpdateServer([a, c])).toEqual({ kind: 'internal', reason: 'not-annotated' });
    expect(chooseBackupBeforeUpdateServer([])).toEqual({ kind: 'internal', reason: 'none' });
  });
});

describe('YAML', () => {
  it('round-trips manifests, including strings that look like other types', () => {
    const obj = {
      ...CHE_CLUSTER,
      x: {
        t: 'true',
        n: '123',
        e: '',
        sp: ' lead',
        colon: 'a: b',
        hash: 'a #b',
        multi: 'l1\nl2\n',
        q: `it's "q" ü 日本`,
        list: [1, 'yes', null, false, { k: [] }, [2, 3]],
        empty: {},
      },
    };
    expect(parseYaml(toYaml(obj))).toEqual(obj);
  });

  it('reads kubectl-style YAML: block scalars, compact sequences, flow collections, comments', () => {
    const v = parseYaml(`---
# comment
a: |-
  line 1
  line 2
b: >
  folded
  text

  para
c:
- name: x   # trailing comment
  value: '1'
- - inner
d: {k: "v", n: 2}
e: [a, "b c", 3]
f: ~
g: 0x1F
`) as Record<string, unknown>;
    expect(v).toEqual({
      a: 'line 1\nline 2',
      b: 'folded text\npara\n',
      c: [{ name: 'x', value: '1' }, ['inner']],
      d: { k: 'v', n: 2 },
      e: ['a', 'b c', 3],
      f: null,
      g: 31,
    });
    expect((parseYaml(CA_CONFIGMAP_YAML) as { data: Record<string, string> }).data['ca.crt']).toMatch(
      /^-----BEGIN CERTIFICATE-----\n.*\n-----END CERTIFICATE-----\n$/s,
    );
  });

  it('accepts anchors, aliases and merge keys', () => {
    expect(parseYaml('a: &x 1\nb: *x\nbase: &b {k: v, n: 1}\nc:\n  <<: *b\n  n: 2\nl: &l [1, 2]\nm: *l\n', 'm.yaml')).toEqual({
      a: 1,
      b: 1,
      base: { k: 'v', n: 1 },
      c: { k: 'v', n: 2 },
      l: [1, 2],
      m: [1, 2],
    });
  });

  it('takes the one document of a `---` stream and refuses a second one, naming its line', () => {
    // kubectl get -o yaml output joined with document markers, as scripts produce it
    const stream = `---\n# configmap\n${CA_CONFIGMAP_YAML}---\n# nothing here\n...\n---\n`;
    expect((parseYaml(stream, 'cm.yaml') as { metadata: { name: string } }).metadata.name).toBe('custom-certs');
    expect(parseYaml('---\n---\n# only comments\n', 'm.yaml')).toBe(null);
    expect(() => parseYaml('a: 1\n---\nb: 2\n', 'm.yaml')).toThrow(
      new YamlError(
        'm.yaml: line 2: a second YAML document where one manifest is expected (2 documents); give each object as its own manifest',
      ),
    );
    expect(() => parseYaml(`${CA_CONFIGMAP_YAML}---\n${CA_CONFIGMAP_YAML}`, 'cm.yaml')).toThrow(
      /^cm\.yaml: line 14: a second YAML document/,
    );
  });

  it('names the source and the line of what it cannot read', () => {
    expect(() => parseYaml('a: 1\na: 2\n', 'm.yaml')).toThrow(new YamlError('m.yaml: line 2: duplicate key "a"'));
    expect(() => parseYaml('x:\n  k: 1\n  "k": 2\n', 'm.yaml')).toThrow(new YamlError('m.yaml: line 3: duplicate key "k"'));
    expect(() => parseYaml('a: 1\n\tb: 2\n', 'm.yaml')).toThrow(new YamlError('m.yaml: line 2: Tabs are not allowed as indentation'));
    expect(() => parseYaml('a: 1\nb: *nope\n', 'm.yaml')).toThrow(
      new YamlError('m.yaml: line 2: alias *nope refers to no anchor before it'),
    );
    expect(() => parseYaml('a: 1\nb: !foo x\n', 'm.yaml')).toThrow(/^m\.yaml: line 2: unsupported tag/);
    expect(() => parseYaml('a: "open\n', 'm.yaml')).toThrow(/^m\.yaml: line \d: Missing closing "quote$/);
  });
});

describe('installation layout', () => {
  it('validates names and manifests before anything is stored', () => {
    const bad = (patch: object) => () => installationEntries({ ...cheInstallation({ dbche: 10 }), ...patch });
    expect(bad({ databases: [{ name: '../etc', dump: 'x' }] })).toThrow(
      'databases[0] name: "../etc" is not a valid name (letters, digits, ".", "_" and "-")',
    );
    expect(bad({ configMaps: [{ manifest: 'a: 1\n  b: 2\n' }] })).toThrow(/^configmaps\[0\]: line 1: /);
    expect(bad({ secrets: [{ manifest: { kind: 'Secret' } }] })).toThrow(
      'secrets[0] name: undefined is not a valid name (letters, digits, ".", "_" and "-")',
    );
    expect(
      bad({
        secrets: [
          { name: 's', manifest: { a: 1 } },
          { name: 's', manifest: { b: 2 } },
        ],
      }),
    ).toThrow('secrets[1]: two entries would be stored as secrets/s.yaml');
    expect(bad({ info: { cheVersion: '7.41', infrastructure: 'Kubernetes' } })).toThrow('backup info: namespace is required');
    const paths = installationEntries(cheInstallation({ dbche: 10 })).map(
      (e) => `${e.type ?? 'file'}:${e.path}:${(e.mode ?? 0).toString(8)}`,
    );
    expect(paths).toEqual([
      'file:che-cr.yaml:600',
      'dir:configmaps:755',
      'dir:db:755',
      'dir:secrets:755',
      'file:configmaps/custom-certs.yaml:600',
      'file:secrets/che-postgres-secret.yaml:600',
      'file:db/dbche.sql:600',
      'file:backup-info.yaml:600',
    ]);
  });
});

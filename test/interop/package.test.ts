/**
 * The package as a user installs it (issue 15 items 5, 4, 8, 10): `npm pack`, the tarball
 * unpacked into a fresh project's node_modules (its dependencies linked from this checkout's
 * node_modules, so no registry is needed; the optional S3/SFTP peers deliberately absent), a
 * strict TypeScript NodeNext consumer that runs the README's library examples, a CommonJS
 * consumer (plain require() and a TypeScript .cts file), and restic checking what they wrote.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRestic, restic } from '../helpers/restic.js';
import { generateTree } from '../helpers/gentree.js';
import { tempDir } from '../helpers/tmp.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PW = 'consumer-password';
let tmp: ReturnType<typeof tempDir>;
let project: string;
let tarballFiles: string[];

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** A child process, awaited without blocking this worker (vitest talks to it meanwhile). */
function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 300_000,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR ?? '/tmp', RESTIC_TS_SCRYPT: '1024:8:1', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

function ok(r: Ran, what: string): string {
  expect(r.code, `${what}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

/** The ```ts blocks of the README's "Library" section. */
function readmeExamples(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Library\n');
  const end = readme.indexOf('\n## ', start + 5);
  return [...readme.slice(start, end).matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** Link a package (and the scope folder) from this checkout's node_modules into the project. */
function link(name: string): void {
  const to = path.join(project, 'node_modules', name);
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.symlinkSync(fs.realpathSync(path.join(ROOT, 'node_modules', name)), to);
}

beforeAll(requireRestic);

describe('the packed package in a fresh project', () => {
  beforeAll(async () => {
    tmp = tempDir('restic-ts-package-');
    const packed = ok(await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp.dir], ROOT), 'npm pack');
    const info = JSON.parse(packed) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarballFiles = info[0]!.files.map((f) => f.path);
    project = path.join(tmp.dir, 'consumer');
    fs.mkdirSync(path.join(project, 'node_modules'), { recursive: true });
    ok(await run('tar', ['-xzf', path.join(tmp.dir, info[0]!.filename), '-C', path.join(project, 'node_modules')], tmp.dir), 'tar');
    fs.renameSync(path.join(project, 'node_modules/package'), path.join(project, 'node_modules/restic-ts'));
    const pkg = JSON.parse(fs.readFileSync(path.join(project, 'node_modules/restic-ts/package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    for (const dep of Object.keys(pkg.dependencies)) link(dep);
    link('@types/node');
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    generateTree(path.join(tmp.dir, 'source'), { bigFileSize: 3 * 1024 * 1024 });
  }, 300_000);
  afterAll(() => tmp?.cleanup());

  it('ships LICENSE, the CommonJS build and self-contained source maps, but no sources or tests', () => {
    expect(tarballFiles).toContain('LICENSE');
    expect(tarballFiles).toContain('dist/cjs/index.js');
    expect(tarballFiles).toContain('dist/cjs/index.d.ts');
    expect(tarballFiles.some((f) => f.startsWith('src/') || f.startsWith('test/'))).toBe(false);
    const map = JSON.parse(fs.readFileSync(path.join(project, 'node_modules/restic-ts/dist/index.js.map'), 'utf8')) as {
      sourcesContent?: string[];
    };
    expect(map.sourcesContent?.[0]).toContain('export');
  });

  it('a strict TypeScript (NodeNext) consumer runs the README examples; restic checks the repository', async () => {
    const examples = readmeExamples();
    expect(examples.length).toBeGreaterThanOrEqual(3);
    const preamble = [
      `const password: string = ${JSON.stringify(PW)};`,
      `const repoDir: string = ${JSON.stringify(path.join(tmp.dir, 'repo'))};`,
      `const sourceDir: string = ${JSON.stringify(path.join(tmp.dir, 'source'))};`,
      `const targetDir: string = ${JSON.stringify(path.join(tmp.dir, 'restored'))};`,
    ].join('\n');
    examples.forEach((code, i) => fs.writeFileSync(path.join(project, `example${i}.ts`), `${preamble}\n${code}`));
    fs.writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          strict: true,
          noUncheckedIndexedAccess: true,
          exactOptionalPropertyTypes: true,
          skipLibCheck: false,
          types: ['node'],
          outDir: 'build',
        },
        include: ['*.ts', '*.cts'],
      }),
    );
    ok(await run(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', '.'], project), 'tsc');
    for (let i = 0; i < examples.length; i++) {
      ok(await run(process.execPath, [`build/example${i}.js`], project), `README example ${i}`);
    }
    expect(fs.existsSync(path.join(tmp.dir, 'restored', tmp.dir, 'source', 'big.bin'))).toBe(true);
    const r = restic(path.join(tmp.dir, 'repo'), PW, ['check', '--read-data']);
    expect(r.code, r.stderr).toBe(0);
  }, 300_000);

  it('require() works (plain CommonJS and a TypeScript .cts consumer); restic checks what it wrote', async () => {
    const repo = path.join(tmp.dir, 'cjs-repo');
    fs.writeFileSync(
      path.join(project, 'consumer.cjs'),
      `const { Repository, LocalBackend, backupEntries, readFile, ResticError } = require('restic-ts');
const { decodeTree } = require('restic-ts/format');
(async () => {
  if (typeof decodeTree !== 'function') throw new Error('restic-ts/format');
  const repo = await Repository.init(new LocalBackend(${JSON.stringify(repo)}), ${JSON.stringify(PW)}, { kdf: { N: 1024, r: 8, p: 1 } });
  const r = await backupEntries(repo, [{ path: 'hello.txt', content: 'hello from require\\n' }, { path: 'big', content: Buffer.alloc(9 << 20, 1) }]);
  let text = '';
  for await (const c of readFile(repo, r.snapshotId, '/hello.txt')) text += Buffer.from(c).toString();
  const err = await Repository.open(new LocalBackend(${JSON.stringify(repo)}), 'wrong').catch((e) => e);
  if (!(err instanceof ResticError) || err.code !== 'WRONG_PASSWORD') throw new Error('expected WRONG_PASSWORD, got ' + err);
  await repo.close();
  process.stdout.write(text);
})().catch((e) => { console.error(e); process.exitCode = 1; });
`,
    );
    expect(ok(await run(process.execPath, ['consumer.cjs'], project), 'consumer.cjs')).toBe('hello from require\n');
    // TypeScript resolves the "require" condition's declarations for a .cts file.
    fs.writeFileSync(
      path.join(project, 'typed.cts'),
      `import { MemoryBackend, Repository, VERSION, type ErrorCode } from 'restic-ts';
import { RestBackend } from 'restic-ts/rest';
const code: ErrorCode = 'LOCKED';
void Repository.init(new MemoryBackend(), 'pw', { kdf: { N: 1024, r: 8, p: 1 } }).then(async (r) => {
  console.log(typeof RestBackend, VERSION.length > 0, code, r.version);
  await r.close();
});
`,
    );
    ok(await run(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', '.'], project), 'tsc with .cts');
    expect(ok(await run(process.execPath, ['build/typed.cjs'], project), 'typed.cjs').trim()).toBe('function true LOCKED 2');
    const r = restic(repo, PW, ['check', '--read-data']);
    expect(r.code, r.stderr).toBe(0);
  }, 300_000);

  it('import: the root has at most 80 names; the library changes nothing process-wide by default', async () => {
    fs.writeFileSync(
      path.join(project, 'citizen.mjs'),
      `import vm from 'node:vm';
import * as lib from 'restic-ts';
const names = Object.keys(lib).length;
const before = { hup: process.listenerCount('SIGHUP'), int: process.listenerCount('SIGINT'), term: process.listenerCount('SIGTERM') };
const repo = await lib.Repository.init(new lib.MemoryBackend(), 'pw', { kdf: { N: 1024, r: 8, p: 1 }, workers: 2 });
const big = Buffer.alloc(12 << 20);
for (let i = 0; i < big.length; i += 4096) big[i] = i & 255;
const r = await lib.backupEntries(repo, [{ path: 'big', content: big }]);
const lock = await repo.acquireLock(false);
const whileLocked = process.listenerCount('SIGHUP');
await lock.release();
await lib.restore(repo, r.snapshotId, process.argv[2]);
await lib.check(repo, { readData: true });
await repo.close();
const after = { hup: process.listenerCount('SIGHUP'), int: process.listenerCount('SIGINT'), term: process.listenerCount('SIGTERM') };
console.log(JSON.stringify({ names, before, after, whileLocked, gc: vm.runInNewContext('typeof gc'), tuneProcess: typeof lib.tuneProcess }));
`,
    );
    const out = JSON.parse(ok(await run(process.execPath, ['citizen.mjs', path.join(tmp.dir, 'citizen')], project), 'citizen.mjs')) as {
      names: number;
      before: object;
      after: object;
      whileLocked: number;
      gc: string;
      tuneProcess: string;
    };
    expect(out.names).toBeLessThanOrEqual(80);
    expect(out.after).toEqual(out.before);
    expect(out.whileLocked).toBe(0);
    expect(out.gc).toBe('undefined'); // no --expose-gc set behind the host's back
    expect(out.tuneProcess).toBe('function');
    expect(fs.statSync(path.join(tmp.dir, 'citizen', 'big')).size).toBe(12 << 20);
  }, 300_000);

  it('without the optional S3/SFTP peers: local works, and the CLI says in one line what to install', async () => {
    const cli = path.join(project, 'node_modules/restic-ts/dist/cli.js');
    const keyFile = path.join(tmp.dir, 'id_ed25519');
    fs.writeFileSync(keyFile, '-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n', { mode: 0o600 });
    const local = await run(process.execPath, [cli, '-r', path.join(tmp.dir, 'cli-repo'), 'init'], project, { RESTIC_PASSWORD: PW });
    expect(local.code, local.stderr).toBe(0);
    for (const [loc, pkg] of [
      ['s3:http://127.0.0.1:1/bucket/repo', '@aws-sdk/client-s3'],
      ['sftp:nobody@127.0.0.1:/srv/repo', 'ssh2'],
    ] as const) {
      const r = await run(process.execPath, [cli, '-r', loc, 'snapshots'], project, {
        RESTIC_PASSWORD: PW,
        AWS_ACCESS_KEY_ID: 'x',
        AWS_SECRET_ACCESS_KEY: 'y',
        SSH_KEY_FILE: keyFile,
      });
      expect(r.code).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines.length, r.stderr).toBe(1);
      expect(lines[0]).toContain(`npm install ${pkg}`);
    }
  });
});

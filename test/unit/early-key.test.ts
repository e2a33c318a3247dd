/** The CLI's key derivation started at launch (cli/early-key.ts): used only when it is for the same repository, password and cache. */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startKeyAtLaunch, takeKeyStartedAtLaunch } from '../../dist/cli/early-key.js';
import { writeKeyParams } from '../../dist/cache/key-params.js';
import { deriveKey } from '../../dist/crypto/kdf.js';
import { tempDir } from '../helpers/tmp.js';

const tmp = tempDir('restic-ts-early-key-');
afterAll(() => tmp.cleanup());

const base = path.join(tmp.dir, 'cache');
const location = 'rest:http://127.0.0.1:1/repo/';
const params = { N: 1024, r: 8, p: 1 };
const salt = new Uint8Array(64).fill(7);
const keyId = 'ab'.repeat(32);
fs.mkdirSync(base, { recursive: true });
writeKeyParams(base, location, { keyId, salt, params });

const env = { RESTIC_PASSWORD: 'pw', RESTIC_CACHE_DIR: base };

describe('startKeyAtLaunch', () => {
  it('derives the remembered key for -r and RESTIC_PASSWORD; handed out once, for the same location, password and cache', async () => {
    startKeyAtLaunch(['-r', location, 'snapshots'], env);
    // another repository's open (copy's source) leaves it for the one it was started for
    expect(takeKeyStartedAtLaunch(base, location, 'other password')).toBeUndefined();
    expect(takeKeyStartedAtLaunch(base, location, 'pw')?.kdf.keyId).toBe(keyId);
    startKeyAtLaunch([`--repo=${location}`, '-q', 'restore', 'latest'], env);
    const key = takeKeyStartedAtLaunch(base, location, 'pw');
    expect(key?.kdf.keyId).toBe(keyId);
    expect(await key!.userKey).toEqual(await deriveKey('pw', salt, params));
    expect(takeKeyStartedAtLaunch(base, location, 'pw')).toBeUndefined(); // once

    startKeyAtLaunch(['backup', '/x'], { ...env, RESTIC_REPOSITORY: location });
    expect(takeKeyStartedAtLaunch(base, location, 'pw')?.kdf.keyId).toBe(keyId);
    startKeyAtLaunch(['-r', location, '--cache-dir', base, 'check'], { RESTIC_PASSWORD: 'pw' });
    expect(takeKeyStartedAtLaunch(base, location, 'pw')?.kdf.keyId).toBe(keyId);
  });

  it('starts nothing for other password or location sources, --no-cache, commands that open no repository, or unknown parameters', () => {
    const none = (argv: string[], e: NodeJS.ProcessEnv = env) => {
      startKeyAtLaunch(argv, e);
      return takeKeyStartedAtLaunch(base, location, 'pw');
    };
    expect(none(['-r', location, '--password-file', '/pw', 'snapshots'])).toBeUndefined();
    expect(none(['-r', location, '-p', '/pw', 'snapshots'])).toBeUndefined();
    expect(none(['-r', location, 'snapshots'], { ...env, RESTIC_PASSWORD_COMMAND: 'echo pw' })).toBeUndefined();
    expect(none(['-r', location, '--no-cache', 'snapshots'])).toBeUndefined();
    expect(none(['-r', location, 'version'])).toBeUndefined();
    expect(none(['-r', location, 'snapshots'], { RESTIC_CACHE_DIR: base })).toBeUndefined(); // no RESTIC_PASSWORD
    expect(none(['-r', 'rest:http://127.0.0.1:1/elsewhere/', 'snapshots'])).toBeUndefined(); // nothing remembered
  });
});

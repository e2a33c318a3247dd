/** The remote SDKs are optional peers: a missing one is a one-line usage error naming the package. */
import { describe, expect, it } from 'vitest';
import { requireOptional } from '../../dist/backends/optional.js';
import { UsageError } from '../../dist/errors.js';

describe('requireOptional', () => {
  it('loads an installed CommonJS package and names a missing one in one line', async () => {
    const ssh2 = await requireOptional<{ Client: unknown }>('ssh2', 'sftp');
    expect(typeof ssh2.Client).toBe('function');
    const err = await requireOptional('restic-ts-no-such-sdk', 's3').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toBe(
      'the s3 backend needs the package restic-ts-no-such-sdk, which is not installed: run "npm install restic-ts-no-such-sdk" where restic-ts is installed (add -g for a global restic-ts)',
    );
  });
});

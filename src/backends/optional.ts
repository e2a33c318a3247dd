/**
 * The remote backends' SDKs (@aws-sdk/client-s3, ssh2) are optional peer dependencies: a
 * local-only user does not install them. Loading one that is missing says which package to
 * install, in one line.
 */
import { createRequire } from 'node:module';
import { UsageError } from '../errors.js';

/**
 * Load a CommonJS SDK with require(): both SDKs are CommonJS, and Node's ESM loader first
 * scans such a package for its export names (@aws-sdk/client-s3: ≈ 110 ms by import(),
 * ≈ 70 ms by require(), on every command that opens an S3 repository).
 */
export function requireOptional<T>(pkg: string, backend: string): Promise<T> {
  return importOptional(async () => createRequire(import.meta.url)(pkg) as T, pkg, backend);
}

async function importOptional<T>(load: () => Promise<T>, pkg: string, backend: string): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException)?.code;
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String((err as Error)?.message).includes(pkg)) {
      throw new UsageError(
        `the ${backend} backend needs the package ${pkg}, which is not installed: run "npm install ${pkg}" where restic-ts is installed (add -g for a global restic-ts)`,
        { cause: err },
      );
    }
    throw err;
  }
}

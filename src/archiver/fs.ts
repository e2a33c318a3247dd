/**
 * The file-system calls the archiver makes, behind an interface so tests can count or
 * fault them. Synchronous on purpose: for many small files sync calls are several
 * times faster than fs.promises (see docs/performance.md).
 */
import fs from 'node:fs';
import path from 'node:path';

export interface ArchiverFs {
  lstat(path: Buffer): fs.BigIntStats;
  readdir(path: Buffer): Buffer[];
  readlink(path: Buffer): Buffer;
  open(path: Buffer): number;
  fstat(fd: number): fs.BigIntStats;
  read(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number;
  close(fd: number): void;
}

export const nodeFs: ArchiverFs = {
  lstat: (p) => fs.lstatSync(p, { bigint: true }),
  readdir: (p) => fs.readdirSync(p, { encoding: 'buffer' }),
  readlink: (p) => fs.readlinkSync(p, { encoding: 'buffer' }),
  open: openNoAtime,
  fstat: (fd) => fs.fstatSync(fd, { bigint: true }),
  read: (fd, buf, off, len, pos) => fs.readSync(fd, buf, off, len, pos),
  close: (fd) => fs.closeSync(fd),
};

/**
 * The same calls with relative paths taken from `dir` rather than the process's working
 * directory (`cd dir && restic backup .` without a process-wide chdir).
 */
export function fsRelativeTo(inner: ArchiverFs, dir: string): ArchiverFs {
  const base = Buffer.from(path.resolve(dir) + '/', 'utf8');
  const at = (p: Buffer) => (p[0] === 0x2f ? p : Buffer.concat([base, p]));
  return {
    ...inner,
    lstat: (p) => inner.lstat(at(p)),
    readdir: (p) => inner.readdir(at(p)),
    readlink: (p) => inner.readlink(at(p)),
    open: (p) => inner.open(at(p)),
  };
}

const O_NOATIME = (fs.constants as Record<string, number>).O_NOATIME ?? 0;

/** Reading a file for backup should not change its atime; O_NOATIME needs ownership (or root). */
function openNoAtime(p: Buffer): number {
  const flags = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW;
  if (O_NOATIME) {
    try {
      return fs.openSync(p, flags | O_NOATIME);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    }
  }
  return fs.openSync(p, flags);
}

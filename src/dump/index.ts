/** Snapshot content as a file stream or a tar/zip archive. */
export {
  dumpPath,
  dumpTree,
  writeNodeContent,
  DumpError,
  type ArchiveFormat,
  type DumpOptions,
  type DumpRepository,
  type Sink,
} from './dump.js';
export { TarWriter, TarType, TarError, type TarHeader } from '../go/tar.js';
export { ZipWriter, ZipError, type ZipEntry } from './zip.js';

export * from './backend.js';
export { LocalBackend, type LocalBackendOptions, type Modes, DEFAULT_MODES, deriveModes } from './local.js';
export { MemoryBackend } from './memory.js';
export { SftpBackend, HostKeyError, parseSftpLocation, type SftpBackendOptions, type SftpPrivateKey } from './sftp/sftp.js';

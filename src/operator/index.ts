/**
 * The operator surface (issues 7 and 19): backup server configurations as Che had them, installation
 * backup and restore in Che's layout, status events with Che's stages, and an internal
 * backup server with authentication and persistence.
 */
export * from './config.js';
export * from './events.js';
export * from './repository.js';
export * from './installation.js';
export * from './operations.js';
export * from './internal-server.js';
export * from './status.js';
export * from './before-update.js';
export * from './chectl.js';
export { parseYaml, toYaml, YamlError, type YamlValue } from './yaml.js';

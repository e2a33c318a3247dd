/**
 * The operator surface (issue 7): backup server configurations as Che had them, installation
 * backup and restore in Che's layout, status events with Che's stages, and an internal
 * backup server with authentication and persistence.
 */
export * from './config.js';
export * from './events.js';
export * from './repository.js';
export * from './installation.js';
export * from './operations.js';
export * from './internal-server.js';
export { parseYaml, toYaml, YamlError, type YamlValue } from './yaml.js';

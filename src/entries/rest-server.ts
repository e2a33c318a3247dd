/**
 * `restic-ts/rest-server`: a REST server (restic's rest-server protocol) over any Backend.
 *
 * @example
 * ```ts
 * import { LocalBackend } from 'restic-ts';
 * import { startRestServer } from 'restic-ts/rest-server';
 * const server = await startRestServer({ backend: new LocalBackend('/srv/repo'), listen: '127.0.0.1:8000' });
 * ```
 */
export { startRestServer, RestServerError, type RestServerOptions, type RestServer } from '../rest-server/server.js';

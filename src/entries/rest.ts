/**
 * `restic-ts/rest`: the REST backend (restic's rest-server protocol) over node's own
 * HTTP client (node:http, keep-alive).
 *
 * @example
 * ```ts
 * import { Repository } from 'restic-ts';
 * import { RestBackend } from 'restic-ts/rest';
 * const repo = await Repository.open(RestBackend.fromLocation('rest:http://127.0.0.1:8000/repo'), 'secret');
 * ```
 */
export { RestBackend, type RestBackendOptions } from '../backends/rest.js';

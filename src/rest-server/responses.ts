/** The REST server's answers: plain-text statuses, refusals that keep the connection usable, metrics. */
import http from 'node:http';
import { errCode } from '../errors.js';
import { type Ctx, DRAIN_LIMIT, type Exchange } from './state.js';

export function send(res: http.ServerResponse, status: number, body = '', headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = body || `${http.STATUS_CODES[status] ?? 'Error'}\n`;
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'X-Content-Type-Options': 'nosniff',
    'Content-Length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

export function ok(res: http.ServerResponse): void {
  res.writeHead(200, { 'Content-Length': '0' });
  res.end();
}

/** Answer an error; unread request bodies are drained when small, else the connection closes. */
export function fail(x: Exchange, status: number, headers: Record<string, string> = {}, drainLimit = DRAIN_LIMIT): void {
  const { req, res } = x;
  if (req.complete || req.readableEnded) return send(res, status, '', headers);
  const len = Number(req.headers['content-length'] ?? NaN);
  if (Number.isSafeInteger(len) && len <= drainLimit && !x.s.closing) {
    req.on('end', () => send(res, status, '', headers));
    req.on('error', () => res.destroy());
    req.resume();
    return;
  }
  send(res, status, '', { ...headers, Connection: 'close' });
}

export function internalError(c: Ctx, err: unknown): void {
  const code = errCode(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') return fail(c, 507);
  c.s.log(`ERROR: ${c.req.method} ${c.req.url}: ${(err as Error)?.message ?? String(err)}`);
  fail(c, 500);
}

export function notAllowed(c: Ctx, allowed: string[]): void {
  fail(c, 405, { Allow: allowed.join(', ') });
}

export function metric(c: Ctx, op: 'read' | 'write' | 'delete', type: string, bytes: number): void {
  if (c.s.opts.prometheus) c.s.metrics.record(op, { user: c.user, repo: c.repo.join('/'), type }, bytes);
}

/**
 * A small TCP proxy on 127.0.0.1:0 in front of a server that injects faults, for tests of
 * retry and error handling over real sockets:
 *
 *   const proxy = await startFaultProxy({ target: { host, port }, onRequest: ({ request }) =>
 *     request === 3 ? { kind: 'http500' } : undefined });
 *
 * Faults can be chosen per connection (`onConnection`, at accept time) or per HTTP request
 * (`onRequest`; the proxy follows HTTP/1.1 request boundaries on plain-text connections by
 * reading each request head and skipping `Content-Length` body bytes):
 *   reset     — both sockets are reset (RST) before anything is forwarded
 *   stall     — nothing more is forwarded in either direction (what the client sends is read
 *               and dropped); the connection hangs until the client gives up or the proxy stops
 *   truncate  — the request is forwarded but only `afterBytes` bytes of what the server sends
 *               back from then on reach the client, then both sockets are reset
 *   http500   — the request is not forwarded; the client gets a 500 answer and the
 *               connection is closed
 * The proxy is bounded: at most `maxConnections` connections, and it stops itself after
 * `lifetimeMs`. close() resets whatever is still open.
 */
import net from 'node:net';

export type Fault = { kind: 'reset' } | { kind: 'stall' } | { kind: 'truncate'; afterBytes: number } | { kind: 'http500' };

export interface RequestInfo {
  /** 0-based count over all connections. */
  request: number;
  /** 0-based connection index. */
  connection: number;
  method: string;
  path: string;
}

export interface FaultProxyOptions {
  target: { host: string; port: number };
  onConnection?: (connection: number) => Fault | undefined;
  onRequest?: (info: RequestInfo) => Fault | undefined;
  maxConnections?: number;
  lifetimeMs?: number;
}

export interface FaultProxy {
  readonly url: string;
  readonly port: number;
  /** Faults injected so far, with the request or connection they hit. */
  readonly injected: Array<{ fault: Fault; connection: number; request?: RequestInfo }>;
  readonly counts: { connections: number; requests: number };
  close(): Promise<void>;
}

const HTTP_500 =
  'HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 22\r\nConnection: close\r\n\r\nInternal Server Error\n';
const MAX_HEAD = 64 * 1024;

export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const maxConnections = opts.maxConnections ?? 1000;
  const sockets = new Set<net.Socket>();
  const injected: FaultProxy['injected'] = [];
  const counts = { connections: 0, requests: 0 };

  const kill = (...socks: net.Socket[]) => {
    for (const s of socks) {
      if (s.destroyed) continue;
      if (typeof s.resetAndDestroy === 'function' && !s.connecting) s.resetAndDestroy();
      else s.destroy();
    }
  };

  const server = net.createServer((client) => {
    const connection = counts.connections++;
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    if (connection >= maxConnections) return kill(client);

    const connFault = opts.onConnection?.(connection);
    if (connFault) injected.push({ fault: connFault, connection });
    if (connFault?.kind === 'reset') return kill(client);
    if (connFault?.kind === 'stall') {
      client.resume(); // read and drop
      return;
    }
    if (connFault?.kind === 'http500') {
      client.end(HTTP_500);
      return;
    }

    const upstream = net.connect(opts.target.port, opts.target.host);
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      if (!client.destroyed) client.end();
    });
    upstream.on('error', () => kill(client));
    client.on('close', () => kill(upstream));

    let stalled = false;
    // Bytes of server→client data still allowed through (Infinity = no limit).
    let responseBudget = connFault?.kind === 'truncate' ? connFault.afterBytes : Infinity;
    let cut = false;
    upstream.on('data', (chunk: Buffer) => {
      if (stalled || cut) return;
      if (chunk.length <= responseBudget) {
        responseBudget -= chunk.length;
        client.write(chunk);
        return;
      }
      if (responseBudget > 0) client.write(chunk.subarray(0, responseBudget));
      responseBudget = 0;
      cut = true;
      // let the partial data leave before the reset
      client.once('drain', () => kill(client, upstream));
      if (!client.writableNeedDrain) setImmediate(() => kill(client, upstream));
    });

    // client→server: follow request boundaries unless requests are not inspected
    let head = Buffer.alloc(0);
    let bodyLeft = 0;
    let passthrough = !opts.onRequest;
    client.on('data', (chunk: Buffer) => {
      if (stalled) return;
      if (passthrough) {
        upstream.write(chunk);
        return;
      }
      let buf = chunk;
      while (buf.length > 0 && !stalled && !client.destroyed) {
        if (bodyLeft > 0) {
          const n = Math.min(bodyLeft, buf.length);
          upstream.write(buf.subarray(0, n));
          bodyLeft -= n;
          buf = buf.subarray(n);
          continue;
        }
        head = Buffer.concat([head, buf]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > MAX_HEAD) {
            passthrough = true;
            upstream.write(head);
          }
          break;
        }
        const headBytes = head.subarray(0, end + 4);
        buf = head.subarray(end + 4);
        head = Buffer.alloc(0);
        const text = headBytes.toString('latin1');
        const [method = '', path = ''] = text.slice(0, text.indexOf('\r\n')).split(' ');
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(text);
        const chunked = /\r\ntransfer-encoding:/i.test(text);
        const info: RequestInfo = { request: counts.requests++, connection, method, path };
        const fault = opts.onRequest!(info);
        if (fault) injected.push({ fault, connection, request: info });
        if (fault?.kind === 'reset') return kill(client, upstream);
        if (fault?.kind === 'stall') {
          stalled = true;
          client.resume();
          return;
        }
        if (fault?.kind === 'http500') {
          upstream.destroy();
          client.end(HTTP_500);
          stalled = true; // drop whatever else the client sends
          return;
        }
        if (fault?.kind === 'truncate') responseBudget = fault.afterBytes;
        upstream.write(headBytes);
        if (chunked) {
          passthrough = true; // cannot follow chunked bodies; forward the rest as is
          upstream.write(buf);
          return;
        }
        bodyLeft = cl ? Number(cl[1]) : 0;
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= new Promise<void>((resolve) => {
      clearTimeout(lifetime);
      server.close(() => resolve());
      for (const s of sockets) kill(s);
    });
    return closed;
  };
  const lifetime = setTimeout(() => void close(), opts.lifetimeMs ?? 120_000);
  lifetime.unref();

  return { url: `http://127.0.0.1:${port}/`, port, injected, counts, close };
}

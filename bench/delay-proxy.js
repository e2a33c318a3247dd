// A TCP proxy that puts a network between a client and a server on 127.0.0.1: a round-trip
// delay (half each way, and one round trip to open a connection, as TCP's handshake costs)
// and an optional bandwidth cap per direction and connection. It counts what crosses it:
// connections, bytes each way, request turns (the client speaks again after the server
// answered: each costs one round trip), and with `http: true` the HTTP/1.1 requests by method.
//
//   import { startDelayProxy } from './delay-proxy.js';
//   const p = await startDelayProxy({ port: 8000, rttMs: 25, mbit: 100, http: true });
//   ... connect to 127.0.0.1:p.port ...; p.snapshot(); await p.close();
//
//   node bench/delay-proxy.js --to 8000 [--rtt 25] [--mbit 0] [--listen 0]   (stand-alone)
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

/** A queue of chunks delivered at scheduled times, in order (a one-way link). */
class Link {
  constructor(dest, delayMs, bytesPerMs, src) {
    Object.assign(this, { dest, delayMs, bytesPerMs, src });
    this.freeAt = 0; // when the link finishes sending what it already holds (bandwidth cap)
    this.lastAt = 0;
    this.queued = 0;
    this.pending = [];
    this.timer = null;
    this.ended = false;
  }

  push(chunk) {
    const now = performance.now();
    const start = Math.max(now, this.freeAt);
    this.freeAt = this.bytesPerMs ? start + chunk.length / this.bytesPerMs : now;
    const at = Math.max(this.freeAt + this.delayMs, this.lastAt);
    this.lastAt = at;
    this.pending.push({ at, chunk });
    this.queued += chunk.length;
    if (this.queued > 8 << 20) this.src.pause(); // back-pressure: the sender waits
    this.schedule();
  }

  end() {
    this.pending.push({ at: Math.max(performance.now() + this.delayMs, this.lastAt), chunk: null });
    this.schedule();
  }

  schedule() {
    if (this.timer || !this.pending.length) return;
    const wait = Math.max(0, this.pending[0].at - performance.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, wait);
  }

  flush() {
    const now = performance.now();
    while (this.pending.length && this.pending[0].at <= now + 0.5) {
      const { chunk } = this.pending.shift();
      if (chunk === null) {
        this.ended = true;
        this.dest.end();
        continue;
      }
      this.queued -= chunk.length;
      if (!this.dest.destroyed) this.dest.write(chunk);
    }
    if (this.queued < 4 << 20 && this.src.isPaused()) this.src.resume();
    this.schedule();
  }
}

/** Counts HTTP/1.1 requests in a client's byte stream (Content-Length or chunked bodies). */
class HttpCounter {
  constructor(stats) {
    this.stats = stats;
    this.buf = Buffer.alloc(0);
    this.body = 0; // bytes of the current body still to skip
    this.chunked = false;
  }

  feed(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (this.body > 0) {
        const n = Math.min(this.body, this.buf.length);
        this.body -= n;
        this.buf = this.buf.subarray(n);
        if (this.body > 0) return;
      }
      if (this.chunked) {
        const eol = this.buf.indexOf('\r\n');
        if (eol < 0) return;
        const size = parseInt(this.buf.subarray(0, eol).toString('latin1'), 16);
        this.buf = this.buf.subarray(eol + 2);
        if (size === 0) {
          // trailer: assume none (an empty line follows)
          this.chunked = false;
          this.body = 2;
          continue;
        }
        this.body = size + 2;
        continue;
      }
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.subarray(0, end).toString('latin1');
      this.buf = this.buf.subarray(end + 4);
      const method = head.slice(0, head.indexOf(' '));
      this.stats.requests[method] = (this.stats.requests[method] ?? 0) + 1;
      if (process.env.DELAY_PROXY_LOG) console.error(`${performance.now().toFixed(0)} ${head.slice(0, head.indexOf('\r\n'))}`);
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      this.chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head);
      this.body = cl && !this.chunked ? Number(cl[1]) : 0;
    }
  }
}

function emptyStats() {
  return { connections: 0, bytesUp: 0, bytesDown: 0, turns: 0, requests: {} };
}

/**
 * Start the proxy in front of 127.0.0.1:`port`. rttMs: round-trip time added; mbit: bandwidth
 * cap per direction and connection in Mbit/s (0: none); http: count HTTP requests.
 */
export function startDelayProxy({ port, host = '127.0.0.1', rttMs = 25, mbit = 0, http = false, listen = 0 }) {
  let stats = emptyStats();
  const sockets = new Set();
  const oneWay = rttMs / 2;
  const bytesPerMs = mbit ? (mbit * 1e6) / 8 / 1000 : 0;
  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    stats.connections++;
    const s = stats;
    const counter = http ? new HttpCounter(s) : null;
    sockets.add(client);
    client.setNoDelay(true);
    const upstream = new net.Socket();
    sockets.add(upstream);
    upstream.setNoDelay(true);
    const up = new Link(upstream, oneWay, bytesPerMs, client);
    const down = new Link(client, oneWay, bytesPerMs, upstream);
    let serverSpoke = true;
    client.on('data', (c) => {
      s.bytesUp += c.length;
      if (serverSpoke) s.turns++;
      serverSpoke = false;
      counter?.feed(c);
      up.push(c);
    });
    upstream.on('data', (c) => {
      s.bytesDown += c.length;
      serverSpoke = true;
      down.push(c);
    });
    client.on('end', () => up.end());
    upstream.on('end', () => down.end());
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', () => setTimeout(close, rttMs + 50));
    upstream.on('close', () => setTimeout(close, rttMs + 50));
    // The handshake's round trip, then the bytes the client sent meanwhile flow.
    setTimeout(() => {
      upstream.connect(port, host, () => client.resume());
    }, rttMs);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen, '127.0.0.1', () => {
      resolve({
        port: server.address().port,
        rttMs,
        mbit,
        /** Counters since the last reset. */
        snapshot: () => JSON.parse(JSON.stringify(stats)),
        reset: () => {
          stats = emptyStats();
        },
        close: () =>
          new Promise((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name, def) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : def;
  };
  const to = Number(arg('to'));
  if (!to) {
    console.error('usage: node bench/delay-proxy.js --to PORT [--rtt 25] [--mbit 0] [--listen 0] [--http]');
    process.exit(2);
  }
  const p = await startDelayProxy({
    port: to,
    rttMs: Number(arg('rtt', '25')),
    mbit: Number(arg('mbit', '0')),
    listen: Number(arg('listen', '0')),
    http: process.argv.includes('--http'),
  });
  console.log(
    `delay proxy on 127.0.0.1:${p.port} → 127.0.0.1:${to}, rtt ${p.rttMs} ms, ${p.mbit ? `${p.mbit} Mbit/s` : 'no bandwidth cap'}`,
  );
  process.on('SIGINT', () => {
    console.log(JSON.stringify(p.snapshot()));
    process.exit(0);
  });
}

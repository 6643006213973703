// Helpers for the front-door (proxy port) tests: CONNECT tunnels, absolute-form requests, HTTP
// responses read off raw streams, and the server's descriptor count. Built-in modules only.
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';

import { sleep } from './azsim.mjs';

const DEFAULT_MS = 5_000;

/** `CONNECT host:port` header block (no body). */
export function connectHead(host, port = 443, extra = '') {
  return `CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n${extra}\r\n`;
}

/** Parse "HTTP/1.1 200 ...\r\nName: value\r\n..." into {status, statusLine, headers}. */
export function parseHead(head) {
  const [statusLine, ...lines] = head.replace(/\r\n\r\n$/, '').split('\r\n');
  const headers = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const status = Number(/^HTTP\/1\.[01] (\d{3}) /.exec(statusLine)?.[1] ?? NaN);
  return { status, statusLine, headers };
}

/**
 * Reads HTTP/1.1 responses one after the other off a stream (plain or TLS). Every azsim response
 * carries Content-Length, which is what delimits them here.
 */
export class ResponseReader {
  #buf = Buffer.alloc(0);
  #waiters = [];
  #ended = false;
  #error = null;

  constructor(stream) {
    stream.on('data', (d) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#pump();
    });
    const end = () => {
      this.#ended = true;
      this.#pump();
    };
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', (err) => {
      this.#error = err;
      this.#pump();
    });
  }

  /** Bytes received and not yet consumed as a response. */
  get pending() {
    return this.#buf;
  }

  #take() {
    const end = this.#buf.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const head = this.#buf.subarray(0, end + 4).toString('latin1');
    const parsed = parseHead(head);
    const cl = parsed.headers['content-length'];
    const len = cl === undefined ? (this.#ended ? this.#buf.length - end - 4 : null) : Number(cl);
    if (len === null || this.#buf.length < end + 4 + len) return null;
    const body = Buffer.from(this.#buf.subarray(end + 4, end + 4 + len));
    this.#buf = this.#buf.subarray(end + 4 + len);
    return {
      ...parsed,
      body,
      text: body.toString('utf8'),
      json: () => JSON.parse(body.toString('utf8')),
    };
  }

  #pump() {
    while (this.#waiters.length) {
      const r = this.#take();
      if (r) {
        this.#waiters.shift().resolve(r);
      } else if (this.#ended || this.#error) {
        const shown = JSON.stringify(this.#buf.toString('latin1').slice(0, 200));
        this.#waiters.shift().reject(
          this.#error ?? new Error(`connection closed before a complete response: ${shown}`));
      } else {
        return;
      }
    }
  }

  /** The next complete response, or rejects after `ms`. */
  next(ms = DEFAULT_MS) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(w);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(new Error(`no complete response within ${ms} ms; have ` +
          JSON.stringify(this.#buf.toString('latin1').slice(0, 200))));
      }, ms);
      const w = {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.#waiters.push(w);
      this.#pump();
    });
  }
}

/** A plain TCP connection to 127.0.0.1:port, connected. */
export function tcpConnect(port, ms = DEFAULT_MS) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.setNoDelay(true);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`cannot connect to port ${port} within ${ms} ms`));
    }, ms);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.off('error', onError);
      resolve(sock);
    });
    const onError = (err) => {
      clearTimeout(timer);
      reject(err);
    };
    sock.once('error', onError);
  });
}

/**
 * Read one header block off `sock`; resolves {head, rest} and leaves the socket paused with no
 * listeners of ours, so TLS can take it over.
 */
export function readHead(sock, ms = DEFAULT_MS) {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => done(new Error(`no response head within ${ms} ms; have ` +
      JSON.stringify(buf.toString('latin1')))), ms);
    const onData = (d) => {
      buf = Buffer.concat([buf, d]);
      const i = buf.indexOf('\r\n\r\n');
      if (i >= 0) done(null, { head: buf.subarray(0, i + 4).toString('latin1'), rest: buf.subarray(i + 4) });
    };
    const onEnd = () => done(new Error(`connection closed before a response head; have ` +
      JSON.stringify(buf.toString('latin1'))));
    const onError = (err) => done(err);
    function done(err, value) {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('end', onEnd);
      sock.off('close', onEnd);
      sock.off('error', onError);
      sock.pause();
      if (err) reject(err);
      else resolve(value);
    }
    sock.on('data', onData);
    sock.on('end', onEnd);
    sock.on('close', onEnd);
    sock.on('error', onError);
  });
}

/** Wait for a TLS socket's handshake. */
export function handshake(t, ms = DEFAULT_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      t.destroy();
      reject(new Error(`TLS handshake not done within ${ms} ms`));
    }, ms);
    t.once('secureConnect', () => {
      clearTimeout(timer);
      t.off('error', onError);
      resolve(t);
    });
    const onError = (err) => {
      clearTimeout(timer);
      reject(err);
    };
    t.once('error', onError);
  });
}

/**
 * Open a tunnel the way proxy clients do: CONNECT, wait for the 200, then TLS on the same socket
 * with `servername` (default `host`) and `ca` as the only trust anchor (verification on).
 * Resolves the TLS socket; `.connectHead` holds the proxy's answer. Rejects on a non-200 answer
 * (the error carries .status and .head).
 */
export async function openTunnel(proxyPort, host, { ca, servername = host, port = 443, ms = DEFAULT_MS } = {}) {
  const sock = await tcpConnect(proxyPort, ms);
  try {
    sock.write(connectHead(host, port));
    const { head, rest } = await readHead(sock, ms);
    const { status } = parseHead(head);
    if (status !== 200) {
      throw Object.assign(new Error(`CONNECT ${host}:${port}: ${head.split('\r\n')[0]}`), { status, head });
    }
    if (rest.length) sock.unshift(rest);
    const t = tls.connect({ socket: sock, servername, ca });
    t.connectHead = head;
    await handshake(t, ms);
    return t;
  } catch (err) {
    sock.destroy();
    throw err;
  }
}

/**
 * The far end of a tunnel as TLS sees it: writes go to the proxy socket, the first one preceded
 * by the CONNECT header block in the same write() (so the ClientHello travels with the header,
 * as an eager client sends it); reads skip the proxy's response head, which is kept in `.head`.
 */
export class EarlyConnectStream extends Duplex {
  constructor(sock, header) {
    super();
    this.sock = sock;
    this.header = Buffer.from(header, 'latin1');
    this.firstWrite = null; // exactly what the first socket write carried
    this.firstRead = null; // the first chunk the proxy socket delivered
    this.head = null;
    this.afterHead = null; // the first bytes after the proxy's head (the TLS ServerHello)
    this.pending = Buffer.alloc(0);
    sock.on('data', (d) => this.#onData(d));
    sock.on('end', () => this.push(null));
    sock.on('error', (err) => this.destroy(err));
    sock.on('close', () => this.destroy());
  }

  #onData(d) {
    if (this.firstRead === null) this.firstRead = Buffer.from(d);
    if (this.head === null) {
      this.pending = Buffer.concat([this.pending, d]);
      const i = this.pending.indexOf('\r\n\r\n');
      if (i < 0) return;
      this.head = this.pending.subarray(0, i + 4).toString('latin1');
      d = this.pending.subarray(i + 4);
      this.pending = null;
      if (parseHead(this.head).status !== 200) {
        this.destroy(Object.assign(new Error(`CONNECT refused: ${this.head.split('\r\n')[0]}`),
          { head: this.head }));
        return;
      }
      if (d.length === 0) return;
    }
    if (this.afterHead === null) this.afterHead = Buffer.from(d);
    this.push(d);
  }

  _read() {}

  _write(chunk, _enc, cb) {
    this._writev([{ chunk }], cb);
  }

  _writev(chunks, cb) {
    let data = Buffer.concat(chunks.map((c) => c.chunk));
    if (this.firstWrite === null) {
      data = Buffer.concat([this.header, data]);
      this.firstWrite = data;
    }
    this.sock.write(data, cb);
  }

  _final(cb) {
    this.sock.end();
    cb();
  }

  _destroy(err, cb) {
    this.sock.destroy();
    cb(err);
  }
}

/**
 * A tunnel whose ClientHello goes out in the same write as the CONNECT header, before the 200.
 * Resolves {tls, stream} (stream: the EarlyConnectStream, for what went over the wire).
 */
export async function openEarlyTunnel(proxyPort, host, { ca, servername = host, ms = DEFAULT_MS } = {}) {
  const sock = await tcpConnect(proxyPort, ms);
  const stream = new EarlyConnectStream(sock, connectHead(host));
  const t = tls.connect({ socket: stream, servername, ca });
  try {
    await handshake(t, ms);
  } catch (err) {
    t.destroy();
    stream.destroy();
    throw err;
  }
  return { tls: t, stream };
}

/** Write a GET on an open connection (tunnel or plain) and read its response. */
export async function get(sock, reader, path, host, { close = false, ms = DEFAULT_MS } = {}) {
  sock.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nAccept: application/json\r\n` +
    `${close ? 'Connection: close\r\n' : ''}\r\n`);
  return reader.next(ms);
}

/** One GET through a fresh tunnel (CONNECT host:443, TLS with SNI host), then close it. */
export async function tunnelGet(proxyPort, host, path, { ca, ms = DEFAULT_MS } = {}) {
  const t = await openTunnel(proxyPort, host, { ca, ms });
  try {
    return await get(t, new ResponseReader(t), path, host, { close: true, ms });
  } finally {
    t.destroy();
  }
}

/** One absolute-form GET (e.g. http://169.254.169.254/health) on a fresh connection. */
export async function absoluteGet(proxyPort, url, { ms = DEFAULT_MS } = {}) {
  const sock = await tcpConnect(proxyPort, ms);
  try {
    return await get(sock, new ResponseReader(sock), url, new URL(url).host, { close: true, ms });
  } finally {
    sock.destroy();
  }
}

/**
 * Send raw bytes to the proxy port and collect everything until the server closes or `ms`
 * pass. Write errors (the server closing while we still send) are recorded, not thrown.
 * Returns {data, closed, elapsedMs, head: parseHead(...) or null, error}.
 */
export async function proxyExchange(proxyPort, bytes, { ms = DEFAULT_MS } = {}) {
  const sock = await tcpConnect(proxyPort, ms);
  const chunks = [];
  let error = null;
  const t0 = performance.now();
  sock.on('data', (d) => chunks.push(d));
  sock.on('error', (err) => {
    error = err;
  });
  const closed = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    sock.write(bytes);
  });
  const elapsedMs = performance.now() - t0;
  sock.destroy();
  const data = Buffer.concat(chunks);
  const text = data.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  return {
    data,
    closed,
    elapsedMs,
    error,
    head: end >= 0 ? parseHead(text.slice(0, end + 4)) : null,
    body: end >= 0 ? text.slice(end + 4) : '',
  };
}

/** The bytes of a TLS ClientHello for `servername`, as Node would send them first. */
export function clientHello(servername) {
  return new Promise((resolve) => {
    let t;
    const sink = new Duplex({
      read() {},
      write(chunk, _enc, cb) {
        resolve(Buffer.from(chunk));
        cb();
        setImmediate(() => t.destroy());
      },
    });
    t = tls.connect({ socket: sink, servername, rejectUnauthorized: false });
    t.on('error', () => {});
  });
}

/** The number of open descriptors of process `pid` (Linux /proc). */
export function fdCount(pid) {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/**
 * Poll until process `pid` has `expected` descriptors (connections closing on the server side
 * take a moment); returns the last count seen.
 */
export async function settledFdCount(pid, expected, ms = 3_000) {
  const deadline = performance.now() + ms;
  let n = fdCount(pid);
  while (n !== expected && performance.now() < deadline) {
    await sleep(50);
    n = fdCount(pid);
  }
  return n;
}

/** The descriptor count once it has stopped changing (same value 100 ms apart, up to `ms`). */
export async function stableFdCount(pid, ms = 2_000) {
  const deadline = performance.now() + ms;
  let prev = fdCount(pid);
  for (;;) {
    await sleep(100);
    const n = fdCount(pid);
    if (n === prev || performance.now() > deadline) return n;
    prev = n;
  }
}

/** The list of open descriptors with their targets, for a failure message. */
export function fdList(pid) {
  const out = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.push(`${fd} -> ${readlinkSafe(`/proc/${pid}/fd/${fd}`)}`);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

function readlinkSafe(p) {
  try {
    return readlinkSync(p);
  } catch {
    return '?';
  }
}

/** The module a served name is routed to behind the front door. */
export const HOSTS = {
  'login.microsoftonline.com': 'aad',
  'login.windows.net': 'aad',
  'login.microsoft.com': 'aad',
  'graph.microsoft.com': 'aad',
  'graph.windows.net': 'aad',
  'management.azure.com': 'arm',
  'management.core.windows.net': 'arm',
  'myvault.vault.azure.net': 'keyvault',
  'other-vault.vault.azure.net': 'keyvault',
  'myaccount.blob.core.windows.net': 'storage',
  'devstoreaccount1.blob.core.windows.net': 'storage',
};

/** Assert a response is `GET /health` of module `m`. */
export function assertHealth(r, m, where = m) {
  assert.equal(r.status, 200, `${where}: ${r.statusLine ?? r.status} ${r.text}`);
  assert.equal(r.json().status, 'Healthy', where);
  assert.equal(r.json().module, m, where);
}

// Helpers for the azsim integration tests: start and stop a server, talk to it over HTTP(S), TLS
// and raw sockets. Built-in modules only.
//
// The binary is $AZSIM_BIN (the sanitizer build runs the same suite), else ../build/azsim
// relative to tests/. Every server gets a fresh temporary data directory unless one is given,
// every port is 0 (a free port) unless given, and the store is in memory unless asked otherwise.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';

export const MODULES = ['arm', 'aad', 'imds', 'keyvault', 'storage', 'azurite'];
export const TLS_MODULES = MODULES.filter((m) => m !== 'imds' && m !== 'azurite');
export const VERSION = '0.1.0';
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const AZSIM_BIN = process.env.AZSIM_BIN
  ? resolve(process.env.AZSIM_BIN)
  : fileURLToPath(new URL('../../../build/azsim', import.meta.url));
/** The binary is a sanitizer build (make asan): its allocator keeps freed memory in quarantine,
 * so resident-memory measurements say nothing about azsim's own use. */
export const SANITIZED = /\/asan\//.test(AZSIM_BIN);

const START_TIMEOUT_MS = 10_000;
// SIGTERM lets requests in flight finish for up to 5 s (SERVER_DRAIN_MS); a sanitizer build
// also has to write its leak report before exiting.
const STOP_TIMEOUT_MS = 15_000;

// Servers still running when the test process exits are killed, whatever went wrong.
const live = new Set();
process.on('exit', () => {
  for (const proc of live) {
    try {
      proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** A fresh temporary directory; `cleanup` removes it. */
export function tempDir(prefix = 'azsim-test-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The environment for a child azsim: ours without any AZSIM_* setting, plus `extra`. */
export function childEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('AZSIM_')) env[k] = v;
  }
  return { ...env, ...extra };
}

/** Run an azsim command to completion (health, ca, version, help, bad flags). */
export function run(args, { env = {}, timeoutMs = 10_000 } = {}) {
  const r = spawnSync(AZSIM_BIN, args, {
    env: childEnv(env),
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  if (r.error) throw r.error;
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Parse azsim's startup lines ("proxy <url>", "<module> <url>" ..., then "ca <path>"). `urls`
 * holds the modules; the front door is `proxy` (its port is ports.proxy).
 */
export function parseStartup(text) {
  const urls = {};
  let ca = null;
  let proxy = null;
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(\S+)\s*$/.exec(line);
    if (!m) continue;
    if (m[1] === 'ca') ca = m[2];
    else if (m[1] === 'proxy') proxy = m[2];
    else urls[m[1]] = m[2];
  }
  const ports = Object.fromEntries(
    Object.entries(urls).map(([name, url]) => [name, Number(new URL(url).port)]),
  );
  if (proxy) ports.proxy = Number(new URL(proxy).port);
  return { urls, ports, ca, proxy };
}

/**
 * Start azsim and wait until it has printed its listeners and CA.
 *
 * opts.dataDir   use this data directory (kept afterwards); default: a fresh one, removed by cleanup()
 * opts.inMemory  pass --in-memory (default true)
 * opts.ports     {module: port} overrides; every other module gets port 0
 * opts.args      extra arguments after the defaults
 * opts.rawArgs   the exact argument list (no defaults at all), e.g. to configure through env
 * opts.env       extra environment variables (inherited AZSIM_* ones are removed)
 * opts.waitForRunFile  false: resolve as soon as the "ca" line is printed (default: also wait
 *                 for azsim.run.json to name this process)
 */
export async function start(opts = {}) {
  const owned = opts.dataDir ? null : tempDir();
  const dataDir = opts.dataDir ?? owned.dir;
  let args;
  if (opts.rawArgs) {
    args = opts.rawArgs;
  } else {
    args = ['serve', '--data-dir', dataDir];
    if (opts.inMemory ?? true) args.push('--in-memory');
    for (const m of [...MODULES, 'proxy']) args.push(`--${m}-port`, String(opts.ports?.[m] ?? 0));
    args.push(...(opts.args ?? []));
  }

  const spawnedAt = performance.now();
  const proc = spawn(AZSIM_BIN, args, {
    env: childEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  let stdout = '';
  const stderrChunks = [];
  const stderrBytes = () => Buffer.concat(stderrChunks);
  proc.stdout.setEncoding('utf8');
  proc.stderr.on('data', (d) => stderrChunks.push(d));
  // {code, signal, stderr (text), stderrBytes (as written), stdout}
  const exited = new Promise((res) => {
    proc.on('close', (code, signal) => {
      live.delete(proc);
      const bytes = stderrBytes();
      res({ code, signal, stderr: bytes.toString('utf8'), stderrBytes: bytes, stdout });
    });
  });

  const server = {
    proc,
    pid: proc.pid,
    args,
    dataDir,
    spawnedAt,
    exited,
    urls: {},
    ports: {},
    ca: null,
    caPem: null,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderrBytes().toString('utf8');
    },
    get running() {
      return proc.exitCode === null && proc.signalCode === null;
    },
    /** SIGTERM and wait: resolves {code, signal, stderr, stdout}. */
    async stop(timeoutMs = STOP_TIMEOUT_MS) {
      if (server.running) proc.kill('SIGTERM');
      return withTimeout(exited, timeoutMs, () => {
        proc.kill('SIGKILL');
        return new Error(`azsim did not stop within ${timeoutMs} ms after SIGTERM\n${server.stderr}`);
      });
    },
    /** SIGINT and wait. */
    async interrupt(timeoutMs = STOP_TIMEOUT_MS) {
      if (server.running) proc.kill('SIGINT');
      return withTimeout(exited, timeoutMs, () => {
        proc.kill('SIGKILL');
        return new Error(`azsim did not stop within ${timeoutMs} ms after SIGINT\n${server.stderr}`);
      });
    },
    /** SIGKILL and wait. */
    async kill() {
      if (server.running) proc.kill('SIGKILL');
      return exited;
    },
    /** Kill if still running and remove the data directory we created. Never throws. */
    async cleanup() {
      try {
        await server.kill();
      } finally {
        owned?.cleanup();
      }
    },
    url(module, path = '') {
      return `${server.urls[module]}${path}`;
    },
    /** A request to one module's listener; `path` is sent exactly as given. */
    request(module, path, reqOpts = {}) {
      return request(server.urls[module], path, { ca: server.caPem, ...reqOpts });
    },
  };

  try {
    await new Promise((res, rej) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        rej(new Error(`azsim did not start within ${opts.timeoutMs ?? START_TIMEOUT_MS} ms\n` +
          `args: ${args.join(' ')}\nstdout:\n${stdout}\nstderr:\n${server.stderr}`));
      }, opts.timeoutMs ?? START_TIMEOUT_MS);
      const onData = (d) => {
        stdout += d;
        if (/^ca\s+\S+\s*$/m.test(stdout)) {
          clearTimeout(timer);
          proc.stdout.off('data', onData);
          // Keep draining stdout so the child can never block on a full pipe.
          proc.stdout.on('data', (more) => {
            stdout += more;
          });
          res();
        }
      };
      proc.stdout.on('data', onData);
      proc.on('error', (err) => {
        clearTimeout(timer);
        rej(new Error(`cannot run ${AZSIM_BIN}: ${err.message}`));
      });
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        rej(new Error(`azsim exited during start-up (code ${code}, signal ${signal})\n` +
          `args: ${args.join(' ')}\nstdout:\n${stdout}\nstderr:\n${server.stderr}`));
      });
    });
    // azsim prints the "ca" line before it writes azsim.run.json and starts its threads, so
    // `azsim health` run the moment that line appears can still find no run file (or a stale
    // one from a killed predecessor). Wait until the run file names this process, so every test
    // starts from a server that is fully up. (Only possible when we know the data directory.)
    if ((opts.waitForRunFile ?? true) && (!opts.rawArgs || opts.dataDir)) {
      await waitForRunFile(server, join(dataDir, 'azsim.run.json'), opts.timeoutMs ?? START_TIMEOUT_MS);
    }
  } catch (err) {
    await server.cleanup();
    throw err;
  }

  Object.assign(server, parseStartup(stdout));
  server.caPem = readFileSync(server.ca, 'utf8');
  return server;
}

async function waitForRunFile(server, path, timeoutMs) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      if (JSON.parse(readFileSync(path, 'utf8')).pid === server.pid) return;
    } catch {
      // not there yet, or being replaced
    }
    if (!server.running) {
      throw new Error(`azsim exited before writing ${path}\n${server.stderr}`);
    }
    if (performance.now() > deadline) {
      server.proc.kill('SIGKILL');
      throw new Error(`azsim printed its listeners but wrote no ${path} within ${timeoutMs} ms\n` +
        `${server.stderr}`);
    }
    await sleep(2);
  }
}

/** Start a server that the test `t` (or a suite hook registrar) cleans up afterwards. */
export async function startFor(t, opts) {
  const server = await start(opts);
  t.after(() => server.cleanup());
  return server;
}

/** The checks every stopped server must pass, for the normal and the sanitizer build alike. */
export function assertCleanExit(result, what = 'azsim') {
  assert.equal(result.signal, null, `${what} was killed by ${result.signal}\n${result.stderr}`);
  assert.equal(result.code, 0, `${what} exited with ${result.code}\n${result.stderr}`);
  assertNoSanitizerReport(result.stderr);
}

export function assertNoSanitizerReport(stderr) {
  for (const marker of ['AddressSanitizer', 'runtime error', 'LeakSanitizer']) {
    assert.ok(!stderr.includes(marker), `stderr contains "${marker}":\n${stderr}`);
  }
}

/** Stop the server and assert a clean exit; returns the exit result. */
export async function stopClean(server) {
  const result = await server.stop();
  assertCleanExit(result);
  return result;
}

/**
 * For suite-level servers: stop with SIGTERM and assert a clean exit (which catches sanitizer
 * reports caused by anything the suite sent), then always remove what start() created.
 */
export async function finish(server) {
  if (!server) return;
  try {
    await stopClean(server);
  } finally {
    await server.cleanup();
  }
}

function withTimeout(promise, ms, onTimeout) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, rej) => {
      timer = setTimeout(() => rej(onTimeout()), ms);
    }),
  ]);
}

/**
 * One HTTP(S) request on its own connection. `path` goes on the request line as given (no
 * normalisation), so "//HEALTH/" and "/he%zzalth" reach the server intact. For https, `ca` is
 * the only trust anchor and certificate checks stay on.
 */
export function request(base, path, opts = {}) {
  const u = new URL(base);
  const isHttps = u.protocol === 'https:';
  const lib = isHttps ? https : http;
  const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
  const headers = { ...(opts.headers ?? {}) };
  if (body !== undefined && !Object.keys(headers).some((h) => /^(content-length|transfer-encoding)$/i.test(h))) {
    headers['Content-Length'] = String(body.length);
  }
  const options = {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port,
    path,
    method: opts.method ?? 'GET',
    headers,
    agent: false,
  };
  if (isHttps) {
    options.ca = opts.ca;
    if (opts.servername !== undefined) options.servername = opts.servername;
  }
  const timeoutMs = opts.timeoutMs ?? 5_000;
  return new Promise((res, rej) => {
    const req = lib.request(options, (resp) => {
      const chunks = [];
      resp.on('data', (c) => chunks.push(c));
      resp.on('end', () => {
        const buf = Buffer.concat(chunks);
        res({
          status: resp.statusCode,
          headers: resp.headers,
          body: buf,
          text: buf.toString('utf8'),
          json() {
            return JSON.parse(buf.toString('utf8'));
          },
        });
      });
      resp.on('error', rej);
    });
    req.setTimeout(timeoutMs, () => {
      req.destroy(new Error(`${options.method} ${base}${path}: no response within ${timeoutMs} ms`));
    });
    req.on('error', rej);
    req.end(body);
  });
}

/** GET /health on every listener the server runs; asserts 200 and the body. */
export async function assertHealthy(server, modules = Object.keys(server.urls)) {
  assert.ok(server.running, `azsim is no longer running\n${server.stderr}`);
  for (const m of modules) {
    const r = await server.request(m, '/health');
    assert.equal(r.status, 200, `${m} /health: ${r.status} ${r.text}`);
    assert.deepEqual(r.json(), { status: 'Healthy', module: m, version: VERSION });
  }
}

/** Poll GET /health on one module until it answers 200 (for timing restarts). */
export async function waitHealthy(server, module, timeoutMs = 10_000) {
  const deadline = performance.now() + timeoutMs;
  let last;
  while (performance.now() < deadline) {
    try {
      const r = await server.request(module, '/health', { timeoutMs: 1_000 });
      if (r.status === 200) return performance.now();
      last = new Error(`status ${r.status}`);
    } catch (err) {
      last = err;
    }
    await sleep(10);
  }
  throw new Error(`${module} never became healthy: ${last?.message}\n${server.stderr}`);
}

export const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

/** The data of an event, or rejects after `ms`. */
export function once(emitter, event, ms, what = event) {
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`no ${what} within ${ms} ms`)), ms);
    emitter.once(event, (...a) => {
      clearTimeout(timer);
      res(a);
    });
  });
}

/**
 * Open a raw TCP connection (or a TLS one when opts.tls is set: {ca, servername}) and wait until
 * it is connected. Errors after that are recorded, not thrown: a server closing on us is often
 * the expected outcome.
 */
export async function connect(port, opts = {}) {
  const host = opts.host ?? '127.0.0.1';
  const sock = opts.tls
    ? tls.connect({ host, port, ...opts.tls })
    : net.connect({ host, port });
  const state = { data: [], closed: false, error: null };
  sock.on('data', (d) => state.data.push(d));
  sock.on('error', (err) => {
    state.error = err;
  });
  const closed = new Promise((res) => sock.on('close', () => {
    state.closed = true;
    res();
  }));
  await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`cannot connect to port ${port}`)), 5_000);
    sock.once(opts.tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      res();
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      rej(err);
    });
  });
  return {
    sock,
    state,
    closed,
    get received() {
      return Buffer.concat(state.data);
    },
    /** Resolves true once the peer closed, false if still open after `ms`. */
    async waitClosed(ms) {
      let timer;
      const r = await Promise.race([
        closed.then(() => true),
        new Promise((res) => {
          timer = setTimeout(() => res(false), ms);
        }),
      ]);
      clearTimeout(timer);
      return r;
    },
    destroy() {
      sock.destroy();
    },
  };
}

/**
 * Send raw bytes on a fresh connection and collect what comes back until the server closes or
 * `ms` pass. Returns {data, closed, status} where status is the HTTP status of the first
 * response line, if any.
 */
export async function rawExchange(port, bytes, { ms = 5_000, tls: tlsOpts, host } = {}) {
  const c = await connect(port, { tls: tlsOpts, host });
  try {
    c.sock.write(bytes);
    const closed = await c.waitClosed(ms);
    const data = c.received;
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(data.toString('latin1'));
    return { data, closed, status: m ? Number(m[1]) : null, error: c.state.error };
  } finally {
    c.destroy();
  }
}

/** Deterministic pseudo-random bytes (SHA-256 in counter mode over `seed`). */
export function pseudoRandomBytes(n, seed = 'azsim') {
  const out = [];
  let len = 0;
  for (let i = 0; len < n; i++) {
    const block = createHash('sha256').update(`${seed}:${i}`).digest();
    out.push(block);
    len += block.length;
  }
  return Buffer.concat(out).subarray(0, n);
}

/** The server certificate presented for `servername` (undefined: no SNI) on a TLS port. */
export function peerCertificate(port, { ca, servername, host = '127.0.0.1' } = {}) {
  return new Promise((res, rej) => {
    const opts = { host, port, ca, timeout: 5_000 };
    if (servername !== undefined) opts.servername = servername;
    const sock = tls.connect(opts, () => {
      const cert = sock.getPeerCertificate(true);
      const authorized = sock.authorized;
      sock.end();
      res({ cert, authorized, authorizationError: sock.authorizationError });
    });
    sock.on('timeout', () => sock.destroy(new Error('TLS handshake timed out')));
    sock.on('error', rej);
  });
}

/** instance_id from the SQLite store of a data directory, via the sqlite3 CLI. */
export function instanceId(dataDir) {
  const db = join(dataDir, 'azsim.db');
  assert.ok(existsSync(db), `${db} does not exist`);
  const r = spawnSync('sqlite3', [db, "SELECT value FROM meta WHERE key = 'instance_id';"], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (r.error) throw r.error;
  assert.equal(r.status, 0, `sqlite3 failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** A TCP port that was free a moment ago. */
export function freePort() {
  return new Promise((res, rej) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

export const ERROR_FORMAT = {
  arm: 'json',
  keyvault: 'json',
  aad: 'oauth',
  imds: 'oauth',
  storage: 'xml',
  azurite: 'xml',
};

/** Assert `r` is an error with `status` and `code` in module `m`'s wire format. */
export function assertModuleError(m, r, status, code) {
  const where = `${m} ${r.status} ${r.text}`;
  assert.equal(r.status, status, where);
  assert.match(r.headers['x-ms-request-id'] ?? '', UUID_RE, `x-ms-request-id: ${where}`);
  switch (ERROR_FORMAT[m]) {
    case 'json': {
      assert.match(r.headers['content-type'], /^application\/json/, where);
      const body = r.json();
      assert.deepEqual(Object.keys(body), ['error'], where);
      assert.equal(body.error.code, code, where);
      assert.equal(typeof body.error.message, 'string', where);
      assert.ok(body.error.message.length > 0, where);
      break;
    }
    case 'oauth': {
      assert.match(r.headers['content-type'], /^application\/json/, where);
      const body = r.json();
      assert.equal(body.error, code, where);
      assert.equal(typeof body.error_description, 'string', where);
      assert.ok(body.error_description.length > 0, where);
      break;
    }
    case 'xml': {
      assert.match(r.headers['content-type'], /^application\/xml/, where);
      assert.equal(r.headers['x-ms-error-code'], code, where);
      const text = r.text.replace(/^\uFEFF/, '');
      assert.match(text, /^<\?xml version="1\.0" encoding="utf-8"\?><Error>/, where);
      assert.equal(/<Code>([^<]*)<\/Code>/.exec(text)?.[1], code, where);
      const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? '';
      // Storage appends the request id to every message.
      assert.ok(message.includes(`RequestId:${r.headers['x-ms-request-id']}`), where);
      break;
    }
    default:
      assert.fail(`no format for ${m}`);
  }
}

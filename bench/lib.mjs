// What the benchmark harness (bench.mjs) is made of: starting servers and watching their memory,
// wrk runs and their numbers, and small HTTP helpers for setting up state.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function tempDir(prefix = 'azsim-bench-') {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A free TCP port on the loopback. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ---- processes and memory ------------------------------------------------------------------

/** The resident set of `pid` and all its descendants, in KiB (0 when gone). */
export function rssKiB(pid) {
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(entry));
    } catch { /* gone */ }
  }
  let total = 0;
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop();
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) total += Number(m[1]);
    } catch { /* gone */ }
    todo.push(...(children.get(p) ?? []));
  }
  return total;
}

/** Sample the RSS of `pid` (and children) every 100 ms until stop() returns the peak, KiB. */
export function watchRss(pid) {
  let peak = rssKiB(pid);
  const timer = setInterval(() => { peak = Math.max(peak, rssKiB(pid)); }, 100);
  return () => {
    clearInterval(timer);
    return Math.max(peak, rssKiB(pid));
  };
}

/** Spawn a server; `ready(text)` on its combined output decides when it has started. */
export function startProcess(cmd, args, { env = {}, cwd, ready, timeoutMs = 20_000 } = {}) {
  const proc = spawn(cmd, args, { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${cmd} did not start in ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = (d) => {
      out += d;
      if (ready(out)) {
        clearTimeout(timer);
        proc.stdout.removeAllListeners('data');
        proc.stderr.removeAllListeners('data');
        proc.stdout.resume();
        proc.stderr.resume();
        resolve({ proc, pid: proc.pid, output: out, startedMs: performance.now() - started });
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('spawn', () => onData('')); /* servers that print nothing decide at once */
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited (${code}) before it was ready:\n${out}`));
    });
  });
}

export async function stopProcess(p) {
  if (!p || p.proc.exitCode !== null) return;
  const exited = new Promise((r) => p.proc.once('exit', r));
  p.proc.removeAllListeners('exit');
  p.proc.kill('SIGTERM');
  await Promise.race([exited, sleep(5000)]);
  if (p.proc.exitCode === null) p.proc.kill('SIGKILL');
}

// ---- HTTP ------------------------------------------------------------------------------------

/** One request: {status, headers, text, json()}. `url` http(s); `ca` trusted for https. */
export function request(url, { method = 'GET', headers = {}, body, ca, host } = {}) {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request({
      method, hostname: u.hostname, port: u.port, path: `${u.pathname}${u.search}`,
      headers: { ...(host ? { Host: host } : {}), ...headers },
      ca, servername: host ? host.split(':')[0] : undefined, agent: false,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.end(typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
    else req.end();
  });
}

/** Poll `url` until it answers 200: ms since `since` (performance.now()). */
export async function waitHttp(url, since, { ca, timeoutMs = 20_000 } = {}) {
  for (;;) {
    try {
      const r = await request(url, { ca });
      if (r.status === 200 || r.status === 400 || r.status === 403) return performance.now() - since;
    } catch { /* not yet */ }
    if (performance.now() - since > timeoutMs) throw new Error(`${url} did not answer`);
    await sleep(2);
  }
}

/** Run `fn` over `items` with at most `limit` in flight. */
export async function parallel(items, limit, fn) {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  });
  await Promise.all(workers);
}

// ---- wrk -------------------------------------------------------------------------------------

const UNITS = { us: 1e-3, ms: 1, s: 1000, m: 60_000 };
const ms = (v, unit) => Number(v) * UNITS[unit];

/** Parse wrk --latency output: {rps, p50, p99 (ms), requests, errors, non2xx, mibps}. */
export function parseWrk(text) {
  const num = (re) => { const m = re.exec(text); return m ? Number(m[1]) : 0; };
  const pct = (p) => { const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text); return m ? ms(m[1], m[2]) : NaN; };
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const transfer = /Transfer\/sec:\s+([\d.]+)(B|KB|MB|GB)/.exec(text);
  const scale = { B: 1 / 1048576, KB: 1 / 1024, MB: 1, GB: 1024 };
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    p50: pct(50),
    p99: pct(99),
    requests: num(/(\d+) requests in/),
    errors: errors ? errors.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
    mibps: transfer ? Number(transfer[1]) * scale[transfer[2]] : 0,
  };
}

/**
 * One wrk run: `target` {url, method, headers, body, host, bodyFile}; returns parseWrk's numbers.
 * Request bodies and headers go through a Lua script (wrk's only way to send them).
 */
export function runWrk(target, { connections, seconds, threads = 2 }) {
  const dir = tempDir('azsim-wrk-');
  try {
    const lua = [];
    lua.push(`wrk.method = ${JSON.stringify(target.method ?? 'GET')}`);
    for (const [k, v] of Object.entries({ ...(target.host ? { Host: target.host } : {}), ...(target.headers ?? {}) })) {
      lua.push(`wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(String(v))}`);
    }
    if (target.bodyBytes) lua.push(`wrk.body = string.rep("a", ${target.bodyBytes})`);
    else if (target.body !== undefined) lua.push(`wrk.body = ${JSON.stringify(target.body)}`);
    if (target.lua) lua.push(target.lua);
    const script = join(dir, 'request.lua');
    writeFileSync(script, `${lua.join('\n')}\n`);
    const r = spawnSync('wrk', ['-t', String(Math.min(threads, connections)), '-c', String(connections), '-d', `${seconds}s`,
      '--latency', '--timeout', '10s', '-s', script, target.url], { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
    if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}${r.stdout}`);
    return { ...parseWrk(r.stdout), raw: r.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- statistics ------------------------------------------------------------------------------

export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

export function percentile(values, p) {
  const v = [...values].sort((a, b) => a - b);
  if (!v.length) return NaN;
  return v[Math.min(v.length - 1, Math.ceil((p / 100) * v.length) - 1)];
}

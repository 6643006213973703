// make bench: azsim side by side with the tools people use today (Azurite, oauth2-mock-server)
// and with the machine's limits (nginx answering a fixed body, OpenSSL's RSA sign rate).
//
//   node bench/bench.mjs [--smoke] [--only name,name] [--seconds N] [--repeats N]
//   node bench/bench.mjs --table bench/results/<run>.json    (that run's table again)
//
// Each workload runs against azsim and its peer in the same run, alternating, `repeats` times
// (3; --smoke: once for a second, so `make test` keeps the harness from rotting). The table
// shows ops/s median (min-max), p50 and p99 latency, the server's peak resident memory and the
// ratio to the peer, then whether the issue's goal is met; the numbers also go to
// bench/results/<time>.json. Load comes from wrk (keep-alive connections, two threads) or, for
// what wrk cannot do (CONNECT through the front door, one identity at a time), from Node.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { cpus } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';

import {
  median, parallel, percentile, request, rssKiB, runWrk, sleep, stopProcess, tempDir, waitHttp, watchRss,
} from './lib.mjs';
import {
  DEV_ACCOUNT, LOCATION, NSG, VAULT, X_MS_VERSION, assignRole, devAccountSas, prepare, startAzsim,
} from './azsim.mjs';
import { startAzurite, startNginx, startOauth2Mock } from './peers.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const option = (name, dflt) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : dflt; };
const SMOKE = flag('--smoke');
const SECONDS = Number(option('--seconds', SMOKE ? 1 : 5));
const REPEATS = Number(option('--repeats', SMOKE ? 1 : 3));
const ONLY = option('--only', '').split(',').filter(Boolean);


/** Why a workload misses its goal, shown under its row when it does (by name prefix). */
const WHY = [
  ['imds-token-cached', 'a repeat is answered from the thread\'s snapshot; what remains is the HTTP layer (libevent\'s epoll_ctl calls around each request, the TCP write, the request id\'s getrandom) and one store read (data_version) so that a detached identity stops at the next request; a stub handler returning a fixed body reached 0.4-0.5× nginx here'],
  ['aad-client-credentials', 'every token is an RSA-2048 signature plus the client secret\'s hash check, a TLS record and the HTTP layer; both cores sign. The machine\'s rate moves between runs (4,630/s and 6,671/s measured) while azsim\'s stays at 3,800-3,900/s'],
  ['imds-token-first', 'the sign-in is the identity\'s key read from PEM, the assertion\'s RSA signature, Entra ID\'s own answer (verify, sign) and the HTTP exchange on a kept-open connection'],
  ['keyvault-get-secret', 'RBAC\'s decision, the vault and the secret come from the connection\'s memo and the audit entry is written off the request path; what remains is TLS (a fifth of the time, in SSL_write), one store read (data_version) so that a change is seen at the next request, parsing the vault\'s and the secret\'s JSON, and the HTTP layer. A fixed answer over azsim\'s own TLS listener reaches about 0.55× nginx https here'],
  ['blob-put-4k', 'each PUT is a row written in its event-loop turn\'s group commit, answered after the commit'],
  ['blob-get-4k', 'each GET checks the SAS signature and reads the blob\'s row in one read transaction'],
  ['blob-put-8m', 'libevent 2.1 holds each body whole while it arrives and reads it 4 KiB at a time; the MD5 Storage answers with is a third of the time'],
  ['blob-get-8m', 'the client is the limit: azsim sends the file with sendfile, and wrk reads it at about 2 GB/s, as from nginx sending the same file; 2× shows only when Azurite is slow'],
  ['arm-put-get', 'a PUT composes the resource in layers (ARM\'s members, the client\'s, the type\'s own, nested resources), each a JSON parse of the whole body, and every PUT changes the store, so the RBAC decision is made again for each request; the GET half answers the stored text'],
  ['tls-new-connection', 'the Node client is the limit on both sides (3-4 ms of its CPU per connection); azsim\'s connections also carry the CONNECT to the front door and the relay to the module: one more round trip and hop than nginx'],
  ['rbac-scale', 'the check itself stays flat (compare the p50s) and the audit log is written off the request path; the tail at one connection is the store: every audit batch (each 5 ms) empties the memo, so some requests decide again, and WAL checkpoints stall a few; the same with 10 assignments as with 10,000'],
  ['startup-existing', 'a restart reads the CA and 8 TLS keys, migrates nothing, and opens a store connection per module thread (each parses the schema)'],
  ['rss-under-load', '8 MiB PUTs are held whole by libevent while they arrive, on every connection at once; azsim writes them from libevent\'s buffers and gives the memory back every 250 ms'],
];
const whyOf = (name) => WHY.find(([prefix]) => name.startsWith(prefix))?.[1];

// ---- workloads -------------------------------------------------------------------------------

/**
 * Every workload: name, what it compares, the connection counts, the two targets, and its
 * goal. A target is {url, method, headers, body | bodyBytes, host} for wrk, or {run(seconds)}
 * for a Node-driven load returning the same numbers.
 */
function workloads(ctx) {
  const { az, state, nginx, azurite, azuriteDisk, oauth2, sas } = ctx;
  const imdsToken = `${state.imdsBase}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net`;
  const kvGet = `${az.urls.keyvault}/secrets/s1?api-version=7.4`;
  const tokenForm = new URLSearchParams({ grant_type: 'client_credentials', client_id: az.info.clientId, client_secret: az.info.clientSecret, scope: 'https://vault.azure.net/.default' }).toString();
  const blob = (base, name) => `${base}/${DEV_ACCOUNT}/bench/${name}?${sas}`;
  const putBlob = (base, name, bytes) => ({ url: blob(base, name), method: 'PUT', bodyBytes: bytes, headers: { 'x-ms-blob-type': 'BlockBlob', 'x-ms-version': X_MS_VERSION } });
  const getBlob = (base, name) => ({ url: blob(base, name), headers: { 'x-ms-version': X_MS_VERSION } });
  const nsg = `${state.rg}/providers/Microsoft.Network/networkSecurityGroups/${NSG}?api-version=2022-07-01`;
  return [
    {
      name: 'imds-token-cached', what: 'IMDS token, cached (keep-alive)', peerName: 'nginx http', connections: [16, 64],
      azsim: { url: imdsToken, headers: { Metadata: 'true' } },
      peer: { url: `${nginx.http}/imds-token` },
      goal: (r) => goalRatio(r, 0.5),
    },
    {
      name: 'aad-client-credentials', what: 'AAD client_credentials token (RS256, HTTPS)', peerName: 'oauth2-mock-server', connections: [16],
      azsim: { url: `${az.urls.aad}/${az.info.tenantId}/oauth2/v2.0/token`, method: 'POST', body: tokenForm, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } },
      peer: { url: `${oauth2.url}/token`, method: 'POST', body: 'grant_type=client_credentials&client_id=bench&scope=api', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } },
      goal: (r) => {
        const rsa = ctx.rsaSignRate;
        const a = goalRatio(r, 3);
        const share = r.azsim.rps / rsa;
        const b = `${(share).toFixed(2)}× the machine's RSA-2048 sign rate (${Math.round(rsa)}/s; goal ≥ 0.6×)`;
        return { met: a.met && share >= 0.6, text: `${a.text}; ${b}` };
      },
    },
    {
      name: 'imds-token-first', what: 'IMDS token, first request per identity (assertion to AAD)', peerName: null, connections: [1],
      azsim: { run: () => firstTokens(state) },
      goal: (r) => ({ met: r.azsim.p50 <= 5, text: `p50 ${fmtMs(r.azsim.p50)} (goal ≤ 5 ms)` }),
    },
    {
      name: 'keyvault-get-secret', what: 'Key Vault get secret (bearer + RBAC, HTTPS)', peerName: 'nginx https', connections: [16],
      azsim: { url: kvGet, host: `${VAULT}.vault.azure.net`, headers: { Authorization: `Bearer ${state.kv}` } },
      peer: { url: `${nginx.https}/secret` },
      goal: (r) => goalRatio(r, 0.4),
    },
    ...[16, 64].flatMap((c) => [
      {
        name: `blob-put-4k-c${c}`, what: 'Blob PUT 4 KiB (SAS, http)', peerName: 'Azurite (memory)', connections: [c],
        azsim: putBlob(az.urls.azurite, 'small', 4096), peer: putBlob(azurite.url, 'small', 4096),
        goal: (r) => goalRatio(r, 10),
      },
      {
        name: `blob-get-4k-c${c}`, what: 'Blob GET 4 KiB (SAS, http)', peerName: 'Azurite (memory)', connections: [c],
        azsim: getBlob(az.urls.azurite, 'small'), peer: getBlob(azurite.url, 'small'),
        goal: (r) => goalRatio(r, 10),
      },
    ]),
    {
      name: 'blob-put-4k-disk', what: 'Blob PUT 4 KiB (SAS, http)', peerName: 'Azurite (disk)', connections: [16],
      azsim: putBlob(az.urls.azurite, 'small', 4096), peer: putBlob(azuriteDisk.url, 'small', 4096),
      goal: (r) => goalRatio(r, 10),
    },
    {
      name: 'blob-get-4k-disk', what: 'Blob GET 4 KiB (SAS, http)', peerName: 'Azurite (disk)', connections: [16],
      azsim: getBlob(az.urls.azurite, 'small'), peer: getBlob(azuriteDisk.url, 'small'),
      goal: (r) => goalRatio(r, 10),
    },
    {
      name: 'blob-put-8m', what: 'Blob PUT 8 MiB (SAS, http)', peerName: 'Azurite (memory)', connections: [4], mib: 8,
      azsim: putBlob(az.urls.azurite, 'large', 8 << 20), peer: putBlob(azurite.url, 'large', 8 << 20),
      goal: (r) => goalThroughput(r),
    },
    {
      name: 'blob-get-8m', what: 'Blob GET 8 MiB (SAS, http)', peerName: 'Azurite (memory)', connections: [4], mib: 8,
      azsim: getBlob(az.urls.azurite, 'large'), peer: getBlob(azurite.url, 'large'),
      goal: (r) => goalThroughput(r),
    },
    {
      name: 'arm-put-get', what: 'ARM PUT + GET of a resource (RBAC, keep-alive)', peerName: null, connections: [16],
      azsim: {
        url: `${az.urls.arm}${nsg}`, headers: { Authorization: `Bearer ${state.arm}`, 'Content-Type': 'application/json' },
        lua: `local put = true
local body = '{"location":"${LOCATION}","tags":{"bench":"yes"}}'
request = function()
  put = not put
  if put then return wrk.format("PUT", nil, nil, body) end
  return wrk.format("GET", nil, nil, nil)
end`,
      },
      goal: (r) => ({ met: r.azsim.rps >= 5000, text: `${Math.round(r.azsim.rps)} ops/s (goal ≥ 5,000)` }),
    },
    {
      name: 'tls-new-connection', what: 'New TLS connection per request (front door CONNECT)', peerName: 'nginx https handshakes', connections: [16],
      azsim: { run: (seconds) => handshakes({ seconds, connections: 16, proxy: az.urls.proxy, host: 'management.azure.com', ca: az.ca, path: '/health' }) },
      // Both clients verify the server's certificate, as the SDKs do: the client's work is the
      // same on both sides but for azsim's CONNECT.
      peer: { run: (seconds) => handshakes({ seconds, connections: 16, target: nginx.https, host: 'localhost', ca: nginx.ca, path: '/secret' }) },
      goal: (r) => goalRatio(r, 0.8),
    },
  ];
}

function fmtMs(v) {
  return Number.isFinite(v) ? (v < 1 ? `${(v * 1000).toFixed(0)} µs` : `${v.toFixed(2)} ms`) : '-';
}

function goalRatio(r, want) {
  const ratio = r.azsim.rps / r.peer.rps;
  return { met: ratio >= want, text: `${ratio.toFixed(2)}× (goal ≥ ${want}×)${ratio >= want ? '' : `: missed by ${((1 - ratio / want) * 100).toFixed(0)}%`}` };
}

function goalThroughput(r) {
  const ratio = r.azsim.rps / r.peer.rps;
  const rss = r.azsim.rssKiB / r.peer.rssKiB;
  return {
    met: ratio >= 2 && rss <= 0.1,
    text: `${ratio.toFixed(2)}× MiB/s (goal ≥ 2×), RSS ${rss.toFixed(2)}× Azurite's (goal ≤ 0.1×)`,
  };
}

/** Node-driven: the first token request of each user-assigned identity, one at a time. */
async function firstTokens(state) {
  const times = [];
  const started = performance.now();
  // Each repeat takes its share of the identities: a second request for one would be cached.
  for (const u of state.uami.splice(0, Math.max(1, Math.floor(state.uamiCount / REPEATS)))) {
    const t0 = performance.now();
    const r = await request(`${state.imdsBase}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net&client_id=${u.clientId}`, { headers: { Metadata: 'true' } });
    if (r.status !== 200) throw new Error(`IMDS first token: ${r.status} ${r.text}`);
    times.push(performance.now() - t0);
  }
  const elapsed = (performance.now() - started) / 1000;
  return { rps: times.length / elapsed, p50: percentile(times, 50), p99: percentile(times, 99), requests: times.length, errors: 0, non2xx: 0 };
}

/**
 * Node-driven: `connections` loops, each making one request per new TLS connection — through
 * the front door (CONNECT, then TLS to `host`), or straight to `target` — for `seconds`.
 */
async function handshakes({ seconds, connections, proxy, target, host, ca, path }) {
  const deadline = performance.now() + seconds * 1000;
  const times = [];
  let errors = 0;
  const one = () => new Promise((resolve, reject) => {
    const finish = (socket) => {
      const s = tls.connect({ socket, servername: host, ca, rejectUnauthorized: Boolean(ca) }, () => {
        s.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      });
      let got = '';
      s.on('data', (d) => { got += d; });
      s.on('end', () => (got.startsWith('HTTP/1.1 200') ? resolve() : reject(new Error(got.slice(0, 80)))));
      s.on('error', reject);
    };
    if (proxy) {
      const p = new URL(proxy);
      const req = http.request({ host: p.hostname, port: p.port, method: 'CONNECT', path: `${host}:443`, agent: false });
      req.on('connect', (res, socket) => (res.statusCode === 200 ? finish(socket) : reject(new Error(`CONNECT ${res.statusCode}`))));
      req.on('error', reject);
      req.end();
    } else {
      const t = new URL(target);
      const socket = new net.Socket();
      socket.connect(Number(t.port), t.hostname, () => finish(socket));
      socket.on('error', reject);
    }
  });
  const started = performance.now();
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        await one();
        times.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  }));
  const elapsed = (performance.now() - started) / 1000;
  return { rps: times.length / elapsed, p50: percentile(times, 50), p99: percentile(times, 99), requests: times.length, errors, non2xx: 0 };
}

// ---- running and reporting -------------------------------------------------------------------

/** One measurement of `target` served by process `pid`. */
async function measure(target, pid, connections) {
  const stop = watchRss(pid);
  let r;
  if (target.run) r = await target.run(SECONDS);
  else {
    // wrk blocks this process: sample memory from a child-free loop by running it async.
    r = await new Promise((resolve) => setImmediate(() => resolve(runWrk(target, { connections, seconds: SECONDS }))));
  }
  const rss = stop();
  if (r.errors || r.non2xx) throw new Error(`${target.url ?? 'load'}: ${r.non2xx} non-2xx answers, ${r.errors} socket errors\n${r.raw ?? ''}`);
  return { ...r, rssKiB: rss };
}

function summarize(runs, mib) {
  const rps = runs.map((r) => r.rps);
  return {
    rps: median(rps), min: Math.min(...rps), max: Math.max(...rps),
    p50: median(runs.map((r) => r.p50)), p99: median(runs.map((r) => r.p99)),
    rssKiB: Math.max(...runs.map((r) => r.rssKiB)),
    mibps: mib ? median(rps) * mib : undefined,
  };
}

function rsaSignRate() {
  const r = spawnSync('openssl', ['speed', '-seconds', SMOKE ? '1' : '3', '-multi', String(cpus().length), 'rsa2048'], { encoding: 'utf8' });
  const m = /^rsa\s+2048 bits\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)/m.exec(r.stdout);
  if (!m) throw new Error(`openssl speed: ${r.stderr}${r.stdout}`);
  return Number(m[1]);
}

function table(rows) {
  const head = ['workload', 'conc', 'server', 'ops/s median (min-max)', 'p50', 'p99', 'peak RSS', 'ratio'];
  const lines = [head];
  for (const row of rows) {
    for (const [who, s] of [['azsim', row.azsim], [row.peerName, row.peer]]) {
      if (!s) continue;
      const ops = Number.isFinite(s.rps)
        ? `${Math.round(s.rps)} (${Math.round(s.min)}-${Math.round(s.max)})${s.mibps ? ` ${Math.round(s.mibps)} MiB/s` : ''}` : '-';
      lines.push([who === 'azsim' ? row.name : '', who === 'azsim' ? String(row.connections) : '', who, ops,
        fmtMs(s.p50), fmtMs(s.p99), Number.isFinite(s.rssKiB) ? `${(s.rssKiB / 1024).toFixed(1)} MiB` : '-',
        who === 'azsim' && row.peer && Number.isFinite(row.azsim.rps / row.peer.rps)
          ? `${(row.azsim.rps / row.peer.rps).toFixed(2)}×` : '']);
    }
    lines.push(['', '', '', `goal: ${row.goal.met ? 'met' : 'MISSED'} — ${row.goal.text}`, '', '', '', '']);
    if (row.goal.why) lines.push(['', '', '', `why: ${row.goal.why}`, '', '', '', '']);
  }
  const note = (l) => /^(goal|why):/.test(l[3]);
  const widths = head.map((_, i) => Math.max(...lines.filter((l) => !note(l) || i !== 3).map((l) => l[i].length)));
  return lines.map((l) => (note(l) ? `${' '.repeat(widths[0] + widths[1] + widths[2] + 6)}${l[3]}`
    : l.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd())).join('\n');
}

async function main() {
  const started = new Date();
  const dataDir = tempDir();
  const servers = [];
  const rows = [];
  const extra = {};
  try {
    const az = await startAzsim(dataDir, { inMemory: false });
    servers.push(az);
    const state = await prepare(az, { identities: SMOKE ? 3 : 30 });
    const sas = devAccountSas();
    const nginx = await startNginx({ '/imds-token': 'x'.repeat(1200), '/secret': 'x'.repeat(300), '/health': '{}' });
    servers.push(nginx);
    const azurite = await startAzurite({ inMemory: true });
    const azuriteDisk = await startAzurite({ inMemory: false });
    const oauth2 = await startOauth2Mock();
    servers.push(azurite, azuriteDisk, oauth2);
    // Containers, and the blobs the GETs read, on every Blob server.
    for (const base of [az.urls.azurite, azurite.url, azuriteDisk.url]) {
      const c = await request(`${base}/${DEV_ACCOUNT}/bench?restype=container&${sas}`, { method: 'PUT', headers: { 'x-ms-version': X_MS_VERSION } });
      if (c.status !== 201) throw new Error(`container on ${base}: ${c.status} ${c.text}`);
      for (const [name, bytes] of [['small', 4096], ['large', 8 << 20]]) {
        const b = await request(`${base}/${DEV_ACCOUNT}/bench/${name}?${sas}`, { method: 'PUT', headers: { 'x-ms-version': X_MS_VERSION, 'x-ms-blob-type': 'BlockBlob' }, body: Buffer.alloc(bytes, 97) });
        if (b.status !== 201) throw new Error(`blob on ${base}: ${b.status} ${b.text}`);
      }
    }
    // nginx answers the IMDS workload with a body the size of IMDS's.
    const sample = await request(`${state.imdsBase}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net`, { headers: { Metadata: 'true' } });
    extra.imdsBodyBytes = sample.text.length;
    const ctx = { az, state, nginx, azurite, azuriteDisk, oauth2, sas };
    if (!ONLY.length || ONLY.includes('aad-client-credentials')) extra.rsaSignRate = ctx.rsaSignRate = rsaSignRate();
    await stopProcess(nginx);
    const sized = await startNginx({ '/imds-token': 'x'.repeat(extra.imdsBodyBytes), '/secret': 'x'.repeat(300), '/health': '{}' });
    servers.push(sized);
    ctx.nginx = sized;

    for (const w of workloads(ctx)) {
      if (ONLY.length && !ONLY.includes(w.name)) continue;
      const peerPid = w.peer ? (w.peerName.startsWith('nginx') ? sized.pid : w.peerName.includes('disk') ? azuriteDisk.pid : w.peerName.startsWith('Azurite') ? azurite.pid : oauth2.pid) : null;
      for (const connections of w.connections) {
        const mine = [];
        const theirs = [];
        for (let i = 0; i < REPEATS; i++) {
          mine.push(await measure(w.azsim, az.pid, connections));
          if (w.peer) theirs.push(await measure(w.peer, peerPid, connections));
        }
        const row = { name: w.name, what: w.what, connections, peerName: w.peerName, azsim: summarize(mine, w.mib), peer: w.peer ? summarize(theirs, w.mib) : null };
        row.goal = w.goal(row);
        if (!row.goal.met) row.goal.why = whyOf(w.name);
        rows.push(row);
        process.stderr.write(`${w.name} c=${connections}: ${row.goal.text}\n`);
      }
    }
    if (!ONLY.length || ONLY.includes('rbac-scale')) rows.push(await rbacScale(ctx));
    const loaded = rows.filter((r) => r.azsim && Number.isFinite(r.azsim.rssKiB));
    if (loaded.length) {
      const peak = Math.max(...loaded.map((r) => r.azsim.rssKiB));
      const peers = rows.filter((r) => r.peer && r.peerName?.startsWith('Azurite')).map((r) => r.peer.rssKiB);
      rows.push({
        name: 'rss-under-load', what: 'Resident memory under the loads above', connections: '-', peerName: peers.length ? 'Azurite' : null,
        azsim: { rps: NaN, p50: NaN, p99: NaN, rssKiB: peak }, peer: peers.length ? { rps: NaN, p50: NaN, p99: NaN, rssKiB: Math.max(...peers) } : null,
        goal: { met: peak <= 64 * 1024, text: `peak ${(peak / 1024).toFixed(1)} MiB (goal ≤ 64 MiB)${peers.length ? `; Azurite ${(Math.max(...peers) / 1024).toFixed(0)} MiB` : ''}` },
      });
      if (peak > 64 * 1024) rows.at(-1).goal.why = whyOf('rss-under-load');
    }
    if (!ONLY.length || ONLY.includes('startup')) rows.push(...await startupAndIdle());
    for (const row of rows) if (!row.goal.met) row.goal.why ??= whyOf(row.name);
  } finally {
    for (const s of servers) await stopProcess(s);
    rmSync(dataDir, { recursive: true, force: true });
  }
  console.log(`azsim benchmarks — ${started.toISOString()} — ${cpus().length} cores, ${REPEATS} run(s) of ${SECONDS} s each${SMOKE ? ' (smoke)' : ''}\n`);
  console.log(table(rows));
  const dir = join(HERE, 'results');
  mkdirSync(dir, { recursive: true });
  // Only full runs are results; smoke and --only runs are kept aside (gitignored).
  const kind = SMOKE ? 'smoke-' : ONLY.length ? 'partial-' : '';
  const file = join(dir, `${kind}${started.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ started, smoke: SMOKE, seconds: SECONDS, repeats: REPEATS, cores: cpus().length, ...extra, rows }, null, 2)}\n`);
  console.log(`\nresults: ${file}`);
  const missed = rows.filter((r) => !r.goal.met).length;
  console.log(`${rows.length - missed} of ${rows.length} goals met`);
}

/**
 * The RBAC check at scale: Key Vault get secret, one connection, with the caller's 10 role
 * assignments and the vault's 10 secrets, then with 10,000 of each (the assignments at secret
 * scopes, so the checker has all of them to consider for this caller).
 */
async function rbacScale({ az, state }) {
  const n = SMOKE ? 200 : 10_000;
  const target = { url: `${az.urls.keyvault}/secrets/s1?api-version=7.4`, host: `${VAULT}.vault.azure.net`, headers: { Authorization: `Bearer ${state.kv}` } };
  const before = await measure(target, az.pid, 1);
  const t0 = performance.now();
  await parallel(Array.from({ length: n }, (_, i) => i), 16, async (i) => {
    await assignRole(az, state.arm, `${state.vault}/secrets/x${i}`, 'Key Vault Secrets User', state.adminOid);
    const r = await request(`${az.urls.keyvault}/secrets/x${i}?api-version=7.4`, {
      method: 'PUT', ca: az.ca, host: `${VAULT}.vault.azure.net`,
      headers: { Authorization: `Bearer ${state.kv}`, 'Content-Type': 'application/json' }, body: { value: `v${i}` },
    });
    if (r.status !== 200) throw new Error(`secret x${i}: ${r.status} ${r.text}`);
  });
  const fillSeconds = (performance.now() - t0) / 1000;
  const after = await measure(target, az.pid, 1);
  const growth = after.p99 / before.p99;
  return {
    name: 'rbac-scale', what: `Key Vault get secret, ${n} role assignments and secrets vs 10`, connections: 1, peerName: 'the same with 10',
    azsim: summarize([after]), peer: summarize([before]),
    goal: {
      met: after.p99 <= 1 && growth <= 2,
      text: `p99 ${fmtMs(after.p99)} (goal ≤ 1 ms), ${growth.toFixed(2)}× the p99 with 10 (goal ≤ 2×); filled in ${fillSeconds.toFixed(1)} s`,
      ...(after.p99 <= 1 && growth <= 2 ? {} : { why: whyOf('rbac-scale') }),
    },
  };
}

/** Start-up to healthy (first start, existing data directory) and idle memory, azsim and Azurite. */
async function startupAndIdle() {
  const times = { first: [], again: [], azurite: [] };
  const idle = { azsim: [], azurite: [] };
  for (let i = 0; i < REPEATS; i++) {
    const dir = tempDir();
    try {
      const a = await startAzsim(dir, { inMemory: false });
      times.first.push(a.healthyMs);
      await stopProcess(a);
      const b = await startAzsim(dir, { inMemory: false });
      times.again.push(b.healthyMs);
      await sleep(500);
      idle.azsim.push(rssKiB(b.pid));
      await stopProcess(b);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const t0 = performance.now();
    const z = await startAzurite({ inMemory: true });
    times.azurite.push(await waitHttp(`${z.url}/`, t0));
    await sleep(500);
    idle.azurite.push(rssKiB(z.pid));
    await stopProcess(z);
  }
  const stat = (v) => ({ rps: NaN, min: NaN, max: NaN, p50: median(v), p99: Math.max(...v), rssKiB: NaN });
  const first = median(times.first);
  const again = median(times.again);
  const rows = [{
    name: 'startup-existing', what: 'Start-up to healthy, existing data directory', connections: '-', peerName: 'Azurite',
    azsim: stat(times.again), peer: stat(times.azurite),
    goal: { met: again <= 50, text: `${again.toFixed(1)} ms (goal ≤ 50 ms); Azurite ${median(times.azurite).toFixed(0)} ms` },
  }, {
    name: 'startup-first', what: 'Start-up to healthy, first start', connections: '-', peerName: null,
    azsim: stat(times.first), peer: null,
    goal: { met: first <= 1000, text: `${first.toFixed(0)} ms (goal ≤ 1 s)` },
  }, {
    name: 'idle-rss', what: 'Idle resident memory', connections: '-', peerName: 'Azurite',
    azsim: { ...stat([NaN]), rssKiB: median(idle.azsim) }, peer: { ...stat([NaN]), rssKiB: median(idle.azurite) },
    goal: { met: median(idle.azsim) <= 15 * 1024, text: `${(median(idle.azsim) / 1024).toFixed(1)} MiB (goal ≤ 15 MiB); Azurite ${(median(idle.azurite) / 1024).toFixed(0)} MiB` },
  }];
  return rows;
}

if (option('--table')) {
  const saved = JSON.parse(readFileSync(option('--table'), 'utf8'));
  for (const row of saved.rows) if (!row.goal.met) row.goal.why = whyOf(row.name);
  console.log(table(saved.rows));
} else {
  await main();
}

// make soak: load without loss. One file-backed azsim serves five workloads at once, 64
// keep-alive connections in all, for --seconds (60; make soak-smoke: 15):
//
//   imds      12  IMDS token for a VM's system-assigned identity (http)
//   aad        8  Entra ID client-credentials token (RS256, HTTPS)
//   keyvault  16  Key Vault get secret and set secret, alternating (bearer + RBAC, HTTPS)
//   blob      16  Blob PUT 4 KiB and GET, alternating, one blob for all (SAS, Azurite port)
//   arm       12  ARM PUT and GET of a network security group, alternating (bearer + RBAC)
//
//   node bench/soak.mjs [--seconds N] [--baseline S]
//
// It passes when no request failed — every answer a 2xx (counted by the wrk script itself, not
// wrk's "non-2xx or 3xx"), no socket error or timeout — and azsim's resident memory at the end is
// at most 10% above its level --baseline seconds in (10; soak-smoke: 5), sampled every second.
// Speed is reported, never judged: the machine may be shared. The last line sums the run up.
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  DEV_ACCOUNT, LOCATION, NSG, VAULT, X_MS_VERSION, devAccountSas, prepare, startAzsim,
} from './azsim.mjs';
import { median, parseWrk, request, rssKiB, sleep, stopProcess, tempDir } from './lib.mjs';
const argv = process.argv.slice(2);
const option = (name, dflt) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : dflt; };
const SECONDS = Number(option('--seconds', 60));
const BASELINE = Number(option('--baseline', 10));
const RSS_LIMIT = 1.10;
if (!(SECONDS > BASELINE && BASELINE >= 1)) throw new Error('--seconds must exceed --baseline (≥ 1)');

// ---- azsim and the state the workloads need ---------------------------------------------------

/** The wrk targets: the benchmark's state (a VM with a system-assigned identity, a vault with a
 * secret, a network security group) and a container with a blob. */
async function targets(az) {
  const { rg, arm, kv, imdsBase, secretUrl } = await prepare(az, { identities: 0, group: 'soak' });
  const sas = devAccountSas();
  const c = await request(`${az.urls.azurite}/${DEV_ACCOUNT}/soak?restype=container&${sas}`, { method: 'PUT', headers: { 'x-ms-version': X_MS_VERSION } });
  if (c.status !== 201) throw new Error(`container: ${c.status} ${c.text}`);
  const blobUrl = `${az.urls.azurite}/${DEV_ACCOUNT}/soak/blob?${sas}`;
  const b = await request(blobUrl, { method: 'PUT', headers: { 'x-ms-version': X_MS_VERSION, 'x-ms-blob-type': 'BlockBlob' }, body: Buffer.alloc(4096, 97) });
  if (b.status !== 201) throw new Error(`blob: ${b.status} ${b.text}`);

  const nsg = `${rg}/providers/Microsoft.Network/networkSecurityGroups/${NSG}?api-version=2022-07-01`;

  const tokenForm = new URLSearchParams({ grant_type: 'client_credentials', client_id: az.info.clientId, client_secret: az.info.clientSecret, scope: 'https://vault.azure.net/.default' }).toString();
  const alternate = (put, get = 'wrk.format("GET", nil, nil, nil)') => `local n = 0
request = function()
  n = n + 1
  if n % 2 == 1 then return ${put} end
  return ${get}
end`;
  return [
    {
      name: 'imds', what: 'IMDS token', connections: 12,
      url: `${imdsBase}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net`,
      headers: { Metadata: 'true' },
    },
    {
      name: 'aad', what: 'Entra ID client-credentials token', connections: 8,
      url: `${az.urls.aad}/${az.info.tenantId}/oauth2/v2.0/token`, method: 'POST', body: tokenForm,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    },
    {
      name: 'keyvault', what: 'Key Vault set + get secret', connections: 16,
      url: secretUrl, host: `${VAULT}.vault.azure.net`, headers: { Authorization: `Bearer ${kv}`, 'Content-Type': 'application/json' },
      lua: alternate('wrk.format("PUT", nil, nil, \'{"value":"soak-\' .. n .. \'"}\')'),
    },
    {
      name: 'blob', what: 'Blob PUT 4 KiB + GET', connections: 16,
      url: blobUrl, headers: { 'x-ms-version': X_MS_VERSION },
      lua: alternate('wrk.format("PUT", nil, {["x-ms-blob-type"] = "BlockBlob"}, string.rep("a", 4096))'),
    },
    {
      name: 'arm', what: 'ARM PUT + GET of a resource', connections: 12,
      url: `${az.urls.arm}${nsg}`, headers: { Authorization: `Bearer ${arm}`, 'Content-Type': 'application/json' },
      lua: alternate(`wrk.format("PUT", nil, nil, '{"location":"${LOCATION}","tags":{"soak":"yes"}}')`),
    },
  ];
}

// ---- load ------------------------------------------------------------------------------------

/**
 * One wrk process for `target` (one thread), run asynchronously so that several run at once and
 * memory can be sampled meanwhile. Its script counts every answer outside 2xx itself (wrk's own
 * count leaves 3xx out) and prints the count and the first such status and body.
 */
function wrk(target, seconds, dir) {
  const lua = [`wrk.method = ${JSON.stringify(target.method ?? 'GET')}`];
  for (const [k, v] of Object.entries({ ...(target.host ? { Host: target.host } : {}), ...(target.headers ?? {}) })) {
    lua.push(`wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(String(v))}`);
  }
  if (target.body !== undefined) lua.push(`wrk.body = ${JSON.stringify(target.body)}`);
  if (target.lua) lua.push(target.lua);
  lua.push(`local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0; first = "" end
function response(status, headers, body)
  if status < 200 or status > 299 then
    bad = bad + 1
    if first == "" then first = status .. " " .. string.sub(body or "", 1, 300) end
  end
end
function done(summary, latency, requests)
  local n, f = 0, ""
  for _, t in ipairs(threads) do
    n = n + t:get("bad")
    if f == "" then f = t:get("first") end
  end
  io.write(string.format("soak non-2xx: %d\\n", n))
  if f ~= "" then io.write("soak first non-2xx: " .. f .. "\\n") end
end`);
  const script = join(dir, `${target.name}.lua`);
  writeFileSync(script, `${lua.join('\n')}\n`);
  return new Promise((resolve, reject) => {
    const p = spawn('wrk', ['-t', '1', '-c', String(target.connections), '-d', `${seconds}s`, '--latency', '--timeout', '10s', '-s', script, target.url],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`wrk ${target.name} exited ${code}: ${out}`));
      const r = parseWrk(out);
      const bad = /soak non-2xx: (\d+)/.exec(out);
      if (!bad) return reject(new Error(`wrk ${target.name}: no count from its script:\n${out}`));
      resolve({ ...r, non2xx: Number(bad[1]), firstBad: /soak first non-2xx: (.*)/.exec(out)?.[1], raw: out });
    });
  });
}

const mib = (kib) => (kib / 1024).toFixed(1);

async function main() {
  const dataDir = tempDir('azsim-soak-');
  const scripts = tempDir('azsim-soak-wrk-');
  let az;
  try {
    az = await startAzsim(dataDir, { inMemory: false });
    const loads = await targets(az);
    const total = loads.reduce((n, t) => n + t.connections, 0);
    console.log(`soak: ${SECONDS} s, ${total} connections (${loads.map((t) => `${t.name} ${t.connections}`).join(', ')}), ` +
      `azsim pid ${az.pid}, RSS baseline at ${BASELINE} s`);

    // RSS once a second from the start of the load; the load runs a second longer than the
    // series so the last sample is still taken under load.
    const series = [];
    const t0 = performance.now();
    const sampler = (async () => {
      for (let s = 1; s <= SECONDS; s++) {
        await sleep(Math.max(0, t0 + s * 1000 - performance.now()));
        series.push(rssKiB(az.pid));
      }
    })();
    const results = await Promise.all(loads.map((t) => wrk(t, SECONDS + 1, scripts)));
    await sampler;
    const alive = az.proc.exitCode === null && az.proc.signalCode === null;

    let requests = 0;
    let failures = 0;
    console.log('\nworkload  conn  requests  ok/s    p50        p99        non-2xx  socket errors');
    for (const [i, t] of loads.entries()) {
      const r = results[i];
      requests += r.requests;
      failures += r.non2xx + r.errors;
      console.log(`${t.name.padEnd(8)}  ${String(t.connections).padStart(4)}  ${String(r.requests).padStart(8)}  ` +
        `${String(Math.round(r.rps)).padEnd(6)}  ${fmtMs(r.p50).padEnd(9)}  ${fmtMs(r.p99).padEnd(9)}  ` +
        `${String(r.non2xx).padStart(7)}  ${r.errors}`);
      if (r.firstBad) console.log(`          first non-2xx: ${r.firstBad}`);
      if (r.errors) console.log(`          ${/Socket errors:.*/.exec(r.raw)?.[0]}`);
    }

    const base = series[BASELINE - 1];
    const end = series.at(-1);
    const ratio = end / base;
    const after = series.slice(BASELINE - 1);
    console.log(`\nRSS (MiB, every second): start ${mib(series[0])}, at ${BASELINE} s ${mib(base)}, ` +
      `then min ${mib(Math.min(...after))} median ${mib(median(after))} max ${mib(Math.max(...after))}, end ${mib(end)}`);
    const step = Math.max(1, Math.round(SECONDS / 12));
    console.log(`RSS series: ${series.map((v, i) => [i + 1, v]).filter(([s]) => s % step === 0 || s === 1 || s === BASELINE)
      .map(([s, v]) => `${s}s ${mib(v)}`).join(', ')}`);

    const problems = [];
    if (!alive) problems.push('azsim exited during the load');
    if (failures) problems.push(`${failures} failed requests`);
    if (!(ratio <= RSS_LIMIT)) problems.push(`RSS grew ${((ratio - 1) * 100).toFixed(1)}% after ${BASELINE} s (limit ${((RSS_LIMIT - 1) * 100).toFixed(0)}%)`);
    const verdict = problems.length ? `FAIL: ${problems.join('; ')}` : 'PASS';
    console.log(`\nsoak ${SECONDS} s, ${total} connections: ${requests} requests, ${failures} failed; ` +
      `RSS ${mib(base)} MiB at ${BASELINE} s, ${mib(end)} MiB at the end (${ratio.toFixed(3)}×, limit ${RSS_LIMIT}×): ${verdict}`);
    if (problems.length) {
      if (az.stderr) console.log(`\nazsim stderr (last lines):\n${az.stderr.split('\n').slice(-20).join('\n')}`);
      process.exitCode = 1;
    }
  } finally {
    await stopProcess(az);
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(scripts, { recursive: true, force: true });
  }
}

function fmtMs(v) {
  return Number.isFinite(v) ? (v < 1 ? `${(v * 1000).toFixed(0)} µs` : `${v.toFixed(2)} ms`) : '-';
}

await main();

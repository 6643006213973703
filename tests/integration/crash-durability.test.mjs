// Crash durability: "an acknowledged write is committed before the response is sent, so it
// survives kill -9" (README, The data directory), tested with real SDK writes.
//
// A client process (lib/crash-writer.mjs) writes without pause with @azure/keyvault-secrets
// (secret versions), @azure/storage-blob (blobs of 0 B to 1 MiB, some replaced), @azure/arm-
// authorization (role assignments) and @azure/arm-msi (user-assigned identities) against a
// file-backed azsim, and reports every write before it is sent and whether the SDK call resolved
// (a 2xx the client saw: acknowledged). The test kills azsim with SIGKILL at a random moment,
// restarts it on the same data directory and ports, and checks, 20 times over:
//   - lost: every acknowledged write is there — each secret version with its value, each blob's
//     last acknowledged content (or a later write's, if that one reached the store unanswered),
//     each role assignment with its principal and role, each identity with the clientId and
//     principalId it was created with and its service principal in the directory; identities made
//     since the last restart are attached to a VM and must get a token from IMDS, whose oid and
//     appid are theirs.
//   - corrupted: nothing a client can see is half-applied or invented — every secret version and
//     the latest one hold a value that was written to that name, every blob listed holds exactly
//     the bytes of one write to it (MD5 and length), every role assignment and identity listed
//     is one the client asked for, with what it asked.
// Writes that were in flight at the kill may or may not be there; the test counts those that are.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import https from 'node:https';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';

import * as aad from './lib/aad.mjs';
import * as arm from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';

const KILLS = 20;
// How long the client writes before each kill, uniformly at random; the sanitizer build serves
// fewer requests per second, so the same window holds fewer writes and needs no scaling.
const WRITE_MS = [250, 1250];
const LOCATION = 'westus';
const GROUP = 'crash-rg';
const VAULT = 'crashvault';
const CONTAINER = 'crash';
const SECRETS = ['s0', 's1', 's2', 's3'];
const DEV_ACCOUNT = 'devstoreaccount1';
const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const ROLE = {
  secretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
  secretsUser: '4633458b-17de-408a-b874-0445c86b69e6',
};
const WRITER = fileURLToPath(new URL('./lib/crash-writer.mjs', import.meta.url));
const GUARD = fileURLToPath(new URL('./lib/aad-guard.mjs', import.meta.url));
const MI = 'api-version=2023-01-31';

const md5 = (b) => createHash('md5').update(b).digest('hex');
const between = ([lo, hi]) => lo + Math.floor(Math.random() * (hi - lo));

/** Requests to one server over keep-alive connections (HTTPS with its CA), JSON in and out. */
function httpClient(server) {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 8, ca: server.caPem });
  const call = (module, path, { method = 'GET', token, body, host } = {}) => new Promise((res, rej) => {
    const u = new URL(server.urls[module]);
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (data) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': data.length });
    if (host) headers.Host = host;
    const req = https.request({
      host: u.hostname, port: u.port, path, method, headers, agent, servername: host ?? undefined,
    }, (resp) => {
      const chunks = [];
      resp.on('data', (c) => chunks.push(c));
      resp.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        res({ status: resp.statusCode, text, json: () => JSON.parse(text) });
      });
      resp.on('error', rej);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)));
    req.on('error', rej);
    req.end(data);
  });
  return { call, close: () => agent.destroy() };
}

/** Run `fn` over `items`, at most `limit` at a time. */
async function parallel(items, limit, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  }));
}

/** The writer child: its records by seq, and pause()/resume(). */
function startWriter(env, config) {
  const child = spawn(process.execPath, ['--import', GUARD, WRITER], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const records = new Map(); // seq -> {k, intent, ack, fail}
  let stderr = '';
  let waiting = null;
  let ready;
  const isReady = new Promise((res) => {
    ready = res;
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise((res) => child.on('close', (code, signal) => res({ code, signal })));
  createInterface({ input: child.stdout }).on('line', (line) => {
    const m = JSON.parse(line);
    if (m.t === 'ready') {
      ready();
      return;
    }
    if (m.t === 'paused') {
      waiting?.();
      return;
    }
    const { t, k, seq, ...rest } = m;
    if (t === 'intent') records.set(seq, { k, seq, intent: rest });
    else if (t === 'ack') records.get(seq).ack = rest;
    else records.get(seq).fail = rest;
  });
  child.stdin.write(`${JSON.stringify(config)}\n`);
  return {
    records,
    /** Resolves once the writer holds its tokens. */
    ready(ms = 60_000) {
      return new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`writer not ready in ${ms} ms\n${stderr}`)), ms);
        exited.then(({ code, signal }) => rej(new Error(`writer exited (${code ?? signal})\n${stderr}`)));
        isReady.then(() => {
          clearTimeout(timer);
          res();
        });
      });
    },
    get stderr() {
      return stderr;
    },
    resume() {
      child.stdin.write('resume\n');
    },
    /** Stop the lanes and wait until every write in flight settled. */
    pause(ms = 60_000) {
      return new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`writer did not pause in ${ms} ms\n${stderr}`)), ms);
        exited.then(({ code, signal }) => rej(new Error(`writer exited (${code ?? signal})\n${stderr}`)));
        waiting = () => {
          clearTimeout(timer);
          waiting = null;
          res();
        };
        child.stdin.write('pause\n');
      });
    },
    async stop() {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

test(`crash durability: ${KILLS} SIGKILLs during SDK writes lose and corrupt nothing acknowledged`,
  { timeout: 600_000 }, async (t) => {
    const { dir, cleanup } = az.tempDir('azsim-crash-');
    let server;
    let writer;
    t.after(async () => {
      await writer?.stop();
      await server?.cleanup();
      cleanup();
    });

    // ---- the state the writes need: a vault the admin may write secrets to, a container, a
    // principal to assign roles to, a VM to try identities on ------------------------------------
    server = await az.start({ dataDir: dir, inMemory: false, args: ['--log-level', 'warn'] });
    const ports = server.ports;
    const info = aad.info(dir);
    const env = aad.envVars(dir);
    const sub = `/subscriptions/${info.subscriptionId}`;
    const rg = `${sub}/resourceGroups/${GROUP}`;
    const vault = `${rg}/providers/Microsoft.KeyVault/vaults/${VAULT}`;
    const { token: armToken, claims } = await arm.appToken(server, info.tenantId, info.clientId, info.clientSecret);
    const kvToken = (await arm.appToken(server, info.tenantId, info.clientId, info.clientSecret, aad.VAULT)).token;
    const graphToken = (await arm.appToken(server, info.tenantId, info.clientId, info.clientSecret,
      'https://graph.microsoft.com')).token;
    const assignee = await arm.principal(server, info.tenantId, 'crash-assignee');
    let http = httpClient(server);
    const ok = async (method, path, body) => {
      const r = await http.call('arm', path, { method, token: armToken, body });
      assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
      return r.text ? r.json() : null;
    };
    await ok('PUT', `${rg}?api-version=2021-04-01`, { location: LOCATION });
    await ok('PUT', `${vault}?api-version=2023-07-01`, {
      location: LOCATION,
      properties: { tenantId: info.tenantId, sku: { family: 'A', name: 'standard' }, enableRbacAuthorization: true },
    });
    const roleDefinition = (id) => `${sub}/providers/Microsoft.Authorization/roleDefinitions/${id}`;
    await ok('PUT', `${vault}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=2022-04-01`, {
      properties: { roleDefinitionId: roleDefinition(ROLE.secretsOfficer), principalId: claims.oid, principalType: 'ServicePrincipal' },
    });
    await ok('PUT', `${rg}/providers/Microsoft.Network/virtualNetworks/vnet?api-version=2022-07-01`, {
      location: LOCATION,
      properties: { addressSpace: { addressPrefixes: ['10.91.0.0/16'] }, subnets: [{ name: 'default', properties: { addressPrefix: '10.91.0.0/24' } }] },
    });
    const nic = `${rg}/providers/Microsoft.Network/networkInterfaces/nic`;
    await ok('PUT', `${nic}?api-version=2022-07-01`, {
      location: LOCATION,
      properties: { ipConfigurations: [{ name: 'ipconfig1', properties: { subnet: { id: `${rg}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default` } } }] },
    });
    const vmBody = (identities) => ({
      location: LOCATION,
      identity: identities.length
        ? { type: 'UserAssigned', userAssignedIdentities: Object.fromEntries(identities.map((id) => [id, {}])) }
        : { type: 'SystemAssigned' },
      properties: {
        hardwareProfile: { vmSize: 'Standard_B1s' },
        osProfile: { computerName: 'vm', adminUsername: 'azureuser', adminPassword: 'Secret-123456' },
        networkProfile: { networkInterfaces: [{ id: nic }] },
      },
    });
    const vmPath = `${rg}/providers/Microsoft.Compute/virtualMachines/vm?api-version=2024-07-01`;
    await ok('PUT', vmPath, vmBody([]));
    const vmEnv = az.run(['env', '--vm', 'vm', '--format', 'json', '--data-dir', dir]);
    assert.equal(vmEnv.code, 0, vmEnv.stderr);
    const imdsBase = JSON.parse(vmEnv.stdout).AZURE_POD_IDENTITY_AUTHORITY_HOST;
    const blobEndpoint = `http://127.0.0.1:${ports.azurite}/${DEV_ACCOUNT}`;
    const blobService = () => new BlobServiceClient(blobEndpoint, new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY));
    await blobService().getContainerClient(CONTAINER).create();

    writer = startWriter(aad.sdkEnv(env), {
      tenantId: info.tenantId, clientId: info.clientId, clientSecret: info.clientSecret,
      subscriptionId: info.subscriptionId, group: GROUP, location: LOCATION, vault: VAULT, secrets: SECRETS,
      blobEndpoint, accountName: DEV_ACCOUNT, accountKey: DEV_KEY, container: CONTAINER,
      assigneeId: assignee.oid, roleDefinitionId: roleDefinition(ROLE.secretsUser),
    });
    await writer.ready();

    // ---- the checks -----------------------------------------------------------------------------
    const problems = { lost: [], corrupted: [] };
    const totals = { checks: 0, unacknowledgedApplied: 0 };
    const tokenChecked = new Set(); // identities that already got their IMDS token
    const lost = (what) => problems.lost.push(what);
    const corrupted = (what) => problems.corrupted.push(what);

    /** Every record of kind `k`, in the order the lane wrote them, grouped by `key`. */
    const byKey = (k, key) => {
      const out = new Map();
      for (const r of [...writer.records.values()].filter((x) => x.k === k).sort((a, b) => a.seq - b.seq)) {
        const name = key(r.intent);
        if (!out.has(name)) out.set(name, []);
        out.get(name).push(r);
      }
      return out;
    };
    const kvGet = (path) => http.call('keyvault', `${path}${path.includes('?') ? '&' : '?'}api-version=7.4`,
      { token: kvToken, host: `${VAULT}.vault.azure.net` });

    async function checkSecrets(round) {
      for (const [name, writes] of byKey('secret', (i) => i.name)) {
        const acked = writes.filter((w) => w.ack);
        const byVersion = new Map(acked.map((w) => [w.ack.version, w]));
        await parallel(acked, 8, async (w) => {
          totals.checks++;
          const r = await kvGet(`/secrets/${name}/${w.ack.version}`);
          if (r.status === 404) lost(`round ${round}: secret ${name} version ${w.ack.version} (seq ${w.seq}) is gone`);
          else if (r.status !== 200) lost(`round ${round}: secret ${name}/${w.ack.version}: ${r.status} ${r.text}`);
          else if (r.json().value !== w.ack.value) corrupted(`round ${round}: secret ${name}/${w.ack.version} holds ${JSON.stringify(r.json().value)}, not ${JSON.stringify(w.ack.value)}`);
        });
        // Every version listed: an acknowledged one, or an unanswered write to this name.
        const versions = [];
        for (let path = `/secrets/${name}/versions?maxresults=25`; path;) {
          const r = await kvGet(path);
          assert.equal(r.status, 200, `list versions of ${name}: ${r.text}`);
          versions.push(...r.json().value.map((v) => v.id.split('/').pop()));
          path = r.json().nextLink ? (({ pathname, search }) => `${pathname}${search}`)(new URL(r.json().nextLink)) : null;
        }
        const unanswered = new Set(writes.filter((w) => !w.ack).map((w) => w.intent.value));
        for (const v of versions.filter((x) => !byVersion.has(x))) {
          const r = await kvGet(`/secrets/${name}/${v}`);
          if (r.status !== 200 || !unanswered.has(r.json().value)) corrupted(`round ${round}: secret ${name} has version ${v} that no write made: ${r.status} ${r.text.slice(0, 200)}`);
          else totals.unacknowledgedApplied++;
        }
        for (const w of acked) if (!versions.includes(w.ack.version)) lost(`round ${round}: secret ${name} lists no version ${w.ack.version}`);
        // The latest version: the last acknowledged write's or a later one's.
        const last = writes.findLastIndex((w) => w.ack);
        const r = await kvGet(`/secrets/${name}`);
        if (last >= 0 && r.status !== 200) lost(`round ${round}: secret ${name}: ${r.status} ${r.text}`);
        if (r.status === 200 && !writes.slice(Math.max(last, 0)).some((w) => w.intent.value === r.json().value)) {
          corrupted(`round ${round}: the latest version of ${name} holds ${JSON.stringify(r.json().value)}, not the last acknowledged write's or a later one's`);
        }
      }
    }

    async function checkBlobs(round) {
      const container = blobService().getContainerClient(CONTAINER);
      const writes = byKey('blob', (i) => i.name);
      const listed = new Map();
      for await (const b of container.listBlobsFlat()) listed.set(b.name, b.properties.contentLength);
      for (const name of listed.keys()) if (!writes.has(name)) corrupted(`round ${round}: blob ${name} was never written`);
      await parallel([...writes], 8, async ([name, ws]) => {
        const last = ws.findLastIndex((w) => w.ack);
        const candidates = ws.slice(Math.max(last, 0));
        if (last >= 0) totals.checks++;
        let data;
        try {
          data = await container.getBlobClient(name).downloadToBuffer();
        } catch (err) {
          if (err.statusCode !== 404) throw err;
          if (last >= 0) lost(`round ${round}: blob ${name} (acknowledged seq ${ws[last].seq}) is gone`);
          if (listed.has(name)) corrupted(`round ${round}: blob ${name} is listed but cannot be read`);
          return;
        }
        const seen = { md5: md5(data), length: data.length };
        const match = candidates.find((w) => w.intent.md5 === seen.md5 && w.intent.length === seen.length);
        if (!match) {
          const what = `round ${round}: blob ${name} holds ${seen.length} bytes with MD5 ${seen.md5}, no write's content ` +
            `(last acknowledged: ${last >= 0 ? `${ws[last].intent.length} bytes, ${ws[last].intent.md5}` : 'none'})`;
          (last >= 0 && ws.slice(0, last).some((w) => w.intent.md5 === seen.md5) ? lost : corrupted)(what);
        } else if (!match.ack) {
          totals.unacknowledgedApplied++;
        }
        if (listed.has(name) && listed.get(name) !== data.length) corrupted(`round ${round}: blob ${name} is listed with ${listed.get(name)} bytes, holds ${data.length}`);
        if (!listed.has(name)) corrupted(`round ${round}: blob ${name} can be read but is not listed`);
      });
    }

    async function checkRoleAssignments(round) {
      const r = await http.call('arm', `${sub}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=${encodeURIComponent(`principalId eq '${assignee.oid}'`)}`, { token: armToken });
      assert.equal(r.status, 200, r.text);
      const found = new Map(r.json().value.map((a) => [a.name, a]));
      const writes = [...writer.records.values()].filter((w) => w.k === 'role');
      const byName = new Map(writes.map((w) => [w.intent.name, w]));
      for (const w of writes.filter((x) => x.ack)) {
        totals.checks++;
        const a = found.get(w.intent.name);
        if (!a) lost(`round ${round}: role assignment ${w.intent.name} at ${w.intent.scope} (seq ${w.seq}) is gone`);
        else if (a.id.toLowerCase() !== w.ack.id.toLowerCase() || a.properties.principalId !== w.ack.principalId ||
          a.properties.roleDefinitionId.toLowerCase() !== w.ack.roleDefinitionId.toLowerCase()) {
          corrupted(`round ${round}: role assignment ${w.intent.name} is ${JSON.stringify(a)}, was ${JSON.stringify(w.ack)}`);
        }
      }
      for (const [name, a] of found) {
        const w = byName.get(name);
        if (!w) corrupted(`round ${round}: role assignment ${name} was never written`);
        else if (!w.ack) {
          totals.unacknowledgedApplied++;
          if (a.properties.scope.toLowerCase() !== w.intent.scope.toLowerCase()) corrupted(`round ${round}: role assignment ${name} has scope ${a.properties.scope}`);
        }
      }
    }

    async function checkIdentities(round) {
      const r = await http.call('arm', `${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities?${MI}`, { token: armToken });
      assert.equal(r.status, 200, r.text);
      const found = new Map(r.json().value.map((i) => [i.name, i]));
      const writes = [...writer.records.values()].filter((w) => w.k === 'identity');
      const byName = new Map(writes.map((w) => [w.intent.name, w]));
      const acked = writes.filter((w) => w.ack);
      for (const w of acked) {
        totals.checks++;
        const i = found.get(w.intent.name);
        if (!i) lost(`round ${round}: identity ${w.intent.name} (seq ${w.seq}) is gone`);
        else if (i.properties.clientId !== w.ack.clientId || i.properties.principalId !== w.ack.principalId ||
          i.properties.tenantId !== w.ack.tenantId) {
          corrupted(`round ${round}: identity ${w.intent.name} is ${JSON.stringify(i.properties)}, was ${JSON.stringify(w.ack)}`);
        }
      }
      for (const [name, i] of found) {
        const w = byName.get(name);
        if (!w) corrupted(`round ${round}: identity ${name} was never written`);
        else if (!w.ack) {
          totals.unacknowledgedApplied++;
          if (!az.UUID_RE.test(i.properties.clientId ?? '') || !az.UUID_RE.test(i.properties.principalId ?? '')) {
            corrupted(`round ${round}: identity ${name} (unanswered write) is half made: ${JSON.stringify(i.properties)}`);
          }
        }
      }
      // Each identity's service principal is in the directory (Graph getByIds, all at once).
      const principals = [...found.values()].map((i) => i.properties.principalId).filter(Boolean);
      const g = await http.call('aad', '/v1.0/directoryObjects/getByIds', { method: 'POST', token: graphToken, body: { ids: principals } });
      assert.equal(g.status, 200, g.text);
      const sps = new Map(g.json().value.map((o) => [o.id, o]));
      for (const i of found.values()) {
        const sp = sps.get(i.properties.principalId);
        if (!sp || sp.appId !== i.properties.clientId) {
          (byName.get(i.name)?.ack ? lost : corrupted)(`round ${round}: identity ${i.name} has no service principal ${i.properties.principalId} with appId ${i.properties.clientId}`);
        }
      }
      // The identities acknowledged since the last restart, on the VM: each gets its token.
      const fresh = acked.filter((w) => !tokenChecked.has(w.intent.name) && found.has(w.intent.name));
      if (!fresh.length) return;
      await ok('PUT', vmPath, vmBody(fresh.map((w) => w.ack.id)));
      await parallel(fresh, 4, async (w) => {
        const q = new URLSearchParams({ 'api-version': '2018-02-01', resource: 'https://management.azure.com', client_id: w.ack.clientId });
        const res = await az.request(imdsBase, `${new URL(imdsBase).pathname}/metadata/identity/oauth2/token?${q}`, { headers: { Metadata: 'true' }, timeoutMs: 30_000 });
        if (res.status !== 200) {
          lost(`round ${round}: identity ${w.intent.name} gets no token from IMDS: ${res.status} ${res.text}`);
          return;
        }
        const c = arm.claimsOf(res.json().access_token);
        if (c.oid !== w.ack.principalId || c.appid !== w.ack.clientId) {
          corrupted(`round ${round}: identity ${w.intent.name}'s IMDS token is for oid ${c.oid} appid ${c.appid}`);
        }
        tokenChecked.add(w.intent.name);
      });
    }

    // ---- kill, restart, check ---------------------------------------------------------------------
    const rounds = [];
    for (let round = 1; round <= KILLS; round++) {
      const writeMs = between(WRITE_MS);
      const before = writer.records.size;
      writer.resume();
      await az.sleep(writeMs);
      const killed = await server.kill();
      assert.equal(killed.signal, 'SIGKILL');
      az.assertNoSanitizerReport(killed.stderr);
      await writer.pause();
      http.close();
      const t0 = performance.now();
      server = await az.start({ dataDir: dir, inMemory: false, ports, args: ['--log-level', 'warn'] });
      const restartMs = performance.now() - t0;
      http = httpClient(server);
      const c0 = performance.now();
      await Promise.all([checkSecrets(round), checkBlobs(round), checkRoleAssignments(round), checkIdentities(round)]);
      const thisRound = [...writer.records.values()].slice(before);
      rounds.push({
        round, writeMs, restartMs: Math.round(restartMs), checkMs: Math.round(performance.now() - c0),
        writes: thisRound.length, acked: thisRound.filter((w) => w.ack).length, inFlight: thisRound.filter((w) => w.fail).length,
      });
      t.diagnostic(`kill ${round}: after ${writeMs} ms of writes (${rounds.at(-1).acked} acknowledged, ` +
        `${rounds.at(-1).inFlight} failed); restart ${rounds.at(-1).restartMs} ms, checks ${rounds.at(-1).checkMs} ms`);
    }

    const records = [...writer.records.values()];
    const acked = records.filter((w) => w.ack);
    const kinds = Object.fromEntries(['secret', 'blob', 'role', 'identity'].map((k) => [k, acked.filter((w) => w.k === k).length]));
    t.diagnostic(`${KILLS} kills; ${records.length} writes sent, ${acked.length} acknowledged ` +
      `(secret versions ${kinds.secret}, blobs ${kinds.blob}, role assignments ${kinds.role}, identities ${kinds.identity}); ` +
      `${totals.checks} acknowledged-write checks over the ${KILLS} restarts; ${problems.lost.length} lost, ` +
      `${problems.corrupted.length} corrupted; ${totals.unacknowledgedApplied} sightings of unanswered writes that had reached the store`);
    assert.deepEqual(problems, { lost: [], corrupted: [] });
    // Not a speed test: only enough that every kind of write was checked through several kills.
    for (const k of Object.keys(kinds)) assert.ok(kinds[k] >= 3, `only ${kinds[k]} ${k} writes acknowledged: the test checked too little`);
    assert.ok(records.some((w) => w.fail), 'no write was cut off by a kill');

    await writer.stop();
    writer = null;
    await az.stopClean(server);
  });

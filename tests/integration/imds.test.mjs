// The Instance Metadata Service over HTTP, as the clients speak it (contracts/imds.md): steps 5
// and 6 of the managed-identity flow for system- and user-assigned identities, which VM is asking
// (per-VM path, front-door proxy credentials, source address in a network namespace), isolation
// between VMs, identities detached and deleted, the certificate sign-in to Entra ID refused when
// the registered certificate is replaced (and the audit log saying why), RBAC with the token, the
// errors in IMDS's wording, instance metadata, repeat answers forgotten at any change to the store
// (in memory, on disk, from another process), and sign-ins over the connections IMDS keeps open
// to Entra ID.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';

import * as aad from './lib/aad.mjs';
import * as armLib from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';

const NET = 'api-version=2022-07-01';
const MSI = 'api-version=2023-01-31';
const VM = 'api-version=2024-07-01';
const TOKEN_PATH = '/metadata/identity/oauth2/token';
const VAULT = 'https://vault.azure.net';
const ARM = 'https://management.azure.com/';

/** GET through the front door in absolute form, as HTTP_PROXY clients send it. */
function viaProxy(proxyUrl, url, headers = {}) {
  const p = new URL(proxyUrl);
  const auth = p.username ? { 'Proxy-Authorization': `Basic ${Buffer.from(`${decodeURIComponent(p.username)}:${decodeURIComponent(p.password)}`).toString('base64')}` } : {};
  return new Promise((res, rej) => {
    const req = http.request({ host: p.hostname, port: p.port, path: url, headers: { Host: new URL(url).host, ...auth, ...headers }, agent: false }, (r) => {
      const chunks = [];
      r.on('data', (c) => chunks.push(c));
      r.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        res({ status: r.statusCode, headers: r.headers, text, json: () => JSON.parse(text) });
      });
    });
    req.on('error', rej);
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${url}`)));
    req.end();
  });
}

async function get(url, headers = { Metadata: 'true' }) {
  const r = await fetch(url, { headers });
  const text = await r.text();
  return { status: r.status, headers: Object.fromEntries(r.headers), text, json: () => JSON.parse(text) };
}

describe('IMDS', () => {
  let s, info, admin, sub, rg, ok;
  const vms = {}; // name → {resource, env}
  const uais = {}; // name → resource
  const arm = (method, path, body, token = admin) => armLib.armRequest(s, token, method, path, body);
  const path = (type, name) => `${rg}/providers/${type}/${name}`;
  const tokenUrl = (vm, query) => `${vms[vm].env.AZURE_POD_IDENTITY_AUTHORITY_HOST}${TOKEN_PATH}?api-version=2018-02-01&${query}`;
  const token = async (vm, query = `resource=${VAULT}`) => {
    const r = await get(tokenUrl(vm, query));
    assert.equal(r.status, 200, `${vm} ${query}: ${r.text}`);
    return r.json();
  };
  async function makeVm(name, nic, identity) {
    await ok('PUT', `${path('Microsoft.Network/networkInterfaces', nic)}?${NET}`, {
      location: 'westus',
      properties: { ipConfigurations: [{ name: 'ipconfig1', properties: { subnet: { id: `${path('Microsoft.Network/virtualNetworks', 'vnet')}/subnets/default` } } }] },
    });
    const resource = await ok('PUT', `${path('Microsoft.Compute/virtualMachines', name)}?${VM}`, {
      location: 'westus',
      tags: { role: name },
      identity,
      properties: {
        hardwareProfile: { vmSize: 'Standard_B1s' },
        storageProfile: { imageReference: { publisher: 'Canonical', offer: '0001-com-ubuntu-server-jammy', sku: '22_04-lts-gen2', version: 'latest' } },
        osProfile: { computerName: name, adminUsername: 'azureuser', linuxConfiguration: {} },
        networkProfile: { networkInterfaces: [{ id: path('Microsoft.Network/networkInterfaces', nic) }] },
      },
    });
    const env = az.run(['env', '--vm', name, '--format', 'json', '--data-dir', s.dataDir]);
    assert.equal(env.code, 0, env.stderr);
    vms[name] = { resource, env: JSON.parse(env.stdout) };
    return resource;
  }
  const uaiMap = (...names) => Object.fromEntries(names.map((n) => [uais[n].id, {}]));
  const servicePrincipal = (oid) => armLib.servicePrincipal(s, info, oid);

  before(async () => {
    ({ s, info, admin, sub, rg, ok } = await armLib.adminWorkspace('imds-rg', { vnetPrefix: '10.50.0.0/16' }));
    for (const n of ['uai-a', 'uai-b', 'uai-c']) uais[n] = await ok('PUT', `${path('Microsoft.ManagedIdentity/userAssignedIdentities', n)}?${MSI}`, { location: 'westus' });
    await makeVm('vm-a', 'nic-a', { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: uaiMap('uai-a') });
    await makeVm('vm-b', 'nic-b', { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: uaiMap('uai-b') });
    await makeVm('vm-c', 'nic-c', { type: 'UserAssigned', userAssignedIdentities: uaiMap('uai-a', 'uai-c') });
    await makeVm('vm-d', 'nic-d', { type: 'UserAssigned', userAssignedIdentities: uaiMap('uai-c') });
  });
  after(() => az.finish(s));

  it('the system-assigned identity: a token Entra ID signed for the VM, verified against the JWKS', async () => {
    const t = await token('vm-a');
    assert.equal(t.token_type, 'Bearer');
    assert.equal(t.resource, VAULT);
    for (const k of ['expires_in', 'expires_on', 'ext_expires_in', 'not_before']) assert.match(t[k], /^\d+$/, k);
    const { payload } = await aad.verifyToken(s, t.access_token, { tenantId: info.tenantId, audience: VAULT });
    const vm = vms['vm-a'].resource;
    assert.equal(payload.oid, vm.identity.principalId);
    assert.equal(payload.appid, t.client_id);
    assert.equal(payload.tid, info.tenantId);
    assert.equal(payload.xms_mirid, vm.id);
    assert.equal(payload.idtyp, 'app');
    assert.equal(Number(t.expires_on), payload.exp);
    const sp = await servicePrincipal(vm.identity.principalId);
    assert.equal(sp.appId, t.client_id);
    assert.equal(sp.servicePrincipalType, 'ManagedIdentity');
  });

  it('the same VM through the front door with its proxy credentials; answers are cached per VM, identity and resource', async () => {
    const first = await token('vm-a', `resource=${encodeURIComponent(ARM)}`);
    const r = await viaProxy(vms['vm-a'].env.HTTP_PROXY, `http://169.254.169.254${TOKEN_PATH}?resource=${encodeURIComponent(ARM)}&api-version=2018-02-01`, { Metadata: 'true' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().access_token, first.access_token, 'cached');
    assert.equal(r.json().resource, ARM, 'the resource echoed as asked, trailing slash included');
  });

  it('user-assigned identities by client_id, object_id, msi_res_id and mi_res_id', async () => {
    const u = uais['uai-a'].properties;
    for (const q of [`client_id=${u.clientId}`, `object_id=${u.principalId}`, `msi_res_id=${encodeURIComponent(uais['uai-a'].id)}`,
      `mi_res_id=${encodeURIComponent(uais['uai-a'].id.toLowerCase())}`]) {
      const t = await token('vm-a', `resource=${VAULT}&${q}`);
      assert.equal(t.client_id, u.clientId, q);
      const claims = armLib.claimsOf(t.access_token);
      assert.equal(claims.oid, u.principalId, q);
      assert.equal(claims.appid, u.clientId, q);
      assert.equal(claims.xms_mirid, uais['uai-a'].id, q);
    }
    const two = await get(tokenUrl('vm-a', `resource=${VAULT}&client_id=${u.clientId}&object_id=${u.principalId}`));
    assert.equal(two.status, 400, two.text);
  });

  it('without a selector: the only user-assigned identity, or 400 when there are several', async () => {
    const d = await token('vm-d');
    assert.equal(d.client_id, uais['uai-c'].properties.clientId);
    const c = await get(tokenUrl('vm-c', `resource=${VAULT}`));
    assert.equal(c.status, 400);
    assert.deepEqual(c.json(), { error: 'invalid_request', error_description: 'Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request' });
  });

  it("isolation: a caller acting as VM A never gets VM B's identities, by any parameter or header", async () => {
    const b = vms['vm-b'].resource;
    const ub = uais['uai-b'];
    for (const q of [`client_id=${ub.properties.clientId}`, `object_id=${ub.properties.principalId}`, `msi_res_id=${encodeURIComponent(ub.id)}`,
      `object_id=${b.identity.principalId}`, `msi_res_id=${encodeURIComponent(b.id)}`]) {
      const r = await get(tokenUrl('vm-a', `resource=${VAULT}&${q}`));
      assert.equal(r.status, 400, `${q}: ${r.text}`);
      assert.deepEqual(r.json(), { error: 'invalid_request', error_description: 'Identity not found' }, q);
    }
    // Headers a client could forge decide nothing: not at the shared endpoint, not at A's.
    const bSecret = new URL(vms['vm-b'].env.HTTP_PROXY).password;
    const forged = { Metadata: 'true', 'Proxy-Authorization': `Basic ${Buffer.from(`vm-b:${bSecret}`).toString('base64')}`, 'X-Azsim-Vm': 'vm-b', 'X-Ms-Client-Principal-Id': b.identity.principalId };
    const shared = await get(`${s.urls.imds}${TOKEN_PATH}?api-version=2018-02-01&resource=${VAULT}`, forged);
    assert.equal(shared.status, 400, shared.text);
    assert.equal(shared.json().error_description, 'Identity not found');
    const atA = await get(tokenUrl('vm-a', `resource=${VAULT}`), forged);
    assert.equal(armLib.claimsOf(atA.json().access_token).oid, vms['vm-a'].resource.identity.principalId);
    const xff = await get(tokenUrl('vm-a', `resource=${VAULT}`), { Metadata: 'true', 'X-Forwarded-For': '10.50.0.5' });
    assert.equal(xff.status, 400, xff.text);
    // A wrong secret, in the path or the proxy credentials, binds to nothing.
    const wrongPath = await get(`${s.urls.imds}/vms/${'0'.repeat(32)}${TOKEN_PATH}?api-version=2018-02-01&resource=${VAULT}`);
    assert.equal(wrongPath.json().error_description, 'Identity not found');
    const proxy = new URL(vms['vm-a'].env.HTTP_PROXY);
    proxy.password = 'f'.repeat(32);
    const wrongProxy = await viaProxy(proxy.href, `http://169.254.169.254${TOKEN_PATH}?api-version=2018-02-01&resource=${VAULT}`, { Metadata: 'true' });
    assert.equal(wrongProxy.status, 400, wrongProxy.text);
  });

  it("IMDS's errors: JSON, 400, IMDS's wording; the availability probe is answered at once", async () => {
    const probe = await get(`${s.urls.imds}${TOKEN_PATH}`, {});
    assert.equal(probe.status, 400);
    assert.equal(probe.text, '{"error":"invalid_request","error_description":"Required metadata header not specified"}');
    assert.match(probe.headers['content-type'], /^application\/json/);
    const cases = [
      [tokenUrl('vm-a', `resource=${VAULT}`), { Metadata: 'false' }],
      [`${vms['vm-a'].env.AZURE_POD_IDENTITY_AUTHORITY_HOST}${TOKEN_PATH}?resource=${VAULT}`, { Metadata: 'true' }],
      [tokenUrl('vm-a', ''), { Metadata: 'true' }],
      [tokenUrl('vm-a', `resource=${VAULT}&resource=${VAULT}`), { Metadata: 'true' }],
    ];
    for (const [url, headers] of cases) {
      const r = await get(url, headers);
      assert.equal(r.status, 400, `${url}: ${r.text}`);
      assert.deepEqual(Object.keys(r.json()), ['error', 'error_description'], r.text);
      assert.equal(r.json().error, 'invalid_request');
    }
    const post = await fetch(tokenUrl('vm-a', `resource=${VAULT}`), { method: 'POST', headers: { Metadata: 'true' } });
    assert.equal(post.status, 405);
  });

  it('path variants: a trailing "/", a leading "//", any case', async () => {
    const base = vms['vm-a'].env.AZURE_POD_IDENTITY_AUTHORITY_HOST;
    for (const p of [`${TOKEN_PATH}/`, `/${TOKEN_PATH}/`, TOKEN_PATH.toUpperCase()]) {
      const r = await get(`${base}${p}?api-version=2018-02-01&resource=${VAULT}`);
      assert.equal(r.status, 200, `${p}: ${r.text}`);
    }
  });

  it('RBAC with the token: 403 before a role assignment, 200 with it, 403 again once it is deleted', async () => {
    const groupRead = async () => {
      // A fresh token each time: caching is per VM, identity and resource, not per decision.
      const t = await token('vm-a', `resource=${encodeURIComponent(ARM)}`);
      return arm('GET', `${sub}/resourcegroups/imds-rg?api-version=2021-04-01`, undefined, t.access_token);
    };
    const principal = vms['vm-a'].resource.identity.principalId;
    const denied = await groupRead();
    assert.equal(denied.status, 403, denied.text);
    assert.match(denied.json().error.message, new RegExp(`object id '${principal}'`));
    const name = randomUUID();
    const assignment = `${rg}/providers/Microsoft.Authorization/roleAssignments/${name}?api-version=2022-04-01`;
    await ok('PUT', assignment, { properties: { roleDefinitionId: `${sub}/providers/Microsoft.Authorization/roleDefinitions/${armLib.ROLES.Reader}`, principalId: principal, principalType: 'ServicePrincipal' } });
    assert.equal((await groupRead()).status, 200);
    await ok('DELETE', assignment);
    assert.equal((await groupRead()).status, 403);
  });

  it('instance metadata from the VM resource, JSON and text; versions', async () => {
    const base = vms['vm-a'].env.AZURE_POD_IDENTITY_AUTHORITY_HOST;
    const vm = vms['vm-a'].resource;
    const doc = await get(`${base}/metadata/instance?api-version=2021-02-01`);
    assert.equal(doc.status, 200, doc.text);
    const { compute, network } = doc.json();
    assert.equal(compute.name, 'vm-a');
    assert.equal(compute.vmId, vm.properties.vmId);
    assert.equal(compute.resourceId, vm.id);
    assert.equal(compute.subscriptionId, info.subscriptionId);
    assert.equal(compute.resourceGroupName, 'imds-rg');
    assert.equal(compute.location, 'westus');
    assert.equal(compute.vmSize, 'Standard_B1s');
    assert.equal(compute.osType, 'Linux');
    assert.equal(compute.publisher, 'Canonical');
    assert.equal(compute.tags, 'role:vm-a');
    assert.deepEqual(compute.tagsList, [{ name: 'role', value: 'vm-a' }]);
    const address = network.interface[0].ipv4.ipAddress[0].privateIpAddress;
    assert.match(address, /^10\.50\.0\.\d+$/);
    assert.deepEqual(network.interface[0].ipv4.subnet, [{ address: '10.50.0.0', prefix: '24' }]);
    assert.match(network.interface[0].macAddress, /^000D3A[0-9A-F]{6}$/);
    const name = await get(`${base}/metadata/instance/compute/name?api-version=2021-02-01&format=text`);
    assert.equal(name.text, 'vm-a');
    const ip = await get(`${base}/metadata/instance/network/interface/0/ipv4/ipAddress/0/privateIpAddress?api-version=2021-02-01&format=text`);
    assert.equal(ip.text, address);
    const sub = await get(`${base}/metadata/instance/compute?api-version=2021-02-01`);
    assert.equal(sub.json().name, 'vm-a');
    const leafJson = await get(`${base}/metadata/instance/compute/name?api-version=2021-02-01`);
    assert.equal(leafJson.status, 400, leafJson.text);
    const noVersion = await get(`${base}/metadata/instance`);
    assert.equal(noVersion.status, 400);
    assert.equal(noVersion.json().error, 'Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds');
    assert.equal(noVersion.json()['newest-versions'].length, 3);
    const noHeader = await get(`${base}/metadata/instance?api-version=2021-02-01`, {});
    assert.deepEqual(noHeader.json(), { error: 'Bad request. Required metadata header not specified' });
    const versions = await get(`${s.urls.imds}/metadata/versions`, {});
    assert.ok(versions.json().apiVersions.includes('2021-02-01'), versions.text);
    const unbound = await get(`${s.urls.imds}/metadata/instance?api-version=2021-02-01`);
    assert.equal(unbound.status, 400);
  });

  it('an identity detached from the VM is no longer obtainable there, even with a token cached', async () => {
    const u = uais['uai-a'].properties;
    await token('vm-a', `resource=${VAULT}&client_id=${u.clientId}`); // cached now
    await ok('PATCH', `${path('Microsoft.Compute/virtualMachines', 'vm-a')}?${VM}`, { identity: { type: 'SystemAssigned', userAssignedIdentities: null } });
    const r = await get(tokenUrl('vm-a', `resource=${VAULT}&client_id=${u.clientId}`));
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json().error_description, 'Identity not found');
  });

  it('after the identity or the VM is deleted, IMDS refuses and the service principal is gone', async () => {
    const ub = uais['uai-b'];
    await token('vm-b', `resource=${VAULT}&client_id=${ub.properties.clientId}`);
    await ok('DELETE', `${ub.id}?${MSI}`);
    const gone = await get(tokenUrl('vm-b', `resource=${VAULT}&client_id=${ub.properties.clientId}`));
    assert.equal(gone.json().error_description, 'Identity not found');
    assert.equal(await servicePrincipal(ub.properties.principalId), undefined);
    const b = vms['vm-b'].resource;
    await ok('DELETE', `${b.id}?${VM}`);
    const vmGone = await get(tokenUrl('vm-b', `resource=${VAULT}`));
    assert.equal(vmGone.status, 400, vmGone.text);
    assert.equal(vmGone.json().error_description, 'Identity not found');
    assert.equal(await servicePrincipal(b.identity.principalId), undefined);
  });

  it("step 6 is real: with the identity's registered certificate replaced, Entra ID refuses IMDS's assertion, and the audit log says why", async () => {
    const vm = vms['vm-d'].resource;
    const clientId = uais['uai-c'].properties.clientId;
    // Another certificate, registered in the identity's place, straight in the store.
    const dir = az.tempDir('azsim-cert-');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=impostor', '-days', '1',
      '-keyout', `${dir.dir}/k.pem`, '-outform', 'DER', '-out', `${dir.dir}/c.der`], { stdio: 'ignore' });
    const db = `${s.dataDir}/azsim.db`;
    const sql = `UPDATE credentials SET cert_der = readfile('${dir.dir}/c.der'), x5t = 'impostor', x5t_s256 = 'impostor' WHERE app_id = '${clientId}';`;
    const r1 = spawnSync('sqlite3', [db, sql], { encoding: 'utf8' });
    assert.equal(r1.status, 0, r1.stderr);
    const r = await get(tokenUrl('vm-d', `resource=${encodeURIComponent('https://storage.azure.com/')}`));
    assert.equal(r.status, 400, r.text);
    assert.match(r.json().error_description, /AADSTS700027/);
    const denied = await armLib.audit(s, admin, { principal: uais['uai-c'].properties.principalId, denied: true });
    const mine = denied.filter((e) => e.module === 'imds');
    assert.ok(mine.length >= 1, JSON.stringify(denied, null, 2));
    assert.equal(mine[0].scope, uais['uai-c'].id);
    assert.match(mine[0].reason, /AADSTS700027/);
    assert.ok(vm);
  });
});

// Each IMDS thread answers a repeated token request from memory while the store is unchanged:
// any commit by anyone (Resource Manager on another thread, another process on the same store
// file) makes the very next request find the VM and its identity again. IMDS keeps its
// connections to Entra ID open between sign-ins, and copes with Entra ID closing them.
describe('IMDS: repeat answers last only while the store is unchanged', () => {
  const started = [];
  after(async () => {
    for (const s of started) await az.finish(s);
  });

  /** A VM with a system-assigned identity and user-assigned `uai`, on a new server. */
  async function vmWithIdentities(group, opts = {}) {
    const w = await armLib.adminWorkspace(group, { vnetPrefix: opts.vnetPrefix ?? '10.60.0.0/16', ...opts });
    started.push(w.s);
    const rgPath = (type, name) => `${w.rg}/providers/${type}/${name}`;
    const uai = await w.ok('PUT', `${rgPath('Microsoft.ManagedIdentity/userAssignedIdentities', 'uai')}?${MSI}`, { location: 'westus' });
    const ipConfig = { subnet: { id: `${rgPath('Microsoft.Network/virtualNetworks', 'vnet')}/subnets/default` } };
    if (opts.address) Object.assign(ipConfig, { privateIPAllocationMethod: 'Static', privateIPAddress: opts.address });
    await w.ok('PUT', `${rgPath('Microsoft.Network/networkInterfaces', 'nic')}?${NET}`, {
      location: 'westus', properties: { ipConfigurations: [{ name: 'ipconfig1', properties: ipConfig }] },
    });
    const vm = await w.ok('PUT', `${rgPath('Microsoft.Compute/virtualMachines', 'vm')}?${VM}`, {
      location: 'westus',
      identity: { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: { [uai.id]: {} } },
      properties: { hardwareProfile: { vmSize: 'Standard_B1s' }, networkProfile: { networkInterfaces: [{ id: rgPath('Microsoft.Network/networkInterfaces', 'nic') }] } },
    });
    return { ...w, uai, vm };
  }
  const detach = (w) => w.ok('PATCH', `${w.vm.id}?${VM}`, { identity: { type: 'SystemAssigned', userAssignedIdentities: null } });

  it('in memory: an identity detached through Resource Manager stops at the next request; so does a deleted VM', async () => {
    // No `azsim env --vm` for an in-memory store: the VM is bound to this process's address.
    const w = await vmWithIdentities('snap-mem-rg', { inMemory: true, vnetPrefix: '127.0.0.0/16', address: '127.0.0.1' });
    const url = (query) => `${w.s.urls.imds}${TOKEN_PATH}?api-version=2018-02-01&resource=${VAULT}${query}`;
    const byClientId = `&client_id=${w.uai.properties.clientId}`;
    const first = await get(url(byClientId));
    assert.equal(first.status, 200, first.text);
    assert.equal(armLib.claimsOf(first.json().access_token).oid, w.uai.properties.principalId);
    const again = await get(url(byClientId));
    assert.equal(again.text, first.text, 'the same answer');
    assert.equal((await get(url(''))).status, 200);

    await detach(w);
    const detached = await get(url(byClientId));
    assert.equal(detached.status, 400, detached.text);
    assert.equal(detached.json().error_description, 'Identity not found');
    const system = await get(url(''));
    assert.equal(armLib.claimsOf(system.json().access_token).oid, w.vm.identity.principalId);

    await w.ok('DELETE', `${w.vm.id}?${VM}`);
    const gone = await get(url(''));
    assert.equal(gone.status, 400, gone.text);
    assert.equal(gone.json().error_description, 'Identity not found');
  });

  it('on disk: a change another process commits to the store stops the identity at the next request', async () => {
    const w = await vmWithIdentities('snap-disk-rg');
    const env = az.run(['env', '--vm', 'vm', '--format', 'json', '--data-dir', w.s.dataDir]);
    assert.equal(env.code, 0, env.stderr);
    const base = JSON.parse(env.stdout).AZURE_POD_IDENTITY_AUTHORITY_HOST;
    const url = `${base}${TOKEN_PATH}?api-version=2018-02-01&resource=${VAULT}&client_id=${w.uai.properties.clientId}`;
    const first = await get(url);
    assert.equal(first.status, 200, first.text);
    assert.equal((await get(url)).text, first.text, 'the same answer');

    // The sqlite3 shell, another process, detaches the identity in the VM's stored resource.
    const [attached] = Object.keys(w.vm.identity.userAssignedIdentities);
    const sql = `UPDATE resources SET body = json_remove(body, '$.identity.userAssignedIdentities."${attached}"') WHERE id = '${w.vm.id}';`;
    const r = spawnSync('sqlite3', [`${w.s.dataDir}/azsim.db`, sql], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const detached = await get(url);
    assert.equal(detached.status, 400, detached.text);
    assert.equal(detached.json().error_description, 'Identity not found');
  });

  it('sign-ins keep working when Entra ID closes the connections IMDS keeps open, and with more at once than it keeps', async () => {
    const w = await vmWithIdentities('snap-idle-rg', { args: ['--idle-timeout', '1'] });
    const env = az.run(['env', '--vm', 'vm', '--format', 'json', '--data-dir', w.s.dataDir]);
    assert.equal(env.code, 0, env.stderr);
    const base = JSON.parse(env.stdout).AZURE_POD_IDENTITY_AUTHORITY_HOST;
    // Each resource is a sign-in of its own (answers are cached per resource).
    const signIn = (n) => get(`${base}${TOKEN_PATH}?api-version=2018-02-01&resource=${encodeURIComponent(`https://127.0.0.1:${n}`)}`);
    for (const n of [1001, 1002]) assert.equal((await signIn(n)).status, 200);
    await az.sleep(2500); // past Entra ID's idle timeout: it closed them
    for (const n of [1003, 1004]) {
      const r = await signIn(n);
      assert.equal(r.status, 200, r.text);
    }
    const burst = await Promise.all([2001, 2002, 2003, 2004, 2005, 2006, 2007, 2008, 2009, 2010].map(signIn));
    for (const r of burst) assert.equal(r.status, 200, r.text);
    for (const n of [3001, 3002]) assert.equal((await signIn(n)).status, 200);
  });
});

// Containers and namespaces: the connection's source address, bound to a VM's network interface
// address, is the VM. Needs root for a network namespace; skipped (and said so) without it.
describe('IMDS: which VM is asking, by source address (network namespace)', () => {
  const id = randomUUID().slice(0, 6);
  const ns = `azsim-${id}`;
  const hostIf = `azh${id}`;
  const nsIf = `azn${id}`;
  let s, rg, vm, skip = null;
  const sh = (...args) => spawnSync('ip', args, { encoding: 'utf8' });

  before(async () => {
    if (process.getuid?.() !== 0) {
      skip = 'needs root for a network namespace';
      return;
    }
    const setup = [
      ['netns', 'add', ns],
      ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf],
      ['link', 'set', nsIf, 'netns', ns],
      ['addr', 'add', '10.77.0.1/24', 'dev', hostIf],
      ['link', 'set', hostIf, 'up'],
      ['-n', ns, 'addr', 'add', '10.77.0.4/24', 'dev', nsIf],
      ['-n', ns, 'addr', 'add', '10.77.0.9/24', 'dev', nsIf],
      ['-n', ns, 'link', 'set', nsIf, 'up'],
      ['-n', ns, 'link', 'set', 'lo', 'up'],
    ];
    for (const args of setup) {
      const r = sh(...args);
      if (r.status !== 0) {
        skip = `ip ${args.join(' ')}: ${r.stderr.trim()}`;
        return;
      }
    }
    let put;
    ({ s, rg, ok: put } = await armLib.adminWorkspace('ns-rg', { vnetPrefix: '10.77.0.0/16', args: ['--bind', '0.0.0.0'] }));
    const vnet = `${rg}/providers/Microsoft.Network/virtualNetworks/vnet`;
    const nic = `${rg}/providers/Microsoft.Network/networkInterfaces/nic-ns`;
    await put('PUT', `${nic}?${NET}`, { location: 'westus', properties: { ipConfigurations: [{ name: 'ipconfig1', properties: { subnet: { id: `${vnet}/subnets/default` }, privateIPAllocationMethod: 'Static', privateIPAddress: '10.77.0.4' } }] } });
    vm = await put('PUT', `${rg}/providers/Microsoft.Compute/virtualMachines/vm-ns?${VM}`, {
      location: 'westus', identity: { type: 'SystemAssigned' },
      properties: { hardwareProfile: { vmSize: 'Standard_B1s' }, networkProfile: { networkInterfaces: [{ id: nic }] } },
    });
  });
  after(async () => {
    if (s) await az.finish(s);
    sh('link', 'del', hostIf);
    sh('netns', 'del', ns);
  });

  const curl = (from, path) => {
    const port = new URL(s.urls.imds).port;
    const r = spawnSync('ip', ['netns', 'exec', ns, 'curl', '-s', '--max-time', '10', '--interface', from, '-H', 'Metadata: true',
      `http://10.77.0.1:${port}${path}`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  };

  it('a process in the namespace with the NIC\'s address gets the VM\'s identity; another address gets none', (t) => {
    if (skip) return t.skip(skip);
    const answer = curl('10.77.0.4', `${TOKEN_PATH}?api-version=2018-02-01&resource=${VAULT}`);
    assert.ok(answer.access_token, JSON.stringify(answer));
    assert.equal(armLib.claimsOf(answer.access_token).oid, vm.identity.principalId);
    assert.equal(armLib.claimsOf(answer.access_token).xms_mirid, vm.id);
    const meta = curl('10.77.0.4', '/metadata/instance/compute?api-version=2021-02-01');
    assert.equal(meta.name, 'vm-ns');
    const stranger = curl('10.77.0.9', `${TOKEN_PATH}?api-version=2018-02-01&resource=${VAULT}`);
    assert.deepEqual(stranger, { error: 'invalid_request', error_description: 'Identity not found' });
  });
});

// Key Vault secrets with the real clients, end to end through the front door.
//
// The seed scenario: a VM with a system-assigned identity; an application that *is* the VM (a
// child `node` with exactly the environment `azsim env --vm` printed, lib/kv-client.mjs) uses a
// plain `new DefaultAzureCredential()` and `new SecretClient("https://<vault>.vault.azure.net",
// credential)` with no options and reads a secret: 403 before it is granted access (RBAC: the
// "Key Vault Secrets User" role on the vault; access policies: accessPolicies/add), 200 after.
//
// Then, as the admin application (ClientSecretCredential in a child with `azsim env`), the whole
// secrets surface of @azure/keyvault-secrets; the authentication and authorization negatives over
// raw HTTPS through the front door; and the vault resource with @azure/arm-keyvault.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { ClientSecretCredential } from '@azure/identity';
import { importPKCS8, SignJWT } from 'jose';

import * as aad from './lib/aad.mjs';
import * as arm from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';

const KV = 'api-version=2023-07-01';
const NET = 'api-version=2022-07-01';
const COMPUTE = 'api-version=2024-07-01';
const AUTHZ = 'api-version=2022-04-01';
const LOCATION = 'westus';
const GROUP = 'kv-secrets-rg';
const VM_NAME = 'kv-vm';
const KV_CLIENT = fileURLToPath(new URL('./lib/kv-client.mjs', import.meta.url));
/** Built-in Key Vault data roles (data/builtin-roles.json, the same ids as Azure's). */
const KV_ROLES = {
  'Key Vault Secrets User': '4633458b-17de-408a-b874-0445c86b69e6',
  'Key Vault Secrets Officer': 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
  'Key Vault Reader': '21090545-7ca7-4776-b22c-e363652d74d2',
};
const vaultUrl = (name) => `https://${name}.vault.azure.net`;

describe('Key Vault secrets: the seed scenario, @azure/keyvault-secrets, raw HTTP, @azure/arm-keyvault', () => {
  let s, info, admin, sub, rg, ok;
  let adminOid; // the admin service principal's object id
  let adminEnv; // `azsim env --format json`
  let vmEnv; // `azsim env --vm VM_NAME --format json`
  let vm; // the VM as ARM answered its PUT
  let ca; // the CA the front door's certificates chain to

  const vaultId = (name) => `${rg}/providers/Microsoft.KeyVault/vaults/${name}`;
  /** A vault made over ARM as the admin; `props` are added to the required properties. */
  const createVault = (name, props = {}) => ok('PUT', `${vaultId(name)}?${KV}`, {
    location: LOCATION,
    properties: { tenantId: info.tenantId, sku: { family: 'A', name: 'standard' }, ...props },
  });
  const adminPolicy = (secrets = ['all']) => ({ tenantId: info.tenantId, objectId: adminOid, permissions: { secrets } });
  /** The admin assigns a built-in role at `scope` to a service principal. */
  const assignRole = (scope, role, principalId) => ok('PUT',
    `${scope}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?${AUTHZ}`, {
      properties: {
        roleDefinitionId: `${sub}/providers/Microsoft.Authorization/roleDefinitions/${KV_ROLES[role]}`,
        principalId,
        principalType: 'ServicePrincipal',
      },
    });

  /** Run lib/kv-client.mjs with exactly `env`: {byId, requests, stderr}. */
  async function kvClient(scenario, env) {
    const { output, stderr } = await aad.runGuardedChild(KV_CLIENT, scenario, aad.sdkEnv(env),
      { timeoutMs: 60_000, what: 'Key Vault SDK child' });
    return { byId: Object.fromEntries(output.results.map((r) => [r.id, r])), requests: output.requests, stderr };
  }
  /** The VM reading `name` with the plain SecretClient and DefaultAzureCredential. */
  const vmReads = (vault, name) => kvClient({
    credential: 'default', plain: true, vaultUrl: vaultUrl(vault), steps: [{ id: 'get', op: 'get', name }, { id: 'token', op: 'token' }],
  }, vmEnv);
  /** The admin's SecretClient (ClientSecretCredential, the front door) running `steps`. */
  const asAdmin = (vault, steps) => kvClient({
    credential: { tenantId: info.tenantId, clientId: info.clientId, clientSecret: info.clientSecret },
    vaultUrl: vaultUrl(vault),
    steps,
  }, adminEnv);

  /** A raw request to a vault through the front door; `token` null sends no Authorization. */
  function vaultRequest(vault, method, path, { token, body, headers = {} } = {}) {
    const h = { ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    if (body !== undefined) h['Content-Type'] = 'application/json';
    return aad.proxiedRequest(adminEnv.HTTPS_PROXY, `${vaultUrl(vault)}${path}`, {
      ca, method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
    });
  }
  const vaultToken = async (appId = info.clientId, secret = info.clientSecret) =>
    (await arm.appToken(s, info.tenantId, appId, secret, aad.VAULT)).token;

  function okStep(run, id) {
    const r = run.byId[id];
    assert.ok(r, `no result for ${id}: ${JSON.stringify(run.byId, null, 2)}\n${run.stderr}`);
    assert.ok(r.ok, `${id} failed: ${JSON.stringify(r.error, null, 2)}\nchild stderr:\n${run.stderr}`);
    return r.value;
  }
  function failedStep(run, id, statusCode, code, message) {
    const r = run.byId[id];
    assert.ok(r, `no result for ${id}`);
    assert.equal(r.ok, false, `${id} succeeded: ${JSON.stringify(r.value)}`);
    assert.equal(r.error.statusCode, statusCode, `${id}: ${JSON.stringify(r.error)}`);
    assert.equal(r.error.code, code, `${id}: ${JSON.stringify(r.error)}`);
    if (message !== undefined) assert.match(r.error.message, message, `${id}: ${JSON.stringify(r.error)}`);
    return r.error;
  }

  /** The VM's own token (from the SDK child) over raw HTTP: the 403's innererror code. */
  async function assertInnerError(vault, path, token, inner) {
    const claims = arm.claimsOf(token);
    assert.equal(claims.oid, vm.identity.principalId, 'the token is the VM\'s system-assigned identity');
    assert.equal(claims.aud, aad.VAULT);
    const r = await vaultRequest(vault, 'GET', `${path}?api-version=2025-07-01`, { token });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.json().error.code, 'Forbidden', r.text);
    assert.equal(r.json().error.innererror?.code, inner, r.text);
  }

  before(async () => {
    ({ s, info, admin, sub, rg, ok } = await arm.adminWorkspace(GROUP, { vnetPrefix: '10.60.0.0/16' }));
    adminOid = arm.claimsOf(admin).oid;
    adminEnv = aad.envVars(s.dataDir);
    ca = readFileSync(adminEnv.NODE_EXTRA_CA_CERTS, 'utf8');

    // A VM with a system-assigned identity, on a NIC in the workspace's network.
    const nicId = `${rg}/providers/Microsoft.Network/networkInterfaces/kv-nic`;
    await ok('PUT', `${nicId}?${NET}`, {
      location: LOCATION,
      properties: { ipConfigurations: [{ name: 'ipconfig1', properties: { subnet: { id: `${rg}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default` } } }] },
    });
    vm = await ok('PUT', `${rg}/providers/Microsoft.Compute/virtualMachines/${VM_NAME}?${COMPUTE}`, {
      location: LOCATION,
      identity: { type: 'SystemAssigned' },
      properties: {
        hardwareProfile: { vmSize: 'Standard_B1s' },
        osProfile: { computerName: VM_NAME, adminUsername: 'azureuser', adminPassword: 'Secret-123456' },
        networkProfile: { networkInterfaces: [{ id: nicId }] },
      },
    });
    assert.match(vm.identity?.principalId ?? '', az.UUID_RE, JSON.stringify(vm));
    const r = az.run(['env', '--vm', VM_NAME, '--format', 'json', '--data-dir', s.dataDir]);
    az.assertNoSanitizerReport(r.stderr);
    assert.equal(r.code, 0, `azsim env --vm: ${r.stderr}`);
    vmEnv = JSON.parse(r.stdout);
  });
  after(() => az.finish(s));

  // ---- the seed scenario ------------------------------------------------------------------------

  describe('the seed scenario: the VM reads a secret with DefaultAzureCredential and a plain SecretClient', () => {
    it('RBAC vault: 403 Forbidden/ForbiddenByRbac before "Key Vault Secrets User", 200 after', async () => {
      const v = await createVault('kv-seed-rbac', { enableRbacAuthorization: true });
      assert.equal(v.properties.vaultUri, 'https://kv-seed-rbac.vault.azure.net/');
      await assignRole(v.id, 'Key Vault Secrets Officer', adminOid);
      const put = await vaultRequest('kv-seed-rbac', 'PUT', '/secrets/db-password?api-version=7.4',
        { token: await vaultToken(), body: { value: 'p@ss-rbac' } });
      assert.equal(put.status, 200, put.text);

      const denied = await vmReads('kv-seed-rbac', 'db-password');
      failedStep(denied, 'get', 403, 'Forbidden', /^Caller is not authorized to perform action on resource\./);
      assert.ok(denied.byId.get.error.message.includes(vm.identity.principalId), denied.byId.get.error.message);
      await assertInnerError('kv-seed-rbac', '/secrets/db-password/', okStep(denied, 'token'), 'ForbiddenByRbac');
      const entry = (await arm.audit(s, admin, { principal: vm.identity.principalId, denied: true, top: 20 }))
        .find((e) => e.action === 'Microsoft.KeyVault/vaults/secrets/getSecret/action');
      assert.ok(entry, 'the denial is audited');

      await assignRole(v.id, 'Key Vault Secrets User', vm.identity.principalId);
      const granted = await vmReads('kv-seed-rbac', 'db-password');
      const got = okStep(granted, 'get');
      assert.equal(got.value, 'p@ss-rbac');
      assert.equal(got.name, 'db-password');
      assert.equal(got.properties.vaultUrl, 'https://kv-seed-rbac.vault.azure.net');
      assert.match(got.properties.id, /^https:\/\/kv-seed-rbac\.vault\.azure\.net\/secrets\/db-password\/[0-9a-f]{32}$/);
    });

    it('access-policy vault: 403 Forbidden/ForbiddenByPolicy before accessPolicies/add, 200 after', async () => {
      const v = await createVault('kv-seed-pol', { accessPolicies: [adminPolicy()] });
      assert.equal(v.properties.enableRbacAuthorization ?? false, false);
      const put = await vaultRequest('kv-seed-pol', 'PUT', '/secrets/db-password?api-version=7.4',
        { token: await vaultToken(), body: { value: 'p@ss-policy' } });
      assert.equal(put.status, 200, put.text);

      const denied = await vmReads('kv-seed-pol', 'db-password');
      failedStep(denied, 'get', 403, 'Forbidden', /does not have secrets get permission on key vault 'kv-seed-pol;location=westus'/);
      await assertInnerError('kv-seed-pol', '/secrets/db-password/', okStep(denied, 'token'), 'ForbiddenByPolicy');
      assert.ok(denied.byId.get.error.message.includes(vm.identity.principalId), denied.byId.get.error.message);

      const added = await ok('PUT', `${v.id}/accessPolicies/add?${KV}`, {
        properties: { accessPolicies: [{ tenantId: info.tenantId, objectId: vm.identity.principalId, permissions: { secrets: ['get'] } }] },
      });
      assert.ok(added.properties.accessPolicies.some((p) => p.objectId === vm.identity.principalId), JSON.stringify(added));
      const granted = await vmReads('kv-seed-pol', 'db-password');
      assert.equal(okStep(granted, 'get').value, 'p@ss-policy');
    });
  });

  // ---- @azure/keyvault-secrets, the whole surface ----------------------------------------------

  describe('@azure/keyvault-secrets as the admin (ClientSecretCredential, the front door)', () => {
    it('set, get (latest, by version), list with paging, versions, update, disabled', async () => {
      const v = await createVault('kv-sdk', { enableRbacAuthorization: true });
      await assignRole(v.id, 'Key Vault Secrets Officer', adminOid);
      const notBefore = new Date(Math.floor(Date.now() / 1000 - 3600) * 1000).toISOString();
      const expiresOn = new Date(Math.floor(Date.now() / 1000 + 86400) * 1000).toISOString();
      const run = await asAdmin('kv-sdk', [
        { id: 'set1', op: 'set', name: 'app-secret', value: 'v1', options: { contentType: 'text/plain', tags: { env: 'test' }, enabled: true, notBefore, expiresOn } },
        { id: 'set2', op: 'set', name: 'app-secret', value: 'v2' },
        { id: 'setA', op: 'set', name: 'list-a', value: 'a' },
        { id: 'setB', op: 'set', name: 'list-b', value: 'b' },
        { id: 'setC', op: 'set', name: 'list-c', value: 'c' },
        { id: 'latest', op: 'get', name: 'app-secret' },
        { id: 'byVersion', op: 'get', name: 'app-secret', version: { $from: 'set1', path: 'properties.version' } },
        { id: 'list', op: 'list', maxPageSize: 2 },
        { id: 'versions', op: 'versions', name: 'app-secret' },
        { id: 'update', op: 'update', name: 'app-secret', version: { $from: 'set1', path: 'properties.version' }, options: { enabled: false, contentType: 'application/json', tags: { env: 'prod', owner: 'me' } } },
        { id: 'disabled', op: 'get', name: 'app-secret', version: { $from: 'set1', path: 'properties.version' } },
        { id: 'stillLatest', op: 'get', name: 'app-secret' },
        { id: 'missing', op: 'get', name: 'no-such-secret' },
      ]);

      const set1 = okStep(run, 'set1');
      assert.equal(set1.name, 'app-secret');
      assert.equal(set1.value, 'v1');
      assert.equal(set1.properties.contentType, 'text/plain');
      assert.deepEqual(set1.properties.tags, { env: 'test' });
      assert.equal(set1.properties.enabled, true);
      assert.equal(set1.properties.notBefore, notBefore);
      assert.equal(set1.properties.expiresOn, expiresOn);
      assert.equal(set1.properties.vaultUrl, 'https://kv-sdk.vault.azure.net');
      assert.match(set1.properties.version, /^[0-9a-f]{32}$/);
      assert.equal(set1.properties.id, `https://kv-sdk.vault.azure.net/secrets/app-secret/${set1.properties.version}`);
      assert.equal(set1.properties.recoveryLevel, 'Recoverable+Purgeable');
      assert.equal(set1.properties.recoverableDays, 90);
      assert.ok(Math.abs(Date.parse(set1.properties.createdOn) - Date.now()) < 300_000, set1.properties.createdOn);
      const set2 = okStep(run, 'set2');
      assert.notEqual(set2.properties.version, set1.properties.version);

      const latest = okStep(run, 'latest');
      assert.equal(latest.value, 'v2');
      assert.equal(latest.properties.version, set2.properties.version);
      const byVersion = okStep(run, 'byVersion');
      assert.equal(byVersion.value, 'v1');
      assert.equal(byVersion.properties.contentType, 'text/plain');
      assert.deepEqual(byVersion.properties.tags, { env: 'test' });

      const { pages } = okStep(run, 'list');
      assert.ok(pages.length >= 2, `maxPageSize 2 over 4 secrets gives several pages: ${JSON.stringify(pages)}`);
      for (const page of pages) assert.ok(page.length <= 2, JSON.stringify(pages));
      assert.deepEqual(pages.flat().sort(), ['app-secret', 'list-a', 'list-b', 'list-c']);

      const versions = okStep(run, 'versions');
      assert.deepEqual(versions.map((p) => p.version).sort(), [set1.properties.version, set2.properties.version].sort());
      for (const p of versions) assert.equal(p.name, 'app-secret');

      const updated = okStep(run, 'update');
      assert.equal(updated.version, set1.properties.version);
      assert.equal(updated.enabled, false);
      assert.equal(updated.contentType, 'application/json');
      assert.deepEqual(updated.tags, { env: 'prod', owner: 'me' });
      assert.equal(updated.expiresOn, expiresOn, 'attributes not named in the update are kept');
      failedStep(run, 'disabled', 403, 'Forbidden', /^Operation get is not allowed on a disabled secret\.$/);
      assert.equal(okStep(run, 'stillLatest').value, 'v2', 'disabling one version leaves the latest readable');
      failedStep(run, 'missing', 404, 'SecretNotFound');
      // Every request of the client went to the public vault host with a vault token.
      assert.ok(run.requests.length > 0);
      for (const r of run.requests) assert.match(r.url, /^https:\/\/kv-sdk\.vault\.azure\.net\//, JSON.stringify(r));
      assert.ok(run.requests.filter((r) => r.aud).every((r) => r.aud === aad.VAULT || r.aud === `${aad.VAULT}/`), JSON.stringify(run.requests));
    });

    it('delete (poller), deleted get/list, recover (poller), purge, backup and restore', async () => {
      await createVault('kv-sdk-life', { accessPolicies: [adminPolicy()] });
      const run = await asAdmin('kv-sdk-life', [
        { id: 'set1', op: 'set', name: 'life', value: 'one', options: { contentType: 'text/plain', tags: { a: '1' } } },
        { id: 'set2', op: 'set', name: 'life', value: 'two' },
        { id: 'setOther', op: 'set', name: 'other', value: 'x' },
        { id: 'delete', op: 'delete', name: 'life' },
        { id: 'getAfterDelete', op: 'get', name: 'life' },
        { id: 'getDeleted', op: 'getDeleted', name: 'life' },
        { id: 'listDeleted', op: 'listDeleted' },
        { id: 'recover', op: 'recover', name: 'life' },
        { id: 'getRecovered', op: 'get', name: 'life' },
        { id: 'getDeletedAfterRecover', op: 'getDeleted', name: 'life' },
        { id: 'backup', op: 'backup', name: 'life' },
        { id: 'delete2', op: 'delete', name: 'life' },
        { id: 'purge', op: 'purge', name: 'life' },
        { id: 'getDeletedAfterPurge', op: 'getDeleted', name: 'life' },
        { id: 'purgeMissing', op: 'purge', name: 'never-deleted' },
      ]);
      const set1 = okStep(run, 'set1');
      const set2 = okStep(run, 'set2');
      okStep(run, 'setOther');

      const deleted = okStep(run, 'delete');
      assert.equal(deleted.name, 'life');
      assert.equal(deleted.recoveryId, 'https://kv-sdk-life.vault.azure.net/deletedsecrets/life');
      assert.ok(Math.abs(Date.parse(deleted.deletedOn) - Date.now()) < 300_000, JSON.stringify(deleted));
      const days = (Date.parse(deleted.scheduledPurgeDate) - Date.parse(deleted.deletedOn)) / 86_400_000;
      assert.ok(Math.abs(days - 90) < 0.01, `scheduledPurgeDate is 90 days after deletedOn: ${days}`);
      assert.equal(deleted.properties.version, set2.properties.version);
      failedStep(run, 'getAfterDelete', 404, 'SecretNotFound');
      const got = okStep(run, 'getDeleted');
      assert.equal(got.recoveryId, deleted.recoveryId);
      assert.equal(got.properties.version, set2.properties.version);
      const listed = okStep(run, 'listDeleted');
      assert.deepEqual(listed.map((d) => d.name), ['life'], JSON.stringify(listed));
      assert.equal(listed[0].recoveryId, deleted.recoveryId);

      const recovered = okStep(run, 'recover');
      assert.equal(recovered.name, 'life');
      assert.equal(recovered.version, set2.properties.version);
      assert.equal(okStep(run, 'getRecovered').value, 'two');
      failedStep(run, 'getDeletedAfterRecover', 404, 'SecretNotFound');

      const backup = Buffer.from(okStep(run, 'backup'), 'base64');
      assert.ok(backup.length > 0);
      okStep(run, 'delete2');
      const purged = run.byId.purge;
      assert.ok(purged.ok, JSON.stringify(purged.error));
      assert.deepEqual(purged.statuses, [204], 'purge answers 204');
      failedStep(run, 'getDeletedAfterPurge', 404, 'SecretNotFound');
      failedStep(run, 'purgeMissing', 404, 'SecretNotFound');

      // Restore (a second client, with the blob the first one got): every version comes back;
      // refused while the secret exists.
      const restore = await asAdmin('kv-sdk-life', [
        { id: 'restore', op: 'restore', backup: backup.toString('base64') },
        { id: 'getRestored', op: 'get', name: 'life' },
        { id: 'byVersion', op: 'get', name: 'life', version: set1.properties.version },
        { id: 'versions', op: 'versions', name: 'life' },
        { id: 'restoreExisting', op: 'restore', backup: backup.toString('base64') },
        { id: 'restoreGarbage', op: 'restore', backup: Buffer.from('not a backup').toString('base64') },
      ]);
      const restored = okStep(restore, 'restore');
      assert.equal(restored.name, 'life');
      assert.equal(restored.vaultUrl, 'https://kv-sdk-life.vault.azure.net');
      assert.equal(okStep(restore, 'getRestored').value, 'two');
      const old = okStep(restore, 'byVersion');
      assert.equal(old.value, 'one');
      assert.equal(old.properties.contentType, 'text/plain');
      assert.deepEqual(old.properties.tags, { a: '1' });
      assert.deepEqual(okStep(restore, 'versions').map((p) => p.version).sort(),
        [set1.properties.version, set2.properties.version].sort());
      failedStep(restore, 'restoreExisting', 409, 'Conflict');
      assert.equal(restore.byId.restoreGarbage.ok, false);
      assert.equal(restore.byId.restoreGarbage.error.statusCode, 400, JSON.stringify(restore.byId.restoreGarbage.error));
    });

    it('purge protection: a deleted secret is recoverable but cannot be purged (403)', async () => {
      await createVault('kv-sdk-protect', { enablePurgeProtection: true, accessPolicies: [adminPolicy()] });
      const run = await asAdmin('kv-sdk-protect', [
        { id: 'set', op: 'set', name: 'kept', value: 'k' },
        { id: 'delete', op: 'delete', name: 'kept' },
        { id: 'purge', op: 'purge', name: 'kept' },
        { id: 'getDeleted', op: 'getDeleted', name: 'kept' },
        { id: 'recover', op: 'recover', name: 'kept' },
        { id: 'get', op: 'get', name: 'kept' },
      ]);
      assert.equal(okStep(run, 'set').properties.recoveryLevel, 'Recoverable');
      okStep(run, 'delete');
      failedStep(run, 'purge', 403, 'Forbidden');
      assert.equal(okStep(run, 'getDeleted').name, 'kept', 'the refused purge left the deleted secret');
      okStep(run, 'recover');
      assert.equal(okStep(run, 'get').value, 'k');
    });
  });

  // ---- negatives over raw HTTPS -----------------------------------------------------------------

  describe('negatives over HTTP through the front door', () => {
    let token; // the admin's vault token
    before(async () => {
      await createVault('kv-neg', { accessPolicies: [adminPolicy()] });
      token = await vaultToken();
      const put = await vaultRequest('kv-neg', 'PUT', '/secrets/present?api-version=7.4', { token, body: { value: 'here' } });
      assert.equal(put.status, 200, put.text);
    });

    /** A 401 carrying Key Vault's challenge, exactly. */
    function assertChallenge(r, messagePattern) {
      assert.equal(r.status, 401, r.text);
      assert.equal(r.headers['www-authenticate'],
        `Bearer authorization="https://login.microsoftonline.com/${info.tenantId}", resource="https://vault.azure.net"`);
      assert.match(r.headers['x-ms-request-id'] ?? '', az.UUID_RE);
      const body = r.json();
      assert.equal(body.error.code, 'Unauthorized', r.text);
      assert.match(body.error.message, messagePattern, r.text);
    }

    /** A token with the claims of a real vault token of the admin changed by `edit`, signed
     * with the server's own active signing key (read from its store): valid but for the edit. */
    async function resigned(edit) {
      const r = spawnSync('sqlite3', ['-json', join(s.dataDir, 'azsim.db'),
        'SELECT kid, key_pem FROM signing_keys WHERE active = 1;'], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(r.status, 0, r.stderr);
      const [{ kid, key_pem: keyPem }] = JSON.parse(r.stdout);
      const claims = edit({ ...arm.claimsOf(token) });
      return new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid, x5t: kid })
        .sign(await importPKCS8(keyPem, 'RS256'));
    }

    it('no token: 401 with the exact WWW-Authenticate challenge and AKV10000', async () => {
      for (const [method, path, body] of [['GET', '/secrets/present/?api-version=7.4'], ['GET', '/secrets?api-version=2025-07-01'],
        ['PUT', '/secrets/x?api%2Dversion=2025-07-01', {}]]) {
        assertChallenge(await vaultRequest('kv-neg', method, path, { body }), /^AKV10000: Request is missing a Bearer or PoP token\.$/);
      }
    });

    it('a token re-signed by the server itself works (control), an expired one is refused', async () => {
      const control = await resigned((c) => c);
      const r = await vaultRequest('kv-neg', 'GET', '/secrets/present/?api-version=7.4', { token: control });
      assert.equal(r.status, 200, r.text);
      const now = Math.floor(Date.now() / 1000);
      const expired = await resigned((c) => ({ ...c, iat: now - 7200, nbf: now - 7200, exp: now - 3600 }));
      assertChallenge(await vaultRequest('kv-neg', 'GET', '/secrets/present/?api-version=7.4', { token: expired }), /^AKV10022: /);
      const future = await resigned((c) => ({ ...c, iat: now + 3600, nbf: now + 3600, exp: now + 7200 }));
      assertChallenge(await vaultRequest('kv-neg', 'GET', '/secrets/present/?api-version=7.4', { token: future }), /^AKV10022: /);
    });

    it('a token for another audience (ARM, or an app) is refused', async () => {
      const armToken = (await arm.appToken(s, info.tenantId, info.clientId, info.clientSecret)).token;
      assertChallenge(await vaultRequest('kv-neg', 'GET', '/secrets/present/?api-version=7.4', { token: armToken }), /^AKV10022: /);
      const other = await resigned((c) => ({ ...c, aud: 'https://storage.azure.com' }));
      assertChallenge(await vaultRequest('kv-neg', 'GET', '/secrets/present/?api-version=7.4', { token: other }), /^AKV10022: /);
      const tampered = `${token.slice(0, -4)}AAAA`;
      assertChallenge(await vaultRequest('kv-neg', 'GET', '/secrets/present/?api-version=7.4', { token: tampered }), /^AKV10022: /);
    });

    it('a token from another tenant is refused: 401 AKV10032 invalid issuer, the challenge names the vault\'s tenant', async () => {
      // A vault of another tenant: the admin's (valid) token is from the wrong tenant for it.
      const other = '72f988bf-86f1-41af-91ab-2d7cd011db47';
      await ok('PUT', `${vaultId('kv-neg-tenant')}?${KV}`, {
        location: LOCATION,
        properties: { tenantId: other, sku: { family: 'A', name: 'standard' }, accessPolicies: [{ ...adminPolicy(), tenantId: other }] },
      });
      const r = await vaultRequest('kv-neg-tenant', 'GET', '/secrets/present/?api-version=7.4', { token });
      assert.equal(r.status, 401, r.text);
      assert.equal(r.headers['www-authenticate'],
        `Bearer authorization="https://login.microsoftonline.com/${other}", resource="https://vault.azure.net"`);
      assert.equal(r.json().error.code, 'Unauthorized', r.text);
      assert.equal(r.json().error.message, `AKV10032: Invalid issuer. Expected one of https://sts.windows.net/${other}/, found https://sts.windows.net/${info.tenantId}/.`);
      // A token signed with azsim's key but issued in a tenant azsim does not host: refused by
      // token validation already (AKV10022, "a tenant this directory does not have") or as a
      // wrong issuer (AKV10032); either way the vault's challenge.
      const foreign = await resigned((c) => ({ ...c, tid: other, iss: `https://sts.windows.net/${other}/` }));
      assertChallenge(await vaultRequest('kv-neg', 'GET', '/secrets/present/?api-version=7.4', { token: foreign }), /^AKV100(22|32): /);
    });

    it('"Key Vault Reader" lists secrets and their versions but cannot read a value: 403 ForbiddenByRbac', async () => {
      const v = await createVault('kv-neg-rbac', { enableRbacAuthorization: true });
      await assignRole(v.id, 'Key Vault Secrets Officer', adminOid);
      assert.equal((await vaultRequest('kv-neg-rbac', 'PUT', '/secrets/s1?api-version=7.4', { token, body: { value: 'secret' } })).status, 200);
      const reader = await arm.principal(s, info.tenantId, 'kv-reader');
      await assignRole(v.id, 'Key Vault Reader', reader.oid);
      const readerToken = await vaultToken(reader.appId, reader.clientSecret);

      const list = await vaultRequest('kv-neg-rbac', 'GET', '/secrets?api-version=7.4', { token: readerToken });
      assert.equal(list.status, 200, list.text);
      assert.deepEqual(list.json().value.map((i) => i.id), ['https://kv-neg-rbac.vault.azure.net/secrets/s1']);
      assert.equal(list.json().value[0].value, undefined);
      const versions = await vaultRequest('kv-neg-rbac', 'GET', '/secrets/s1/versions?api-version=7.4', { token: readerToken });
      assert.equal(versions.status, 200, versions.text);

      const get = await vaultRequest('kv-neg-rbac', 'GET', '/secrets/s1/?api-version=7.4', { token: readerToken });
      assert.equal(get.status, 403, get.text);
      const body = get.json();
      assert.equal(body.error.code, 'Forbidden');
      assert.equal(body.error.innererror?.code, 'ForbiddenByRbac', get.text);
      assert.ok(body.error.message.includes("Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'"), get.text);
      assert.ok(body.error.message.includes(reader.oid), get.text);
      const set = await vaultRequest('kv-neg-rbac', 'PUT', '/secrets/s2?api-version=7.4', { token: readerToken, body: { value: 'no' } });
      assert.equal(set.status, 403, set.text);
      assert.equal(set.json().error.innererror?.code, 'ForbiddenByRbac');

      // Owner of the subscription (the admin's ARM role) carries no data actions.
      const owner = await arm.principal(s, info.tenantId, 'kv-no-data-role');
      const noRole = await vaultRequest('kv-neg-rbac', 'GET', '/secrets?api-version=7.4', { token: await vaultToken(owner.appId, owner.clientSecret) });
      assert.equal(noRole.status, 403, noRole.text);
      assert.equal(noRole.json().error.innererror?.code, 'ForbiddenByRbac');
    });

    it('an access policy without "get" lists but cannot read: 403 ForbiddenByPolicy', async () => {
      const v = await createVault('kv-neg-pol', { accessPolicies: [adminPolicy()] });
      const lister = await arm.principal(s, info.tenantId, 'kv-lister');
      await ok('PUT', `${v.id}/accessPolicies/add?${KV}`, { properties: { accessPolicies: [{ tenantId: info.tenantId, objectId: lister.oid, permissions: { secrets: ['list'] } }] } });
      assert.equal((await vaultRequest('kv-neg-pol', 'PUT', '/secrets/s1?api-version=7.4', { token, body: { value: 'secret' } })).status, 200);
      const listerToken = await vaultToken(lister.appId, lister.clientSecret);
      const list = await vaultRequest('kv-neg-pol', 'GET', '/secrets?api-version=7.4', { token: listerToken });
      assert.equal(list.status, 200, list.text);
      const get = await vaultRequest('kv-neg-pol', 'GET', '/secrets/s1/?api-version=7.4', { token: listerToken });
      assert.equal(get.status, 403, get.text);
      assert.equal(get.json().error.code, 'Forbidden');
      assert.equal(get.json().error.innererror?.code, 'ForbiddenByPolicy', get.text);
    });

    it('a disabled secret is refused: 403 Forbidden/SecretDisabled; its properties stay listable', async () => {
      const put = await vaultRequest('kv-neg', 'PUT', '/secrets/off?api-version=7.4', { token, body: { value: 'hidden', attributes: { enabled: false } } });
      assert.equal(put.status, 200, put.text);
      assert.equal(put.json().attributes.enabled, false);
      const get = await vaultRequest('kv-neg', 'GET', '/secrets/off/?api-version=7.4', { token });
      assert.equal(get.status, 403, get.text);
      assert.deepEqual(get.json(), {
        error: { code: 'Forbidden', message: 'Operation get is not allowed on a disabled secret.', innererror: { code: 'SecretDisabled' } },
      });
      const list = await vaultRequest('kv-neg', 'GET', '/secrets?api-version=7.4', { token });
      const item = list.json().value.find((i) => i.id === 'https://kv-neg.vault.azure.net/secrets/off');
      assert.equal(item?.attributes.enabled, false, list.text);
    });

    it('SecretNotFound: 404 {"error":{"code","message"}} naming the secret, for a name and a version', async () => {
      const r = await vaultRequest('kv-neg', 'GET', '/secrets/nope/?api-version=7.4', { token });
      az.assertModuleError('keyvault', r, 404, 'SecretNotFound');
      assert.match(r.json().error.message, /^A secret with \(name\/id\) nope was not found in this key vault\./);
      const version = await vaultRequest('kv-neg', 'GET', `/secrets/present/${'0'.repeat(32)}?api-version=7.4`, { token });
      az.assertModuleError('keyvault', version, 404, 'SecretNotFound');
      const deleted = await vaultRequest('kv-neg', 'GET', '/deletedsecrets/nope?api-version=7.4', { token });
      az.assertModuleError('keyvault', deleted, 404, 'SecretNotFound');
    });
  });

  // ---- @azure/arm-keyvault ----------------------------------------------------------------------

  describe('@azure/arm-keyvault as the admin', () => {
    let client;
    before(() => {
      const tlsOptions = { ca: s.caPem };
      const credential = new ClientSecretCredential(info.tenantId, info.clientId, info.clientSecret, {
        authorityHost: s.urls.aad,
        disableInstanceDiscovery: true,
        tlsOptions,
      });
      client = new KeyVaultManagementClient(credential, info.subscriptionId, { endpoint: s.urls.arm, tlsOptions });
    });

    it('vaults: createOrUpdate, get, listByResourceGroup, delete, getDeleted, listDeleted, purgeDeleted; names are global (409)', async () => {
      const name = 'kv-armsdk';
      const created = await client.vaults.createOrUpdate(GROUP, name, {
        location: LOCATION,
        tags: { by: 'arm-keyvault' },
        properties: {
          tenantId: info.tenantId,
          sku: { family: 'A', name: 'standard' },
          enableRbacAuthorization: true,
          softDeleteRetentionInDays: 7,
        },
      }, { updateIntervalInMs: 100 });
      assert.equal(created.id, vaultId(name));
      assert.equal(created.name, name);
      assert.equal(created.type, 'Microsoft.KeyVault/vaults');
      assert.equal(created.location, LOCATION);
      assert.deepEqual(created.tags, { by: 'arm-keyvault' });
      assert.equal(created.properties.vaultUri, `https://${name}.vault.azure.net/`);
      assert.equal(created.properties.tenantId, info.tenantId);
      assert.equal(created.properties.enableRbacAuthorization, true);
      assert.equal(created.properties.softDeleteRetentionInDays, 7);
      assert.equal(created.properties.provisioningState, 'Succeeded');

      const got = await client.vaults.get(GROUP, name);
      assert.equal(got.id, created.id);
      assert.equal(got.properties.vaultUri, created.properties.vaultUri);
      const listed = [];
      for await (const v of client.vaults.listByResourceGroup(GROUP)) listed.push(v.name);
      assert.ok(listed.includes(name), JSON.stringify(listed));

      // Global uniqueness: the same name in another group (of the same subscription) is taken.
      await ok('PUT', `${sub}/resourcegroups/kv-secrets-other?api-version=2021-04-01`, { location: LOCATION });
      await assert.rejects(client.vaults.createOrUpdate('kv-secrets-other', name, {
        location: LOCATION, properties: { tenantId: info.tenantId, sku: { family: 'A', name: 'standard' } },
      }, { updateIntervalInMs: 100 }), (err) => {
        assert.equal(err.statusCode, 409, String(err));
        assert.equal(err.code, 'VaultAlreadyExists', String(err));
        return true;
      });

      await client.vaults.delete(GROUP, name);
      await assert.rejects(client.vaults.get(GROUP, name), (err) => err.statusCode === 404);
      const deleted = await client.vaults.getDeleted(name, LOCATION);
      assert.equal(deleted.name, name);
      assert.equal(deleted.id, `${sub}/providers/Microsoft.KeyVault/locations/${LOCATION}/deletedVaults/${name}`);
      assert.equal(deleted.properties.vaultId, created.id);
      assert.equal(deleted.properties.location, LOCATION);
      const days = (deleted.properties.scheduledPurgeDate - deleted.properties.deletionDate) / 86_400_000;
      assert.ok(Math.abs(days - 7) < 0.01, `scheduledPurgeDate is softDeleteRetentionInDays after deletionDate: ${days}`);
      const deletedNames = [];
      for await (const d of client.vaults.listDeleted()) deletedNames.push(d.name);
      assert.ok(deletedNames.includes(name), JSON.stringify(deletedNames));

      // Still soft-deleted, the name is still taken.
      await assert.rejects(client.vaults.createOrUpdate(GROUP, name, {
        location: LOCATION, properties: { tenantId: info.tenantId, sku: { family: 'A', name: 'standard' } },
      }, { updateIntervalInMs: 100 }), (err) => err.statusCode === 409);

      await client.vaults.purgeDeleted(name, LOCATION, { updateIntervalInMs: 100 });
      await assert.rejects(client.vaults.getDeleted(name, LOCATION), (err) => err.statusCode === 404);
      const again = await client.vaults.createOrUpdate('kv-secrets-other', name, {
        location: LOCATION, properties: { tenantId: info.tenantId, sku: { family: 'A', name: 'standard' } },
      }, { updateIntervalInMs: 100 });
      assert.equal(again.id, `${sub}/resourceGroups/kv-secrets-other/providers/Microsoft.KeyVault/vaults/${name}`);
    });
  });
});

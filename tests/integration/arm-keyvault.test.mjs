// Microsoft.KeyVault/vaults in Resource Manager, over HTTP: the vault resource and its defaults,
// name rules and global uniqueness, the access policies operation (add, replace, remove), and
// soft-deleted vaults (listed, got, recovered with createMode "recover" with their secrets,
// purged, purge protection). The data plane and the SDKs have suites of their own.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';

import * as aad from './lib/aad.mjs';
import * as armLib from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';

const KV = 'api-version=2023-07-01';

describe('ARM: Key Vault vaults', () => {
  let s, info, admin, sub, rg, ok;
  const arm = (method, path, body) => armLib.armRequest(s, admin, method, path, body);
  const vaultPath = (name, group = rg) => `${group}/providers/Microsoft.KeyVault/vaults/${name}`;
  const vaultBody = (extra = {}) => ({
    location: 'westus',
    properties: { tenantId: info.tenantId, sku: { family: 'A', name: 'standard' }, ...extra },
  });
  // A secret through the data plane, as the admin with an access policy.
  async function dataPlane(vault, method, path, body) {
    const ctx = aad.context(s);
    const { token } = await armLib.appToken(s, info.tenantId, info.clientId, info.clientSecret, 'https://vault.azure.net');
    return aad.proxiedRequest(ctx.env.HTTPS_PROXY, `https://${vault}.vault.azure.net${path}?api-version=7.4`, {
      ca: fs.readFileSync(ctx.env.NODE_EXTRA_CA_CERTS),
      method,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }
  const adminPolicy = () => ({ tenantId: info.tenantId, objectId: info.clientObjectId, permissions: { secrets: ['all'] } });

  before(async () => {
    ({ s, info, admin, sub, rg, ok } = await armLib.adminWorkspace('kv-arm-rg'));
    info.clientObjectId = armLib.claimsOf(admin).oid;
  });
  after(() => az.finish(s));

  it('a vault: its vaultUri, tenant, sku and Azure\'s defaults', async () => {
    const r = await arm('PUT', `${vaultPath('kv-one')}?${KV}`, vaultBody({ enableRbacAuthorization: true }));
    assert.equal(r.status, 201, r.text);
    const v = r.json();
    assert.equal(v.type, 'Microsoft.KeyVault/vaults');
    assert.equal(v.properties.vaultUri, 'https://kv-one.vault.azure.net/');
    assert.equal(v.properties.tenantId, info.tenantId);
    assert.equal(v.properties.enableRbacAuthorization, true);
    assert.equal(v.properties.enableSoftDelete, true);
    assert.equal(v.properties.softDeleteRetentionInDays, 90);
    assert.deepEqual(v.properties.accessPolicies, []);
    assert.equal(v.properties.provisioningState, 'Succeeded');
    assert.equal(v.properties.createMode, undefined);
  });

  it('names: 3-24 characters, a letter first, no "--"; globally unique', async () => {
    for (const name of ['ab', '1vault', 'vault-', 'va--ult', 'a'.repeat(25), 'va_ult']) {
      const r = await arm('PUT', `${vaultPath(name)}?${KV}`, vaultBody());
      assert.equal(r.status, 400, `${name}: ${r.text}`);
      assert.equal(r.json().error.code, 'VaultNameNotValid', name);
    }
    await ok('PUT', `${sub}/resourcegroups/kv-other-rg?api-version=2021-04-01`, { location: 'westus' });
    const taken = await arm('PUT', `${vaultPath('kv-one', `${sub}/resourceGroups/kv-other-rg`)}?${KV}`, vaultBody());
    assert.equal(taken.status, 409, taken.text);
    assert.equal(taken.json().error.code, 'VaultAlreadyExists');
  });

  it('bad properties: no tenant, an unknown sku, a retention outside 7-90, malformed access policies', async () => {
    for (const props of [{ tenantId: undefined }, { sku: { family: 'A', name: 'gold' } }, { softDeleteRetentionInDays: 3 },
      { accessPolicies: [{ objectId: 'x' }] }, { accessPolicies: 'all' }]) {
      const r = await arm('PUT', `${vaultPath('kv-bad')}?${KV}`, vaultBody(props));
      assert.equal(r.status, 400, `${JSON.stringify(props)}: ${r.text}`);
    }
  });

  it('access policies: add merges permissions, replace sets them, remove takes them away', async () => {
    const v = await ok('PUT', `${vaultPath('kv-pol')}?${KV}`, vaultBody({ accessPolicies: [] }));
    const op = (kind, permissions) => ok('PUT', `${v.id}/accessPolicies/${kind}?${KV}`,
      { properties: { accessPolicies: [{ tenantId: info.tenantId, objectId: 'obj-1', permissions }] } });
    const added = await op('add', { secrets: ['get', 'list'] });
    assert.equal(added.type, 'Microsoft.KeyVault/vaults/accessPolicies');
    assert.equal(added.name, 'add');
    assert.deepEqual(added.properties.accessPolicies[0].permissions, { secrets: ['get', 'list'] });
    const more = await op('add', { secrets: ['set'], keys: ['get'] });
    assert.deepEqual(more.properties.accessPolicies[0].permissions, { keys: ['get'], secrets: ['get', 'list', 'set'] });
    const removed = await op('remove', { secrets: ['list'] });
    assert.deepEqual(removed.properties.accessPolicies[0].permissions.secrets, ['get', 'set']);
    const replaced = await op('replace', { secrets: ['all'] });
    assert.deepEqual(replaced.properties.accessPolicies[0].permissions, { secrets: ['all'] });
    const stored = await ok('GET', `${v.id}?${KV}`);
    assert.deepEqual(stored.properties.accessPolicies, replaced.properties.accessPolicies);
    const bad = await arm('PUT', `${v.id}/accessPolicies/merge?${KV}`, { properties: { accessPolicies: [] } });
    assert.equal(bad.status, 400, bad.text);
  });

  it('a deleted vault is listed, keeps its name and secrets, and comes back with createMode "recover"', async () => {
    const v = await ok('PUT', `${vaultPath('kv-soft')}?${KV}`, vaultBody({ accessPolicies: [adminPolicy()] }));
    assert.equal((await dataPlane('kv-soft', 'PUT', '/secrets/kept', { value: 'still here' })).status, 200);
    await ok('DELETE', `${v.id}?${KV}`);
    const listed = await ok('GET', `${sub}/providers/Microsoft.KeyVault/deletedVaults?${KV}`);
    const mine = listed.value.find((d) => d.name === 'kv-soft');
    assert.ok(mine, JSON.stringify(listed));
    assert.equal(mine.type, 'Microsoft.KeyVault/deletedVaults');
    assert.equal(mine.id, `${sub}/providers/Microsoft.KeyVault/locations/westus/deletedVaults/kv-soft`);
    assert.equal(mine.properties.vaultId, v.id);
    assert.match(mine.properties.scheduledPurgeDate, /^\d{4}-\d\d-\d\dT/);
    const got = await ok('GET', `${mine.id}?${KV}`);
    assert.equal(got.name, 'kv-soft');
    const again = await arm('PUT', `${v.id}?${KV}`, vaultBody());
    assert.equal(again.status, 409, again.text);
    assert.equal(again.json().error.code, 'ConflictError');
    const recovered = await arm('PUT', `${v.id}?${KV}`, { location: 'westus', properties: { createMode: 'recover' } });
    assert.equal(recovered.status, 201, recovered.text);
    assert.equal(recovered.json().properties.tenantId, info.tenantId);
    assert.equal(recovered.json().properties.createMode, undefined);
    const secret = await dataPlane('kv-soft', 'GET', '/secrets/kept');
    assert.equal(secret.status, 200, secret.text);
    assert.equal(secret.json().value, 'still here');
  });

  it('purging frees the name and drops the secrets; purge protection holds it', async () => {
    const v = await ok('PUT', `${vaultPath('kv-purge')}?${KV}`, vaultBody({ accessPolicies: [adminPolicy()] }));
    assert.equal((await dataPlane('kv-purge', 'PUT', '/secrets/gone', { value: 'x' })).status, 200);
    await ok('DELETE', `${v.id}?${KV}`);
    const deleted = `${sub}/providers/Microsoft.KeyVault/locations/westus/deletedVaults/kv-purge`;
    await ok('POST', `${deleted}/purge?${KV}`);
    assert.equal((await arm('GET', `${deleted}?${KV}`)).status, 404);
    await ok('PUT', `${v.id}?${KV}`, vaultBody({ accessPolicies: [adminPolicy()] }));
    assert.equal((await dataPlane('kv-purge', 'GET', '/secrets/gone')).status, 404);

    const p = await ok('PUT', `${vaultPath('kv-protect')}?${KV}`, vaultBody({ enablePurgeProtection: true }));
    const off = await arm('PATCH', `${p.id}?${KV}`, { properties: { enablePurgeProtection: false } });
    assert.equal(off.status, 400, off.text);
    await ok('DELETE', `${p.id}?${KV}`);
    const refused = await arm('POST', `${sub}/providers/Microsoft.KeyVault/locations/westus/deletedVaults/kv-protect/purge?${KV}`);
    assert.equal(refused.status, 409, refused.text);
  });

  it('a backup is sealed: the value is not in it, and a changed blob does not restore', async () => {
    await ok('PUT', `${vaultPath('kv-backup')}?${KV}`, vaultBody({ enableSoftDelete: false, accessPolicies: [adminPolicy()] }));
    assert.equal((await dataPlane('kv-backup', 'PUT', '/secrets/sealed', { value: 'plain-text-value' })).status, 200);
    const backup = await dataPlane('kv-backup', 'POST', '/secrets/sealed/backup');
    assert.equal(backup.status, 200, backup.text);
    const blob = Buffer.from(backup.json().value, 'base64url');
    assert.ok(!blob.includes('plain-text-value') && !blob.includes('sealed'), 'nothing readable in it');
    blob[blob.length - 1] ^= 1;
    const forged = await dataPlane('kv-backup', 'POST', '/secrets/restore', { value: blob.toString('base64url') });
    assert.equal(forged.status, 400, forged.text);
    assert.equal(forged.json().error.code, 'BadParameter');
    assert.equal((await dataPlane('kv-backup', 'DELETE', '/secrets/sealed')).status, 200);
    const restored = await dataPlane('kv-backup', 'POST', '/secrets/restore', { value: backup.json().value });
    assert.equal(restored.status, 200, restored.text);
    assert.equal((await dataPlane('kv-backup', 'GET', '/secrets/sealed')).json().value, 'plain-text-value');
  });

  it('a vault without soft delete is gone at once, secrets and name', async () => {
    const v = await ok('PUT', `${vaultPath('kv-hard')}?${KV}`, vaultBody({ enableSoftDelete: false, accessPolicies: [adminPolicy()] }));
    assert.equal((await dataPlane('kv-hard', 'PUT', '/secrets/s', { value: 'x' })).status, 200);
    await ok('DELETE', `${v.id}?${KV}`);
    assert.equal((await arm('GET', `${sub}/providers/Microsoft.KeyVault/locations/westus/deletedVaults/kv-hard?${KV}`)).status, 404);
    await ok('PUT', `${v.id}?${KV}`, vaultBody({ accessPolicies: [adminPolicy()] }));
    assert.equal((await dataPlane('kv-hard', 'GET', '/secrets/s')).status, 404);
  });
});

// Microsoft.Storage/storageAccounts in Resource Manager, over HTTP: creation answered 200 (what
// the Python SDK and az accept), the account's shape and defaults, name rules and global
// uniqueness, checkNameAvailability, the access keys (listKeys, regenerateKey; never in a GET) and
// who may read them; Blob containers through ARM (blobServices/default/containers): who may
// change them and what bad input gets.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import * as armLib from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';

const API = 'api-version=2023-05-01';

describe('ARM: storage accounts', () => {
  let s, info, admin, sub, rg, ok;
  const arm = (method, path, body, token = admin) => armLib.armRequest(s, token, method, path, body);
  const accountPath = (name) => `${rg}/providers/Microsoft.Storage/storageAccounts/${name}`;
  const body = (extra = {}) => ({ location: 'westus', sku: { name: 'Standard_LRS' }, kind: 'StorageV2', ...extra });

  before(async () => {
    ({ s, info, admin, sub, rg, ok } = await armLib.adminWorkspace('st-rg'));
  });
  after(() => az.finish(s));

  it('create answers 200 with the endpoints and Azure\'s defaults; again, 200 and the same account', async () => {
    const r = await arm('PUT', `${accountPath('stacct1')}?${API}`, body({ tags: { env: 'dev' } }));
    assert.equal(r.status, 200, r.text);
    const a = r.json();
    assert.equal(a.type, 'Microsoft.Storage/storageAccounts');
    assert.equal(a.kind, 'StorageV2');
    assert.deepEqual(a.sku, { name: 'Standard_LRS', tier: 'Standard' });
    assert.equal(a.properties.primaryEndpoints.blob, 'https://stacct1.blob.core.windows.net/');
    assert.equal(a.properties.primaryLocation, 'westus');
    assert.equal(a.properties.statusOfPrimary, 'available');
    assert.equal(a.properties.allowSharedKeyAccess, true);
    assert.equal(a.properties.allowBlobPublicAccess, false);
    assert.equal(a.properties.minimumTlsVersion, 'TLS1_2');
    assert.equal(a.properties.accessTier, 'Hot');
    assert.equal(a.properties.provisioningState, 'Succeeded');
    assert.match(a.properties.creationTime, /^\d{4}-\d\d-\d\dT/);
    assert.ok(!JSON.stringify(a).includes('"keys"'), 'no keys in the resource');
    const again = await arm('PUT', `${accountPath('stacct1')}?${API}`, body({ properties: { allowSharedKeyAccess: false } }));
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json().properties.creationTime, a.properties.creationTime);
    assert.equal(again.json().properties.allowSharedKeyAccess, false);
  });

  it('names: 3-24 lower-case letters and digits; globally unique; checkNameAvailability agrees', async () => {
    for (const name of ['ab', 'UpperCase', 'with-dash', 'a'.repeat(25)]) {
      const r = await arm('PUT', `${accountPath(name)}?${API}`, body());
      assert.equal(r.status, 400, `${name}: ${r.text}`);
      assert.equal(r.json().error.code, 'AccountNameInvalid', name);
    }
    await ok('PUT', `${sub}/resourcegroups/st-other-rg?api-version=2021-04-01`, { location: 'westus' });
    const taken = await arm('PUT', `${sub}/resourceGroups/st-other-rg/providers/Microsoft.Storage/storageAccounts/stacct1?${API}`, body());
    assert.equal(taken.status, 409, taken.text);
    assert.equal(taken.json().error.code, 'StorageAccountAlreadyTaken');
    const check = (name) => ok('POST', `${sub}/providers/Microsoft.Storage/checkNameAvailability?${API}`, { name, type: 'Microsoft.Storage/storageAccounts' });
    assert.deepEqual(await check('stfree9'), { nameAvailable: true });
    const used = await check('stacct1');
    assert.equal(used.nameAvailable, false);
    assert.equal(used.reason, 'AlreadyExists');
    assert.equal((await check('Bad_Name')).reason, 'AccountNameInvalid');
  });

  it('sku and kind are required and checked', async () => {
    for (const b of [{ location: 'westus', kind: 'StorageV2' }, body({ sku: { name: 'Gold_LRS' } }), body({ kind: 'Tape' })]) {
      const r = await arm('PUT', `${accountPath('stbad1')}?${API}`, b);
      assert.equal(r.status, 400, `${JSON.stringify(b)}: ${r.text}`);
    }
  });

  it('listKeys: two full-permission keys; regenerateKey replaces one', async () => {
    const keys = await ok('POST', `${accountPath('stacct1')}/listKeys?${API}`);
    assert.deepEqual(keys.keys.map((k) => [k.keyName, k.permissions]), [['key1', 'FULL'], ['key2', 'FULL']]);
    for (const k of keys.keys) assert.equal(Buffer.from(k.value, 'base64').length, 64);
    assert.notEqual(keys.keys[0].value, keys.keys[1].value);
    const after1 = await ok('POST', `${accountPath('stacct1')}/regenerateKey?${API}`, { keyName: 'key1' });
    assert.notEqual(after1.keys[0].value, keys.keys[0].value);
    assert.equal(after1.keys[1].value, keys.keys[1].value);
    const bad = await arm('POST', `${accountPath('stacct1')}/regenerateKey?${API}`, { keyName: 'key3' });
    assert.equal(bad.status, 400, bad.text);
  });

  it('a Reader sees the account but not its keys', async () => {
    const reader = await armLib.principal(s, info.tenantId, 'st-reader');
    await ok('PUT', `${rg}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=2022-04-01`,
      { properties: { roleDefinitionId: `${sub}/providers/Microsoft.Authorization/roleDefinitions/${armLib.ROLES.Reader}`, principalId: reader.oid } });
    assert.equal((await arm('GET', `${accountPath('stacct1')}?${API}`, undefined, reader.token)).status, 200);
    const denied = await arm('POST', `${accountPath('stacct1')}/listKeys?${API}`, undefined, reader.token);
    assert.equal(denied.status, 403, denied.text);
    assert.match(denied.json().error.message, /Microsoft\.Storage\/storageAccounts\/listKeys\/action/);
  });

  it('deleting the account frees its name and its keys', async () => {
    await ok('PUT', `${accountPath('stgone1')}?${API}`, body());
    const before = await ok('POST', `${accountPath('stgone1')}/listKeys?${API}`);
    await ok('DELETE', `${accountPath('stgone1')}?${API}`);
    assert.equal((await arm('POST', `${accountPath('stgone1')}/listKeys?${API}`)).status, 404);
    await ok('PUT', `${accountPath('stgone1')}?${API}`, body());
    const fresh = await ok('POST', `${accountPath('stgone1')}/listKeys?${API}`);
    assert.notEqual(fresh.keys[0].value, before.keys[0].value);
  });

  it('blob containers through ARM: RBAC at the container, public access as the account allows, bad input', async () => {
    const containers = `${accountPath('stacct1')}/blobServices/default/containers`;
    const reader = await armLib.principal(s, info.tenantId, 'st-container-reader');
    await ok('PUT', `${rg}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=2022-04-01`,
      { properties: { roleDefinitionId: `${sub}/providers/Microsoft.Authorization/roleDefinitions/${armLib.ROLES.Reader}`, principalId: reader.oid } });
    assert.equal((await arm('PUT', `${containers}/cc1?${API}`, {})).status, 201);
    const listed = await arm('GET', `${containers}?${API}`, undefined, reader.token);
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(listed.json().value.map((c) => c.name), ['cc1']);
    const denied = await arm('PUT', `${containers}/cc2?${API}`, {}, reader.token);
    assert.equal(denied.status, 403, denied.text);
    assert.equal(denied.json().error.code, 'AuthorizationFailed');
    assert.match(denied.json().error.message, /blobServices\/containers\/write.*containers\/cc2/);
    const noDelete = await arm('DELETE', `${containers}/cc1?${API}`, undefined, reader.token);
    assert.equal(noDelete.status, 403, noDelete.text);

    const pub = await arm('PUT', `${containers}/cc2?${API}`, { properties: { publicAccess: 'Container' } });
    assert.equal(pub.status, 409, pub.text);
    assert.equal(pub.json().error.code, 'PublicAccessNotPermitted');
    for (const [what, bodyOf, code] of [
      ['publicAccess', { properties: { publicAccess: 'Everyone' } }, 'InvalidRequestPropertyValue'],
      ['metadata', { properties: { metadata: { a: 1 } } }, 'InvalidRequestPropertyValue'],
    ]) {
      const r = await arm('PUT', `${containers}/cc3?${API}`, bodyOf);
      assert.equal(r.status, 400, `${what}: ${r.text}`);
      assert.equal(r.json().error.code, code, what);
    }
    for (const name of ['ab', 'Upper', 'a--b', '-ab']) {
      const r = await arm('PUT', `${containers}/${name}?${API}`, {});
      assert.equal(r.status, 400, `${name}: ${r.text}`);
    }
    const noApi = await arm('GET', containers);
    assert.equal(noApi.status, 400);
    assert.equal(noApi.json().error.code, 'MissingApiVersionParameter');
    const otherService = await arm('GET', `${accountPath('stacct1')}/blobServices/other/containers?${API}`);
    assert.equal(otherService.status, 400, otherService.text);
    const patchMissing = await arm('PATCH', `${containers}/nosuch?${API}`, { properties: {} });
    assert.equal(patchMissing.status, 404, patchMissing.text);
    const service = await arm('GET', `${accountPath('stacct1')}/blobServices?${API}`);
    assert.deepEqual(service.json().value.map((v) => v.name), ['default']);
  });
});

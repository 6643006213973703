// The generic resource machinery every provider type plugs into, shown with
// Microsoft.Network/networkSecurityGroups and its nested securityRules: create/replace/patch/
// delete, location and name rules, ETags with If-Match/If-None-Match, nested resources kept in
// step with their parent's array, the listings, RBAC per type, and the error answers — plus the
// generic listings and ARM's answers for resource types no provider serves.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as armLib from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';

describe('ARM generic resources', () => {
  let s, info, auth, sub;
  const arm = (method, path, body) => s.request('arm', path, {
    method,
    headers: { Authorization: auth, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

  before(async () => {
    s = await az.start({ inMemory: false }); // `azsim app create` needs the file store
    info = JSON.parse(az.run(['info', '--json', '--data-dir', s.dataDir]).stdout);
    auth = `Bearer ${(await armLib.appToken(s, info.tenantId, info.clientId, info.clientSecret)).token}`;
    sub = `/subscriptions/${info.subscriptionId}`;
    const rg = await arm('PUT', `${sub}/resourcegroups/rg1?api-version=2021-04-01`, { location: 'westus' });
    assert.equal(rg.status, 201, rg.text);
  });
  after(() => az.finish(s));

  it('lists the resources of a subscription and of a group (none but the development account yet), with filters', async () => {
    // The first start made Azurite's development account (arm/storage.c), nothing else.
    const all = await arm('GET', `${sub}/resources?api-version=2021-04-01`);
    assert.equal(all.status, 200, all.text);
    assert.deepEqual(all.json().value.map((r) => r.id),
      [`${sub}/resourceGroups/development-storage/providers/Microsoft.Storage/storageAccounts/devstoreaccount1`]);
    for (const path of [`${sub}/resourceGroups/rg1/resources`,
      `${sub}/resources?$filter=resourceType%20eq%20%27Microsoft.KeyVault%2Fvaults%27`,
      `${sub}/resources?$filter=tagName%20eq%20%27env%27%20and%20tagValue%20eq%20%27dev%27`]) {
      const r = await arm('GET', `${path}${path.includes('?') ? '&' : '?'}api-version=2021-04-01`);
      assert.equal(r.status, 200, `${path}: ${r.text}`);
      assert.deepEqual(r.json(), { value: [] });
    }
  });

  it('/metadata/endpoints describes azsim as a cloud, without a token (az cloud register)', async () => {
    const old = await s.request('arm', '/metadata/endpoints?api-version=2015-01-01');
    assert.equal(old.status, 200, old.text);
    const cloud = old.json();
    assert.equal(cloud.authentication.loginEndpoint, `${s.urls.aad}/adfs`);
    assert.equal(cloud.authentication.identityProvider, 'ADFS');
    assert.ok(cloud.authentication.audiences.includes(`${s.urls.arm}/`), old.text);
    const clouds = await s.request('arm', '/metadata/endpoints?api-version=2022-09-01');
    assert.equal(clouds.status, 200, clouds.text);
    assert.ok(Array.isArray(clouds.json()), clouds.text);
    assert.equal(clouds.json()[0].resourceManager, `${s.urls.arm}/`);
    const missing = await s.request('arm', '/metadata/endpoints');
    assert.equal(missing.status, 400, missing.text);
    assert.equal(missing.json().error.code, 'MissingApiVersionParameter');
  });

  it('a missing group: 404 ResourceGroupNotFound', async () => {
    const r = await arm('GET', `${sub}/resourceGroups/nope/resources?api-version=2021-04-01`);
    assert.equal(r.status, 404, r.text);
    assert.equal(r.json().error.code, 'ResourceGroupNotFound');
  });

  it('an unknown namespace: 400 InvalidResourceNamespace; an unknown type: 400 InvalidResourceType', async () => {
    for (const method of ['PUT', 'GET', 'DELETE']) {
      const ns = await arm(method, `${sub}/resourceGroups/rg1/providers/Microsoft.Nope/things/t1?api-version=2021-04-01`,
        method === 'PUT' ? { location: 'westus' } : undefined);
      assert.equal(ns.status, 400, ns.text);
      assert.equal(ns.json().error.code, 'InvalidResourceNamespace');
      assert.match(ns.json().error.message, /'Microsoft\.Nope'/);
    }
    const type = await arm('PUT', `${sub}/resourceGroups/rg1/providers/Microsoft.Authorization/things/t1?api-version=2021-04-01`,
      { location: 'westus' });
    assert.equal(type.status, 400, type.text);
    assert.equal(type.json().error.code, 'InvalidResourceType');
    assert.match(type.json().error.message, /'things'.*'Microsoft\.Authorization'.*'2021-04-01'/);
  });

  describe('one resource type through the generic machinery (network security groups)', () => {
    const API = 'api-version=2022-07-01';
    const nsgPath = (name, rest = '') =>
      `${sub}/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/${name}${rest}`;
    const rule = (priority, extra = {}) => ({
      protocol: 'Tcp', access: 'Allow', direction: 'Inbound', priority,
      sourcePortRange: '*', destinationPortRange: '22', sourceAddressPrefix: '*',
      destinationAddressPrefix: '*', ...extra,
    });
    const get = (path) => arm('GET', `${path}?${API}`);

    it('PUT creates (201) with ARM\'s members, the type\'s own and an ETag; PUT again replaces (200)', async () => {
      const r = await arm('PUT', `${nsgPath('nsg1')}?${API}`, {
        location: 'West US', tags: { env: 'dev' }, id: 'ignored', bogus: 1,
        properties: { securityRules: [{ name: 'ssh', properties: rule(100) }], provisioningState: 'Failed' },
      });
      assert.equal(r.status, 201, r.text);
      const nsg = r.json();
      assert.equal(nsg.id, nsgPath('nsg1'));
      assert.equal(nsg.name, 'nsg1');
      assert.equal(nsg.type, 'Microsoft.Network/networkSecurityGroups');
      assert.equal(nsg.location, 'westus', 'locations are stored as ARM normalises them');
      assert.deepEqual(nsg.tags, { env: 'dev' });
      assert.equal(nsg.bogus, undefined, 'members ARM resources do not have are not kept');
      assert.equal(nsg.properties.provisioningState, 'Succeeded');
      assert.match(nsg.properties.resourceGuid, az.UUID_RE);
      assert.equal(nsg.properties.defaultSecurityRules.length, 6);
      assert.match(nsg.etag, /^W\/"[0-9a-f-]{36}"$/);
      assert.equal(r.headers.etag, nsg.etag);
      assert.equal(nsg.properties.securityRules.length, 1);
      const [ssh] = nsg.properties.securityRules;
      assert.equal(ssh.id, nsgPath('nsg1', '/securityRules/ssh'));
      assert.equal(ssh.type, 'Microsoft.Network/networkSecurityGroups/securityRules');
      assert.equal(ssh.properties.priority, 100);
      assert.equal(ssh.properties.provisioningState, 'Succeeded');

      const again = await arm('PUT', `${nsgPath('nsg1')}?${API}`, {
        location: 'westus', properties: { securityRules: [{ name: 'ssh', properties: rule(110) }] },
      });
      assert.equal(again.status, 200, again.text);
      assert.equal(again.json().properties.resourceGuid, nsg.properties.resourceGuid, 'kept across updates');
      assert.notEqual(again.json().etag, nsg.etag, 'a new ETag for each change');
      assert.deepEqual(again.json().tags, {}, 'PUT replaces: no tags sent, none kept');
      assert.equal(again.json().properties.securityRules[0].properties.priority, 110);
      const got = await get(nsgPath('NSG1'));
      assert.equal(got.status, 200, got.text);
      assert.deepEqual(got.json(), again.json(), 'names compare case-insensitively');
    });

    it('nested resources: a rule PUT on its own appears in the group, a DELETE removes it, a group PUT without it deletes it', async () => {
      const before = (await get(nsgPath('nsg1'))).json();
      const http = await arm('PUT', `${nsgPath('nsg1', '/securityRules/http')}?${API}`, { properties: rule(200, { destinationPortRange: '80' }) });
      assert.equal(http.status, 201, http.text);
      assert.equal(http.json().id, nsgPath('nsg1', '/securityRules/http'));
      assert.equal(http.json().location, undefined, 'nested types have no location');
      let nsg = (await get(nsgPath('nsg1'))).json();
      assert.deepEqual(nsg.properties.securityRules.map((x) => x.name), ['ssh', 'http']);
      assert.notEqual(nsg.etag, before.etag, 'the parent changed with its child');
      const list = await get(nsgPath('nsg1', '/securityRules'));
      assert.equal(list.status, 200, list.text);
      assert.deepEqual(list.json().value.map((x) => x.name), ['http', 'ssh']);

      const del = await arm('DELETE', `${nsgPath('nsg1', '/securityRules/http')}?${API}`);
      assert.equal(del.status, 200, del.text);
      nsg = (await get(nsgPath('nsg1'))).json();
      assert.deepEqual(nsg.properties.securityRules.map((x) => x.name), ['ssh']);

      const put = await arm('PUT', `${nsgPath('nsg1')}?${API}`, { location: 'westus', properties: {} });
      assert.equal(put.status, 200, put.text);
      assert.deepEqual(put.json().properties.securityRules, []);
      const gone = await get(nsgPath('nsg1', '/securityRules/ssh'));
      assert.equal(gone.status, 404, gone.text);
      assert.equal(gone.json().error.code, 'ResourceNotFound');

      const orphan = await arm('PUT', `${nsgPath('nope', '/securityRules/r')}?${API}`, { properties: rule(100) });
      assert.equal(orphan.status, 404, orphan.text);
      assert.equal(orphan.json().error.code, 'ParentResourceNotFound');
    });

    it('a refused nested resource refuses the whole write: nothing is stored', async () => {
      const r = await arm('PUT', `${nsgPath('nsg2')}?${API}`, {
        location: 'westus',
        properties: { securityRules: [{ name: 'ok', properties: rule(100) }, { name: 'bad', properties: rule(50) }] },
      });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json().error.code, 'SecurityRuleInvalidPriority');
      assert.match(r.json().error.message, /Value provided: 50/);
      assert.equal((await get(nsgPath('nsg2'))).status, 404);
      assert.equal((await get(nsgPath('nsg2', '/securityRules/ok'))).status, 404);
      const noProtocol = await arm('PUT', `${nsgPath('nsg1', '/securityRules/x')}?${API}`, { properties: rule(300, { protocol: 'Carrier-Pigeon' }) });
      assert.equal(noProtocol.status, 400, noProtocol.text);
      assert.equal(noProtocol.json().error.code, 'InvalidRequestFormat');
    });

    it('PATCH merges into what exists (tags replaced, the rest kept); a missing resource is 404', async () => {
      const before = (await get(nsgPath('nsg1'))).json();
      const r = await arm('PATCH', `${nsgPath('nsg1')}?${API}`, { tags: { team: 'a', env: 'prod' } });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json().tags, { team: 'a', env: 'prod' });
      assert.equal(r.json().properties.resourceGuid, before.properties.resourceGuid);
      assert.equal(r.json().location, 'westus');
      const missing = await arm('PATCH', `${nsgPath('ghost')}?${API}`, { tags: {} });
      assert.equal(missing.status, 404, missing.text);
      assert.equal(missing.json().error.code, 'ResourceNotFound');
      assert.equal(missing.json().error.message,
        "The Resource 'Microsoft.Network/networkSecurityGroups/ghost' under resource group 'rg1' was not found. " +
        'For more details please go to https://aka.ms/ARMResourceNotFoundFix');
    });

    it('If-Match and If-None-Match: 412 PreconditionFailed unless they hold; GET with a matching If-None-Match is 304', async () => {
      const current = await get(nsgPath('nsg1'));
      const etag = current.headers.etag;
      const body = { location: 'westus', tags: current.json().tags, properties: {} };
      const stale = await s.request('arm', `${nsgPath('nsg1')}?${API}`, {
        method: 'PUT', headers: { Authorization: auth, 'Content-Type': 'application/json', 'If-Match': 'W/"00000000-0000-0000-0000-000000000000"' },
        body: JSON.stringify(body),
      });
      assert.equal(stale.status, 412, stale.text);
      assert.equal(stale.json().error.code, 'PreconditionFailed');
      const exists = await s.request('arm', `${nsgPath('nsg1')}?${API}`, {
        method: 'PUT', headers: { Authorization: auth, 'Content-Type': 'application/json', 'If-None-Match': '*' },
        body: JSON.stringify(body),
      });
      assert.equal(exists.status, 412, exists.text);
      const matching = await s.request('arm', `${nsgPath('nsg1')}?${API}`, {
        method: 'PUT', headers: { Authorization: auth, 'Content-Type': 'application/json', 'If-Match': etag },
        body: JSON.stringify(body),
      });
      assert.equal(matching.status, 200, matching.text);
      const fresh = await s.request('arm', `${nsgPath('nsg3')}?${API}`, {
        method: 'PUT', headers: { Authorization: auth, 'Content-Type': 'application/json', 'If-None-Match': '*' },
        body: JSON.stringify(body),
      });
      assert.equal(fresh.status, 201, fresh.text);
      const notModified = await s.request('arm', `${nsgPath('nsg3')}?${API}`, {
        headers: { Authorization: auth, 'If-None-Match': fresh.headers.etag },
      });
      assert.equal(notModified.status, 304);
      const ifMatchMissing = await s.request('arm', `${nsgPath('ghost')}?${API}`, {
        method: 'DELETE', headers: { Authorization: auth, 'If-Match': '*' },
      });
      assert.equal(ifMatchMissing.status, 412, ifMatchMissing.text);
    });

    it('location: required, a real region, and fixed once created', async () => {
      const none = await arm('PUT', `${nsgPath('nsg4')}?${API}`, { properties: {} });
      assert.equal(none.status, 400, none.text);
      assert.equal(none.json().error.code, 'LocationRequired');
      const mars = await arm('PUT', `${nsgPath('nsg4')}?${API}`, { location: 'marsnorth' });
      assert.equal(mars.status, 400, mars.text);
      assert.equal(mars.json().error.code, 'LocationNotAvailableForResourceType');
      const moved = await arm('PUT', `${nsgPath('nsg1')}?${API}`, { location: 'eastus' });
      assert.equal(moved.status, 400, moved.text);
      assert.equal(moved.json().error.code, 'InvalidResourceLocation');
      assert.match(moved.json().error.message, /already exists in location 'westus'/);
    });

    it('names, bodies and api-versions the provider refuses', async () => {
      for (const name of ['-lead', 'trail.', 'a%26b', 'x'.repeat(81), 'semi;colon']) {
        const r = await arm('PUT', `${nsgPath(name)}?${API}`, { location: 'westus' });
        assert.equal(r.status, 400, `${name}: ${r.text}`);
        assert.equal(r.json().error.code, 'InvalidResourceName', name);
      }
      for (const [body, code] of [['[1]', 'InvalidRequestContent'], ['{"location":', 'InvalidRequestContent'],
        ['{"location":"westus","properties":"x"}', 'InvalidRequestFormat'],
        ['{"location":"westus","tags":{"a":1}}', 'InvalidRequestContent'],
        ['{"location":"westus","tags":{"a/b":"c"}}', 'InvalidTagNameCharacters']]) {
        const r = await s.request('arm', `${nsgPath('nsg5')}?${API}`, {
          method: 'PUT', headers: { Authorization: auth, 'Content-Type': 'application/json' }, body,
        });
        assert.equal(r.status, 400, `${body}: ${r.text}`);
        assert.equal(r.json().error.code, code, body);
      }
      const noVersion = await arm('GET', nsgPath('nsg1'));
      assert.equal(noVersion.status, 400, noVersion.text);
      assert.equal(noVersion.json().error.code, 'MissingApiVersionParameter');
      const badVersion = await arm('GET', `${nsgPath('nsg1')}?api-version=latest`);
      assert.equal(badVersion.status, 400, badVersion.text);
      assert.equal(badVersion.json().error.code, 'NoRegisteredProviderFound');
      const action = await arm('POST', `${nsgPath('nsg1', '/explode')}?${API}`);
      assert.equal(action.status, 400, action.text);
      assert.equal(action.json().error.code, 'InvalidResourceType');
      const noGroup = await arm('PUT', `${sub}/resourceGroups/nogroup/providers/Microsoft.Network/networkSecurityGroups/n?${API}`, { location: 'westus' });
      assert.equal(noGroup.status, 404, noGroup.text);
      assert.equal(noGroup.json().error.code, 'ResourceGroupNotFound');
    });

    it('listings: by group, by subscription, the generic /resources (top-level only) with $filter', async () => {
      const byGroup = await get(`${sub}/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups`);
      assert.equal(byGroup.status, 200, byGroup.text);
      assert.deepEqual(byGroup.json().value.map((x) => x.name), ['nsg1', 'nsg3']);
      const bySub = await get(`${sub}/providers/Microsoft.Network/networkSecurityGroups`);
      assert.equal(bySub.status, 200, bySub.text);
      assert.deepEqual(bySub.json().value.map((x) => x.name), ['nsg1', 'nsg3']);
      await arm('PUT', `${nsgPath('nsg3', '/securityRules/r1')}?${API}`, { properties: rule(100) });
      const all = await arm('GET', `${sub}/resources?api-version=2021-04-01`);
      assert.deepEqual(all.json().value.map((x) => x.name).filter((n) => n !== 'devstoreaccount1'), ['nsg1', 'nsg3'],
        'nested resources are not listed');
      const tagged = await arm('GET', `${sub}/resourceGroups/rg1/resources?$filter=tagName%20eq%20%27team%27%20and%20tagValue%20eq%20%27a%27&api-version=2021-04-01`);
      assert.deepEqual(tagged.json().value.map((x) => x.name), ['nsg1', 'nsg3']);
      const otherValue = await arm('GET', `${sub}/resources?$filter=tagName%20eq%20%27team%27%20and%20tagValue%20eq%20%27b%27&api-version=2021-04-01`);
      assert.deepEqual(otherValue.json().value, []);
      const typed = await arm('GET', `${sub}/resources?$filter=resourceType%20eq%20%27microsoft.network%2Fnetworksecuritygroups%27&api-version=2021-04-01`);
      assert.equal(typed.json().value.length, 2, typed.text);
      const provider = await arm('GET', `${sub}/providers/Microsoft.Network?api-version=2021-04-01`);
      assert.equal(provider.status, 200, provider.text);
      assert.ok(provider.json().resourceTypes.some((t) => t.resourceType === 'networkSecurityGroups/securityRules'), provider.text);
    });

    it('HEAD is 204/404; DELETE is 200 with what is nested, then 204', async () => {
      assert.equal((await arm('HEAD', `${nsgPath('nsg3')}?${API}`)).status, 204);
      assert.equal((await arm('HEAD', `${nsgPath('ghost')}?${API}`)).status, 404);
      const del = await arm('DELETE', `${nsgPath('nsg3')}?${API}`);
      assert.equal(del.status, 200, del.text);
      assert.equal((await get(nsgPath('nsg3', '/securityRules/r1'))).status, 404);
      const again = await arm('DELETE', `${nsgPath('nsg3')}?${API}`);
      assert.equal(again.status, 204, again.text);
    });

    it("RBAC names the type: a Reader reads, and is refused a write at the resource's scope", async () => {
      const reader = await armLib.principal(s, info.tenantId, 'nsg-reader');
      const assign = await arm('PUT', `${sub}/resourceGroups/rg1/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=2022-04-01`,
        { properties: { roleDefinitionId: `${sub}/providers/Microsoft.Authorization/roleDefinitions/${armLib.ROLES.Reader}`, principalId: reader.oid } });
      assert.equal(assign.status, 201, assign.text);
      const read = await armLib.armRequest(s, reader.token, 'GET', `${nsgPath('nsg1')}?${API}`);
      assert.equal(read.status, 200, read.text);
      const write = await armLib.armRequest(s, reader.token, 'PATCH', `${nsgPath('nsg1')}?${API}`, { tags: {} });
      assert.equal(write.status, 403, write.text);
      assert.equal(write.json().error.message, armLib.authorizationFailedMessage(reader.appId, reader.oid,
        'Microsoft.Network/networkSecurityGroups/write', nsgPath('nsg1')));
      const elsewhere = await armLib.armRequest(s, reader.token, 'GET', `${sub}/providers/Microsoft.Network/networkSecurityGroups?${API}`);
      assert.equal(elsewhere.status, 403, 'a group-scoped Reader cannot list the subscription');
    });

    it('deleting the group deletes its resources', async () => {
      const rg = await arm('PUT', `${sub}/resourcegroups/rg2?api-version=2021-04-01`, { location: 'westus' });
      assert.equal(rg.status, 201, rg.text);
      const path = `${sub}/resourceGroups/rg2/providers/Microsoft.Network/networkSecurityGroups/n1`;
      assert.equal((await arm('PUT', `${path}?${API}`, { location: 'westus', properties: { securityRules: [{ name: 'r', properties: rule(100) }] } })).status, 201);
      assert.equal((await arm('DELETE', `${sub}/resourcegroups/rg2?api-version=2021-04-01`)).status, 200);
      assert.equal((await arm('PUT', `${sub}/resourcegroups/rg2?api-version=2021-04-01`, { location: 'westus' })).status, 201);
      assert.equal((await get(path)).status, 404);
      assert.equal((await get(`${path}/securityRules/r`)).status, 404);
    });
  });

  it('a caller without a role is denied the listing, at the subscription scope', async () => {
    const created = az.run(['app', 'create', 'nobody', '--data-dir', s.dataDir]);
    assert.equal(created.code, 0, created.stderr);
    const app = JSON.parse(created.stdout);
    const { token, claims } = await armLib.appToken(s, info.tenantId, app.appId, app.clientSecret);
    const r = await s.request('arm', `${sub}/resources?api-version=2021-04-01`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.json().error.code, 'AuthorizationFailed');
    assert.equal(r.json().error.message,
      `The client '${app.appId}' with object id '${claims.oid}' does not have authorization to perform ` +
      `action 'Microsoft.Resources/subscriptions/resources/read' over scope '${sub}' or the scope ` +
      'is invalid. If access was recently granted, please refresh your credentials.');
  });
});

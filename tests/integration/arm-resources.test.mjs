// The generic resource listings and ARM's answers for resource types no provider serves.
import assert from 'node:assert/strict';
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

  it('lists the resources of a subscription and of a group (none exist yet), with filters', async () => {
    for (const path of [`${sub}/resources`, `${sub}/resourceGroups/rg1/resources`,
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

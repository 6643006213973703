// Azure Resource Manager with the real Azure SDKs for JavaScript: @azure/arm-resources
// (ResourceManagementClient) and @azure/arm-authorization (AuthorizationManagementClient) with an
// @azure/identity ClientSecretCredential of the admin application, (a) through the front door
// with nothing but `azsim env`, and (b) aimed at the listeners with the `endpoint` option and
// authorityHost (the clients then ask for "<endpoint>/.default", an audience azsim's ARM accepts).
// Resource groups: create (201, then 200), get, checkExistence (HEAD 204/404), update tags, list,
// beginDeleteAndWait; the generic resource operations (create, nested create, get, checkExistence,
// update, list with $filter, by id, delete) on a network security group; role definitions
// filtered by name; a role assignment for a second service
// principal (made with `azsim app create`, so the server keeps its data in files): create (201),
// get, listForScope(atScope()), delete. The SDK code runs in child `node` processes
// (lib/arm-client.mjs) that may connect to nothing but the loopback.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import * as aad from './lib/aad.mjs';
import * as arm from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';

const LOCATION = 'westus';

describe('ARM with @azure/arm-resources and @azure/arm-authorization', () => {
  let s;
  let ctx;
  let sub;
  let target; // the service principal that gets a role assignment
  const runs = {};
  const modes = {
    frontDoor: { group: 'sdk-frontdoor-rg', assignmentName: randomUUID() },
    direct: { group: 'sdk-direct-rg', assignmentName: randomUUID() },
  };

  before(async () => {
    s = await az.start({ inMemory: false });
    ctx = aad.context(s);
    sub = ctx.info.subscriptionId;
    target = await arm.principal(s, ctx.info.tenantId, 'sdk-assignee');
    const common = {
      tenantId: ctx.info.tenantId,
      clientId: ctx.info.clientId,
      clientSecret: ctx.info.clientSecret,
      subscriptionId: sub,
      location: LOCATION,
      principalId: target.oid,
      roleDefinitionId: `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/${arm.ROLES.Reader}`,
    };
    // The two clients run side by side, each in its own resource group.
    [runs.frontDoor, runs.direct] = await Promise.all([
      // Only what `azsim env` prints: the front door and the CA; no option in code.
      arm.runArmClient({ ...common, ...modes.frontDoor, credentialOptions: {}, clientOptions: {} }, aad.sdkEnv(ctx.env)),
      // No proxy: the CA only, the listeners by URL.
      arm.runArmClient({
        ...common,
        ...modes.direct,
        credentialOptions: { authorityHost: s.urls.aad, disableInstanceDiscovery: true },
        clientOptions: { endpoint: s.urls.arm },
        armScopeCheck: `${arm.ARM}/.default`,
      }, aad.sdkEnv({ NODE_EXTRA_CA_CERTS: ctx.env.NODE_EXTRA_CA_CERTS })),
    ]);
  });
  after(() => az.finish(s));

  it('the SDKs reached the simulator only: the public ARM host through the front door, the arm listener directly', () => {
    const expected = { frontDoor: arm.ARM, direct: s.urls.arm };
    for (const [mode, run] of Object.entries(runs)) {
      assert.ok(run.requests.length > 0, mode);
      for (const r of run.requests) {
        assert.ok(r.url.startsWith(`${expected[mode]}/`), `${mode}: ${r.method} ${r.url}`);
      }
    }
  });

  it('token audiences: management.azure.com by default, the endpoint itself when `endpoint` is set, credentialScopes when given', () => {
    for (const r of runs.frontDoor.requests) assert.equal(r.aud, arm.ARM, `${r.method} ${r.url}`);
    // The JS ARM clients ask for "<endpoint>/.default": azsim's own ARM URL is the audience of
    // every request but the one of the client with credentialScopes.
    const own = runs.direct.requests.filter((r) => r.aud === s.urls.arm);
    const scoped = runs.direct.requests.filter((r) => r.aud !== s.urls.arm);
    assert.equal(own.length, runs.direct.requests.length - 1, JSON.stringify(runs.direct.requests, null, 2));
    assert.equal(scoped.length, 1, JSON.stringify(scoped));
    assert.equal(scoped[0].aud, arm.ARM);
    assert.equal(scoped[0].method, 'GET');
    assert.match(scoped[0].url, /\/resourcegroups\/sdk-direct-rg\?/i);
  });

  it('arm-authorization sends its {scope} after a literal "/": "//subscriptions/..." is served', () => {
    for (const run of Object.values(runs)) {
      const authz = run.requests.filter((r) => /\/providers\/Microsoft\.Authorization\//.test(r.url));
      assert.ok(authz.length >= 6, JSON.stringify(authz));
      for (const r of authz) {
        assert.match(new URL(r.url).pathname, /^\/\/subscriptions\//, r.url);
        assert.ok(r.status < 300, `${r.method} ${r.url}: ${r.status}`);
      }
    }
  });

  for (const mode of ['frontDoor', 'direct']) {
    describe(mode === 'frontDoor' ? '(a) through the front door, configured only by `azsim env`' : '(b) endpoint option and authorityHost, no proxy', () => {
      const step = (id) => arm.okStep(runs[mode], id);
      const group = modes[mode].group;
      const groupId = () => `/subscriptions/${sub}/resourceGroups/${group}`;

      function assertGroup(g, tags) {
        assert.equal(g.id, groupId());
        assert.equal(g.name, group);
        assert.equal(g.type, 'Microsoft.Resources/resourceGroups');
        assert.equal(g.location, LOCATION);
        assert.deepEqual(g.tags, tags);
        assert.equal(g.properties?.provisioningState, 'Succeeded');
      }

      it('resourceGroups.createOrUpdate: 201 for a new group, 200 for an existing one', () => {
        const first = step('createGroup');
        assert.deepEqual(first.statuses, [201]);
        assertGroup(first.value, { created: 'sdk' });
        const again = step('createGroupAgain');
        assert.deepEqual(again.statuses, [200]);
        assertGroup(again.value, { created: 'again' });
      });

      it('resourceGroups.get', () => {
        const r = step('getGroup');
        assert.deepEqual(r.statuses, [200]);
        assertGroup(r.value, { created: 'again' });
      });

      it('resourceGroups.checkExistence: true (204), false (404) for a missing group', () => {
        const yes = step('checkExistence');
        assert.deepEqual(yes.statuses, [204]);
        assert.equal(yes.value.body, true);
        const no = step('checkExistenceMissing');
        assert.deepEqual(no.statuses, [404]);
        assert.equal(no.value.body, false);
      });

      it('resourceGroups.update replaces the tags; location stays', () => {
        const r = step('updateTags');
        assert.deepEqual(r.statuses, [200]);
        assertGroup(r.value, { env: 'test', owner: 'azsim' });
        assertGroup(step('getAfterUpdate').value, { env: 'test', owner: 'azsim' });
      });

      it('resourceGroups.list includes the group', () => {
        const list = step('listGroups').value;
        const mine = list.filter((g) => g.name === group);
        assert.equal(mine.length, 1, JSON.stringify(list.map((g) => g.name)));
        assertGroup(mine[0], { env: 'test', owner: 'azsim' });
      });

      it("roleDefinitions.list with roleName eq 'Reader': exactly the built-in Reader", () => {
        const defs = step('readerDefinitions').value;
        assert.equal(defs.length, 1, JSON.stringify(defs));
        const [d] = defs;
        assert.equal(d.name, arm.ROLES.Reader);
        assert.equal(d.id, `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/${arm.ROLES.Reader}`);
        assert.equal(d.type, 'Microsoft.Authorization/roleDefinitions');
        assert.equal(d.roleName, 'Reader');
        assert.equal(d.roleType, 'BuiltInRole');
        assert.deepEqual(d.assignableScopes, ['/']);
        assert.deepEqual(d.permissions[0].actions, ['*/read']);
        assert.deepEqual(d.permissions[0].notActions, []);
      });

      function assertAssignment(a) {
        const { assignmentName } = modes[mode];
        assert.equal(a.name, assignmentName);
        assert.equal(a.id, `${groupId()}/providers/Microsoft.Authorization/roleAssignments/${assignmentName}`);
        assert.equal(a.type, 'Microsoft.Authorization/roleAssignments');
        assert.equal(a.scope, groupId());
        assert.equal(a.principalId, target.oid);
        assert.equal(a.principalType, 'ServicePrincipal');
        assert.equal(a.roleDefinitionId, `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/${arm.ROLES.Reader}`);
      }

      it('generic resources: create (201), a nested resource (201) listed in its parent, get, checkExistence, update (PATCH), list with $filter, get/delete by id, delete', () => {
        const nsgId = `${groupId()}/providers/Microsoft.Network/networkSecurityGroups/sdk-nsg`;
        const created = step('createNsg');
        assert.deepEqual(created.statuses, [201]);
        assert.equal(created.value.id, nsgId);
        assert.equal(created.value.type, 'Microsoft.Network/networkSecurityGroups');
        assert.equal(created.value.properties.provisioningState, 'Succeeded');
        assert.deepEqual(created.value.properties.securityRules.map((r) => r.name), ['ssh']);
        const rule = step('createRule');
        assert.deepEqual(rule.statuses, [201]);
        assert.equal(rule.value.id, `${nsgId}/securityRules/http`);
        const got = step('getNsg');
        assert.deepEqual(got.statuses, [200]);
        assert.deepEqual(got.value.properties.securityRules.map((r) => r.name), ['ssh', 'http']);
        assert.deepEqual(got.value.tags, { tier: 'web' });
        assert.equal(step('nsgExists').value.body, true);
        assert.equal(step('nsgMissing').value.body, false);
        const updated = step('updateNsg');
        assert.deepEqual(updated.statuses, [200]);
        assert.deepEqual(updated.value.tags, { tier: 'db' });
        assert.equal(updated.value.properties.resourceGuid, got.value.properties.resourceGuid);
        const listed = step('listTyped').value;
        assert.deepEqual(listed.map((r) => r.id), [nsgId]);
        assert.equal(step('getRuleById').value.properties.destinationPortRange, '80');
        assert.deepEqual(step('deleteRuleById').statuses, [200]);
        assert.deepEqual(step('getAfterRuleDelete').value.properties.securityRules.map((r) => r.name), ['ssh']);
        assert.deepEqual(step('deleteNsg').statuses, [200]);
        assert.equal(step('nsgExistsAfterDelete').value.body, false);
      });

      it('@azure/arm-msi user-assigned identity: create (201, then 200 with the same ids), get, update tags, list by group and subscription, delete', () => {
        const uaiId = `${groupId()}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/sdk-identity`;
        const created = step('createIdentity');
        assert.deepEqual(created.statuses, [201]);
        const uai = created.value;
        assert.equal(uai.id, uaiId);
        assert.equal(uai.name, 'sdk-identity');
        assert.equal(uai.type, 'Microsoft.ManagedIdentity/userAssignedIdentities');
        assert.equal(uai.location, LOCATION);
        assert.deepEqual(uai.tags, { app: 'web' });
        assert.equal(uai.tenantId, ctx.info.tenantId);
        assert.match(uai.principalId, az.UUID_RE);
        assert.match(uai.clientId, az.UUID_RE);
        assert.notEqual(uai.principalId, uai.clientId);
        const again = step('createIdentityAgain');
        assert.deepEqual(again.statuses, [200]);
        assert.equal(again.value.principalId, uai.principalId, 'a replace keeps the identity');
        assert.equal(again.value.clientId, uai.clientId);
        assert.equal(step('getIdentity').value.clientId, uai.clientId);
        const updated = step('updateIdentity');
        assert.deepEqual(updated.value.tags, { app: 'api' });
        assert.equal(updated.value.principalId, uai.principalId);
        assert.deepEqual(step('listIdentitiesByGroup').value.map((i) => i.id), [uaiId]);
        assert.ok(step('listIdentitiesBySubscription').value.some((i) => i.id === uaiId));
        assert.deepEqual(step('deleteIdentity').statuses, [200]);
        const gone = runs[mode].byId.getIdentityAfterDelete;
        assert.equal(gone.ok, false);
        assert.equal(gone.error.statusCode, 404);
        assert.equal(gone.error.code, 'ResourceNotFound');
      });

      it('roleAssignments.create (201) and get, for a service principal made with `azsim app create`', () => {
        const created = step('createAssignment');
        assert.deepEqual(created.statuses, [201]);
        assertAssignment(created.value);
        const got = step('getAssignment');
        assert.deepEqual(got.statuses, [200]);
        assertAssignment(got.value);
      });

      it('roleAssignments.listForScope(atScope()): the new assignment and those above the group, none below or beside', () => {
        const list = step('listAtScope').value;
        const mine = list.filter((a) => a.name === modes[mode].assignmentName);
        assert.equal(mine.length, 1, JSON.stringify(list, null, 2));
        assertAssignment(mine[0]);
        for (const a of list) {
          assert.ok([groupId(), `/subscriptions/${sub}`, '/'].includes(a.scope), `not at or above the group: ${a.scope}`);
        }
        // The admins' Owner assignments on the subscription apply at the group too.
        const owners = list.filter((a) => a.scope === `/subscriptions/${sub}` && a.roleDefinitionId.endsWith(`/${arm.ROLES.Owner}`));
        assert.ok(owners.length >= 1, JSON.stringify(list, null, 2));
      });

      it('roleAssignments.delete removes it from the list', () => {
        const deleted = step('deleteAssignment');
        assert.deepEqual(deleted.statuses, [200]);
        assertAssignment(deleted.value);
        const list = step('listAfterDelete').value;
        assert.deepEqual(list.filter((a) => a.name === modes[mode].assignmentName), []);
      });

      if (mode === 'direct') {
        it("credentialScopes ['https://management.azure.com/.default'] works with `endpoint` too", () => {
          const r = step('getWithCredentialScopes');
          assert.deepEqual(r.statuses, [200]);
          assertGroup(r.value, { env: 'test', owner: 'azsim' });
        });
      }

      it('resourceGroups.beginDeleteAndWait, then checkExistence is false', () => {
        const r = step('deleteGroup');
        assert.equal(r.statuses[0], 200, JSON.stringify(r.statuses));
        assert.equal(step('checkExistenceAfterDelete').value.body, false);
      });
    });
  }
});

// ARM's role-based access control with raw HTTPS and tokens from the token endpoint: service
// principals made with `azsim app create` (on a file-backed server) get built-in and custom roles
// from the admin (Owner), then every request is allowed or denied by their assignments: Reader,
// Contributor (its notActions), User Access Administrator, a custom role with a wildcard, an
// assignment at one resource group, revocation, PrincipalNotFound and RoleAssignmentExists. Every
// decision must be in the audit log (GET /_azsim/audit) with its reason, under the request's id.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import * as arm from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';

const RG_API = '?api-version=2021-04-01';
const AUTHZ_API = '?api-version=2022-04-01';
const RG_WRITE = 'Microsoft.Resources/subscriptions/resourceGroups/write';
const RG_READ = 'Microsoft.Resources/subscriptions/resourceGroups/read';
const RG_DELETE = 'Microsoft.Resources/subscriptions/resourceGroups/delete';
const RA_WRITE = 'Microsoft.Authorization/roleAssignments/write';
const RA_DELETE = 'Microsoft.Authorization/roleAssignments/delete';
const RD_WRITE = 'Microsoft.Authorization/roleDefinitions/write';

describe('ARM RBAC: roles, scopes, notActions, custom roles, revocation and the audit log', () => {
  let s;
  let info;
  let sub;
  let admin; // {appId, oid, token}: Owner on the subscription
  const p = {}; // the principals under test
  const assignmentOf = {}; // principal name -> its assignment's name
  const custom = { id: randomUUID(), name: `azsim group operator ${randomUUID().slice(0, 8)}` };

  const subScope = () => `/subscriptions/${sub}`;
  /** A group's path, in the casing the request uses (clients send "resourcegroups"). */
  const group = (name, segment = 'resourcegroups') => `/subscriptions/${sub}/${segment}/${name}`;
  const assignmentPath = (scope, name) => `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}`;
  const definitionId = (roleId) => `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/${roleId}`;
  const send = (who, method, path, body) => arm.armRequest(s, who.token, method, path, body);

  /** As admin: assign `roleId` to `principal` at `scope`; returns the assignment's name. */
  async function assign(principal, roleId, scope) {
    const name = randomUUID();
    const r = await send(admin, 'PUT', assignmentPath(scope, name) + AUTHZ_API, {
      properties: { roleDefinitionId: definitionId(roleId), principalId: principal.oid, principalType: 'ServicePrincipal' },
    });
    assert.equal(r.status, 201, r.text);
    return name;
  }

  /** The audit entry of response `r` of principal `who`. */
  const auditOf = (r, who) => arm.auditEntryOf(s, admin.token, r, who.oid);

  /**
   * `r` is a 403 AuthorizationFailed for `who`, `action` and `scope` with Azure's message
   * (the action's casing is checked on its own, see "ARM names the action ..." below), and the
   * audit log has the denial with its reason.
   */
  async function assertDenied(r, who, action, scope) {
    const where = `${r.status} ${r.text}`;
    assert.equal(r.status, 403, where);
    assert.match(r.headers['content-type'] ?? '', /^application\/json/, where);
    const { error } = r.json();
    assert.equal(error.code, 'AuthorizationFailed', where);
    const named = /perform action '([^']*)'/.exec(error.message)?.[1] ?? '';
    assert.equal(named.toLowerCase(), action.toLowerCase(), where);
    assert.equal(error.message, arm.authorizationFailedMessage(who.appId, who.oid, named, scope));
    const entry = await auditOf(r, who);
    assert.equal(entry.module, 'arm');
    assert.equal(entry.principal, who.oid);
    assert.equal(entry.allowed, false, JSON.stringify(entry));
    assert.equal(entry.action.toLowerCase(), action.toLowerCase(), JSON.stringify(entry));
    assert.equal(entry.scope, scope, JSON.stringify(entry));
    assert.match(entry.reason, /denied/i, JSON.stringify(entry));
    assert.ok(entry.reason.toLowerCase().includes(action.toLowerCase()), `the reason names the action: ${JSON.stringify(entry)}`);
    return entry;
  }

  /**
   * `r` has `status`, and the audit log has the grant of `action` at `scope` by `role` (scope
   * null: not checked; lists are, on their own, below).
   */
  async function assertAllowed(r, who, status, action, scope, role) {
    assert.equal(r.status, status, `${r.status} ${r.text}`);
    const entry = await auditOf(r, who);
    assert.equal(entry.module, 'arm');
    assert.equal(entry.principal, who.oid);
    assert.equal(entry.allowed, true, JSON.stringify(entry));
    assert.equal(entry.action.toLowerCase(), action.toLowerCase(), JSON.stringify(entry));
    if (scope !== null) assert.equal(entry.scope, scope, JSON.stringify(entry));
    assert.ok(entry.reason.includes(`'${role}'`), `the reason names the role '${role}': ${JSON.stringify(entry)}`);
    return entry;
  }

  before(async () => {
    s = await az.start({ inMemory: false });
    const r = az.run(['info', '--json', '--data-dir', s.dataDir]);
    assert.equal(r.code, 0, r.stderr);
    info = JSON.parse(r.stdout);
    sub = info.subscriptionId;
    const t = await arm.appToken(s, info.tenantId, info.clientId, info.clientSecret);
    admin = { appId: info.clientId, oid: t.claims.oid, token: t.token };

    for (const name of ['rbac-shared', 'rbac-scoped', 'rbac-other']) {
      const created = await send(admin, 'PUT', group(name) + RG_API, { location: 'westus' });
      assert.equal(created.status, 201, created.text);
    }
    for (const name of ['reader', 'contributor', 'uaa', 'custom', 'rgReader', 'revokee', 'bystander']) {
      p[name] = await arm.principal(s, info.tenantId, `rbac-${name}`);
    }

    // The custom role: everything on resource groups, nothing else, assignable in the subscription.
    const def = await send(admin, 'PUT', `${subScope()}/providers/Microsoft.Authorization/roleDefinitions/${custom.id}${AUTHZ_API}`, {
      properties: {
        roleName: custom.name,
        description: 'Resource groups only',
        type: 'CustomRole',
        permissions: [{ actions: ['Microsoft.Resources/subscriptions/resourceGroups/*'], notActions: [] }],
        assignableScopes: [subScope()],
      },
    });
    assert.equal(def.status, 201, def.text);
    custom.created = def.json();

    assignmentOf.reader = await assign(p.reader, arm.ROLES.Reader, subScope());
    assignmentOf.contributor = await assign(p.contributor, arm.ROLES.Contributor, subScope());
    assignmentOf.uaa = await assign(p.uaa, arm.ROLES['User Access Administrator'], subScope());
    assignmentOf.custom = await assign(p.custom, custom.id, subScope());
    assignmentOf.rgReader = await assign(p.rgReader, arm.ROLES.Reader, group('rbac-scoped', 'resourceGroups'));
    assignmentOf.revokee = await assign(p.revokee, arm.ROLES.Reader, subScope());
  });
  after(() => az.finish(s));

  describe('Reader', () => {
    it('cannot create a resource group: 403 AuthorizationFailed with Azure\'s message (client = app id, object id = SP oid), scope as the request spelled it', async () => {
      const lower = await send(p.reader, 'PUT', group('reader-made') + RG_API, { location: 'westus' });
      await assertDenied(lower, p.reader, RG_WRITE, group('reader-made'));
      const camel = await send(p.reader, 'PUT', group('Reader-Made-2', 'resourceGroups') + RG_API, { location: 'westus' });
      await assertDenied(camel, p.reader, RG_WRITE, group('Reader-Made-2', 'resourceGroups'));
      for (const name of ['reader-made', 'Reader-Made-2']) {
        assert.equal((await send(admin, 'HEAD', group(name) + RG_API)).status, 404, `${name} was not created`);
      }
    });

    it('ARM names the action in the casing of the request path: "…/resourcegroups/write" for the clients\' "/resourcegroups/"', async () => {
      // Every AuthorizationFailed that az, the Go, .NET and JS SDKs print for a group create reads
      // "perform action 'Microsoft.Resources/subscriptions/resourcegroups/write' over scope
      // '/subscriptions/<sub>/resourcegroups/<name>'": the action is spelled as the path was.
      const r = await send(p.reader, 'PUT', group('reader-made-3') + RG_API, { location: 'westus' });
      assert.equal(r.status, 403, r.text);
      assert.equal(r.json().error.message, arm.authorizationFailedMessage(p.reader.appId, p.reader.oid,
        'Microsoft.Resources/subscriptions/resourcegroups/write', group('reader-made-3')));
    });

    it('can read groups (list, get, HEAD); each read is audited as granted by its Reader assignment', async () => {
      const list = await send(p.reader, 'GET', `${subScope()}/resourcegroups${RG_API}`);
      const listed = await assertAllowed(list, p.reader, 200, RG_READ, null, 'Reader');
      assert.ok(list.json().value.some((g) => g.name === 'rbac-shared'), list.text);
      assert.ok(listed.reason.includes(assignmentOf.reader), `the reason names the assignment: ${listed.reason}`);
      const get = await send(p.reader, 'GET', group('rbac-shared') + RG_API);
      await assertAllowed(get, p.reader, 200, RG_READ, group('rbac-shared'), 'Reader');
      assert.equal(get.json().name, 'rbac-shared');
      await assertAllowed(await send(p.reader, 'HEAD', group('rbac-shared') + RG_API), p.reader, 204, RG_READ, group('rbac-shared'), 'Reader');
    });

    it('cannot delete a group', async () => {
      await assertDenied(await send(p.reader, 'DELETE', group('rbac-shared') + RG_API), p.reader, RG_DELETE, group('rbac-shared'));
      assert.equal((await send(admin, 'HEAD', group('rbac-shared') + RG_API)).status, 204);
    });
  });

  describe('Contributor', () => {
    it('can create, tag and delete a resource group', async () => {
      const created = await send(p.contributor, 'PUT', group('contributor-made') + RG_API, { location: 'westus' });
      await assertAllowed(created, p.contributor, 201, RG_WRITE, group('contributor-made'), 'Contributor');
      const tagged = await send(p.contributor, 'PATCH', group('contributor-made') + RG_API, { tags: { by: 'contributor' } });
      await assertAllowed(tagged, p.contributor, 200, RG_WRITE, group('contributor-made'), 'Contributor');
      assert.deepEqual(tagged.json().tags, { by: 'contributor' });
      const deleted = await send(p.contributor, 'DELETE', group('contributor-made') + RG_API);
      await assertAllowed(deleted, p.contributor, 200, RG_DELETE, group('contributor-made'), 'Contributor');
    });

    it('cannot create role assignments: its notActions take Microsoft.Authorization/*/Write away from "*"', async () => {
      const name = randomUUID();
      const path = assignmentPath(group('rbac-shared', 'resourceGroups'), name);
      const r = await send(p.contributor, 'PUT', path + AUTHZ_API, {
        properties: { roleDefinitionId: definitionId(arm.ROLES.Reader), principalId: p.bystander.oid, principalType: 'ServicePrincipal' },
      });
      await assertDenied(r, p.contributor, RA_WRITE, path);
      assert.equal((await send(admin, 'GET', path + AUTHZ_API)).status, 404, 'no assignment was made');
    });

    it('notActions take away only what they name: it reads role assignments but cannot delete one or write a role definition', async () => {
      const list = await send(p.contributor, 'GET', `${subScope()}/providers/Microsoft.Authorization/roleAssignments${AUTHZ_API}`);
      assert.equal(list.status, 200, list.text);
      assert.ok(list.json().value.some((a) => a.name === assignmentOf.reader), list.text);
      const readerAssignment = assignmentPath(subScope(), assignmentOf.reader);
      await assertDenied(await send(p.contributor, 'DELETE', readerAssignment + AUTHZ_API), p.contributor, RA_DELETE, readerAssignment);
      assert.equal((await send(admin, 'GET', readerAssignment + AUTHZ_API)).status, 200, 'the assignment is still there');
      const def = `${subScope()}/providers/Microsoft.Authorization/roleDefinitions/${randomUUID()}`;
      const r = await send(p.contributor, 'PUT', def + AUTHZ_API, {
        properties: { roleName: 'not allowed', permissions: [{ actions: ['*'] }], assignableScopes: [subScope()] },
      });
      await assertDenied(r, p.contributor, RD_WRITE, def);
    });
  });

  describe('User Access Administrator', () => {
    it('can create and delete role assignments, which then take effect', async () => {
      const name = randomUUID();
      const path = assignmentPath(group('rbac-shared', 'resourceGroups'), name);
      const created = await send(p.uaa, 'PUT', path + AUTHZ_API, {
        properties: { roleDefinitionId: definitionId(arm.ROLES.Reader), principalId: p.bystander.oid, principalType: 'ServicePrincipal' },
      });
      await assertAllowed(created, p.uaa, 201, RA_WRITE, path, 'User Access Administrator');
      assert.equal(created.json().properties.principalId, p.bystander.oid);
      const read = await send(p.bystander, 'GET', group('rbac-shared') + RG_API);
      await assertAllowed(read, p.bystander, 200, RG_READ, group('rbac-shared'), 'Reader');
      const deleted = await send(p.uaa, 'DELETE', path + AUTHZ_API);
      await assertAllowed(deleted, p.uaa, 200, RA_DELETE, path, 'User Access Administrator');
      await assertDenied(await send(p.bystander, 'GET', group('rbac-shared') + RG_API), p.bystander, RG_READ, group('rbac-shared'));
    });

    it('cannot create a resource group, but reads them (*/read)', async () => {
      await assertDenied(await send(p.uaa, 'PUT', group('uaa-made') + RG_API, { location: 'westus' }), p.uaa, RG_WRITE, group('uaa-made'));
      const get = await send(p.uaa, 'GET', group('rbac-shared') + RG_API);
      await assertAllowed(get, p.uaa, 200, RG_READ, group('rbac-shared'), 'User Access Administrator');
    });
  });

  describe('an assignment at a resource group', () => {
    it('grants nothing at the subscription: listing groups is denied', async () => {
      const r = await send(p.rgReader, 'GET', `${subScope()}/resourcegroups${RG_API}`);
      assert.equal(r.status, 403, r.text);
      assert.equal(r.json().error.code, 'AuthorizationFailed', r.text);
      assert.match(r.json().error.message, /perform action 'Microsoft\.Resources\/subscriptions\/resourceGroups\/read'/i);
      const entry = await auditOf(r, p.rgReader);
      assert.equal(entry.allowed, false, JSON.stringify(entry));
    });

    it('a denied list names the collection\'s parent as the scope, as ARM does: \'/subscriptions/<sub>\'', async () => {
      const r = await send(p.rgReader, 'GET', `${subScope()}/resourcegroups${RG_API}`);
      await assertDenied(r, p.rgReader, RG_READ, subScope());
    });

    it('nor at another group, nor a write at its own group', async () => {
      await assertDenied(await send(p.rgReader, 'GET', group('rbac-other') + RG_API), p.rgReader, RG_READ, group('rbac-other'));
      await assertDenied(await send(p.rgReader, 'PUT', group('rbac-scoped') + RG_API, { location: 'westus' }), p.rgReader, RG_WRITE, group('rbac-scoped'));
    });

    it('allows reading that group (any casing of the path), and the subscription is listed for the principal', async () => {
      const get = await send(p.rgReader, 'GET', group('rbac-scoped') + RG_API);
      const entry = await assertAllowed(get, p.rgReader, 200, RG_READ, group('rbac-scoped'), 'Reader');
      assert.ok(entry.reason.includes(assignmentOf.rgReader), entry.reason);
      const camel = await send(p.rgReader, 'GET', group('rbac-scoped', 'resourceGroups') + RG_API);
      await assertAllowed(camel, p.rgReader, 200, RG_READ, group('rbac-scoped', 'resourceGroups'), 'Reader');
      const subs = await send(p.rgReader, 'GET', '/subscriptions?api-version=2019-11-01');
      assert.equal(subs.status, 200, subs.text);
      assert.deepEqual(subs.json().value.map((v) => v.subscriptionId), [sub]);
    });
  });

  describe('a custom role', () => {
    it('is created by PUT with a new GUID and listed by name and by type', async () => {
      const d = custom.created;
      assert.equal(d.name, custom.id);
      assert.equal(d.id, definitionId(custom.id));
      assert.equal(d.properties.roleName, custom.name);
      assert.equal(d.properties.type, 'CustomRole');
      assert.deepEqual(d.properties.assignableScopes, [subScope()]);
      const byName = await send(admin, 'GET', `${subScope()}/providers/Microsoft.Authorization/roleDefinitions${AUTHZ_API}&$filter=${encodeURIComponent(`roleName eq '${custom.name}'`)}`);
      assert.equal(byName.status, 200, byName.text);
      assert.deepEqual(byName.json().value.map((v) => v.name), [custom.id]);
      const byType = await send(admin, 'GET', `${subScope()}/providers/Microsoft.Authorization/roleDefinitions${AUTHZ_API}&$filter=${encodeURIComponent("type eq 'CustomRole'")}`);
      assert.equal(byType.status, 200, byType.text);
      assert.deepEqual(byType.json().value.map((v) => v.name), [custom.id]);
    });

    it('grants what its wildcard covers: create, read, tag and delete groups', async () => {
      const path = group('custom-made');
      await assertAllowed(await send(p.custom, 'PUT', path + RG_API, { location: 'westus' }), p.custom, 201, RG_WRITE, path, custom.name);
      await assertAllowed(await send(p.custom, 'GET', path + RG_API), p.custom, 200, RG_READ, path, custom.name);
      await assertAllowed(await send(p.custom, 'PATCH', path + RG_API, { tags: { by: 'custom' } }), p.custom, 200, RG_WRITE, path, custom.name);
      await assertAllowed(await send(p.custom, 'DELETE', path + RG_API), p.custom, 200, RG_DELETE, path, custom.name);
    });

    it('and nothing else: no role assignment write', async () => {
      const path = assignmentPath(group('rbac-shared', 'resourceGroups'), randomUUID());
      const r = await send(p.custom, 'PUT', path + AUTHZ_API, {
        properties: { roleDefinitionId: definitionId(arm.ROLES.Reader), principalId: p.bystander.oid, principalType: 'ServicePrincipal' },
      });
      await assertDenied(r, p.custom, RA_WRITE, path);
    });
  });

  it('deleting an assignment revokes access on the very next request, with the same token', async () => {
    const path = group('rbac-shared');
    await assertAllowed(await send(p.revokee, 'GET', path + RG_API), p.revokee, 200, RG_READ, path, 'Reader');
    const del = await send(admin, 'DELETE', assignmentPath(subScope(), assignmentOf.revokee) + AUTHZ_API);
    assert.equal(del.status, 200, del.text);
    assert.equal(del.json().name, assignmentOf.revokee);
    await assertDenied(await send(p.revokee, 'GET', path + RG_API), p.revokee, RG_READ, path);
  });

  it('an unknown principal: 400 PrincipalNotFound, nothing created', async () => {
    const principalId = randomUUID();
    const name = randomUUID();
    const path = assignmentPath(subScope(), name);
    const r = await send(admin, 'PUT', path + AUTHZ_API, {
      properties: { roleDefinitionId: definitionId(arm.ROLES.Reader), principalId },
    });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json().error.code, 'PrincipalNotFound', r.text);
    assert.ok(r.json().error.message.includes(principalId), r.text);
    const get = await send(admin, 'GET', path + AUTHZ_API);
    assert.equal(get.status, 404, get.text);
    assert.equal(get.json().error.code, 'RoleAssignmentNotFound');
  });

  it('the same principal, role and scope under a new name: 409 RoleAssignmentExists', async () => {
    const name = randomUUID();
    const path = assignmentPath(subScope(), name);
    const r = await send(admin, 'PUT', path + AUTHZ_API, {
      properties: { roleDefinitionId: definitionId(arm.ROLES.Reader), principalId: p.reader.oid, principalType: 'ServicePrincipal' },
    });
    assert.equal(r.status, 409, r.text);
    assert.equal(r.json().error.code, 'RoleAssignmentExists', r.text);
    assert.equal((await send(admin, 'GET', path + AUTHZ_API)).status, 404);
  });

  it('the audit log: denied=true has only denials, newest first; the Reader\'s write is there with action, scope and allowed: false, its read with the role that granted it', async () => {
    const write = await send(p.reader, 'PUT', group('audited-write') + RG_API, { location: 'westus' });
    assert.equal(write.status, 403, write.text);
    const read = await send(p.reader, 'GET', group('rbac-shared') + RG_API);
    assert.equal(read.status, 200, read.text);

    const denials = await arm.audit(s, admin.token, { principal: p.reader.oid, denied: true, top: 3 });
    assert.ok(denials.length >= 1 && denials.length <= 3, JSON.stringify(denials));
    for (const e of denials) assert.equal(e.allowed, false, JSON.stringify(e));
    const [newest] = denials;
    assert.equal(newest.requestId, write.headers['x-ms-request-id']);
    assert.equal(newest.principal, p.reader.oid);
    assert.equal(newest.module, 'arm');
    assert.equal(newest.action.toLowerCase(), RG_WRITE.toLowerCase());
    assert.equal(newest.scope, group('audited-write'));
    assert.ok(!Number.isNaN(Date.parse(newest.time)), newest.time);

    const all = await arm.audit(s, admin.token, { principal: p.reader.oid, top: 2 });
    assert.deepEqual(all.map((e) => e.requestId), [read.headers['x-ms-request-id'], write.headers['x-ms-request-id']]);
    const grant = all[0];
    assert.equal(grant.allowed, true);
    assert.equal(grant.action.toLowerCase(), RG_READ.toLowerCase());
    assert.equal(grant.scope, group('rbac-shared'));
    assert.ok(grant.reason.includes("'Reader'"), grant.reason);
    assert.ok(grant.reason.includes(assignmentOf.reader), grant.reason);
    assert.ok(grant.reason.includes(subScope()), grant.reason);
  });
});

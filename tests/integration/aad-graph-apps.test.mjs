// Microsoft Graph app registrations and service principals by hand, on the aad listener: the
// lifecycle az ad sp create-for-rbac drives (create, addPassword, service principal, sign-in,
// removePassword, delete), Graph's wire shapes, and what it answers to bad input, unknown ids and
// callers without Application.ReadWrite.All. tests/cli/test_graph_az.py runs the real az.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import * as aad from './lib/aad.mjs';
import * as arm from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';

const GRAPH = 'https://graph.microsoft.com';
const CONTEXT = 'https://graph.microsoft.com/v1.0/$metadata#';
const MISSING = '00000000-0000-4000-8000-000000000000';

/** One Graph request with `token`; `body` an object (sent as JSON) or a string (sent as is). */
function graph(s, token, method, path, body) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return s.request('aad', path, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Assert a Graph error: status, {"error":{"code","message","innerError"}}, and the message. */
function assertGraphError(r, status, code, message) {
  const where = `${r.status} ${r.text}`;
  assert.equal(r.status, status, where);
  assert.match(r.headers['content-type'] ?? '', /^application\/json/, where);
  const body = r.json();
  assert.deepEqual(Object.keys(body), ['error'], where);
  assert.equal(body.error.code, code, where);
  if (message instanceof RegExp) assert.match(body.error.message, message, where);
  else if (message !== undefined) assert.equal(body.error.message, message, where);
  assert.equal(body.error.innerError['request-id'], r.headers['x-ms-request-id'], where);
}

/** A client-credentials token request (status unchecked). */
function clientToken(s, tenantId, appId, secret, scope = `${arm.ARM}/.default`) {
  return aad.postForm(s, `/${tenantId}/oauth2/v2.0/token`, {
    grant_type: 'client_credentials', client_id: appId, client_secret: secret, scope,
  });
}

describe('Graph applications and service principals', () => {
  let s;
  let info;
  let admin; // a Graph token of the admin application

  before(async () => {
    s = await az.start();
    info = aad.info(s.dataDir);
    admin = (await arm.appToken(s, info.tenantId, info.clientId, info.clientSecret, GRAPH)).token;
  });
  after(() => az.finish(s));

  test('lifecycle: create, add a password, a service principal, sign in, remove, delete', async () => {
    const created = await graph(s, admin, 'POST', '/v1.0/applications', {
      displayName: 'graph-lifecycle',
      keyCredentials: [],
      passwordCredentials: [{ displayName: 'at-create', endDateTime: '2099-01-01T00:00:00Z' }],
    });
    assert.equal(created.status, 201, created.text);
    const app = created.json();
    assert.equal(app['@odata.context'], `${CONTEXT}applications/$entity`);
    assert.match(app.id, az.UUID_RE);
    assert.match(app.appId, az.UUID_RE);
    assert.notEqual(app.id, app.appId);
    assert.equal(app.displayName, 'graph-lifecycle');
    assert.deepEqual(app.identifierUris, []);
    assert.equal(app.signInAudience, 'AzureADMyOrg');
    assert.equal(app.publisherDomain, info.tenantDomain);
    assert.deepEqual(app.keyCredentials, []);
    assert.equal(app.passwordCredentials.length, 1);
    const atCreate = app.passwordCredentials[0];
    assert.equal(atCreate.displayName, 'at-create');
    assert.match(atCreate.secretText, /^[A-Za-z0-9]{3}~[A-Za-z0-9_-]{36}$/);
    assert.equal(atCreate.hint, atCreate.secretText.slice(0, 3));
    assert.equal(atCreate.endDateTime, '2099-01-01T00:00:00.000Z');

    // Never again: GET shows no secret text.
    const got = await graph(s, admin, 'GET', `/v1.0/applications/${app.id}`);
    assert.equal(got.status, 200, got.text);
    assert.equal(got.json().passwordCredentials[0].secretText, null);
    assert.equal(got.json().passwordCredentials[0].keyId, atCreate.keyId);
    assert.ok(!got.text.includes(atCreate.secretText));

    // Lists and their filters (az quotes everything but the '$').
    for (const filter of [`appId eq '${app.appId}'`, "displayName eq 'GRAPH-lifecycle'",
      "startswith(displayName,'graph-life')", `id eq '${app.id}' and displayName eq 'graph-lifecycle'`]) {
      const r = await graph(s, admin, 'GET', `/v1.0/applications?$filter=${encodeURIComponent(filter)}`);
      assert.equal(r.status, 200, `${filter}: ${r.text}`);
      assert.equal(r.json()['@odata.context'], `${CONTEXT}applications`);
      assert.deepEqual(r.json().value.map((a) => a.id), [app.id], filter);
    }
    const none = await graph(s, admin, 'GET', `/v1.0/applications?$filter=${encodeURIComponent("startswith(displayName,'graph-lifecycle-')")}`);
    assert.deepEqual(none.json().value, []);

    // addPassword: 200 with the new credential, its text this once.
    const added = await graph(s, admin, 'POST', `/v1.0/applications/${app.id}/addPassword`,
      { passwordCredential: { displayName: 'rbac' } });
    assert.equal(added.status, 200, added.text);
    const pw = added.json();
    assert.equal(pw['@odata.context'], `${CONTEXT}microsoft.graph.passwordCredential`);
    assert.equal(pw.displayName, 'rbac');
    assert.match(pw.keyId, az.UUID_RE);
    const lifetime = Date.parse(pw.endDateTime) - Date.parse(pw.startDateTime);
    assert.equal(lifetime, 2 * 365 * 86400000, 'two years by default');

    // No service principal yet: the application cannot sign in to the tenant.
    const early = await clientToken(s, info.tenantId, app.appId, pw.secretText);
    assert.equal(early.status, 400, early.text);
    assert.deepEqual(early.json().error_codes, [700016]);

    const spCreated = await graph(s, admin, 'POST', '/v1.0/servicePrincipals', { appId: app.appId, accountEnabled: true });
    assert.equal(spCreated.status, 201, spCreated.text);
    const sp = spCreated.json();
    assert.equal(sp['@odata.context'], `${CONTEXT}servicePrincipals/$entity`);
    assert.match(sp.id, az.UUID_RE);
    assert.equal(sp.appId, app.appId);
    assert.equal(sp.displayName, 'graph-lifecycle');
    assert.equal(sp.appDisplayName, 'graph-lifecycle');
    assert.equal(sp.servicePrincipalType, 'Application');
    assert.deepEqual(sp.servicePrincipalNames, [app.appId]);
    assert.equal(sp.appOwnerOrganizationId, info.tenantId);

    // Both passwords sign in now; the token speaks for the new principal.
    for (const secret of [atCreate.secretText, pw.secretText]) {
      const r = await clientToken(s, info.tenantId, app.appId, secret);
      assert.equal(r.status, 200, r.text);
      assert.equal(arm.claimsOf(r.json().access_token).oid, sp.id);
    }
    const byName = await graph(s, admin, 'GET', `/v1.0/servicePrincipals?$filter=${encodeURIComponent(`servicePrincipalNames/any(c:c eq '${app.appId}')`)}`);
    assert.deepEqual(byName.json().value.map((x) => x.id), [sp.id]);
    const byDisplayName = await graph(s, admin, 'GET', `/v1.0/servicePrincipals?$filter=${encodeURIComponent("displayName eq 'graph-lifecycle'")}`);
    assert.deepEqual(byDisplayName.json().value.map((x) => x.id), [sp.id]);
    const spGot = await graph(s, admin, 'GET', `/v1.0/servicePrincipals/${sp.id}`);
    assert.equal(spGot.status, 200, spGot.text);
    assert.equal(spGot.json().appId, app.appId);

    // removePassword: 204, and that password no longer signs in.
    const removed = await graph(s, admin, 'POST', `/v1.0/applications/${app.id}/removePassword`, { keyId: atCreate.keyId });
    assert.equal(removed.status, 204, removed.text);
    assert.equal(removed.text, '');
    const refused = await clientToken(s, info.tenantId, app.appId, atCreate.secretText);
    assert.equal(refused.status, 401, refused.text);
    assert.deepEqual(refused.json().error_codes, [7000215]);
    const remaining = await graph(s, admin, 'GET', `/v1.0/applications/${app.id}`);
    assert.deepEqual(remaining.json().passwordCredentials.map((c) => c.keyId), [pw.keyId]);

    // PATCH: display name and identifier URI.
    const patched = await graph(s, admin, 'PATCH', `/v1.0/applications/${app.id}`,
      { displayName: 'graph-renamed', identifierUris: ['api://graph-renamed'] });
    assert.equal(patched.status, 204, patched.text);
    const after = (await graph(s, admin, 'GET', `/v1.0/applications/${app.id}`)).json();
    assert.equal(after.displayName, 'graph-renamed');
    assert.deepEqual(after.identifierUris, ['api://graph-renamed']);
    const byUri = await graph(s, admin, 'GET', `/v1.0/applications?$filter=${encodeURIComponent("identifierUris/any(x:x eq 'api://graph-renamed')")}`);
    assert.deepEqual(byUri.json().value.map((a) => a.id), [app.id]);

    // DELETE takes the service principal and the credentials with it.
    const deleted = await graph(s, admin, 'DELETE', `/v1.0/applications/${app.id}`);
    assert.equal(deleted.status, 204, deleted.text);
    assertGraphError(await graph(s, admin, 'GET', `/v1.0/applications/${app.id}`), 404, 'Request_ResourceNotFound',
      `Resource '${app.id}' does not exist or one of its queried reference-property objects are not present.`);
    assertGraphError(await graph(s, admin, 'GET', `/v1.0/servicePrincipals/${sp.id}`), 404, 'Request_ResourceNotFound');
    const gone = await clientToken(s, info.tenantId, app.appId, pw.secretText);
    assert.equal(gone.status, 400, gone.text);
    assert.deepEqual(gone.json().error_codes, [700016]);
  });

  test('deleting a service principal keeps the application; a second principal is a conflict', async () => {
    const app = (await graph(s, admin, 'POST', '/v1.0/applications', { displayName: 'graph-sp-only' })).json();
    const sp = (await graph(s, admin, 'POST', '/v1.0/servicePrincipals', { appId: app.appId })).json();
    assertGraphError(await graph(s, admin, 'POST', '/v1.0/servicePrincipals', { appId: app.appId }), 409,
      'Request_MultipleObjectsWithSameKeyValue',
      `The service principal cannot be created, updated, or restored because the service principal name ${app.appId} is already in use.`);
    const del = await graph(s, admin, 'DELETE', `/v1.0/servicePrincipals/${sp.id}`);
    assert.equal(del.status, 204, del.text);
    assertGraphError(await graph(s, admin, 'DELETE', `/v1.0/servicePrincipals/${sp.id}`), 404, 'Request_ResourceNotFound');
    assert.equal((await graph(s, admin, 'GET', `/v1.0/applications/${app.id}`)).status, 200);
    const again = await graph(s, admin, 'POST', '/v1.0/servicePrincipals', { appId: app.appId });
    assert.equal(again.status, 201, again.text);
    assert.notEqual(again.json().id, sp.id);
  });

  test('bad input: 400 with Graph error codes', async () => {
    const app = (await graph(s, admin, 'POST', '/v1.0/applications', { displayName: 'graph-bad-input' })).json();
    const post = (path, body) => graph(s, admin, 'POST', path, body);

    assertGraphError(await post('/v1.0/applications', '{"displayName": '), 400, 'BadRequest',
      /^Unable to read JSON request payload/);
    assertGraphError(await post('/v1.0/applications', '["displayName"]'), 400, 'BadRequest',
      /^Unable to read JSON request payload/);
    assertGraphError(await post('/v1.0/applications', ''), 400, 'BadRequest', 'Empty Payload. JSON content expected.');
    for (const body of [{}, { displayName: '' }, { displayName: 42 }, { displayName: null }]) {
      assertGraphError(await post('/v1.0/applications', body), 400, 'Request_BadRequest',
        "Invalid value specified for property 'displayName' of resource 'Application'.");
    }
    assertGraphError(await post('/v1.0/applications', { displayName: 'x', identifierUris: 'api://x' }), 400, 'Request_BadRequest');
    assertGraphError(await post('/v1.0/applications', { displayName: 'x', passwordCredentials: [{ endDateTime: 'soon' }] }),
      400, 'Request_BadRequest', "Invalid value specified for property 'endDateTime' of resource 'PasswordCredential'.");
    assertGraphError(await post('/v1.0/applications', { displayName: 'x', keyCredentials: [{ type: 'AsymmetricX509Cert', usage: 'Verify', key: 'bm90IGEgY2VydA==' }] }),
      400, 'Request_BadRequest');
    // None of the refused creations left anything behind.
    const xs = await graph(s, admin, 'GET', `/v1.0/applications?$filter=${encodeURIComponent("displayName eq 'x'")}`);
    assert.deepEqual(xs.json().value, []);

    // An identifier URI is unique in the tenant.
    assert.equal((await post('/v1.0/applications', { displayName: 'u1', identifierUris: ['api://graph-unique'] })).status, 201);
    assertGraphError(await post('/v1.0/applications', { displayName: 'u2', identifierUris: ['api://graph-unique'] }), 400,
      'Request_BadRequest', 'Another object with the same value for property identifierUris already exists.');

    // Ids: not a GUID → 400; unknown → 404, for every verb.
    assertGraphError(await graph(s, admin, 'GET', '/v1.0/applications/not-a-guid'), 400, 'Request_BadRequest',
      "Invalid object identifier 'not-a-guid'.");
    assertGraphError(await graph(s, admin, 'GET', '/v1.0/servicePrincipals/not-a-guid'), 400, 'Request_BadRequest');
    for (const [method, path, body] of [
      ['GET', `/v1.0/applications/${MISSING}`],
      ['PATCH', `/v1.0/applications/${MISSING}`, { displayName: 'y' }],
      ['DELETE', `/v1.0/applications/${MISSING}`],
      ['POST', `/v1.0/applications/${MISSING}/addPassword`, {}],
      ['POST', `/v1.0/applications/${MISSING}/removePassword`, { keyId: MISSING }],
      ['GET', `/v1.0/servicePrincipals/${MISSING}`],
      ['DELETE', `/v1.0/servicePrincipals/${MISSING}`],
    ]) {
      assertGraphError(await graph(s, admin, method, path, body), 404, 'Request_ResourceNotFound',
        `Resource '${MISSING}' does not exist or one of its queried reference-property objects are not present.`);
    }

    // Passwords.
    assertGraphError(await post(`/v1.0/applications/${app.id}/addPassword`, { passwordCredential: { startDateTime: '2030-01-01T00:00:00Z', endDateTime: '2029-01-01T00:00:00Z' } }),
      400, 'Request_BadRequest', "Invalid value specified for property 'endDateTime' of resource 'PasswordCredential'.");
    assertGraphError(await post(`/v1.0/applications/${app.id}/addPassword`, 'nope'), 400, 'BadRequest');
    assertGraphError(await post(`/v1.0/applications/${app.id}/removePassword`, { keyId: 'abc' }), 400, 'Request_BadRequest',
      "Invalid value specified for property 'keyId' of resource 'PasswordCredential'.");
    assertGraphError(await post(`/v1.0/applications/${app.id}/removePassword`, { keyId: MISSING }), 404, 'Request_ResourceNotFound');
    assertGraphError(await graph(s, admin, 'PATCH', `/v1.0/applications/${app.id}`, { displayName: '' }), 400, 'Request_BadRequest');

    // Service principals.
    assertGraphError(await post('/v1.0/servicePrincipals', {}), 400, 'Request_BadRequest',
      "Invalid value specified for property 'appId' of resource 'ServicePrincipal'.");
    assertGraphError(await post('/v1.0/servicePrincipals', { appId: MISSING }), 400, 'Request_BadRequest',
      `The appId '${MISSING}' of the service principal does not reference a valid application object.`);

    // Filters azsim does not understand.
    for (const filter of ["displayName ne 'x'", "publisherDomain eq 'x'", "displayName eq 'x' or appId eq 'y'",
      "displayName eq 'unterminated", "identifierUris eq 'x'"]) {
      assertGraphError(await graph(s, admin, 'GET', `/v1.0/applications?$filter=${encodeURIComponent(filter)}`), 400,
        'Request_UnsupportedQuery', /^Unsupported or invalid query filter clause specified for property/);
    }
  });

  test('callers: no token 401, no Application.ReadWrite.All 403, users may register apps', async () => {
    assertGraphError(await graph(s, null, 'POST', '/v1.0/applications', { displayName: 'anon' }), 401,
      'InvalidAuthenticationToken', 'Access token is empty.');
    const armToken = (await arm.appToken(s, info.tenantId, info.clientId, info.clientSecret)).token;
    assertGraphError(await graph(s, armToken, 'POST', '/v1.0/applications', { displayName: 'wrong-aud' }), 401,
      'InvalidAuthenticationToken');

    // A principal made through Graph has no Graph permission of its own.
    const app = (await graph(s, admin, 'POST', '/v1.0/applications', {
      displayName: 'graph-unprivileged', passwordCredentials: [{}],
    })).json();
    const secret = app.passwordCredentials[0].secretText;
    await graph(s, admin, 'POST', '/v1.0/servicePrincipals', { appId: app.appId });
    const r = await clientToken(s, info.tenantId, app.appId, secret, `${GRAPH}/.default`);
    assert.equal(r.status, 200, r.text);
    const weak = r.json().access_token;
    const denied = 'Insufficient privileges to complete the operation.';
    assertGraphError(await graph(s, weak, 'POST', '/v1.0/applications', { displayName: 'graph-intruder' }), 403,
      'Authorization_RequestDenied', denied);
    assertGraphError(await graph(s, weak, 'POST', `/v1.0/applications/${app.id}/addPassword`, {}), 403,
      'Authorization_RequestDenied', denied);
    assertGraphError(await graph(s, weak, 'DELETE', `/v1.0/applications/${app.id}`), 403,
      'Authorization_RequestDenied', denied);
    assertGraphError(await graph(s, weak, 'POST', '/v1.0/servicePrincipals', { appId: info.clientId }), 403,
      'Authorization_RequestDenied', denied);
    // The refusal is audited, and reading stays open.
    const entries = await arm.audit(s, armToken, { principal: arm.claimsOf(weak).oid, denied: true });
    assert.ok(entries.some((e) => e.module === 'aad' && e.action === 'microsoft.directory/applications/create'),
      JSON.stringify(entries));
    assert.equal((await graph(s, weak, 'GET', `/v1.0/applications/${app.id}`)).status, 200);
    assert.equal((await graph(s, weak, 'GET', `/v1.0/applications?$filter=${encodeURIComponent("displayName eq 'graph-intruder'")}`)).json().value.length, 0);

    // A member user may register an application (Entra's default).
    const u = await aad.postForm(s, `/${info.tenantId}/oauth2/v2.0/token`, {
      grant_type: 'password', client_id: aad.AZURE_CLI_APP_ID, username: info.username,
      password: info.password, scope: `${GRAPH}/.default`,
    });
    assert.equal(u.status, 200, u.text);
    const mine = await graph(s, u.json().access_token, 'POST', '/v1.0/applications', { displayName: 'graph-by-user' });
    assert.equal(mine.status, 201, mine.text);
  });
});

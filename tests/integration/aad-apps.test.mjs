// `azsim app create` registers an application whose API can be a token's audience, so a user's
// own service can accept azsim tokens; resources nobody registered are refused (AADSTS500011).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as aad from './lib/aad.mjs';
import * as az from './lib/azsim.mjs';

/** A client-credentials request of the admin application for `scope`, answer unchecked. */
function tokenFor(s, info, scope) {
  return aad.postForm(s, `/${info.tenantId}/oauth2/v2.0/token`, {
    grant_type: 'client_credentials',
    client_id: info.clientId,
    client_secret: info.clientSecret,
    scope,
  });
}

test('an application created with an identifier URI can be the audience of tokens', async (t) => {
  const s = await az.startFor(t, { inMemory: false });
  const info = JSON.parse(az.run(['info', '--json', '--data-dir', s.dataDir]).stdout);

  const before = await tokenFor(s, info, 'api://orders/.default');
  assert.equal(before.status, 400, before.text);
  assert.equal(before.json().error, 'invalid_resource');
  assert.deepEqual(before.json().error_codes, [500011]);

  const created = az.run(['app', 'create', 'orders', '--identifier-uri', 'api://orders', '--data-dir', s.dataDir]);
  assert.equal(created.code, 0, created.stderr);
  const app = JSON.parse(created.stdout);
  assert.match(app.appId, az.UUID_RE);
  assert.equal(app.identifierUri, 'api://orders');
  assert.equal(app.tenantId, info.tenantId);

  for (const [scope, aud] of [['api://orders/.default', 'api://orders'], [`${app.appId}/.default`, app.appId]]) {
    const r = await tokenFor(s, info, scope);
    assert.equal(r.status, 200, r.text);
    const claims = JSON.parse(Buffer.from(r.json().access_token.split('.')[1], 'base64url'));
    assert.equal(claims.aud, aud);
    assert.equal(claims.tid, info.tenantId);
  }

  // The new application signs in with its own secret.
  const own = await aad.postForm(s, `/${info.tenantId}/oauth2/v2.0/token`, {
    grant_type: 'client_credentials', client_id: app.appId, client_secret: app.clientSecret,
    scope: 'https://vault.azure.net/.default',
  });
  assert.equal(own.status, 200, own.text);

  const usage = az.run(['app', 'create', '--data-dir', s.dataDir]);
  assert.equal(usage.code, 2);
  await az.stopClean(s);
});

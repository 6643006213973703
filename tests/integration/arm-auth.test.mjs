// ARM accepts only tokens from azsim's Entra ID for one of its audiences, verified by
// common/token: a missing, forged, expired-looking or wrong-audience token gets ARM's 401 with
// its WWW-Authenticate challenge. With a good token, /subscriptions and /tenants answer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as az from './lib/azsim.mjs';

/** The admin application's token for `resource`, straight from the aad listener. */
async function token(s, info, resource) {
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: info.clientId,
    client_secret: info.clientSecret,
    scope: `${resource}/.default`,
  }).toString();
  const r = await s.request('aad', `/${info.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body,
  });
  assert.equal(r.status, 200, r.text);
  return r.json().access_token;
}

function assertArm401(r, code) {
  assert.equal(r.status, 401, r.text);
  assert.equal(r.json().error.code, code, r.text);
  assert.match(r.headers['www-authenticate'] ?? '', /^Bearer authorization_uri="https:\/\/login\.windows\.net\/", error="invalid_token"/);
}

describe('ARM authentication', () => {
  let s;
  let info;
  before(async () => {
    s = await az.start();
    const r = az.run(['info', '--json', '--data-dir', s.dataDir]);
    assert.equal(r.code, 0, r.stderr);
    info = JSON.parse(r.stdout);
  });
  after(() => az.finish(s));

  const get = (path, auth) => s.request('arm', path, auth ? { headers: { Authorization: auth } } : {});

  it('no token: 401 AuthenticationFailed with the challenge', async () => {
    assertArm401(await get('/subscriptions?api-version=2019-11-01'), 'AuthenticationFailed');
  });

  it('a token that is not a JWT, or is tampered with: 401 InvalidAuthenticationToken', async () => {
    assertArm401(await get('/subscriptions?api-version=2019-11-01', 'Bearer not-a-jwt'), 'InvalidAuthenticationToken');
    const good = await token(s, info, 'https://management.azure.com');
    const [h, p, sig] = good.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url'));
    claims.oid = '00000000-0000-0000-0000-000000000001';
    const forged = [h, Buffer.from(JSON.stringify(claims)).toString('base64url'), sig].join('.');
    assertArm401(await get('/subscriptions?api-version=2019-11-01', `Bearer ${forged}`), 'InvalidAuthenticationToken');
    const none = [Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url'), p, ''].join('.');
    assertArm401(await get('/subscriptions?api-version=2019-11-01', `Bearer ${none}`), 'InvalidAuthenticationToken');
  });

  it("a Key Vault token is not an ARM token: 401 InvalidAuthenticationTokenAudience", async () => {
    const vault = await token(s, info, 'https://vault.azure.net');
    assertArm401(await get('/subscriptions?api-version=2019-11-01', `Bearer ${vault}`), 'InvalidAuthenticationTokenAudience');
  });

  it('both ARM audiences are accepted; /subscriptions lists the default one, /tenants the caller\'s tenant', async () => {
    for (const resource of ['https://management.azure.com', 'https://management.core.windows.net/']) {
      const t = await token(s, info, resource);
      const subs = await get('/subscriptions?api-version=2019-11-01', `Bearer ${t}`);
      assert.equal(subs.status, 200, subs.text);
      const [sub] = subs.json().value;
      assert.equal(subs.json().value.length, 1, subs.text);
      assert.equal(sub.id, `/subscriptions/${info.subscriptionId}`);
      assert.equal(sub.subscriptionId, info.subscriptionId);
      assert.equal(sub.tenantId, info.tenantId);
      assert.equal(sub.state, 'Enabled');
      const tenants = await get('/tenants?api-version=2019-11-01', `Bearer ${t}`);
      assert.equal(tenants.status, 200, tenants.text);
      const [tenant] = tenants.json().value;
      assert.equal(tenant.id, `/tenants/${info.tenantId}`);
      assert.equal(tenant.tenantId, info.tenantId);
      assert.deepEqual(tenant.domains, [info.tenantDomain]);
    }
  });

  it('api-version is required: 400 MissingApiVersionParameter', async () => {
    const t = await token(s, info, 'https://management.azure.com');
    const r = await get('/subscriptions', `Bearer ${t}`);
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json().error.code, 'MissingApiVersionParameter');
  });

  it('/health needs no token', async () => {
    assert.equal((await get('/health')).status, 200);
  });
});

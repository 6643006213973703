// The Entra ID token endpoint with raw HTTPS requests: the answers real clients rely on, the
// errors they surface (status, `error`, error_codes[0]), and hand-made client assertions signed
// with jose.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import * as aad from './lib/aad.mjs';
import * as az from './lib/azsim.mjs';

describe('Entra ID token endpoint', () => {
  let s;
  let ctx;
  let pem;
  let tokenPath;
  let tokenUrl;
  const appOids = new Set();

  before(async () => {
    s = await az.start();
    ctx = aad.context(s);
    pem = aad.readClientPem(ctx.info.clientCertificatePath);
    tokenPath = `/${ctx.info.tenantId}/oauth2/v2.0/token`;
    tokenUrl = `${ctx.aadUrl}${tokenPath}`;
  });
  after(() => az.finish(s));

  const secretGrant = (extra = {}) => ({
    grant_type: 'client_credentials',
    client_id: ctx.info.clientId,
    client_secret: ctx.info.clientSecret,
    scope: `${aad.VAULT}/.default`,
    ...extra,
  });

  const passwordGrant = (extra = {}) => ({
    grant_type: 'password',
    client_id: aad.AZURE_CLI_APP_ID,
    username: ctx.info.username,
    password: ctx.info.password,
    scope: `${aad.ARM}/.default offline_access openid profile`,
    client_info: '1',
    ...extra,
  });

  const assertionGrant = (assertion) => ({
    grant_type: 'client_credentials',
    client_id: ctx.info.clientId,
    client_assertion_type: aad.ASSERTION_TYPE,
    client_assertion: assertion,
    scope: `${aad.VAULT}/.default`,
  });

  /** A PS256 assertion with x5t#S256 of the admin certificate, as msal-node makes it. */
  const adminAssertion = (opts = {}) => aad.clientAssertion({
    keyPem: pem.keyPem,
    alg: 'PS256',
    header: { 'x5t#S256': pem.x5tS256 },
    clientId: ctx.info.clientId,
    aud: tokenUrl,
    ...opts,
  });

  describe('successful answers', () => {
    it('client_credentials with a secret: a v2 answer clients accept, with a verifiable token', async () => {
      const r = await aad.postForm(s, `${tokenPath}?client-request-id=${randomUUID()}`, secretGrant());
      assert.equal(r.status, 200, r.text);
      assert.match(r.headers['content-type'], /^application\/json/);
      assert.match(r.headers['cache-control'] ?? '', /no-store/);
      const body = r.json();
      assert.equal(body.token_type, 'Bearer');
      assert.ok(Number.isInteger(body.expires_in), `expires_in ${JSON.stringify(body.expires_in)}`);
      assert.ok(body.expires_in > 3000 && body.expires_in <= 3600, `expires_in ${body.expires_in}`);
      assert.ok(Number.isInteger(body.ext_expires_in));
      assert.equal(body.refresh_token, undefined, 'no refresh token for an application');
      assert.equal(body.id_token, undefined);
      assert.equal(body.access_token.split('.').length, 3);
      const payload = await aad.verifyAppToken(ctx, body.access_token, aad.VAULT);
      assert.equal(payload.appidacr, '1', 'secret');
      appOids.add(payload.oid);
    });

    it('the audience is the scope without /.default, a trailing "/" kept', async () => {
      const r = await aad.postForm(s, tokenPath, secretGrant({ scope: 'https://management.core.windows.net//.default' }));
      assert.equal(r.status, 200, r.text);
      await aad.verifyAppToken(ctx, r.json().access_token, 'https://management.core.windows.net/');
    });

    it('the v1 endpoint takes resource= and answers with the resource', async () => {
      const r = await aad.postForm(s, `/${ctx.info.tenantId}/oauth2/token`, secretGrant({ scope: undefined, resource: aad.ARM }));
      assert.equal(r.status, 200, r.text);
      const body = r.json();
      assert.equal(body.token_type, 'Bearer');
      assert.equal(body.resource, aad.ARM);
      const payload = await aad.verifyAppToken(ctx, body.access_token, aad.ARM);
      appOids.add(payload.oid);
    });

    it('the tenant may be named by its domain, in any case', async () => {
      const r = await aad.postForm(s, `/${ctx.info.tenantDomain.toUpperCase()}/oauth2/v2.0/token`, secretGrant());
      assert.equal(r.status, 200, r.text);
      const payload = await aad.verifyAppToken(ctx, r.json().access_token, aad.VAULT);
      appOids.add(payload.oid);
    });

    it('client_secret_basic: the secret in an Authorization: Basic header', async () => {
      const basic = Buffer.from(`${encodeURIComponent(ctx.info.clientId)}:${encodeURIComponent(ctx.info.clientSecret)}`).toString('base64');
      const r = await aad.postForm(s, tokenPath, secretGrant({ client_id: undefined, client_secret: undefined }), { Authorization: `Basic ${basic}` });
      assert.equal(r.status, 200, r.text);
      await aad.verifyAppToken(ctx, r.json().access_token, aad.VAULT);
    });

    it('a hand-made PS256 assertion with x5t#S256 gets a token', async () => {
      const r = await aad.postForm(s, tokenPath, assertionGrant(await adminAssertion()));
      assert.equal(r.status, 200, r.text);
      const payload = await aad.verifyAppToken(ctx, r.json().access_token, aad.VAULT);
      assert.equal(payload.appidacr, '2', 'certificate');
      appOids.add(payload.oid);
    });

    it('a hand-made RS256 assertion with the SHA-1 x5t gets a token', async () => {
      const assertion = await adminAssertion({ alg: 'RS256', header: { x5t: pem.x5t } });
      const r = await aad.postForm(s, tokenPath, assertionGrant(assertion));
      assert.equal(r.status, 200, r.text);
      const payload = await aad.verifyAppToken(ctx, r.json().access_token, aad.VAULT);
      assert.equal(payload.appidacr, '2');
      appOids.add(payload.oid);
    });

    it('an assertion carrying the certificate chain (x5c) gets a token', async () => {
      const assertion = await adminAssertion({ header: { 'x5t#S256': pem.x5tS256, x5c: [pem.der.toString('base64')] } });
      const r = await aad.postForm(s, tokenPath, assertionGrant(assertion));
      assert.equal(r.status, 200, r.text);
      await aad.verifyAppToken(ctx, r.json().access_token, aad.VAULT);
    });

    it('password grant (Azure CLI app): access, refresh and id tokens and client_info', async () => {
      const r = await aad.postForm(s, tokenPath, passwordGrant(), { 'X-AnchorMailbox': `upn:${ctx.info.username}` });
      assert.equal(r.status, 200, r.text);
      const body = r.json();
      assert.ok(Number.isInteger(body.expires_in));
      assert.equal(typeof body.refresh_token, 'string');
      await aad.verifyUserToken(ctx, body.access_token, aad.ARM);
      const info = JSON.parse(Buffer.from(body.client_info, 'base64url').toString('utf8'));
      assert.deepEqual(info, { uid: ctx.info.userId, utid: ctx.info.tenantId });
      const id = JSON.parse(Buffer.from(body.id_token.split('.')[1], 'base64url').toString('utf8'));
      assert.equal(id.aud, aad.AZURE_CLI_APP_ID);
      assert.equal(id.tid, ctx.info.tenantId);
      assert.equal(id.oid, ctx.info.userId);
      assert.equal(id.preferred_username, ctx.info.username);

      // The refresh token buys a token for another resource.
      const again = await aad.postForm(s, tokenPath, {
        grant_type: 'refresh_token',
        client_id: aad.AZURE_CLI_APP_ID,
        refresh_token: body.refresh_token,
        scope: `${aad.VAULT}/.default offline_access openid profile`,
        client_info: '1',
      });
      assert.equal(again.status, 200, again.text);
      await aad.verifyUserToken(ctx, again.json().access_token, aad.VAULT);
    });

    it('application tokens of every grant name the same service principal', () => {
      assert.equal(appOids.size, 1, [...appOids].join(', '));
    });
  });

  describe('errors', () => {
    it('wrong client secret: 401 invalid_client 7000215', async () => {
      const r = await aad.postForm(s, tokenPath, secretGrant({ client_secret: 'not-the-secret-at-all' }));
      aad.assertAadError(r, 401, 'invalid_client', 7000215);
    });

    it('wrong client secret through the front door: the same answer', async () => {
      const r = await aad.proxiedRequest(s.proxy, `https://login.microsoftonline.com${tokenPath}`, {
        ca: s.caPem,
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded;charset=utf-8' },
        body: aad.form(secretGrant({ client_secret: 'not-the-secret-at-all' })),
      });
      aad.assertAadError(r, 401, 'invalid_client', 7000215);
    });

    it('a client the tenant does not know: 400 unauthorized_client 700016', async () => {
      const r = await aad.postForm(s, tokenPath, secretGrant({ client_id: randomUUID() }));
      aad.assertAadError(r, 400, 'unauthorized_client', 700016);
    });

    it('an unknown tenant: 400 invalid_tenant 90002', async () => {
      for (const tenant of [randomUUID(), 'nosuchtenant.onmicrosoft.com']) {
        const r = await aad.postForm(s, `/${tenant}/oauth2/v2.0/token`, secretGrant());
        aad.assertAadError(r, 400, 'invalid_tenant', 90002);
      }
    });

    it("the admin user's wrong password: 400 invalid_grant 50126", async () => {
      const r = await aad.postForm(s, tokenPath, passwordGrant({ password: `${ctx.info.password}x` }));
      aad.assertAadError(r, 400, 'invalid_grant', 50126);
    });

    it('an assertion that expired more than 5 minutes ago: 401 invalid_client 700024', async () => {
      const now = Math.floor(Date.now() / 1000);
      const assertion = await adminAssertion({ iat: now - 1200, nbf: now - 1200, exp: now - 600 });
      const r = await aad.postForm(s, tokenPath, assertionGrant(assertion));
      aad.assertAadError(r, 401, 'invalid_client', 700024);
    });

    it('an assertion valid only from 10 minutes on: 401 invalid_client 700024', async () => {
      const now = Math.floor(Date.now() / 1000);
      const assertion = await adminAssertion({ iat: now + 600, nbf: now + 600, exp: now + 1200 });
      const r = await aad.postForm(s, tokenPath, assertionGrant(assertion));
      aad.assertAadError(r, 401, 'invalid_client', 700024);
    });

    it("another key's signature naming the registered certificate: 401 invalid_client 700027", async () => {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' });
      for (const [alg, header] of [['PS256', { 'x5t#S256': pem.x5tS256 }], ['RS256', { x5t: pem.x5t }]]) {
        const assertion = await adminAssertion({ keyPem, alg, header });
        const r = await aad.postForm(s, tokenPath, assertionGrant(assertion));
        aad.assertAadError(r, 401, 'invalid_client', 700027);
      }
    });

    it('an assertion naming a certificate the application does not have: 401 invalid_client 700027', async () => {
      const assertion = await adminAssertion({ header: { 'x5t#S256': Buffer.alloc(32, 7).toString('base64url') } });
      const r = await aad.postForm(s, tokenPath, assertionGrant(assertion));
      aad.assertAadError(r, 401, 'invalid_client', 700027);
    });

    it('an unsupported grant_type: 400 unsupported_grant_type 70003', async () => {
      const r = await aad.postForm(s, tokenPath, secretGrant({ grant_type: 'client_credentialz' }));
      aad.assertAadError(r, 400, 'unsupported_grant_type', 70003);
    });

    it('no grant_type: 400 invalid_request 900144', async () => {
      const r = await aad.postForm(s, tokenPath, secretGrant({ grant_type: undefined }));
      const body = aad.assertAadError(r, 400, 'invalid_request', 900144);
      assert.match(body.error_description, /'grant_type'/);
    });

    it('no client_id: 400 invalid_request 900144', async () => {
      const r = await aad.postForm(s, tokenPath, secretGrant({ client_id: undefined }));
      const body = aad.assertAadError(r, 400, 'invalid_request', 900144);
      assert.match(body.error_description, /'client_id'/);
    });

    it('a resource nobody registered: 400 invalid_resource 500011', async () => {
      const r = await aad.postForm(s, tokenPath, secretGrant({ scope: 'https://nosuch.resource.example/.default' }));
      aad.assertAadError(r, 400, 'invalid_resource', 500011);
    });

    it('the correlation id of an error is the client-request-id the client sent', async () => {
      const id = randomUUID();
      const r = await aad.postForm(s, `${tokenPath}?client-request-id=${id}`, secretGrant({ client_secret: 'not-the-secret-at-all' }), {
        'client-request-id': id,
      });
      const body = aad.assertAadError(r, 401, 'invalid_client', 7000215);
      assert.equal(body.correlation_id, id);
    });
  });
});

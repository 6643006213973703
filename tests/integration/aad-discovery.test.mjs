// Entra ID discovery: the OpenID configuration (tenant, organizations and ADFS styles), the JWKS,
// instance discovery and user realm, asked directly of the aad listener and through the front
// door under login.microsoftonline.com, as the SDKs ask them.
import assert from 'node:assert/strict';
import { createHash, createPublicKey, randomUUID, X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import * as aad from './lib/aad.mjs';
import * as az from './lib/azsim.mjs';

const LOGIN = 'https://login.microsoftonline.com';

describe('Entra ID discovery', () => {
  let s;
  let ctx;
  let tid;

  before(async () => {
    s = await az.start();
    ctx = aad.context(s);
    tid = ctx.info.tenantId;
  });
  after(() => az.finish(s));

  /** GET through the front door under the real host name; asserts 200 JSON. */
  async function viaProxy(url) {
    const r = await aad.proxiedRequest(s.proxy, url, { ca: s.caPem, headers: { Accept: 'application/json' } });
    assert.equal(r.status, 200, `GET ${url}: ${r.status} ${r.text}`);
    assert.match(r.headers['content-type'] ?? '', /^application\/json/, url);
    return r.json();
  }

  /** The endpoints msal requires, all on `origin`, for tenant path segment `t`. */
  function assertAadDocument(doc, origin, t) {
    for (const key of ['issuer', 'authorization_endpoint', 'token_endpoint', 'jwks_uri']) {
      assert.equal(typeof doc[key], 'string', `${key}: ${JSON.stringify(doc)}`);
      assert.equal(new URL(doc[key]).origin, origin, `${key} ${doc[key]} is not on ${origin}`);
    }
    assert.equal(doc.issuer, `${origin}/${t}/v2.0`);
    assert.equal(doc.token_endpoint, `${origin}/${t}/oauth2/v2.0/token`);
    assert.equal(doc.authorization_endpoint, `${origin}/${t}/oauth2/v2.0/authorize`);
    assert.equal(doc.jwks_uri, `${origin}/${t}/discovery/v2.0/keys`);
  }

  describe('OpenID configuration', () => {
    it('direct: the issuer has the scheme, host and port of the request', async () => {
      const doc = await aad.getJson(s, `/${tid}/v2.0/.well-known/openid-configuration`);
      assert.equal(new URL(doc.issuer).origin, new URL(ctx.aadUrl).origin);
      assertAadDocument(doc, new URL(ctx.aadUrl).origin, tid);
    });

    it('through the front door: everything on https://login.microsoftonline.com', async () => {
      const doc = await viaProxy(`${LOGIN}/${tid}/v2.0/.well-known/openid-configuration`);
      assertAadDocument(doc, LOGIN, tid);
    });

    it('the tenant may be named by its domain or an upper-case id; the document names the id', async () => {
      for (const t of [ctx.info.tenantDomain, ctx.info.tenantDomain.toUpperCase(), tid.toUpperCase()]) {
        const doc = await aad.getJson(s, `/${t}/v2.0/.well-known/openid-configuration`);
        assertAadDocument(doc, new URL(ctx.aadUrl).origin, tid);
      }
    });

    it('organizations: the endpoints msal needs, with the {tenantid} placeholder in the issuer', async () => {
      const doc = await viaProxy(`${LOGIN}/organizations/v2.0/.well-known/openid-configuration`);
      for (const key of ['issuer', 'authorization_endpoint', 'token_endpoint', 'jwks_uri']) {
        assert.equal(new URL(doc[key]).origin, LOGIN, key);
      }
      assert.equal(doc.issuer, `${LOGIN}/{tenantid}/v2.0`);
    });

    it('ADFS style: /adfs/.well-known/openid-configuration with /adfs endpoints', async () => {
      for (const [doc, origin] of [
        [await aad.getJson(s, '/adfs/.well-known/openid-configuration'), new URL(ctx.aadUrl).origin],
        [await viaProxy(`${LOGIN}/adfs/.well-known/openid-configuration`), LOGIN],
      ]) {
        assert.equal(doc.issuer, `${origin}/adfs`);
        assert.equal(doc.token_endpoint, `${origin}/adfs/oauth2/token`);
        assert.equal(doc.authorization_endpoint, `${origin}/adfs/oauth2/authorize`);
        assert.equal(typeof doc.jwks_uri, 'string');
        assert.equal(new URL(doc.jwks_uri).origin, origin);
      }
      // The ADFS key set is the tenant's.
      const keys = await aad.getJson(s, new URL((await aad.getJson(s, '/adfs/.well-known/openid-configuration')).jwks_uri).pathname);
      assert.deepEqual(keys, await aad.getJson(s, `/${tid}/discovery/v2.0/keys`));
    });

    it('an unknown tenant: 400 invalid_tenant 90002', async () => {
      const r = await s.request('aad', `/${randomUUID()}/v2.0/.well-known/openid-configuration`);
      aad.assertAadError(r, 400, 'invalid_tenant', 90002);
    });
  });

  describe('signing keys', () => {
    let jwks;
    before(async () => {
      jwks = await aad.getJson(s, `/${tid}/discovery/v2.0/keys`);
    });

    it('every key has kid, x5t == kid, n, e and an x5c certificate whose SHA-1 is the x5t', () => {
      assert.ok(Array.isArray(jwks.keys) && jwks.keys.length >= 1, JSON.stringify(jwks));
      for (const k of jwks.keys) {
        assert.equal(k.kty, 'RSA');
        assert.equal(typeof k.kid, 'string');
        assert.equal(k.x5t, k.kid);
        assert.equal(typeof k.n, 'string');
        assert.equal(typeof k.e, 'string');
        assert.ok(Array.isArray(k.x5c) && k.x5c.length >= 1, 'x5c');
        const der = Buffer.from(k.x5c[0], 'base64');
        assert.equal(createHash('sha1').update(der).digest('base64url'), k.x5t, 'x5t is the SHA-1 of x5c[0]');
        // The certificate holds the same public key as n/e.
        const fromCert = new X509Certificate(der).publicKey.export({ format: 'jwk' });
        const fromJwk = createPublicKey({ key: { kty: 'RSA', n: k.n, e: k.e }, format: 'jwk' }).export({ format: 'jwk' });
        assert.deepEqual(fromCert, fromJwk);
        assert.equal(k.d, undefined, 'no private parts');
      }
    });

    it('a token is signed by one of the published keys', async () => {
      const r = await aad.postForm(s, `/${tid}/oauth2/v2.0/token`, {
        grant_type: 'client_credentials',
        client_id: ctx.info.clientId,
        client_secret: ctx.info.clientSecret,
        scope: `${aad.VAULT}/.default`,
      });
      assert.equal(r.status, 200, r.text);
      assert.ok(jwks.keys.some((k) => k.kid === aad.kidOf(r.json().access_token)));
    });

    it('the same keys through the front door, at the jwks_uri of the document', async () => {
      const doc = await viaProxy(`${LOGIN}/${tid}/v2.0/.well-known/openid-configuration`);
      assert.deepEqual(await viaProxy(doc.jwks_uri), jwks);
    });
  });

  describe('instance discovery and user realm (asked of login.microsoftonline.com)', () => {
    it('api-version 1.1 (msal-node): the discovery endpoint and aliases of the authority asked about', async () => {
      const authorize = `${LOGIN}/${tid}/oauth2/v2.0/authorize`;
      const doc = await viaProxy(`${LOGIN}/common/discovery/instance?api-version=1.1&authorization_endpoint=${authorize}`);
      assert.equal(doc.tenant_discovery_endpoint, `${LOGIN}/${tid}/v2.0/.well-known/openid-configuration`);
      assert.ok(Array.isArray(doc.metadata) && doc.metadata.length >= 1, JSON.stringify(doc));
      assert.ok(doc.metadata[0].aliases.includes('login.microsoftonline.com'), JSON.stringify(doc.metadata));
      // And the endpoint it names is served.
      assertAadDocument(await viaProxy(doc.tenant_discovery_endpoint), LOGIN, tid);
    });

    it('api-version 1.0 (msal for Python): a percent-encoded authority on another host', async () => {
      const authorize = `https://${ctx.aadHost}/${tid}/oauth2/v2.0/authorize`;
      const doc = await viaProxy(`${LOGIN}/common/discovery/instance?authorization_endpoint=${encodeURIComponent(authorize)}&api-version=1.0`);
      assert.equal(doc.tenant_discovery_endpoint, `https://${ctx.aadHost}/${tid}/v2.0/.well-known/openid-configuration`);
      assert.ok(doc.metadata[0].aliases.includes(ctx.aadHost), JSON.stringify(doc.metadata));
      // That endpoint is this very listener.
      assertAadDocument(await aad.getJson(s, `/${tid}/v2.0/.well-known/openid-configuration`), `https://${ctx.aadHost}`, tid);
    });

    it('the Azure CLI alias lookup (common authority) answers with aliases', async () => {
      const doc = await viaProxy(`${LOGIN}/common/discovery/instance?api-version=1.1&authorization_endpoint=${LOGIN}/common/oauth2/authorize`);
      assert.equal(doc.tenant_discovery_endpoint, `${LOGIN}/common/v2.0/.well-known/openid-configuration`);
      assert.ok(doc.metadata[0].aliases.includes('login.microsoftonline.com'));
      const common = await viaProxy(doc.tenant_discovery_endpoint);
      assert.equal(new URL(common.token_endpoint).origin, LOGIN);
    });

    it('user realm of the admin user is Managed', async () => {
      const doc = await viaProxy(`${LOGIN}/common/userrealm/${ctx.info.username}?api-version=1.0`);
      assert.equal(doc.account_type, 'Managed');
      assert.equal(doc.domain_name.toLowerCase(), ctx.info.tenantDomain.toLowerCase());
    });

    it('user realm of a domain azsim does not hold is not Managed', async () => {
      const doc = await viaProxy(`${LOGIN}/common/userrealm/someone@nosuch.example?api-version=1.0`);
      assert.notEqual(doc.account_type, 'Managed');
    });
  });
});

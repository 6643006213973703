// Entra ID with the real Azure SDKs for JavaScript: @azure/identity credentials through the front
// door (no code options, only the environment) and aimed at the aad listener directly, and
// @azure/msal-node on its own. Every token is verified independently with jose against the keys
// the tenant publishes. The SDK code runs in child `node` processes (lib/aad-client.mjs), because
// NODE_EXTRA_CA_CERTS is only read when node starts; those children may connect to nothing but
// the loopback (lib/aad-guard.mjs).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import * as aad from './lib/aad.mjs';
import * as az from './lib/azsim.mjs';

const SCOPES = [`${aad.VAULT}/.default`, `${aad.ARM}/.default`];
const audienceOf = (scope) => scope.replace(/\/\.default$/, '');

describe('Entra ID with @azure/identity and @azure/msal-node', () => {
  let s;
  let ctx;
  let pem;
  // oid of every application token, whatever the grant: the admin service principal's.
  const appOids = new Set();

  before(async () => {
    s = await az.start();
    ctx = aad.context(s);
    pem = aad.readClientPem(ctx.info.clientCertificatePath);
  });
  after(() => az.finish(s));

  /** Verify every token of an identity/msal result as an app token of the admin application. */
  async function checkAppTokens(result) {
    assert.deepEqual(result.tokens.map((t) => t.scope), SCOPES);
    for (const t of result.tokens) {
      aad.assertExpiresInAnHour(t.expiresOnTimestamp, `${result.id} ${t.scope}`);
      const payload = await aad.verifyAppToken(ctx, t.token, audienceOf(t.scope));
      appOids.add(payload.oid);
    }
  }

  describe('through the front door, configured only by the environment', () => {
    let plain;
    let envSecret;
    let envCert;
    let envCertChain;
    before(async () => {
      const { tenantId, clientId, clientSecret, clientCertificatePath, username, password } = ctx.info;
      // Only what `azsim env` prints, plus the AZURE_* variables of each case.
      const base = aad.sdkEnv(ctx.env);
      [plain, envSecret, envCert, envCertChain] = await Promise.all([
        aad.runClient([
          { id: 'secret', kind: 'identity', credential: 'ClientSecretCredential', args: [tenantId, clientId, clientSecret], scopes: SCOPES },
          { id: 'cert', kind: 'identity', credential: 'ClientCertificateCredential', args: [tenantId, clientId, { certificatePath: clientCertificatePath }], scopes: SCOPES },
          {
            id: 'cert-chain',
            kind: 'identity',
            credential: 'ClientCertificateCredential',
            args: [tenantId, clientId, { certificatePath: clientCertificatePath }, { sendCertificateChain: true }],
            scopes: SCOPES,
          },
          {
            id: 'user',
            kind: 'identity',
            credential: 'UsernamePasswordCredential',
            args: [tenantId, aad.AZURE_CLI_APP_ID, username, password],
            scopes: SCOPES,
          },
        ], base),
        aad.runClient([
          { id: 'env', kind: 'identity', credential: 'EnvironmentCredential', args: [], scopes: SCOPES },
          { id: 'default', kind: 'identity', credential: 'DefaultAzureCredential', args: [], scopes: SCOPES },
        ], { ...base, AZURE_TENANT_ID: tenantId, AZURE_CLIENT_ID: clientId, AZURE_CLIENT_SECRET: clientSecret }),
        aad.runClient([
          { id: 'env', kind: 'identity', credential: 'EnvironmentCredential', args: [], scopes: SCOPES },
          { id: 'default', kind: 'identity', credential: 'DefaultAzureCredential', args: [], scopes: SCOPES },
        ], { ...base, AZURE_TENANT_ID: tenantId, AZURE_CLIENT_ID: clientId, AZURE_CLIENT_CERTIFICATE_PATH: clientCertificatePath }),
        aad.runClient([
          { id: 'env', kind: 'identity', credential: 'EnvironmentCredential', args: [], scopes: SCOPES },
        ], {
          ...base,
          AZURE_TENANT_ID: tenantId,
          AZURE_CLIENT_ID: clientId,
          AZURE_CLIENT_CERTIFICATE_PATH: clientCertificatePath,
          AZURE_CLIENT_SEND_CERTIFICATE_CHAIN: 'true',
        }),
      ]);
    });

    it('the environment is the one `azsim env` prints: the front door and the CA', () => {
      assert.equal(ctx.env.HTTPS_PROXY, s.proxy);
      assert.equal(ctx.env.NODE_EXTRA_CA_CERTS, s.ca);
      assert.match(ctx.info.authority, new RegExp(`^https://login\\.microsoftonline\\.com/${ctx.info.tenantId}$`));
    });

    it('ClientSecretCredential', () => checkAppTokens(aad.okResult(plain, 'secret')));
    it('ClientCertificateCredential (certificatePath = the admin PEM)', () => checkAppTokens(aad.okResult(plain, 'cert')));
    it('ClientCertificateCredential with sendCertificateChain', () => checkAppTokens(aad.okResult(plain, 'cert-chain')));
    it('EnvironmentCredential with AZURE_CLIENT_SECRET', () => checkAppTokens(aad.okResult(envSecret, 'env')));
    it('DefaultAzureCredential with AZURE_CLIENT_SECRET', () => checkAppTokens(aad.okResult(envSecret, 'default')));
    it('EnvironmentCredential with AZURE_CLIENT_CERTIFICATE_PATH', () => checkAppTokens(aad.okResult(envCert, 'env')));
    it('DefaultAzureCredential with AZURE_CLIENT_CERTIFICATE_PATH', () => checkAppTokens(aad.okResult(envCert, 'default')));
    it('EnvironmentCredential with AZURE_CLIENT_SEND_CERTIFICATE_CHAIN', () => checkAppTokens(aad.okResult(envCertChain, 'env')));

    it('UsernamePasswordCredential with the Azure CLI app: user tokens of the admin user', async () => {
      const r = aad.okResult(plain, 'user');
      for (const t of r.tokens) {
        aad.assertExpiresInAnHour(t.expiresOnTimestamp, t.scope);
        await aad.verifyUserToken(ctx, t.token, audienceOf(t.scope));
      }
    });
  });

  describe('aimed at the aad listener (authorityHost, disableInstanceDiscovery)', () => {
    let direct;
    let envSecret;
    let envCert;
    before(async () => {
      const { tenantId, clientId, clientSecret, clientCertificatePath } = ctx.info;
      const opts = { authorityHost: ctx.aadUrl, disableInstanceDiscovery: true };
      // No proxy at all: only the CA.
      const base = aad.sdkEnv({ NODE_EXTRA_CA_CERTS: ctx.env.NODE_EXTRA_CA_CERTS });
      [direct, envSecret, envCert] = await Promise.all([
        aad.runClient([
          { id: 'secret', kind: 'identity', credential: 'ClientSecretCredential', args: [tenantId, clientId, clientSecret, opts], scopes: SCOPES },
          {
            id: 'cert',
            kind: 'identity',
            credential: 'ClientCertificateCredential',
            args: [tenantId, clientId, { certificatePath: clientCertificatePath }, opts],
            scopes: SCOPES,
          },
          {
            id: 'cert-chain',
            kind: 'identity',
            credential: 'ClientCertificateCredential',
            args: [tenantId, clientId, { certificatePath: clientCertificatePath }, { ...opts, sendCertificateChain: true }],
            scopes: SCOPES,
          },
        ], base),
        aad.runClient([
          { id: 'env', kind: 'identity', credential: 'EnvironmentCredential', args: [opts], scopes: SCOPES },
          { id: 'default', kind: 'identity', credential: 'DefaultAzureCredential', args: [opts], scopes: SCOPES },
        ], { ...base, AZURE_TENANT_ID: tenantId, AZURE_CLIENT_ID: clientId, AZURE_CLIENT_SECRET: clientSecret }),
        aad.runClient([
          { id: 'env', kind: 'identity', credential: 'EnvironmentCredential', args: [opts], scopes: SCOPES },
        ], { ...base, AZURE_TENANT_ID: tenantId, AZURE_CLIENT_ID: clientId, AZURE_CLIENT_CERTIFICATE_PATH: clientCertificatePath }),
      ]);
    });

    it('ClientSecretCredential', () => checkAppTokens(aad.okResult(direct, 'secret')));
    it('ClientCertificateCredential', () => checkAppTokens(aad.okResult(direct, 'cert')));
    it('ClientCertificateCredential with sendCertificateChain', () => checkAppTokens(aad.okResult(direct, 'cert-chain')));
    it('EnvironmentCredential with AZURE_CLIENT_SECRET', () => checkAppTokens(aad.okResult(envSecret, 'env')));
    it('DefaultAzureCredential with AZURE_CLIENT_SECRET', () => checkAppTokens(aad.okResult(envSecret, 'default')));
    it('EnvironmentCredential with AZURE_CLIENT_CERTIFICATE_PATH', () => checkAppTokens(aad.okResult(envCert, 'env')));
  });

  describe('@azure/msal-node on its own, aimed at the aad listener', () => {
    let run;
    before(async () => {
      const { tenantId, clientId, clientSecret, directAuthority, username, password } = ctx.info;
      assert.equal(directAuthority, `${ctx.aadUrl}/${tenantId}`);
      // knownAuthorities: msal trusts the host as it is and asks no instance discovery.
      const auth = { authority: directAuthority, knownAuthorities: [ctx.aadHost] };
      run = await aad.runClient([
        { id: 'secret', kind: 'msal-confidential', config: { auth: { ...auth, clientId, clientSecret } }, scopes: SCOPES },
        {
          id: 'cert',
          kind: 'msal-confidential',
          config: { auth: { ...auth, clientId, clientCertificate: { thumbprintSha256: pem.sha256Hex, privateKey: pem.keyPem } } },
          scopes: SCOPES,
        },
        {
          id: 'user',
          kind: 'msal-public',
          config: { auth: { ...auth, clientId: aad.AZURE_CLI_APP_ID } },
          username,
          password,
          scope: `${aad.ARM}/.default`,
          silentScope: `${aad.VAULT}/.default`,
        },
      ], aad.sdkEnv({ NODE_EXTRA_CA_CERTS: ctx.env.NODE_EXTRA_CA_CERTS }));
    });

    it('ConfidentialClientApplication.acquireTokenByClientCredential with the secret', async () => {
      const r = aad.okResult(run, 'secret');
      for (const t of r.tokens) assert.equal(t.fromCache, false);
      await checkAppTokens(r);
    });

    it('ConfidentialClientApplication.acquireTokenByClientCredential with the certificate', () =>
      checkAppTokens(aad.okResult(run, 'cert')));

    it('PublicClientApplication (Azure CLI app): username/password gives a token and an account', async () => {
      const r = aad.okResult(run, 'user');
      const { tenantId, userId, username } = ctx.info;
      const [first] = r.tokens;
      assert.equal(first.fromCache, false);
      aad.assertExpiresInAnHour(first.expiresOnTimestamp);
      await aad.verifyUserToken(ctx, first.token, aad.ARM);
      assert.equal(r.account.username, username);
      assert.equal(r.account.tenantId, tenantId);
      assert.equal(r.account.localAccountId, userId);
      assert.equal(r.account.homeAccountId, `${userId}.${tenantId}`);
      assert.equal(r.idTokenClaims.tid, tenantId);
      assert.equal(r.idTokenClaims.preferred_username, username);
      assert.equal(r.idTokenClaims.oid, userId);
      assert.equal(r.idTokenClaims.aud, aad.AZURE_CLI_APP_ID);
      assert.equal(r.accounts, 1, 'one account in the cache');
    });

    it('acquireTokenSilent({forceRefresh}) for another resource redeems the refresh token', async () => {
      const r = aad.okResult(run, 'user');
      const [first, second] = r.tokens;
      assert.equal(second.fromCache, false, 'a new token from the network');
      assert.notEqual(second.token, first.token);
      aad.assertExpiresInAnHour(second.expiresOnTimestamp);
      await aad.verifyUserToken(ctx, second.token, aad.VAULT);
      assert.equal(r.silentAccount.homeAccountId, r.account.homeAccountId);
    });
  });

  it('every application token, whatever the grant or client, names the same service principal', () => {
    assert.equal(appOids.size, 1, [...appOids].join(', '));
  });
});

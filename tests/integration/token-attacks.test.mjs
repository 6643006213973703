// Token and identity attacks over the wire, at every service that takes bearer tokens (Resource
// Manager, Key Vault, Blob Storage, Microsoft Graph), at IMDS and at the front door. The unit
// tests hold the forged-token matrix of common/token (tests/unit/test_token.c); this suite proves
// that each service really runs it, answers with its own 401 shape (ARM and Graph JSON, Key
// Vault's JSON with its WWW-Authenticate challenge, Storage's XML), and creates nothing: every
// attack is a write (a resource group, a secret, a blob, an application) whose absence is checked
// afterwards with a genuine token, and every service's genuine token is shown to make the same
// write succeed, so a 401 here is never a broken request.
//
// The claims-based variants (expired, not yet valid, wrong audience, wrong issuer, a tenant the
// directory does not have) are signed with azsim's OWN signing key, read from the data
// directory's store (signing_keys.key_pem, so the server is file-backed): they model tokens azsim
// itself issued with bad claims, proving the services check claims and not only signatures.
//
// Every refusal is counted; the suite prints "token and identity attacks: N refused (…)".
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, createHmac, createPublicKey, createSign, randomUUID, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import * as aad from './lib/aad.mjs';
import * as armLib from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';
import * as px from './lib/proxy.mjs';

const TENANT_B = 'b0000000-0000-4000-8000-00000000000b';
const VAULT = 'atkkv';
const ACCOUNT = 'atkst';
const CONTAINER = 'box';
const TOKEN_PATH = '/metadata/identity/oauth2/token';
const SEED = {
  tenants: [{ id: TENANT_B, domain: 'atkb.onmicrosoft.com', displayName: 'Another tenant' }],
  applications: [
    { displayName: 'atk-app', secret: 'atk-app-secret-1' },
    { displayName: 'atk-b', secret: 'atk-b-secret-1', tenant: TENANT_B },
  ],
  resourceGroups: [{ name: 'atk' }],
  identities: [{ name: 'uai-a', resourceGroup: 'atk' }, { name: 'uai-b', resourceGroup: 'atk' }],
  virtualMachines: [
    { name: 'vm-a', resourceGroup: 'atk', address: '10.61.0.4', systemAssigned: true, userAssigned: ['uai-a'] },
    { name: 'vm-b', resourceGroup: 'atk', address: '10.61.1.4', systemAssigned: true, userAssigned: ['uai-b'] },
  ],
  vaults: [{ name: VAULT, resourceGroup: 'atk', secrets: { existing: 'v' } }],
  storageAccounts: [{ name: ACCOUNT, resourceGroup: 'atk', containers: [{ name: CONTAINER, blobs: { 'existing.txt': 'x' } }] }],
  roleAssignments: [
    { principal: 'app:atk-app', role: 'Owner' },
    { principal: 'app:atk-app', role: 'Key Vault Secrets Officer', scope: `vault:${VAULT}` },
    { principal: 'app:atk-app', role: 'Storage Blob Data Owner', scope: `storageAccount:${ACCOUNT}` },
  ],
};

/** The audience each service's genuine tokens carry. */
const AUDIENCE = {
  arm: 'https://management.azure.com/',
  keyvault: 'https://vault.azure.net',
  storage: 'https://storage.azure.com',
  graph: 'https://graph.microsoft.com/',
};
const SERVICES = Object.keys(AUDIENCE);
/** Who may write at each service: atk-app holds the data roles, only the admin may create applications. */
const WRITER = { arm: 'atk', keyvault: 'atk', storage: 'atk', graph: 'admin' };

/** What common/token says about each kind of bad token (ARM's error_description, Key Vault's and
 * Storage's messages carry it). */
const WHY = {
  alg: /signing algorithm is not RS256/,
  kid: /signing key \(kid\) is not one of this directory's keys/,
  sig: /signature does not verify/,
  iss: /issuer is not the token service of its tenant/,
  tenant: /issued for a tenant this directory does not have/,
  aud: /audience \(aud\) is not this service/,
  noaud: /has no audience/,
  exp: /has expired/,
  nbf: /not valid yet/,
  life: /has no lifetime/,
  // A kid of azsim's key, then \u0000: refused by the signature, or earlier where the JSON layer
  // refuses an escaped NUL in any string.
  nul: /signature does not verify|header or payload is not a JSON object/,
};

/** What Graph answers for the reasons it names; any other refusal is "Access token validation failure.". */
const GRAPH_SAYS = new Map([
  [WHY.exp, 'Lifetime validation failed, the token is expired.'],
  [WHY.nbf, 'Lifetime validation failed, the token is not yet valid.'],
  [WHY.aud, 'Access token validation failure. Invalid audience.'],
  [WHY.sig, 'Access token validation failure.'],
  [WHY.kid, 'Access token validation failure.'],
]);

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

/** A compact JWS: RS256 with a KeyObject/PEM, HS256 with a secret, or no signature at all. */
function jws(header, claims, { rsaKey, hmacSecret } = {}) {
  const input = `${b64url(header)}.${b64url(claims)}`;
  let sig = '';
  if (rsaKey) sig = createSign('RSA-SHA256').update(input).sign(rsaKey).toString('base64url');
  else if (hmacSecret !== undefined) sig = createHmac('sha256', hmacSecret).update(input).digest('base64url');
  return `${input}.${sig}`;
}

/** A self-signed certificate and its key, made with the openssl CLI. */
function selfSigned(dir) {
  const key = join(dir, 'atk.key');
  const cert = join(dir, 'atk.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=attacker',
    '-days', '2', '-keyout', key, '-out', cert], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { keyPem: spawnSync('cat', [key], { encoding: 'utf8' }).stdout, certPem: spawnSync('cat', [cert], { encoding: 'utf8' }).stdout };
}

describe('token and identity attacks', () => {
  let s, info, sub, seedDir;
  let signing; // azsim's own active signing key: {kid, keyPem}
  let jwks; // the tenant's published JWKS
  let attacker; // the test's own RSA key and certificate: {keyPem, certPem, kid, jwk}
  let ids; // {atk|admin: {appId, oid, tokens: {svc: token}}}
  let genuine; // {svc: a genuine token of the principal allowed to write there}
  let tenantB; // {svc: token of atk-b, an application of the second tenant}
  let sentinel; // an HTTP server that must never be contacted: {port, hits}
  const counts = {};
  const refused = (what) => {
    counts[what] = (counts[what] ?? 0) + 1;
  };
  let attempt = 0;

  // ---- each service: one write, the shape of its refusal, and what exists afterwards --------------

  const send = {
    arm: (token, name) => armLib.armRequest(s, token, 'PUT', `${sub}/resourcegroups/${name}?api-version=2021-04-01`, { location: 'westus' }),
    keyvault: (token, name) => s.request('keyvault', `/secrets/${name}?api-version=7.4`, {
      method: 'PUT',
      headers: { Host: `${VAULT}.vault.azure.net`, Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ value: 'pwned' }),
    }),
    storage: (token, name) => s.request('storage', `/${ACCOUNT}/${CONTAINER}/${name}`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${token}`, 'x-ms-version': '2021-08-06', 'x-ms-blob-type': 'BlockBlob', 'Content-Type': 'text/plain' },
      body: 'pwned',
    }),
    graph: (token, name) => s.request('aad', '/v1.0/applications', {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ displayName: name }),
    }),
  };

  const assertRefusal = {
    arm(r, where) {
      assert.equal(r.status, 401, where);
      const body = r.json();
      assert.deepEqual(Object.keys(body), ['error'], where);
      assert.ok(['InvalidAuthenticationToken', 'ExpiredAuthenticationToken', 'InvalidAuthenticationTokenAudience',
        'InvalidAuthenticationTokenTenant'].includes(body.error.code), where);
      assert.match(r.headers['www-authenticate'] ?? '', /^Bearer authorization_uri="[^"]+", error="invalid_token"/, where);
    },
    keyvault(r, where) {
      assert.equal(r.status, 401, where);
      assert.match(r.headers['content-type'] ?? '', /^application\/json/, where);
      const body = r.json();
      assert.equal(body.error.code, 'Unauthorized', where);
      assert.match(body.error.message, /^AKV100(22|32): /, where);
      assert.match(r.headers['www-authenticate'] ?? '', /^Bearer authorization="https:\/\/[^"]+\/[0-9a-f-]{36}", resource="https:\/\/vault\.azure\.net"$/, where);
    },
    storage(r, where) {
      az.assertModuleError('storage', r, 401, 'InvalidAuthenticationInfo');
      assert.match(r.headers['www-authenticate'] ?? '', /^Bearer authorization_uri=https:\/\/login\.microsoftonline\.com\/[0-9a-f-]{36}\/oauth2\/authorize resource_id=https:\/\/storage\.azure\.com$/, where);
    },
    graph(r, where) {
      assert.equal(r.status, 401, where);
      assert.match(r.headers['content-type'] ?? '', /^application\/json/, where);
      const body = r.json();
      assert.equal(body.error.code, 'InvalidAuthenticationToken', where);
      assert.equal(typeof body.error.message, 'string', where);
      assert.equal(typeof body.error.innerError['request-id'], 'string', where);
    },
  };

  /** The names the attacks tried to create that exist now (must be none). */
  const created = {
    async arm() {
      const r = await armLib.armRequest(s, genuine.arm, 'GET', `${sub}/resourcegroups?api-version=2021-04-01`);
      assert.equal(r.status, 200, r.text);
      return r.json().value.map((g) => g.name);
    },
    async keyvault() {
      const r = await s.request('keyvault', '/secrets?api-version=7.4', { headers: { Host: `${VAULT}.vault.azure.net`, Authorization: `Bearer ${genuine.keyvault}` } });
      assert.equal(r.status, 200, r.text);
      return r.json().value.map((x) => x.id.split('/').pop());
    },
    async storage() {
      const r = await s.request('storage', `/${ACCOUNT}/${CONTAINER}?restype=container&comp=list`, { headers: { Authorization: `Bearer ${genuine.storage}`, 'x-ms-version': '2021-08-06' } });
      assert.equal(r.status, 200, r.text);
      return [...r.text.matchAll(/<Name>([^<]*)<\/Name>/g)].map((m) => m[1]);
    },
    async graph() {
      const r = await s.request('aad', '/v1.0/applications', { headers: { Authorization: `Bearer ${genuine.graph}` } });
      assert.equal(r.status, 200, r.text);
      return r.json().value.map((a) => a.displayName);
    },
  };

  /** Send `token` to `svc` as a write; it must be refused in the service's own shape. */
  async function attack(svc, what, token, why) {
    const name = `atk-x-${++attempt}`;
    const r = await send[svc](token, name);
    const where = `${svc}: ${what}: ${r.status} ${r.text}`;
    if (svc === 'arm' && token === tenantB.arm) {
      // Resource Manager authorizes every tenant of the directory by RBAC (azsim's admin is Owner
      // of subscriptions in any tenant, and seeds write there as the admin): the second tenant's
      // application holds no role on the first tenant's subscription, so this is RBAC's 403, where
      // Azure would answer 401 InvalidAuthenticationTokenTenant.
      assert.equal(r.status, 403, where);
      assert.equal(r.json().error.code, 'AuthorizationFailed', where);
    } else {
      assertRefusal[svc](r, where);
      // The reason, where the service tells it: ARM in its challenge, Key Vault and Storage in the
      // message; Graph in its own words, for the reasons it names.
      const told = { arm: r.headers['www-authenticate'], keyvault: r.text, storage: r.text.replaceAll('&apos;', "'") }[svc];
      if (why && told !== undefined) assert.match(told, why, where);
      if (svc === 'graph' && GRAPH_SAYS.has(why)) assert.equal(r.json().error.message, GRAPH_SAYS.get(why), where);
    }
    refused(svc);
  }

  // ---- tokens ----------------------------------------------------------------------------------------

  /** Claims of a token for `svc` exactly as azsim issues them to the service's writer. */
  const claims = (svc, over = {}) => ({
    aud: AUDIENCE[svc],
    iss: `https://sts.windows.net/${info.tenantId}/`,
    iat: now() - 60,
    nbf: now() - 60,
    exp: now() + 3600,
    tid: info.tenantId,
    oid: ids[WRITER[svc]].oid,
    sub: ids[WRITER[svc]].oid,
    appid: ids[WRITER[svc]].appId,
    idtyp: 'app',
    ...over,
  });
  const azsimHeader = () => ({ typ: 'JWT', alg: 'RS256', x5t: signing.kid, kid: signing.kid });
  /** Signed with azsim's own key: a token azsim could have issued. */
  const byAzsim = (c) => jws(azsimHeader(), c, { rsaKey: signing.keyPem });
  const byAttacker = (header, c) => jws({ typ: 'JWT', alg: 'RS256', ...header }, c, { rsaKey: attacker.keyPem });

  /** The attacks on `svc`: [what, token]. */
  function attacks(svc) {
    const c = claims(svc);
    const jwk = jwks.keys.find((k) => k.kid === signing.kid);
    const certPem = new X509Certificate(Buffer.from(jwk.x5c[0], 'base64')).toString();
    const spkiPem = createPublicKey(certPem).export({ type: 'spki', format: 'pem' });
    const pkcs1Pem = createPublicKey(certPem).export({ type: 'pkcs1', format: 'pem' });
    const valid = genuine[svc];
    const [vh, , vs] = valid.split('.');
    const evil = `http://127.0.0.1:${sentinel.port}`;
    const list = [
      ['alg none, no signature', jws({ typ: 'JWT', alg: 'none', kid: signing.kid }, c), WHY.alg],
      ['alg "None", no signature', jws({ typ: 'JWT', alg: 'None', kid: signing.kid }, c), WHY.alg],
      ['alg none, with the signature of a genuine token', `${b64url({ typ: 'JWT', alg: 'none', kid: signing.kid })}.${b64url(c)}.${vs}`, WHY.alg],
      ['HS256, the signing key\'s public key (SPKI PEM) as the secret', jws({ typ: 'JWT', alg: 'HS256', kid: signing.kid }, c, { hmacSecret: spkiPem }), WHY.alg],
      ['HS256, the public key as PKCS#1 PEM', jws({ typ: 'JWT', alg: 'HS256', kid: signing.kid }, c, { hmacSecret: pkcs1Pem }), WHY.alg],
      ['HS256, the certificate PEM (x5c) as the secret', jws({ typ: 'JWT', alg: 'HS256', kid: signing.kid }, c, { hmacSecret: certPem }), WHY.alg],
      ['HS256, the JWKS modulus n as the secret', jws({ typ: 'JWT', alg: 'HS256', kid: signing.kid }, c, { hmacSecret: jwk.n }), WHY.alg],
      ['HS256, the JWK (n, e) as the secret', jws({ typ: 'JWT', alg: 'HS256', kid: signing.kid }, c, { hmacSecret: JSON.stringify({ e: jwk.e, kty: 'RSA', n: jwk.n }) }), WHY.alg],
      ['RS256 by another key under azsim\'s kid', byAttacker({ kid: signing.kid, x5t: signing.kid }, c), WHY.sig],
      ['a genuine token with its payload changed', `${vh}.${b64url({ ...claims(svc), oid: randomUUID() })}.${vs}`, WHY.sig],
      ['a genuine token with its signature cut off', `${vh}.${valid.split('.')[1]}.`, WHY.sig],
      ['unknown kid', byAttacker({ kid: attacker.kid }, c), WHY.kid],
      ['kid ../../etc/passwd', byAttacker({ kid: '../../etc/passwd' }, c), WHY.kid],
      ['kid ../keys/x', byAttacker({ kid: '../keys/x' }, c), WHY.kid],
      ['kid with a NUL byte after azsim\'s kid', byAttacker({ kid: `${signing.kid}\u0000../../etc/passwd` }, c), WHY.nul],
      ['kid percent-encoded ..%2f..%2fetc%2fpasswd%00', byAttacker({ kid: '..%2f..%2fetc%2fpasswd%00' }, c), WHY.kid],
      ['jku naming the attacker\'s JWKS', byAttacker({ kid: attacker.kid, jku: `${evil}/jwks.json` }, c), WHY.kid],
      ['jku naming the attacker\'s JWKS, under azsim\'s kid', byAttacker({ kid: signing.kid, jku: `${evil}/jwks.json` }, c), WHY.sig],
      ['x5u naming the attacker\'s certificate', byAttacker({ kid: attacker.kid, x5u: `${evil}/cert.pem` }, c), WHY.kid],
      ['x5c carrying the attacker\'s certificate', byAttacker({ kid: attacker.kid, x5t: attacker.kid, x5c: [attacker.x5c] }, c), WHY.kid],
      ['jwk carrying the attacker\'s public key', byAttacker({ kid: attacker.kid, jwk: attacker.jwk }, c), WHY.kid],
      ['signed with the admin application\'s client certificate, named by its x5t', jws({ typ: 'JWT', alg: 'RS256', kid: attacker.adminX5t, x5t: attacker.adminX5t }, c, { rsaKey: attacker.adminKeyPem }), WHY.kid],
      // Claims: signed by azsim's own key.
      ['expired an hour ago (azsim\'s key)', byAzsim(claims(svc, { iat: now() - 7200, nbf: now() - 7200, exp: now() - 3600 })), WHY.exp],
      ['expired 6 minutes ago, beyond the 5 minutes of skew (azsim\'s key)', byAzsim(claims(svc, { iat: now() - 4000, nbf: now() - 4000, exp: now() - 360 })), WHY.exp],
      ['not valid for another hour (azsim\'s key)', byAzsim(claims(svc, { iat: now() + 3600, nbf: now() + 3600, exp: now() + 7200 })), WHY.nbf],
      ['not valid for 6 minutes, beyond the skew (azsim\'s key)', byAzsim(claims(svc, { iat: now() + 360, nbf: now() + 360, exp: now() + 3960 })), WHY.nbf],
      ['no exp (azsim\'s key)', byAzsim(claims(svc, { exp: undefined })), WHY.life],
      ['wrong audience (azsim\'s key)', byAzsim(claims(svc, { aud: 'https://example.com/' })), WHY.aud],
      ['no audience (azsim\'s key)', byAzsim(claims(svc, { aud: undefined })), WHY.noaud],
      ['issuer of another tenant (azsim\'s key)', byAzsim(claims(svc, { iss: `https://sts.windows.net/${TENANT_B}/` })), WHY.iss],
      ['issuer not Entra ID (azsim\'s key)', byAzsim(claims(svc, { iss: `https://evil.example/${info.tenantId}/` })), WHY.iss],
      ['v2 issuer (azsim issues v1 tokens only; azsim\'s key)', byAzsim(claims(svc, { iss: `https://login.microsoftonline.com/${info.tenantId}/v2.0` })), WHY.iss],
      ['a tenant the directory does not have, tid and iss forged (azsim\'s key)', byAzsim(claims(svc, { tid: 'f0000000-0000-4000-8000-00000000000f', iss: 'https://sts.windows.net/f0000000-0000-4000-8000-00000000000f/' })), WHY.tenant],
    ];
    // A genuine token of the second tenant: Graph would serve that tenant's own directory (a
    // legitimate use), every other service belongs to the first tenant.
    if (svc !== 'graph') list.push(['a genuine token of another tenant of this directory', tenantB[svc], null]);
    // The same principal's genuine tokens for the other services.
    for (const other of SERVICES) {
      if (other !== svc) list.push([`a genuine ${other} token replayed`, ids[WRITER[svc]].tokens[other], WHY.aud]);
    }
    return list;
  }

  before(async () => {
    const dir = az.tempDir('azsim-attacks-');
    seedDir = dir;
    const seedFile = join(dir.dir, 'seed.json');
    writeFileSync(seedFile, JSON.stringify(SEED));
    s = await az.start({ inMemory: false, args: ['--seed', seedFile] });
    info = aad.info(s.dataDir);
    sub = `/subscriptions/${info.subscriptionId}`;

    // azsim's own signing key, straight from its store.
    const q = spawnSync('sqlite3', ['-json', join(s.dataDir, 'azsim.db'), 'SELECT kid, key_pem FROM signing_keys WHERE active = 1'], { encoding: 'utf8' });
    assert.equal(q.status, 0, q.stderr);
    const [row] = JSON.parse(q.stdout);
    signing = { kid: row.kid, keyPem: row.key_pem };
    jwks = await aad.getJson(s, new URL(await aad.jwksUri(s, info.tenantId)).pathname);
    assert.ok(jwks.keys.some((k) => k.kid === signing.kid), 'the active key is published');

    const own = selfSigned(dir.dir);
    const der = new X509Certificate(own.certPem).raw;
    const admin = aad.readClientPem(info.clientCertificatePath);
    attacker = {
      keyPem: own.keyPem,
      kid: createHash('sha1').update(der).digest('base64url'),
      x5c: der.toString('base64'),
      jwk: createPublicKey(own.certPem).export({ format: 'jwk' }),
      adminKeyPem: admin.keyPem,
      adminX5t: admin.x5t,
    };

    const hits = [];
    const server = http.createServer((req, res) => {
      hits.push(`${req.method} ${req.url}`);
      if (req.url === '/jwks.json') {
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ keys: [{ ...attacker.jwk, kid: attacker.kid, use: 'sig', x5c: [attacker.x5c] }] }));
      } else {
        res.end(own.certPem);
      }
    });
    const connections = [];
    server.on('connection', (c) => connections.push(c.remoteAddress));
    await new Promise((res) => server.listen(0, '127.0.0.1', res));
    sentinel = { server, port: server.address().port, hits, connections };

    const tokenOf = async (tenant, appId, secret, aud) => (await armLib.appToken(s, tenant, appId, secret, aud.replace(/\/$/, ''))).token;
    const identity = async (tenant, appId, secret) => {
      const tokens = {};
      for (const svc of SERVICES) tokens[svc] = await tokenOf(tenant, appId, secret, AUDIENCE[svc]);
      return { appId, oid: armLib.claimsOf(tokens.arm).oid, tokens };
    };
    ids = {
      admin: await identity(info.tenantId, info.clientId, info.clientSecret),
      atk: await identity(info.tenantId, appIdOf('atk-app'), 'atk-app-secret-1'),
    };
    genuine = Object.fromEntries(SERVICES.map((svc) => [svc, ids[WRITER[svc]].tokens[svc]]));
    tenantB = (await identity(TENANT_B, appIdOf('atk-b'), 'atk-b-secret-1')).tokens;
    assert.equal(armLib.claimsOf(tenantB.arm).tid, TENANT_B);
  });

  /** The app id of a seeded application, from the store. */
  function appIdOf(name) {
    const q = spawnSync('sqlite3', [join(s.dataDir, 'azsim.db'), `SELECT app_id FROM applications WHERE display_name = '${name}'`], { encoding: 'utf8' });
    assert.equal(q.status, 0, q.stderr);
    const id = q.stdout.trim();
    assert.match(id, az.UUID_RE, `${name}'s app id: ${q.stdout}`);
    return id;
  }

  after(async () => {
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    console.log(`token and identity attacks: ${total} refused (${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')})`);
    sentinel?.server.close();
    try {
      await az.finish(s);
    } finally {
      seedDir?.cleanup();
    }
  });

  it('the forging is right: azsim\'s key with good claims is accepted, and every genuine token works where it belongs', async () => {
    for (const svc of SERVICES) {
      for (const [what, token] of [['genuine', genuine[svc]], ['forged with azsim\'s key and good claims', byAzsim(claims(svc))]]) {
        const r = await send[svc](token, `atk-ok-${svc}-${++attempt}`);
        assert.ok(r.status >= 200 && r.status < 300, `${svc} ${what}: ${r.status} ${r.text}`);
      }
    }
  });

  for (const svc of SERVICES) {
    it(`${svc}: every forged, mis-claimed, foreign or replayed token is refused with ${svc}'s 401, and nothing is created`, async () => {
      for (const [what, token, why] of attacks(svc)) await attack(svc, what, token, why);
      const names = await created[svc]();
      assert.deepEqual(names.filter((n) => n.startsWith('atk-x-')), [], `${svc} created`);
      assert.ok(names.some((n) => n.startsWith('atk-ok-')), `${svc}: the genuine writes are there (${names.join(', ')})`);
    });
  }

  // ---- IMDS: one VM asking for another VM's identity ------------------------------------------------

  /** GET through the front door in absolute form with the proxy credentials of `proxyUrl`. */
  function viaProxy(proxyUrl, url, headers = {}) {
    const p = new URL(proxyUrl);
    const basic = Buffer.from(`${decodeURIComponent(p.username)}:${decodeURIComponent(p.password)}`).toString('base64');
    return new Promise((res, rej) => {
      const req = http.request({ host: p.hostname, port: p.port, path: url, agent: false,
        headers: { Host: new URL(url).host, 'Proxy-Authorization': `Basic ${basic}`, ...headers } }, (r) => {
        const chunks = [];
        r.on('data', (c) => chunks.push(c));
        r.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          res({ status: r.statusCode, text, json: () => JSON.parse(text) });
        });
      });
      req.on('error', rej);
      req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${url}`)));
      req.end();
    });
  }

  it("IMDS: VM A never gets VM B's identities, by any selector, per-VM endpoint or front door; X-Forwarded-For is refused", async () => {
    const vmList = JSON.parse(az.run(['vm', 'list', '--json', '--data-dir', s.dataDir]).stdout);
    const vm = Object.fromEntries(vmList.map((v) => [v.name, v]));
    const env = JSON.parse(az.run(['env', '--vm', 'vm-a', '--format', 'json', '--data-dir', s.dataDir]).stdout);
    const query = (selector) => `api-version=2018-02-01&resource=${encodeURIComponent(AUDIENCE.keyvault)}${selector ? `&${selector}` : ''}`;
    const paths = {
      'the per-VM endpoint': (selector, headers = {}) => fetch(`${env.AZURE_POD_IDENTITY_AUTHORITY_HOST}${TOKEN_PATH}?${query(selector)}`, { headers: { Metadata: 'true', ...headers } })
        .then(async (r) => ({ status: r.status, text: await r.text() })),
      'the front door with VM A\'s proxy credentials': (selector, headers = {}) => viaProxy(env.HTTP_PROXY, `http://169.254.169.254${TOKEN_PATH}?${query(selector)}`, { Metadata: 'true', ...headers }),
    };
    const selectorsOf = (v) => {
      const [uaiId, uai] = Object.entries(v.userAssignedIdentities)[0];
      return [
        [`${v.name}'s system-assigned identity by client_id`, `client_id=${v.systemAssignedIdentity.clientId}`],
        [`${v.name}'s system-assigned identity by object_id`, `object_id=${v.systemAssignedIdentity.principalId}`],
        [`${v.name}'s system-assigned identity by msi_res_id`, `msi_res_id=${encodeURIComponent(v.id)}`],
        [`${v.name}'s system-assigned identity by mi_res_id`, `mi_res_id=${encodeURIComponent(v.id)}`],
        [`${v.name}'s user-assigned identity by client_id`, `client_id=${uai.clientId}`],
        [`${v.name}'s user-assigned identity by object_id`, `object_id=${uai.principalId}`],
        [`${v.name}'s user-assigned identity by msi_res_id`, `msi_res_id=${encodeURIComponent(uaiId)}`],
        [`${v.name}'s user-assigned identity by mi_res_id`, `mi_res_id=${encodeURIComponent(uaiId)}`],
      ];
    };
    for (const [path, get] of Object.entries(paths)) {
      // The control: VM A gets its own identities by the same selectors and the same path.
      const own = await get('');
      assert.equal(own.status, 200, `${path}: ${own.text}`);
      assert.equal(armLib.claimsOf(JSON.parse(own.text).access_token).oid, vm['vm-a'].systemAssignedIdentity.principalId);
      // (A VM's own resource id names no identity: msi_res_id and mi_res_id name user-assigned ones.)
      for (const [, selector] of selectorsOf(vm['vm-a']).filter(([w]) => !/system-assigned identity by m/.test(w))) {
        const r = await get(selector);
        assert.equal(r.status, 200, `${path} ${selector}: ${r.text}`);
      }
      for (const [what, selector] of selectorsOf(vm['vm-b'])) {
        const r = await get(selector);
        assert.equal(r.status, 400, `${path}, ${what}: ${r.text}`);
        assert.deepEqual(JSON.parse(r.text), { error: 'invalid_request', error_description: 'Identity not found' }, `${path}, ${what}`);
        refused('imds');
      }
      for (const xff of ['10.61.1.4', '127.0.0.1', `10.61.1.4, ${vm['vm-a'].privateAddresses[0]}`]) {
        const r = await get('', { 'X-Forwarded-For': xff });
        assert.equal(r.status, 400, `${path}, X-Forwarded-For ${xff}: ${r.text}`);
        assert.equal(JSON.parse(r.text).error, 'invalid_request', r.text);
        assert.ok(!r.text.includes('access_token'), r.text);
        refused('imds');
      }
    }
  });

  // ---- the front door is never an open proxy ---------------------------------------------------------

  it('front door: CONNECT and absolute-form requests to anything azsim does not serve are 403, never a tunnel', async () => {
    const sentinelPort = sentinel.port;
    const moduleTargets = Object.entries(s.ports).flatMap(([m, port]) => [[`${m}'s own port by IP`, `127.0.0.1:${port}`], [`${m}'s own port as localhost`, `localhost:${port}`]]);
    const connects = [
      ['a host azsim does not serve', 'example.com:443'],
      ['a host azsim does not serve, port 80', 'example.com:80'],
      ['another local port', `127.0.0.1:${sentinelPort}`],
      ['another local port over IPv6', `[::1]:${sentinelPort}`],
      ['the loopback on 443', '127.0.0.1:443'],
      ['the IMDS address (plain http only)', '169.254.169.254:443'],
      ['a served name as a prefix', 'management.azure.com.evil.example:443'],
      ['a served wildcard with two labels', 'a.b.vault.azure.net:443'],
      ['a served name with another port', 'management.azure.com:8443'],
      ['userinfo smuggling', `management.azure.com:443@127.0.0.1:${sentinelPort}`],
      ...moduleTargets,
    ];
    const absolute = [
      ['a host azsim does not serve', 'http://example.com/'],
      ['another local port', `http://127.0.0.1:${sentinelPort}/`],
      ['IMDS\'s own port by IP', `http://127.0.0.1:${s.ports.imds}${TOKEN_PATH}`],
      ['the IMDS address on another port', `http://169.254.169.254:${sentinelPort}/`],
      ['userinfo naming the IMDS address', `http://169.254.169.254@127.0.0.1:${sentinelPort}/`],
      ['a TLS-only service over http', 'http://management.azure.com/subscriptions'],
      ['https in absolute form (malformed for a proxy: 400)', 'https://management.azure.com/subscriptions'],
    ];
    const requests = [
      ...connects.map(([what, authority]) => [`CONNECT ${what}`, px.connectHead(authority.replace(/:(\d+)$/, ''), Number(/:(\d+)$/.exec(authority)[1]))]),
      ...absolute.map(([what, url]) => [`GET ${what}`, `GET ${url} HTTP/1.1\r\nHost: ${new URL(url).host}\r\n\r\n`]),
    ];
    for (const [what, bytes] of requests) {
      const r = await px.proxyExchange(s.ports.proxy, bytes);
      assert.ok(r.head, `${what}: no answer (${JSON.stringify(r.data.toString('latin1'))})`);
      assert.equal(r.head.status, /400\)$/.test(what) ? 400 : 403, `${what}: ${r.head.statusLine} ${r.body}`);
      assert.ok(r.closed, `${what}: the connection is closed after the refusal`);
      refused('frontdoor');
    }
    assert.deepEqual(sentinel.connections, [], 'nothing reached the other local port');
  });

  it('azsim never fetched a key from jku or x5u', () => {
    assert.deepEqual(sentinel.hits, []);
    assert.deepEqual(sentinel.connections, []);
  });
});

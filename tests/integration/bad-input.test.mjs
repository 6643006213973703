// The bad input catalogue: one table of malformed requests for every module (ARM with its
// deployments and templates, Entra ID's token endpoint and Graph, IMDS, Key Vault, Blob Storage
// with Shared Key and SAS, the front door). Each must be answered with a 4xx in that service's own
// error format (ARM, Graph and Key Vault {"error":{"code","message"}}, Entra ID's OAuth
// {"error","error_description"}, Storage's XML <Error><Code>, IMDS's JSON, the front door's plain
// refusal), never a 5xx, a 2xx or a hang, and the server must stay healthy: afterwards every
// module answers /health and a normal request of each kind still works. The suite ends with a
// clean SIGTERM exit, which is where the sanitizer build reports what it saw.
//
// robustness.test.mjs covers what breaks HTTP itself (request lines, header blocks, TLS, stalled
// connections); this file covers what each service's own parsing and validation sees.
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import {
  AccountSASPermissions, AccountSASResourceTypes, AccountSASServices, BlobServiceClient,
  generateAccountSASQueryParameters, generateBlobSASQueryParameters, StorageSharedKeyCredential,
} from '@azure/storage-blob';

import * as aad from './lib/aad.mjs';
import * as arm from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';
import * as px from './lib/proxy.mjs';

const GROUP = 'badinput-rg';
const ACCOUNT = 'badinputacct';
const VAULT_NAME = 'badinput-kv';
const VAULT_HOST = `${VAULT_NAME}.vault.azure.net`;
const VM_NAME = 'badinput-vm';
const RG_API = 'api-version=2021-04-01';
const ST_API = 'api-version=2023-05-01';
const KV_ARM_API = 'api-version=2023-07-01';
const KV_API = 'api-version=7.4';
const DEPLOY_API = 'api-version=2022-09-01';
const AUTHZ_API = 'api-version=2022-04-01';
const X_MS_VERSION = '2023-11-03';
const GRAPH = 'https://graph.microsoft.com';
const STORAGE = 'https://storage.azure.com';
const TOKEN_PATH = '/metadata/identity/oauth2/token';
const BLOB_DATA_OWNER = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b';
const SCHEMA = 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#';
// A sanitizer build is several times slower; every request still has a deadline.
const TIMEOUT_MS = az.SANITIZED ? 30_000 : 10_000;
const PARALLEL = 4;

/** SQL metacharacters, as a name would carry them. */
const SQL = ["'; DROP TABLE resources;--", "a' OR '1'='1", 'x"; DELETE FROM secrets; --', '100%', "it's"];
const enc = encodeURIComponent;

// ---- the error formats ---------------------------------------------------------------------------

function requestId(r, where) {
  assert.match(r.headers['x-ms-request-id'] ?? '', az.UUID_RE, `x-ms-request-id: ${where}`);
}

/** ARM, Key Vault and Graph: {"error":{"code","message"}} and nothing else at the top. */
function jsonError(r, where) {
  requestId(r, where);
  assert.match(r.headers['content-type'] ?? '', /^application\/json/, where);
  const body = JSON.parse(r.text);
  assert.deepEqual(Object.keys(body), ['error'], where);
  assert.equal(typeof body.error.code, 'string', where);
  assert.ok(body.error.code.length > 0, where);
  assert.equal(typeof body.error.message, 'string', where);
  assert.ok(body.error.message.length > 0, where);
  return body.error.code;
}

/** Entra ID's token service: OAuth's {"error","error_description"} plus AADSTS codes. */
function oauthError(r, where) {
  requestId(r, where);
  assert.match(r.headers['content-type'] ?? '', /^application\/json/, where);
  const body = JSON.parse(r.text);
  assert.equal(typeof body.error, 'string', where);
  assert.ok(body.error.length > 0, where);
  assert.equal(typeof body.error_description, 'string', where);
  assert.ok(body.error_description.length > 0, where);
  return body.error;
}

/** IMDS: exactly {"error","error_description"}, as the real service answers. */
function imdsError(r, where) {
  const code = oauthError(r, where);
  assert.deepEqual(Object.keys(JSON.parse(r.text)), ['error', 'error_description'], where);
  return code;
}

/** Storage: XML <Error><Code>…</Code><Message>…RequestId:…</Message>, and x-ms-error-code. A HEAD
 * answer has no body, so there the header carries the code alone. */
function xmlError(r, where, method) {
  requestId(r, where);
  const code = r.headers['x-ms-error-code'];
  assert.ok(code, `x-ms-error-code: ${where}`);
  if (method === 'HEAD') return code;
  assert.match(r.headers['content-type'] ?? '', /^application\/xml/, where);
  const text = r.text.replace(/^\uFEFF/, '');
  assert.match(text, /^<\?xml version="1\.0" encoding="utf-8"\?><Error>/, where);
  assert.equal(/<Code>([^<]*)<\/Code>/.exec(text)?.[1], code, where);
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? '';
  assert.ok(message.includes(`RequestId:${r.headers['x-ms-request-id']}`), where);
  return code;
}

/** The front door's own refusal: a status line, Connection: close, a text body saying why. */
function frontDoorRefusal(r, where) {
  assert.ok(r.head, `no HTTP answer: ${where}`);
  assert.equal(r.head.headers.connection?.toLowerCase(), 'close', where);
  assert.ok(r.body.length > 0, `says why: ${where}`);
  assert.ok(r.closed, `closed: ${where}`);
  return String(r.head.status);
}

/** IMDS's instance metadata: {"error":"Bad request. …"} (plus "newest-versions" for a bad
 * api-version), the real service's shape, not the identity endpoint's OAuth one. */
function imdsInstanceError(r, where) {
  requestId(r, where);
  assert.match(r.headers['content-type'] ?? '', /^application\/json/, where);
  const body = JSON.parse(r.text);
  assert.equal(typeof body.error, 'string', where);
  assert.ok(body.error.length > 0, where);
  return body.error;
}

const FORMATS = {
  json: jsonError, oauth: oauthError, imds: imdsError, imdsInstance: imdsInstanceError, xml: xmlError, frontdoor: frontDoorRefusal,
};

// ---- the suite -----------------------------------------------------------------------------------

describe('bad input catalogue: a 4xx in the service\'s own format, never a 5xx, a 2xx or a hang', () => {
  let s, info, admin, sub, rg, ok;
  let tokens; // {graph, vault, storage}
  let key; // the storage account's key1
  let vmEnv; // `azsim env --vm` of the VM
  let secretId; // the one good secret's name
  let accountSas, blobSas, delegationSas; // good SAS query strings
  let assertion; // a good client assertion for the admin application
  const counts = {};
  const refusedWith = {}; // module → status → count, for the summary
  let deferredCount = 0; // deployments accepted and then Failed, as in Azure

  const accountId = () => `${rg}/providers/Microsoft.Storage/storageAccounts/${ACCOUNT}`;
  const vaultId = () => `${rg}/providers/Microsoft.KeyVault/vaults/${VAULT_NAME}`;
  const tokenPath = () => `/${info.tenantId}/oauth2/v2.0/token`;

  /** Shared Key for a request to the storage listener (path-style: /account/...). */
  function sharedKey(method, path, headers = {}, accountKey = key) {
    const h = { 'x-ms-date': new Date().toUTCString(), 'x-ms-version': X_MS_VERSION, ...headers };
    const get = (name) => Object.entries(h).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1] ?? '';
    const standard = ['Content-Encoding', 'Content-Language', 'Content-Length', 'Content-MD5', 'Content-Type', 'Date',
      'If-Modified-Since', 'If-Match', 'If-None-Match', 'If-Unmodified-Since', 'Range']
      .map((n) => (n === 'Content-Length' && get(n) === '0' ? '' : get(n)));
    const msHeaders = Object.entries(h).filter(([k]) => k.toLowerCase().startsWith('x-ms-'))
      .map(([k, v]) => `${k.toLowerCase()}:${v}`).sort();
    const u = new URL(`https://x${path}`);
    const params = [...u.searchParams.entries()].map(([k, v]) => `${k.toLowerCase()}:${v}`).sort();
    const text = [method, ...standard, ...msHeaders, `/${ACCOUNT}${u.pathname}`].join('\n') + params.map((p) => `\n${p}`).join('');
    const signature = createHmac('sha256', Buffer.from(accountKey, 'base64')).update(text, 'utf8').digest('base64');
    return { ...h, Authorization: `SharedKey ${ACCOUNT}:${signature}` };
  }

  before(async () => {
    ({ s, info, admin, sub, rg, ok } = await arm.adminWorkspace(GROUP, { vnetPrefix: '10.77.0.0/16' }));
    const adminOid = arm.claimsOf(admin).oid;
    tokens = {};
    for (const [k, resource] of [['graph', GRAPH], ['vault', aad.VAULT], ['storage', STORAGE]]) {
      tokens[k] = (await arm.appToken(s, info.tenantId, info.clientId, info.clientSecret, resource)).token;
    }

    // Storage: an account, its key, the admin a Blob Data Owner, a container and a blob.
    await ok('PUT', `${accountId()}?${ST_API}`, { location: 'westus', sku: { name: 'Standard_LRS' }, kind: 'StorageV2' });
    key = (await ok('POST', `${accountId()}/listKeys?${ST_API}`)).keys[0].value;
    await ok('PUT', `${accountId()}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?${AUTHZ_API}`, {
      properties: {
        roleDefinitionId: `${sub}/providers/Microsoft.Authorization/roleDefinitions/${BLOB_DATA_OWNER}`,
        principalId: adminOid, principalType: 'ServicePrincipal',
      },
    });
    const storageUrl = `https://127.0.0.1:${s.ports.storage}/${ACCOUNT}`;
    const cred = new StorageSharedKeyCredential(ACCOUNT, key);
    const svc = new BlobServiceClient(storageUrl, cred, { tlsOptions: { ca: s.caPem }, retryOptions: { maxTries: 1 } });
    await svc.getContainerClient('docs').create();
    await svc.getContainerClient('docs').getBlockBlobClient('hello.txt').upload('hello', 5);
    const expiresOn = new Date(Date.now() + 3600_000);
    accountSas = generateAccountSASQueryParameters({
      expiresOn, permissions: AccountSASPermissions.parse('rl'), resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
      services: AccountSASServices.parse('b').toString(),
    }, cred).toString();
    blobSas = generateBlobSASQueryParameters({ containerName: 'docs', blobName: 'hello.txt', permissions: 'r', expiresOn }, cred).toString();
    // A user delegation key, asked for with the admin's bearer token, and a SAS signed with it.
    const start = new Date(Date.now() - 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
    const expiry = new Date(Date.now() + 3600_000).toISOString().replace(/\.\d+Z$/, 'Z');
    const kr = await s.request('storage', `/${ACCOUNT}/?restype=service&comp=userdelegationkey`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${tokens.storage}`, 'x-ms-version': X_MS_VERSION, 'Content-Type': 'application/xml' },
      body: `<?xml version="1.0" encoding="utf-8"?><KeyInfo><Start>${start}</Start><Expiry>${expiry}</Expiry></KeyInfo>`,
    });
    assert.equal(kr.status, 200, kr.text);
    const tag = (n) => new RegExp(`<${n}>([^<]*)</${n}>`).exec(kr.text)[1];
    delegationSas = generateBlobSASQueryParameters({ containerName: 'docs', blobName: 'hello.txt', permissions: 'r', expiresOn }, {
      signedObjectId: tag('SignedOid'), signedTenantId: tag('SignedTid'), signedStartsOn: new Date(tag('SignedStart')),
      signedExpiresOn: new Date(tag('SignedExpiry')), signedService: tag('SignedService'), signedVersion: tag('SignedVersion'), value: tag('Value'),
    }, ACCOUNT).toString();

    // Key Vault: a vault whose access policy lets the admin do anything, and one secret.
    await ok('PUT', `${vaultId()}?${KV_ARM_API}`, {
      location: 'westus',
      properties: {
        tenantId: info.tenantId, sku: { family: 'A', name: 'standard' },
        accessPolicies: [{ tenantId: info.tenantId, objectId: adminOid, permissions: { secrets: ['all'], keys: ['all'] } }],
      },
    });
    secretId = 'good-secret';
    const put = await kvSend({ method: 'PUT', path: `/secrets/${secretId}?${KV_API}`, body: { value: 'v1' } });
    assert.equal(put.status, 200, put.text);

    // A VM with a system-assigned identity, for IMDS.
    await ok('PUT', `${rg}/providers/Microsoft.Network/networkInterfaces/badinput-nic?api-version=2022-07-01`, {
      location: 'westus',
      properties: { ipConfigurations: [{ name: 'ipconfig1', properties: { subnet: { id: `${rg}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default` } } }] },
    });
    await ok('PUT', `${rg}/providers/Microsoft.Compute/virtualMachines/${VM_NAME}?api-version=2024-07-01`, {
      location: 'westus',
      identity: { type: 'SystemAssigned' },
      properties: {
        hardwareProfile: { vmSize: 'Standard_B1s' },
        storageProfile: { imageReference: { publisher: 'Canonical', offer: '0001-com-ubuntu-server-jammy', sku: '22_04-lts-gen2', version: 'latest' } },
        osProfile: { computerName: VM_NAME, adminUsername: 'azureuser', linuxConfiguration: {} },
        networkProfile: { networkInterfaces: [{ id: `${rg}/providers/Microsoft.Network/networkInterfaces/badinput-nic` }] },
      },
    });
    const env = az.run(['env', '--vm', VM_NAME, '--format', 'json', '--data-dir', s.dataDir]);
    assert.equal(env.code, 0, env.stderr);
    vmEnv = JSON.parse(env.stdout);

    // A good client assertion for the admin application (its certificate from `azsim info`).
    const pem = aad.readClientPem(info.clientCertificatePath);
    assertion = await aad.clientAssertion({
      keyPem: pem.keyPem, header: { 'x5t#S256': pem.x5tS256 }, clientId: info.clientId, aud: `${s.urls.aad}${tokenPath()}`,
    });
  });

  after(async () => {
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const per = Object.entries(counts).map(([m, n]) => `${m} ${n}`).join(', ');
    const statuses = Object.entries(refusedWith).map(([m, st]) =>
      `${m}: ${Object.entries(st).sort().map(([k, n]) => `${k}×${n}`).join(' ')}`).join('; ');
    console.log(`bad input: ${total} cases (${per}), all 4xx in the service's format` +
      ` (but ${deferredCount} deployments that Azure, too, accepts and then fails)`);
    console.log(`bad input statuses: ${statuses}`);
    await az.finish(s);
  });

  // ---- sending ---------------------------------------------------------------------------------

  function body(b) {
    if (b === undefined || typeof b === 'string' || Buffer.isBuffer(b)) return b;
    return JSON.stringify(b);
  }

  function armSend(c) {
    const headers = { Accept: 'application/json', ...(c.headers ?? {}) };
    if (c.token !== null) headers.Authorization ??= `Bearer ${c.token ?? admin}`;
    if (c.body !== undefined) headers['Content-Type'] ??= 'application/json';
    return s.request('arm', c.path, { method: c.method ?? 'GET', headers, body: body(c.body), timeoutMs: TIMEOUT_MS });
  }
  function aadSend(c) {
    const headers = { ...(c.headers ?? {}) };
    if (c.form !== undefined) headers['Content-Type'] ??= 'application/x-www-form-urlencoded';
    const b = c.form !== undefined ? (typeof c.form === 'string' ? c.form : aad.form(c.form)) : body(c.body);
    return s.request('aad', c.path ?? tokenPath(), { method: c.method ?? 'POST', headers, body: b, timeoutMs: TIMEOUT_MS });
  }
  function graphSend(c) {
    const headers = { Accept: 'application/json', ...(c.headers ?? {}) };
    if (c.token !== null) headers.Authorization ??= `Bearer ${c.token ?? tokens.graph}`;
    if (c.body !== undefined) headers['Content-Type'] ??= 'application/json';
    return s.request('aad', c.path, { method: c.method ?? 'GET', headers, body: body(c.body), timeoutMs: TIMEOUT_MS });
  }
  function imdsSend(c) {
    const headers = c.headers ?? { Metadata: 'true' };
    const base = c.shared ? '' : new URL(vmEnv.AZURE_POD_IDENTITY_AUTHORITY_HOST).pathname.replace(/\/$/, '');
    return s.request('imds', `${base}${c.path}`, { method: c.method ?? 'GET', headers, body: body(c.body), timeoutMs: TIMEOUT_MS });
  }
  function kvSend(c) {
    const host = c.host ?? VAULT_HOST;
    const headers = { Host: host, ...(c.headers ?? {}) };
    if (c.token !== null) headers.Authorization ??= `Bearer ${c.token ?? tokens.vault}`;
    if (c.body !== undefined) headers['Content-Type'] ??= 'application/json';
    return s.request('keyvault', c.path, {
      method: c.method ?? 'GET', headers, body: body(c.body), servername: host, timeoutMs: TIMEOUT_MS,
    });
  }
  function storageSend(c) {
    const method = c.method ?? 'GET';
    let headers = { ...(c.headers ?? {}) };
    const b = body(c.body);
    if (b !== undefined) headers['Content-Length'] ??= String(Buffer.byteLength(b));
    if (c.auth === 'bearer' || c.auth === undefined) {
      headers = { Authorization: `Bearer ${tokens.storage}`, 'x-ms-version': X_MS_VERSION, ...headers };
    } else if (c.auth === 'sharedkey') {
      headers = sharedKey(method, c.path, headers);
    }
    return s.request(c.listener ?? 'storage', c.path, { method, headers, body: b, timeoutMs: TIMEOUT_MS });
  }
  function frontDoorSend(c) {
    return px.proxyExchange(s.ports.proxy, c.raw, { ms: TIMEOUT_MS });
  }
  /** An absolute-form request through the front door, answered by the module behind it. */
  async function viaFrontDoor(c) {
    const r = await px.proxyExchange(s.ports.proxy, c.raw, { ms: TIMEOUT_MS });
    assert.ok(r.head, `no answer through the front door: ${JSON.stringify(r.data.toString('latin1').slice(0, 200))}`);
    const headers = Object.fromEntries(Object.entries(r.head.headers).map(([k, v]) => [k.toLowerCase(), v]));
    return { status: r.head.status, headers, text: Buffer.from(r.body, 'latin1').toString('utf8') };
  }

  const SENDERS = {
    arm: [armSend, 'json'],
    aad: [aadSend, 'oauth'],
    graph: [graphSend, 'json'],
    imds: [imdsSend, 'imds'],
    keyvault: [kvSend, 'json'],
    storage: [storageSend, 'xml'],
    frontdoor: [frontDoorSend, 'frontdoor'],
  };

  /**
   * Run `cases` of module `m`, PARALLEL at a time, and fail once with every case that did not
   * get a 4xx in the module's format (and, where the case names them, the status and code).
   */
  async function runCases(m, cases) {
    const names = new Set();
    for (const c of cases) {
      assert.ok(!names.has(c.name), `duplicate case name ${m}: ${c.name}`);
      names.add(c.name);
    }
    const failures = [];
    refusedWith[m] ??= {};
    let next = 0;
    async function worker() {
      while (next < cases.length) {
        const c = cases[next++];
        const [send, moduleFormat] = c.via === 'frontdoor' ? [viaFrontDoor, c.format] : SENDERS[m];
        const format = c.format ?? moduleFormat;
        const where = `${m}: ${c.name}`;
        let r;
        try {
          r = await send(c);
          const status = r.head ? r.head.status : r.status;
          const shown = `${status} ${r.head ? r.body : r.text}`.slice(0, 400);
          if (c.deferred) {
            // Accepted, then failed, as Azure fails a deployment whose error shows only when it
            // runs: the error is in the deployment, in ARM's shape.
            assert.ok(status === 200 || status === 201, `expected an accepted, failed deployment, got ${shown}`);
            const p = JSON.parse(r.text).properties;
            assert.equal(p.provisioningState, 'Failed', shown);
            assert.equal(typeof p.error?.code, 'string', shown);
            assert.equal(typeof p.error?.message, 'string', shown);
            deferredCount++;
            continue;
          }
          assert.ok(status >= 400 && status < 500, `expected a 4xx, got ${shown}`);
          if (c.status !== undefined) assert.equal(status, c.status, shown);
          const code = FORMATS[format ?? c.format](r, shown, c.method ?? 'GET');
          if (c.code !== undefined) assert.equal(code, c.code, shown);
          refusedWith[m][status] = (refusedWith[m][status] ?? 0) + 1;
        } catch (err) {
          failures.push(`${where}\n    ${err.message.split('\n').slice(0, 4).join('\n    ')}`);
        }
      }
    }
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    counts[m] = (counts[m] ?? 0) + cases.length;
    assert.ok(s.running, `azsim is no longer running\n${s.stderr.slice(-4000)}`);
    assert.equal(failures.length, 0, `${failures.length} of ${cases.length} ${m} cases were answered wrongly:\n${failures.join('\n')}`);
    await az.assertHealthy(s);
  }

  // ---- ARM ---------------------------------------------------------------------------------------

  it('ARM: broken JSON, wrong types, huge values, bad names and api-versions, tokens', async () => {
    const rgPath = (name, api = RG_API) => `${sub}/resourcegroups/${name}?${api}`;
    let n = 0;
    const put = (name, b, extra = {}) => ({ name, method: 'PUT', path: rgPath(`bi-json-${++n}`), body: b, status: 400, ...extra });
    const cases = [
      put('body "{"', '{'),
      put('body truncated', '{"location":"westus"'),
      put('body "{"location":}"', '{"location":}'),
      put('body trailing garbage', '{"location":"westus"} trailing'),
      put('body two objects', '{"location":"westus"}{"location":"westus"}'),
      put('body single quotes', "{'location':'westus'}"),
      put('body a JSON array', '[{"location":"westus"}]'),
      put('body a JSON string', '"westus"'),
      put('body a JSON number', '42'),
      put('body null', 'null'),
      put('body empty', ''),
      put('body whitespace', '   \n\t '),
      put('body 10000 nested arrays', '['.repeat(10_000) + ']'.repeat(10_000)),
      put('body 1,000,000 unclosed arrays', '['.repeat(1_000_000)),
      put('body 5000 nested objects', '{"a":'.repeat(5_000) + '1' + '}'.repeat(5_000)),
      put('location nested 300 deep', `{"location":"westus","tags":${'{"a":'.repeat(300)}"x"${'}'.repeat(300)}}`),
      put('raw NUL byte in the body', Buffer.from('{"location":"west\0us"}', 'latin1')),
      put('escaped NUL in location', '{"location":"west\\u0000us"}'),
      put('invalid UTF-8 in the body', Buffer.concat([Buffer.from('{"location":"'), Buffer.from([0xff, 0xfe, 0xc0, 0xaf]), Buffer.from('"}')])),
      put('bad escape', '{"location":"\\x41"}'),
      put('location a number', { location: 42 }),
      put('location an array', { location: ['westus'] }),
      put('location null', { location: null }),
      put('location an object', { location: { name: 'westus' } }),
      put('location huge number', '{"location":1e999999}'),
      put('tags a string', { location: 'westus', tags: 'a=b' }),
      put('tags an array', { location: 'westus', tags: ['a'] }),
      put('tag value a number', { location: 'westus', tags: { a: 1 } }),
      put('tag value huge number', '{"location":"westus","tags":{"a":123456789012345678901234567890}}'),
      put('tag value 100 KB', { location: 'westus', tags: { a: 'v'.repeat(100_000) } }),
      put('tag name 1000 chars', { location: 'westus', tags: { ['k'.repeat(1000)]: 'v' } }),
      put('51 tags', { location: 'westus', tags: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`t${i}`, 'v'])) }),
      { name: 'group name 91 chars', method: 'PUT', path: rgPath('g'.repeat(91)), body: { location: 'westus' }, status: 400 },
      ...SQL.map((n, i) => ({ name: `group name with SQL metacharacters ${i}`, method: 'PUT', path: rgPath(enc(n)), body: { location: 'westus' }, status: 400 })),
      ...SQL.map((n, i) => ({ name: `GET a group named with SQL metacharacters ${i}`, path: rgPath(enc(n)), status: undefined })),
      { name: 'group name ending in a period', method: 'PUT', path: rgPath('grp.'), body: { location: 'westus' }, status: 400 },
      { name: 'group name %2e%2e', method: 'PUT', path: rgPath('%2e%2e'), body: { location: 'westus' } },
      { name: 'group name ..', method: 'PUT', path: `${sub}/resourcegroups/../resourcegroups/x/..?${RG_API}`, body: { location: 'westus' } },
      { name: 'group name with %2F', method: 'PUT', path: rgPath('a%2Fb'), body: { location: 'westus' } },
      { name: 'group name with %00', method: 'PUT', path: rgPath('a%00b'), body: { location: 'westus' }, status: 400 },
      { name: 'group name with invalid UTF-8', method: 'PUT', path: rgPath('a%ff%feb'), body: { location: 'westus' }, status: 400 },
      { name: 'group name with bad percent-encoding', method: 'PUT', path: rgPath('a%zzb'), body: { location: 'westus' }, status: 400 },
      { name: 'api-version missing', path: `${sub}/resourcegroups/${GROUP}`, status: 400 },
      { name: 'api-version empty', path: `${sub}/resourcegroups/${GROUP}?api-version=`, status: 400 },
      { name: 'api-version 9999-99-99', path: rgPath(GROUP, 'api-version=9999-99-99'), status: 400 },
      { name: 'api-version not a date', path: rgPath(GROUP, `api-version=${enc("' OR 1=1 --")}`), status: 400 },
      { name: 'api-version 10 KB', path: rgPath(GROUP, `api-version=${'9'.repeat(10_000)}`), status: 400 },
      { name: 'api-version with %00', path: rgPath(GROUP, 'api-version=2021-04-01%00'), status: 400 },
      { name: 'api-version bad percent-encoding', path: rgPath(GROUP, 'api-version=2021%zz'), status: 400 },
      { name: 'storage api-version impossible', path: `${accountId()}?api-version=${enc("2021-04-01'; --")}`, status: 400, code: 'NoRegisteredProviderFound' },
      { name: 'subscription id not a GUID', path: `/subscriptions/not-a-guid/resourcegroups?${RG_API}` },
      { name: 'subscription id with SQL', path: `/subscriptions/${enc(SQL[1])}/resourcegroups?${RG_API}` },
      { name: 'subscription id 10 KB', path: `/subscriptions/${'a'.repeat(10_000)}/resourcegroups?${RG_API}` },
      { name: 'unknown provider', path: `${rg}/providers/Microsoft.Nope/things/x?${RG_API}`, status: 400 },
      { name: 'provider namespace with SQL', path: `${rg}/providers/${enc(SQL[0])}/things/x?${RG_API}` },
      { name: 'storage account name with uppercase', method: 'PUT', path: `${rg}/providers/Microsoft.Storage/storageAccounts/BadName?${ST_API}`, body: { location: 'westus', sku: { name: 'Standard_LRS' }, kind: 'StorageV2' }, status: 400 },
      { name: 'storage account sku a number', method: 'PUT', path: `${rg}/providers/Microsoft.Storage/storageAccounts/badsku1?${ST_API}`, body: { location: 'westus', sku: 5, kind: 'StorageV2' }, status: 400 },
      { name: 'storage account sku unknown', method: 'PUT', path: `${rg}/providers/Microsoft.Storage/storageAccounts/badsku2?${ST_API}`, body: { location: 'westus', sku: { name: "'; DROP TABLE x;--" }, kind: 'StorageV2' }, status: 400 },
      { name: 'listKeys of an account named with %2e%2e', method: 'POST', path: `${rg}/providers/Microsoft.Storage/storageAccounts/%2e%2e/listKeys?${ST_API}` },
      { name: 'vault with tenantId not a GUID', method: 'PUT', path: `${rg}/providers/Microsoft.KeyVault/vaults/bad-tenant-kv?${KV_ARM_API}`, body: { location: 'westus', properties: { tenantId: "x' OR 1=1", sku: { family: 'A', name: 'standard' } } }, status: 400 },
      { name: 'vault accessPolicies a string', method: 'PUT', path: `${rg}/providers/Microsoft.KeyVault/vaults/bad-policy-kv?${KV_ARM_API}`, body: { location: 'westus', properties: { tenantId: info.tenantId, sku: { family: 'A', name: 'standard' }, accessPolicies: 'all' } }, status: 400 },
      { name: 'role assignment id not a GUID', method: 'PUT', path: `${rg}/providers/Microsoft.Authorization/roleAssignments/not-a-guid?${AUTHZ_API}`, body: { properties: { roleDefinitionId: 'x', principalId: 'y' } }, status: 400 },
      { name: 'role assignment principalId with SQL', method: 'PUT', path: `${rg}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?${AUTHZ_API}`, body: { properties: { roleDefinitionId: `${sub}/providers/Microsoft.Authorization/roleDefinitions/${arm.ROLES.Reader}`, principalId: SQL[0] } }, status: 400 },
      { name: 'no token', path: rgPath(GROUP), token: null, status: 401 },
      { name: 'token not a JWT', path: rgPath(GROUP), headers: { Authorization: 'Bearer not-a-jwt' }, status: 401 },
      { name: 'token with invalid base64', path: rgPath(GROUP), headers: { Authorization: 'Bearer !!!.@@@.###' }, status: 401 },
      { name: 'token alg none', path: rgPath(GROUP), headers: { Authorization: `Bearer ${Buffer.from('{"alg":"none"}').toString('base64url')}.${admin.split('.')[1]}.` }, status: 401 },
      { name: 'token with a forged payload', path: rgPath(GROUP), headers: { Authorization: `Bearer ${admin.split('.')[0]}.${Buffer.from(JSON.stringify({ ...arm.claimsOf(admin), oid: randomUUID() })).toString('base64url')}.${admin.split('.')[2]}` }, status: 401 },
      { name: 'token 32 KB of junk', path: rgPath(GROUP), headers: { Authorization: `Bearer ${'A'.repeat(32_000)}.${'B'.repeat(100)}.C` }, status: 401 },
      { name: 'Authorization Basic', path: rgPath(GROUP), headers: { Authorization: 'Basic YWRtaW46YWRtaW4=' }, status: 401 },
    ];
    await runCases('arm', cases);
  });

  it('ARM deployments: malformed templates, parameters and expressions', async () => {
    let n = 0;
    const dep = (name, properties, extra = {}) => ({
      name, method: 'PUT', path: `${rg}/providers/Microsoft.Resources/deployments/bi-${++n}?${DEPLOY_API}`,
      body: properties === undefined ? undefined : { properties }, status: 400, ...extra,
    });
    const tpl = (extra) => ({ $schema: SCHEMA, contentVersion: '1.0.0.0', resources: [], ...extra });
    // Errors that show only when the template runs: accepted, then failed, as in Azure. Syntax
    // errors and unknown functions are refused up front (400 InvalidTemplate), as Azure does.
    const deferred = (c) => ({ ...c, status: undefined, deferred: true });
    const incremental = (template, parameters) => ({ mode: 'Incremental', template, ...(parameters ? { parameters } : {}) });
    const withOutput = (value, type = 'string') => incremental(tpl({ outputs: { o: { type, value } } }));
    const rgTagged = (tags) => incremental(tpl({
      resources: [{ type: 'Microsoft.Network/virtualNetworks', apiVersion: '2022-07-01', name: 'v', location: 'westus', tags }],
    }));
    const cases = [
      dep('no body', undefined, { body: '' }),
      dep('body not JSON', undefined, { body: '{"properties":' }),
      dep('properties a string', 'x'),
      dep('mode unknown', { mode: "Incremental'; --", template: tpl() }),
      dep('template a string', incremental('resources')),
      dep('template an array', incremental([])),
      dep('template and templateLink both', { ...incremental(tpl()), templateLink: { uri: 'https://example.com/t.json' } }),
      dep('templateLink only (azsim never fetches)', { mode: 'Incremental', templateLink: { uri: 'file:///etc/passwd' } }),
      dep('resources not an array', incremental(tpl({ resources: {} }))),
      dep('resource without type', incremental(tpl({ resources: [{ name: 'x', apiVersion: '2022-07-01' }] }))),
      dep('resource type a number', incremental(tpl({ resources: [{ type: 7, name: 'x', apiVersion: '2022-07-01' }] }))),
      dep('resource type with SQL', incremental(tpl({ resources: [{ type: SQL[0], name: 'x', apiVersion: '2022-07-01' }] }))),
      dep('resource name with ../', incremental(tpl({ resources: [{ type: 'Microsoft.Network/virtualNetworks', apiVersion: '2022-07-01', name: '../../x', location: 'westus' }] }))),
      deferred(dep('resource apiVersion impossible', incremental(tpl({ resources: [{ type: 'Microsoft.Network/virtualNetworks', apiVersion: '9999-99-99', name: 'v', location: 'westus' }] })))),
      dep('parameters a string', incremental(tpl(), 'p')),
      dep('parameter value missing wrapper', incremental(tpl({ parameters: { p: { type: 'string' } } }), { p: 'x' })),
      dep('required parameter missing', incremental(tpl({ parameters: { p: { type: 'string' } } }))),
      dep('unknown parameter given', incremental(tpl(), { nope: { value: 1 } })),
      dep('int parameter given a string', incremental(tpl({ parameters: { p: { type: 'int' } } }), { p: { value: 'ten' } })),
      dep('int parameter given 1e400', undefined, { body: `{"properties":{"mode":"Incremental","template":${JSON.stringify(tpl({ parameters: { p: { type: 'int' } } }))},"parameters":{"p":{"value":1e400}}}}` }),
      dep('int parameter given 2^64', undefined, { body: `{"properties":{"mode":"Incremental","template":${JSON.stringify(tpl({ parameters: { p: { type: 'int' } } }))},"parameters":{"p":{"value":18446744073709551616}}}}` }),
      dep('int parameter above maxValue', incremental(tpl({ parameters: { p: { type: 'int', maxValue: 4 } } }), { p: { value: 5 } })),
      dep('parameter type unknown', incremental(tpl({ parameters: { p: { type: 'uint128' } } }), { p: { value: 1 } })),
      dep('securestring given a number', incremental(tpl({ parameters: { p: { type: 'securestring' } } }), { p: { value: 12345 } })),
      dep('bool parameter given "yes"', incremental(tpl({ parameters: { p: { type: 'bool' } } }), { p: { value: 'yes' } })),
      dep('allowedValues violated', incremental(tpl({ parameters: { p: { type: 'string', allowedValues: ['a'] } } }), { p: { value: "b' OR 'a'='a" } })),
      dep('expression unbalanced bracket', withOutput("[concat('a']"), { code: 'InvalidTemplate' }),
      dep('expression unbalanced quote', withOutput("[concat('a)]"), { code: 'InvalidTemplate' }),
      dep('expression unknown function', withOutput('[nope()]'), { code: 'InvalidTemplate' }),
      dep('expression wrong argument count', withOutput("[concat()]"), { code: 'InvalidTemplate' }),
      deferred(dep('expression wrong argument type', withOutput('[add(1, \'x\')]', 'int'))),
      deferred(dep('expression division by zero', withOutput('[div(1, 0)]', 'int'))),
      deferred(dep('expression int overflow', withOutput('[mul(9223372036854775807, 2)]', 'int'))),
      dep('expression huge int literal', withOutput('[add(99999999999999999999999, 1)]', 'int'), { code: 'InvalidTemplate' }),
      dep('expression 2000 nested calls', withOutput(`[${'concat('.repeat(2000)}'a'${')'.repeat(2000)}]`), { code: 'InvalidTemplate' }),
      dep('expression 100,000 open parentheses', withOutput(`[${'('.repeat(100_000)}]`), { code: 'InvalidTemplate' }),
      deferred(dep('expression parameters() of a missing name', withOutput("[parameters('missing')]"))),
      deferred(dep('expression variables() of a missing name', withOutput("[variables('missing')]"))),
      deferred(dep('expression variable referring to itself', incremental(tpl({ variables: { a: "[variables('a')]" }, outputs: { o: { type: 'string', value: "[variables('a')]" } } })))),
      deferred(dep('expression variables in a cycle', incremental(tpl({ variables: { a: "[variables('b')]", b: "[variables('a')]" }, outputs: { o: { type: 'string', value: "[variables('a')]" } } })))),
      deferred(dep('expression string() of 1e6 repeats', withOutput("[length(string(range(0, 100000000)))]", 'int'))),
      deferred(dep('expression base64ToString of invalid base64', withOutput("[base64ToString('!!!not base64!!!')]"))),
      deferred(dep('expression indexing past the end', withOutput('[createArray(1,2)[5]]', 'int'))),
      dep('expression NUL byte', withOutput("[concat('a', '\u0000')]")),
      deferred(dep('output type unknown', incremental(tpl({ outputs: { o: { type: 'blob', value: 'x' } } })))),
      deferred(dep('output value type mismatch', withOutput('abc', 'int'))),
      dep('copy count negative', incremental(tpl({ resources: [{ type: 'Microsoft.Network/virtualNetworks', apiVersion: '2022-07-01', name: "[concat('v', copyIndex())]", location: 'westus', copy: { name: 'c', count: -1 } }] }))),
      dep('copy count 10^9', incremental(tpl({ resources: [{ type: 'Microsoft.Network/virtualNetworks', apiVersion: '2022-07-01', name: "[concat('v', copyIndex())]", location: 'westus', copy: { name: 'c', count: 1_000_000_000 } }] }))),
      dep('copy count a string', incremental(tpl({ resources: [{ type: 'Microsoft.Network/virtualNetworks', apiVersion: '2022-07-01', name: "[concat('v', copyIndex())]", location: 'westus', copy: { name: 'c', count: 'many' } }] }))),
      dep('copy without a name', incremental(tpl({ resources: [{ type: 'Microsoft.Network/virtualNetworks', apiVersion: '2022-07-01', name: "[concat('v', copyIndex())]", location: 'westus', copy: { count: 2 } }] }))),
      dep('dependsOn a missing resource', incremental(tpl({ resources: [{ type: 'Microsoft.Network/virtualNetworks', apiVersion: '2022-07-01', name: 'v', location: 'westus', dependsOn: ['nothere'] }] }))),
      dep('dependsOn a cycle', incremental(tpl({ resources: [
        { type: 'Microsoft.Network/virtualNetworks', apiVersion: '2022-07-01', name: 'a', location: 'westus', dependsOn: ['b'] },
        { type: 'Microsoft.Network/virtualNetworks', apiVersion: '2022-07-01', name: 'b', location: 'westus', dependsOn: ['a'] }] }))),
      deferred(dep('resource tags a number', rgTagged(5))),
      dep('801 resources', incremental(tpl({ resources: Array.from({ length: 801 }, (_, i) => ({ type: 'Microsoft.Network/virtualNetworks', apiVersion: '2022-07-01', name: `v${i}`, location: 'westus' })) }))),
      { name: 'deployment name 65 chars', method: 'PUT', path: `${rg}/providers/Microsoft.Resources/deployments/${'d'.repeat(65)}?${DEPLOY_API}`, body: { properties: incremental(tpl()) }, status: 400 },
      { name: 'deployment name with SQL', method: 'PUT', path: `${rg}/providers/Microsoft.Resources/deployments/${enc(SQL[0])}?${DEPLOY_API}`, body: { properties: incremental(tpl()) }, status: 400 },
      { name: 'deployment name %2e%2e', method: 'PUT', path: `${rg}/providers/Microsoft.Resources/deployments/%2e%2e?${DEPLOY_API}`, body: { properties: incremental(tpl()) } },
      { name: 'validate with a broken template', method: 'POST', path: `${rg}/providers/Microsoft.Resources/deployments/v1/validate?${DEPLOY_API}`, body: { properties: incremental(tpl({ resources: 'x' })) }, status: 400 },
      { name: 'deployment api-version impossible', method: 'PUT', path: `${rg}/providers/Microsoft.Resources/deployments/x?api-version=2099-13-01`, body: { properties: incremental(tpl()) }, status: 400 },
      { name: 'operation status of a missing deployment with SQL', path: `${rg}/providers/Microsoft.Resources/deployments/${enc(SQL[1])}/operations?${DEPLOY_API}`, status: 404 },
    ];
    await runCases('arm', cases);
  });

  // ---- Entra ID: the token endpoint and discovery ----------------------------------------------

  it('Entra ID token endpoint: forms, grants, secrets, passwords, assertions, tenants', async () => {
    const cc = (extra) => ({ grant_type: 'client_credentials', client_id: info.clientId, client_secret: info.clientSecret, scope: `${arm.ARM}/.default`, ...extra });
    const ca = (extra) => cc({ client_secret: undefined, client_assertion: assertion, client_assertion_type: aad.ASSERTION_TYPE, ...extra });
    const [h, p, sig] = assertion.split('.');
    const b64u = (o) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');
    const pw = (extra) => ({ grant_type: 'password', client_id: aad.AZURE_CLI_APP_ID, username: info.username, password: 'wrong-password', scope: `${arm.ARM}/.default openid profile offline_access`, ...extra });
    const t = (name, form, extra = {}) => ({ name, form, ...extra });
    const cases = [
      t('no body', ''),
      t('grant_type missing', cc({ grant_type: undefined })),
      t('grant_type unknown', cc({ grant_type: "client_credentials'; DROP TABLE apps;--" })),
      t('grant_type empty', cc({ grant_type: '' })),
      t('client_id missing', cc({ client_id: undefined })),
      t('client_id not a GUID', cc({ client_id: 'not-a-guid' })),
      t('client_id with SQL', cc({ client_id: SQL[1] })),
      t('client_id 100 KB', cc({ client_id: 'a'.repeat(100_000) })),
      t('client_id unknown', cc({ client_id: randomUUID() })),
      t('client_secret wrong', cc({ client_secret: 'wrong' })),
      t('client_secret empty', cc({ client_secret: '' })),
      t('client_secret 900 KB', cc({ client_secret: 'x'.repeat(900_000) })),
      t('client_secret with a NUL', cc({ client_secret: `${info.clientSecret}\0` })),
      t('client_secret with SQL', cc({ client_secret: SQL[1] })),
      t('client_secret invalid UTF-8', `${aad.form(cc({ client_secret: undefined }))}&client_secret=%ff%fe%fd`),
      t('form with bad percent-encoding', `${aad.form(cc({ client_secret: undefined }))}&client_secret=%zz`),
      t('form with a truncated escape', `${aad.form(cc({ client_secret: undefined }))}&client_secret=abc%`),
      t('form with raw NUL bytes', Buffer.concat([Buffer.from(aad.form(cc({ client_secret: undefined }))), Buffer.from('&client_secret=a\0b')])),
      t('form with raw invalid UTF-8', Buffer.concat([Buffer.from(aad.form(cc({ client_secret: undefined }))), Buffer.from('&client_secret='), Buffer.from([0xc0, 0xaf, 0xff])])),
      t('form of 20,000 empty fields', '&'.repeat(20_000)),
      t('form of 5,000 repeated scopes', `${aad.form(cc({ scope: undefined }))}${'&scope=x'.repeat(5_000)}`),
      { name: 'JSON instead of a form', body: JSON.stringify(cc()), headers: { 'Content-Type': 'application/json' } },
      { name: 'no Content-Type', body: aad.form(cc({ client_secret: 'wrong' })) },
      t('scope missing', cc({ scope: undefined })),
      t('scope empty', cc({ scope: '' })),
      t('scope of two resources', cc({ scope: `${arm.ARM}/.default ${GRAPH}/.default` })),
      t('scope with SQL', cc({ scope: `${SQL[0]}/.default` })),
      t('scope 100 KB', cc({ scope: `https://${'a'.repeat(100_000)}/.default` })),
      t('scope not .default for an app', cc({ scope: `${arm.ARM}/user_impersonation` })),
      t('assertion type wrong', ca({ client_assertion_type: 'urn:nope' })),
      t('assertion without a type', ca({ client_assertion_type: undefined })),
      t('assertion empty', ca({ client_assertion: '' })),
      t('assertion not a JWT', ca({ client_assertion: 'not-a-jwt' })),
      t('assertion with invalid base64', ca({ client_assertion: '!!!.@@@.###' })),
      t('assertion with padding and +/', ca({ client_assertion: `${h}==.${p}+/.${sig}` })),
      t('assertion header not JSON', ca({ client_assertion: `${b64u('{"alg":')}.${p}.${sig}` })),
      t('assertion header a JSON array', ca({ client_assertion: `${b64u([1])}.${p}.${sig}` })),
      t('assertion payload not JSON', ca({ client_assertion: `${h}.${b64u('nope')}.${sig}` })),
      t('assertion alg none', ca({ client_assertion: `${b64u({ alg: 'none', typ: 'JWT' })}.${p}.` })),
      t('assertion alg HS256', ca({ client_assertion: `${b64u({ alg: 'HS256', typ: 'JWT' })}.${p}.${sig}` })),
      t('assertion signature flipped', ca({ client_assertion: `${h}.${p}.${sig.slice(0, -4)}AAAA` })),
      t('assertion signature invalid base64', ca({ client_assertion: `${h}.${p}.%%%%` })),
      t('assertion four parts', ca({ client_assertion: `${h}.${p}.${sig}.x` })),
      t('assertion x5t#S256 unknown', ca({ client_assertion: `${b64u({ alg: 'PS256', typ: 'JWT', 'x5t#S256': b64u('x'.repeat(32)) })}.${p}.${sig}` })),
      t('assertion x5c garbage', ca({ client_assertion: `${b64u({ alg: 'PS256', typ: 'JWT', x5c: ['!!!'] })}.${p}.${sig}` })),
      t('assertion payload exp a string', ca({ client_assertion: `${h}.${b64u({ ...JSON.parse(Buffer.from(p, 'base64url')), exp: 'never' })}.${sig}` })),
      t('assertion 500 KB', ca({ client_assertion: `${h}.${'A'.repeat(500_000)}.${sig}` })),
      t('password grant: wrong password', pw()),
      t('password grant: password missing', pw({ password: undefined })),
      t('password grant: username with SQL', pw({ username: `admin${SQL[1]}` })),
      t('password grant: username with %', pw({ username: '%@%' })),
      t('password grant: username 100 KB', pw({ username: `${'u'.repeat(100_000)}@x` })),
      t('password grant: password with a NUL', pw({ password: 'a\0b' })),
      t('refresh grant: token missing', { grant_type: 'refresh_token', client_id: aad.AZURE_CLI_APP_ID, scope: `${arm.ARM}/.default` }),
      t('refresh grant: token garbage', { grant_type: 'refresh_token', client_id: aad.AZURE_CLI_APP_ID, refresh_token: 'garbage', scope: `${arm.ARM}/.default` }),
      t('refresh grant: token invalid base64', { grant_type: 'refresh_token', client_id: aad.AZURE_CLI_APP_ID, refresh_token: '!!!!====', scope: `${arm.ARM}/.default` }),
      t('refresh grant: an access token instead', { grant_type: 'refresh_token', client_id: aad.AZURE_CLI_APP_ID, refresh_token: admin, scope: `${arm.ARM}/.default` }),
      t('authorization_code grant', { grant_type: 'authorization_code', client_id: aad.AZURE_CLI_APP_ID, code: "'; --", scope: `${arm.ARM}/.default` }),
      t('device_code grant', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', client_id: aad.AZURE_CLI_APP_ID, device_code: 'x' }),
      t('tenant unknown', cc(), { path: `/${randomUUID()}/oauth2/v2.0/token` }),
      t('tenant with SQL', cc(), { path: `/${enc(SQL[0])}/oauth2/v2.0/token` }),
      t('tenant %2e%2e', cc(), { path: '/%2e%2e/oauth2/v2.0/token' }),
      t('tenant with %2F', cc(), { path: '/a%2Fb/oauth2/v2.0/token' }),
      t('tenant with %00', cc(), { path: '/a%00/oauth2/v2.0/token', status: 400 }),
      t('tenant 10 KB', cc(), { path: `/${'t'.repeat(10_000)}/oauth2/v2.0/token` }),
      t('v1 endpoint: resource missing', { grant_type: 'client_credentials', client_id: info.clientId, client_secret: info.clientSecret }, { path: `/${info.tenantId}/oauth2/token` }),
      t('v1 endpoint: resource garbage', { grant_type: 'client_credentials', client_id: info.clientId, client_secret: 'wrong', resource: '%%%' }, { path: `/${info.tenantId}/oauth2/token` }),
      { name: 'GET the token endpoint', method: 'GET', status: 405 },
      { name: 'openid-configuration of an unknown tenant', method: 'GET', path: `/${randomUUID()}/v2.0/.well-known/openid-configuration` },
      { name: 'openid-configuration of a tenant with SQL', method: 'GET', path: `/${enc(SQL[1])}/v2.0/.well-known/openid-configuration` },
      { name: 'instance discovery with bad percent-encoding', method: 'GET', path: '/common/discovery/instance?api-version=1.1&authorization_endpoint=%zz', status: 400 },
      { name: 'instance discovery with an invalid authority', method: 'GET', path: `/common/discovery/instance?api-version=1.1&authorization_endpoint=${enc('javascript:alert(1)')}` },
      { name: 'user realm with %00', method: 'GET', path: '/common/userrealm/a%00b?api-version=1.0', status: 400 },
    ];
    await runCases('aad', cases);
  });

  // ---- Graph ------------------------------------------------------------------------------------

  it('Graph: tokens, JSON bodies, ids, $filter and $top', async () => {
    const apps = '/v1.0/applications';
    const cases = [
      { name: 'no token', path: apps, token: null, status: 401 },
      { name: 'token garbage', path: apps, token: 'garbage', status: 401 },
      { name: 'token with invalid base64', path: apps, token: '!!!.###.$$$', status: 401 },
      { name: 'an ARM token', path: apps, token: admin, status: 401 },
      { name: 'create: body "{"', method: 'POST', path: apps, body: '{', status: 400 },
      { name: 'create: body empty', method: 'POST', path: apps, body: '', status: 400 },
      { name: 'create: body an array', method: 'POST', path: apps, body: [], status: 400 },
      { name: 'create: body 300 deep', method: 'POST', path: apps, body: `{"displayName":"x","tags":${'['.repeat(300)}${']'.repeat(300)}}`, status: 400 },
      { name: 'create: displayName a number', method: 'POST', path: apps, body: { displayName: 5 }, status: 400 },
      { name: 'create: displayName null', method: 'POST', path: apps, body: { displayName: null }, status: 400 },
      { name: 'create: displayName 300 KB', method: 'POST', path: apps, body: { displayName: 'x'.repeat(300_000) }, status: 400 },
      { name: 'create: displayName with a raw NUL', method: 'POST', path: apps, body: Buffer.from('{"displayName":"a\0b"}', 'latin1'), status: 400 },
      { name: 'create: invalid UTF-8', method: 'POST', path: apps, body: Buffer.concat([Buffer.from('{"displayName":"'), Buffer.from([0xff, 0xc0]), Buffer.from('"}')]), status: 400 },
      { name: 'get: id not a GUID', path: `${apps}/not-a-guid` },
      { name: 'get: id with SQL', path: `${apps}/${enc(SQL[1])}` },
      { name: 'get: id %2e%2e', path: `${apps}/%2e%2e` },
      { name: 'get: id with %2F', path: `${apps}/a%2F..%2F..` },
      { name: 'get: id with %00', path: `${apps}/a%00`, status: 400 },
      { name: 'patch: body wrong types', method: 'PATCH', path: `${apps}/${randomUUID()}`, body: { displayName: ['x'] } },
      { name: 'addPassword: passwordCredential a string', method: 'POST', path: `${apps}/${randomUUID()}/addPassword`, body: { passwordCredential: 'x' } },
      { name: 'removePassword: keyId not a GUID', method: 'POST', path: `${apps}/${randomUUID()}/removePassword`, body: { keyId: SQL[0] } },
      { name: 'servicePrincipals create: appId with SQL', method: 'POST', path: '/v1.0/servicePrincipals', body: { appId: SQL[1] } },
      { name: 'servicePrincipals create: appId a number', method: 'POST', path: '/v1.0/servicePrincipals', body: { appId: 7 }, status: 400 },
      { name: 'getByIds: ids a string', method: 'POST', path: '/v1.0/directoryObjects/getByIds', body: { ids: 'x' }, status: 400 },
      { name: 'getByIds: no body', method: 'POST', path: '/v1.0/directoryObjects/getByIds', body: '', status: 400 },
      { name: '$filter unbalanced quote', path: `/v1.0/users?$filter=${enc("userPrincipalName eq 'a")}`, status: 400 },
      { name: '$filter with SQL', path: `/v1.0/users?$filter=${enc(`userPrincipalName eq '${SQL[0]}`)}`, status: 400 },
      { name: '$filter unknown property', path: `/v1.0/users?$filter=${enc("nope eq 'a'")}`, status: 400 },
      { name: '$filter unknown operator', path: `/v1.0/servicePrincipals?$filter=${enc("appId like '%'")}`, status: 400 },
      { name: '$filter 30 KB', path: `/v1.0/users?$filter=${'('.repeat(30_000)}`, status: 400 },
      { name: '$filter bad percent-encoding', path: '/v1.0/users?$filter=%zz', status: 400 },
      { name: '/me with an app token', path: '/v1.0/me', status: 400 },
    ];
    await runCases('graph', cases);
  });

  // ---- IMDS -------------------------------------------------------------------------------------

  it('IMDS: headers, query parameters, identities, instance metadata', async () => {
    const tq = (q) => `${TOKEN_PATH}?${q}`;
    const ok2018 = 'api-version=2018-02-01';
    const res = `resource=${enc(aad.VAULT)}`;
    const cases = [
      { name: 'no Metadata header', path: tq(`${ok2018}&${res}`), headers: {}, status: 400, code: 'invalid_request' },
      { name: 'Metadata: false', path: tq(`${ok2018}&${res}`), headers: { Metadata: 'false' }, status: 400 },
      { name: 'Metadata with SQL', path: tq(`${ok2018}&${res}`), headers: { Metadata: SQL[1] }, status: 400 },
      { name: 'X-Forwarded-For', path: tq(`${ok2018}&${res}`), headers: { Metadata: 'true', 'X-Forwarded-For': '10.0.0.1' }, status: 400 },
      { name: 'api-version missing', path: tq(res), status: 400 },
      { name: 'api-version impossible', path: tq(`api-version=2099-99-99&${res}`), status: 400 },
      { name: 'api-version not a date', path: tq(`api-version=latest'--&${res}`), status: 400 },
      { name: 'api-version twice', path: tq(`${ok2018}&api-version=2019-08-01&${res}`), status: 400 },
      { name: 'resource missing', path: tq(ok2018), status: 400 },
      { name: 'resource empty', path: tq(`${ok2018}&resource=`), status: 400 },
      { name: 'resource twice, conflicting', path: tq(`${ok2018}&${res}&resource=${enc(arm.ARM)}`), status: 400 },
      { name: 'resource with bad percent-encoding', path: tq(`${ok2018}&resource=%zz`), status: 400 },
      { name: 'resource with %00', path: tq(`${ok2018}&resource=https%3A%2F%2Fvault.azure.net%00`), status: 400 },
      { name: 'resource invalid UTF-8', path: tq(`${ok2018}&resource=%ff%fe`), status: 400 },
      { name: 'resource with SQL', path: tq(`${ok2018}&resource=${enc(SQL[0])}`), status: 400 },
      { name: 'resource 30 KB', path: tq(`${ok2018}&resource=https://${'a'.repeat(30_000)}`), status: 400 },
      { name: 'client_id not a GUID', path: tq(`${ok2018}&${res}&client_id=${enc(SQL[1])}`), status: 400 },
      { name: 'object_id not a GUID', path: tq(`${ok2018}&${res}&object_id=%2e%2e`), status: 400 },
      { name: 'msi_res_id with ../', path: tq(`${ok2018}&${res}&msi_res_id=${enc(`${rg}/../../x`)}`), status: 400 },
      { name: 'msi_res_id with SQL', path: tq(`${ok2018}&${res}&msi_res_id=${enc(SQL[0])}`), status: 400 },
      { name: 'client_id and object_id both', path: tq(`${ok2018}&${res}&client_id=${randomUUID()}&object_id=${randomUUID()}`), status: 400 },
      { name: 'unknown client_id', path: tq(`${ok2018}&${res}&client_id=${randomUUID()}`), status: 400 },
      { name: 'a per-VM path with an unknown secret', shared: true, path: `/vms/${'0'.repeat(32)}${tq(`${ok2018}&${res}`)}`, status: 400 },
      { name: 'a per-VM path with SQL', shared: true, path: `/vms/${enc(SQL[1])}${tq(`${ok2018}&${res}`)}`, status: 400 },
      { name: 'a per-VM path with %2e%2e', shared: true, path: `/vms/%2e%2e${tq(`${ok2018}&${res}`)}` },
      { name: 'the shared path, no VM', shared: true, path: tq(`${ok2018}&${res}`), status: 400 },
      { name: 'POST to the token path', method: 'POST', path: tq(`${ok2018}&${res}`), body: 'resource=x', status: 405 },
      { format: 'imdsInstance', name: 'instance: no Metadata header', path: '/metadata/instance?api-version=2021-02-01', headers: {}, status: 400 },
      { format: 'imdsInstance', name: 'instance: api-version missing', path: '/metadata/instance', status: 400 },
      { format: 'imdsInstance', name: 'instance: api-version impossible', path: '/metadata/instance?api-version=1999-01-01', status: 400 },
      { format: 'imdsInstance', name: 'instance: format=xml', path: '/metadata/instance?api-version=2021-02-01&format=xml', status: 400 },
      { format: 'imdsInstance', name: 'instance: format twice', path: '/metadata/instance?api-version=2021-02-01&format=json&format=text', status: 400 },
      { format: 'imdsInstance', name: 'instance: a path that does not exist', path: '/metadata/instance/compute/nope?api-version=2021-02-01', status: 404 },
      { format: 'imdsInstance', name: 'instance: a path with %2e%2e', path: '/metadata/instance/compute/%2e%2e/%2e%2e/x?api-version=2021-02-01' },
      { format: 'imdsInstance', name: 'instance: a path with %2F', path: '/metadata/instance/compute%2Fname?api-version=2021-02-01' },
      { format: 'imdsInstance', name: 'versions: with a bad query', path: '/metadata/versions?a=%zz', status: 400 },
      // The same through the front door, as HTTP_PROXY clients send it.
      ...[
        ['no Metadata header', `GET http://169.254.169.254${tq(`${ok2018}&${res}`)} HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n\r\n`],
        ['bad proxy credentials base64', `GET http://169.254.169.254${tq(`${ok2018}&${res}`)} HTTP/1.1\r\nHost: 169.254.169.254\r\nMetadata: true\r\nProxy-Authorization: Basic !!!not-base64!!!\r\nConnection: close\r\n\r\n`],
        ['proxy credentials without a colon', `GET http://169.254.169.254${tq(`${ok2018}&${res}`)} HTTP/1.1\r\nHost: 169.254.169.254\r\nMetadata: true\r\nProxy-Authorization: Basic ${Buffer.from('nocolon').toString('base64')}\r\nConnection: close\r\n\r\n`],
        ['proxy credentials with SQL', `GET http://169.254.169.254${tq(`${ok2018}&${res}`)} HTTP/1.1\r\nHost: 169.254.169.254\r\nMetadata: true\r\nProxy-Authorization: Basic ${Buffer.from(`vm:${SQL[1]}`).toString('base64')}\r\nConnection: close\r\n\r\n`],
        ['proxy credentials of 40 KB', `GET http://169.254.169.254${tq(`${ok2018}&${res}`)} HTTP/1.1\r\nHost: 169.254.169.254\r\nMetadata: true\r\nProxy-Authorization: Basic ${'QUFB'.repeat(10_000)}\r\nConnection: close\r\n\r\n`],
        ['bad percent-encoding in an absolute URI', `GET http://169.254.169.254${TOKEN_PATH}%zz?${ok2018} HTTP/1.1\r\nHost: 169.254.169.254\r\nMetadata: true\r\nConnection: close\r\n\r\n`],
      ].map(([name, raw]) => ({ name: `via the front door: ${name}`, via: 'frontdoor', format: 'imds', raw, status: 400 })),
    ];
    await runCases('imds', cases);
  });

  // ---- Key Vault --------------------------------------------------------------------------------

  it('Key Vault: names, bodies, api-versions, keys and their base64', async () => {
    const sec = (name, q = KV_API) => `/secrets/${name}?${q}`;
    const set = (name, b, extra = {}) => ({ name, method: 'PUT', path: sec('bi-secret'), body: b, status: 400, ...extra });
    const keyOp = (name, op, b, extra = {}) => ({ name, method: 'POST', path: `/keys/bi-rsa/${op}?${KV_API}`, body: b, status: 400, ...extra });
    const create = (name, b, extra = {}) => ({ name, method: 'POST', path: `/keys/bi-new/create?${KV_API}`, body: b, status: 400, ...extra });
    const cases = [
      ...SQL.map((n, i) => ({ name: `secret name with SQL ${i}`, method: 'PUT', path: sec(enc(n)), body: { value: 'x' }, status: 400 })),
      ...SQL.map((n, i) => ({ name: `GET a secret named with SQL ${i}`, path: sec(enc(n)) })),
      { name: 'secret name 128 chars', method: 'PUT', path: sec('s'.repeat(128)), body: { value: 'x' }, status: 400 },
      { name: 'secret name 10 KB', path: sec('s'.repeat(10_000)) },
      { name: 'secret name ..', path: `/secrets/../secrets/${secretId}/..?${KV_API}` },
      { name: 'secret name %2e%2e', method: 'PUT', path: sec('%2e%2e'), body: { value: 'x' } },
      { name: 'secret name with %2F', method: 'PUT', path: sec('a%2Fb'), body: { value: 'x' } },
      { name: 'secret name %2e%2e%2f..%2fkeys', path: sec('%2e%2e%2f..%2fkeys') },
      { name: 'secret name with %00', path: sec('a%00b'), status: 400 },
      { name: 'secret name invalid UTF-8', path: sec('a%ff'), status: 400 },
      { name: 'secret name unicode', method: 'PUT', path: sec(enc('sécret')), body: { value: 'x' }, status: 400 },
      { name: 'secret version not hex', path: `/secrets/${secretId}/${enc(SQL[1])}?${KV_API}` },
      { name: 'secret version %2e%2e', path: `/secrets/${secretId}/%2e%2e?${KV_API}` },
      set('body "{"', '{'),
      set('body empty', ''),
      set('body an array', [{ value: 'x' }]),
      set('body 300 deep', `{"value":"x","tags":${'{"a":'.repeat(300)}1${'}'.repeat(300)}}`),
      set('body with a raw NUL', Buffer.from('{"value":"a\0b"}', 'latin1')),
      set('body invalid UTF-8', Buffer.concat([Buffer.from('{"value":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])),
      set('value missing', { contentType: 'text/plain' }),
      set('value a number', { value: 42 }),
      set('value null', { value: null }),
      set('value an object', { value: { a: 1 } }),
      set('value 30 KB', { value: 'v'.repeat(30 * 1024) }),
      set('contentType a number', { value: 'x', contentType: 7 }),
      set('tags a string', { value: 'x', tags: 'a' }),
      set('attributes.enabled a string', { value: 'x', attributes: { enabled: 'yes' } }),
      set('attributes.exp a string', { value: 'x', attributes: { exp: 'tomorrow' } }),
      set('attributes.exp 1e300', '{"value":"x","attributes":{"exp":1e300}}'),
      { name: 'update: body wrong types', method: 'PATCH', path: sec(secretId), body: { attributes: 'x' }, status: 400 },
      { name: 'api-version missing', path: `/secrets/${secretId}`, status: 400 },
      { name: 'api-version empty', path: sec(secretId, 'api-version='), status: 400 },
      { name: 'api-version 0.1', path: sec(secretId, 'api-version=0.1'), status: 400 },
      { name: 'api-version 99.0', path: sec(secretId, 'api-version=99.0'), status: 400 },
      { name: 'api-version with SQL', path: sec(secretId, `api-version=${enc(SQL[1])}`), status: 400 },
      { name: 'maxresults not a number', path: `/secrets?${KV_API}&maxresults=abc`, status: 400 },
      { name: 'maxresults 0', path: `/secrets?${KV_API}&maxresults=0`, status: 400 },
      { name: 'maxresults huge', path: `/secrets?${KV_API}&maxresults=99999999999999999999`, status: 400 },
      { name: 'restore: value invalid base64', method: 'POST', path: `/secrets/restore?${KV_API}`, body: { value: '!!!not base64!!!' }, status: 400 },
      { name: 'restore: value valid base64 of garbage', method: 'POST', path: `/secrets/restore?${KV_API}`, body: { value: Buffer.from('garbage backup blob').toString('base64url') }, status: 400 },
      { name: 'restore: value a number', method: 'POST', path: `/secrets/restore?${KV_API}`, body: { value: 1 }, status: 400 },
      { name: 'no token', path: sec(secretId), token: null, status: 401 },
      { name: 'token garbage', path: sec(secretId), token: 'garbage', status: 401 },
      { name: 'token with invalid base64', path: sec(secretId), token: '@@@.!!!.###', status: 401 },
      { name: 'an ARM token', path: sec(secretId), token: admin, status: 401 },
      { name: 'a vault that does not exist', host: 'nosuchvault.vault.azure.net', path: sec(secretId) },
      create('create: kty unknown', { kty: 'FOO' }),
      create('create: kty missing', { key_size: 2048 }),
      create('create: key_size negative', { kty: 'RSA', key_size: -1 }),
      create('create: key_size 10^9', { kty: 'RSA', key_size: 1_000_000_000 }),
      create('create: key_size 65536', { kty: 'RSA', key_size: 65536 }),
      create('create: key_size 1e300', '{"kty":"RSA","key_size":1e300}'),
      create('create: key_size a string', { kty: 'RSA', key_size: '2048' }),
      create('create: crv unknown', { kty: 'EC', crv: 'P-999' }),
      create('create: key_ops unknown', { kty: 'RSA', key_ops: ['explode'] }),
      create('create: key_ops a string', { kty: 'RSA', key_ops: 'sign' }),
      create('create: public_exponent 2', { kty: 'RSA', public_exponent: 2 }),
      { name: 'import: n invalid base64', method: 'PUT', path: `/keys/bi-import?${KV_API}`, body: { key: { kty: 'RSA', n: '!!!', e: 'AQAB', d: '###' } }, status: 400 },
      { name: 'import: EC x not on the curve', method: 'PUT', path: `/keys/bi-import?${KV_API}`, body: { key: { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA', d: 'AAAA' } }, status: 400 },
      { name: 'import: key a string', method: 'PUT', path: `/keys/bi-import?${KV_API}`, body: { key: 'x' }, status: 400 },
      keyOp('sign: value invalid base64', 'sign', { alg: 'RS256', value: '!!!' }),
      keyOp('sign: digest the wrong length', 'sign', { alg: 'RS256', value: Buffer.alloc(7).toString('base64url') }),
      keyOp('sign: alg unknown', 'sign', { alg: "RS256'; --", value: Buffer.alloc(32).toString('base64url') }),
      keyOp('sign: alg missing', 'sign', { value: Buffer.alloc(32).toString('base64url') }),
      keyOp('verify: signature invalid base64', 'verify', { alg: 'RS256', digest: Buffer.alloc(32).toString('base64url'), value: '%%%' }),
      keyOp('encrypt: value a number', 'encrypt', { alg: 'RSA-OAEP', value: 5 }),
      keyOp('encrypt: plaintext too long', 'encrypt', { alg: 'RSA-OAEP', value: Buffer.alloc(1000).toString('base64url') }),
      keyOp('decrypt: ciphertext garbage', 'decrypt', { alg: 'RSA-OAEP', value: Buffer.alloc(256, 1).toString('base64url') }),
      keyOp('decrypt: ciphertext invalid base64', 'decrypt', { alg: 'RSA-OAEP', value: '*&^%' }),
      keyOp('unwrapkey: value empty', 'unwrapkey', { alg: 'RSA-OAEP', value: '' }),
      { name: 'sign with a key that does not exist', method: 'POST', path: `/keys/${enc(SQL[1])}/sign?${KV_API}`, body: { alg: 'RS256', value: Buffer.alloc(32).toString('base64url') } },
      { name: 'restore key: invalid base64', method: 'POST', path: `/keys/restore?${KV_API}`, body: { value: '!!!' }, status: 400 },
    ];
    const made = await kvSend({ method: 'POST', path: `/keys/bi-rsa/create?${KV_API}`, body: { kty: 'RSA', key_size: 2048 } });
    assert.equal(made.status, 200, made.text);
    await runCases('keyvault', cases);
  });

  // ---- Blob Storage -----------------------------------------------------------------------------

  it('Blob Storage: names, headers, Shared Key, SAS, XML bodies, api-versions', async () => {
    const A = `/${ACCOUNT}`;
    const blob = `${A}/docs/hello.txt`;
    const putBlob = (path, extra = {}) => ({ method: 'PUT', path, body: 'x', headers: { 'x-ms-blob-type': 'BlockBlob', ...(extra.headers ?? {}) }, ...extra });
    const sasWith = (sas, name, value) => {
      const q = new URLSearchParams(sas);
      if (value === undefined) q.delete(name);
      else q.set(name, value);
      return q.toString();
    };
    const sasGet = (name, query, extra = {}) => ({ name, auth: 'none', path: `${blob}?${query}`, status: 403, ...extra });
    const blockList = (xml) => ({ method: 'PUT', path: `${A}/docs/bl.txt?comp=blocklist`, body: xml, headers: { 'Content-Type': 'application/xml' } });
    const aclPut = (xml) => ({ method: 'PUT', path: `${A}/docs?restype=container&comp=acl`, body: xml, headers: { 'Content-Type': 'application/xml' } });
    const udk = (xml) => ({ method: 'POST', path: `${A}/?restype=service&comp=userdelegationkey`, body: xml, headers: { 'Content-Type': 'application/xml' } });
    const cases = [
      // Names.
      ...['AB', 'a', 'a--b', '-ab', 'ab-', 'c'.repeat(64), 'a_b', '%2e%2e', '..', 'a%2Fb', 'a%00b', enc(SQL[0]), enc(SQL[1])]
        .map((n) => ({ name: `container name ${n.slice(0, 30)}`, method: 'PUT', path: `${A}/${n}?restype=container`, status: n.startsWith('%2e') || n === '..' || n.includes('%2F') ? undefined : 400 })),
      { name: 'blob name with %00', ...putBlob(`${A}/docs/a%00b`), status: 400 },
      { name: 'blob name invalid UTF-8', ...putBlob(`${A}/docs/a%ff%fe`), status: 400 },
      { name: 'blob name bad percent-encoding', ...putBlob(`${A}/docs/a%zz`), status: 400 },
      { name: 'blob ../ out of its container', path: `${A}/docs/../../other/x.txt` },
      { name: 'blob %2e%2e%2f out of its container', path: `${A}/docs/%2e%2e%2f%2e%2e%2fother%2fx.txt` },
      { name: 'blob with an encoded slash: GET a missing one', path: `${A}/docs/dir%2Fmissing.txt`, status: 404 },
      ...SQL.map((n, i) => ({ name: `GET a missing blob named with SQL ${i}`, path: `${A}/docs/${enc(n)}`, status: 404, code: 'BlobNotFound' })),
      ...SQL.map((n, i) => ({ name: `GET a missing container named with SQL ${i}`, path: `${A}/${enc(n)}/x` })),
      { name: 'an account that does not exist', path: `/nosuchacct${SQL[0].length}/docs/x` },
      { name: 'an account name with SQL', path: `/${enc(SQL[1])}/docs/x` },
      // Headers and query parameters.
      { name: 'PUT blob without x-ms-blob-type', method: 'PUT', path: `${A}/docs/nt.txt`, body: 'x', status: 400 },
      { name: 'PUT blob with x-ms-blob-type Foo', ...putBlob(`${A}/docs/nt.txt`, { headers: { 'x-ms-blob-type': "Foo'--" } }), status: 400 },
      { name: 'x-ms-version impossible', path: blob, headers: { 'x-ms-version': '9999-99-99' }, status: 400 },
      { name: 'x-ms-version with SQL', path: blob, headers: { 'x-ms-version': SQL[1] }, status: 400 },
      { name: 'comp unknown', path: `${A}/docs?restype=container&comp=${enc(SQL[0])}`, status: 400 },
      { name: 'restype unknown', path: `${A}/docs?restype=nope`, status: 400 },
      { name: 'metadata name not an identifier', ...putBlob(`${A}/docs/meta.txt`, { headers: { 'x-ms-meta-1bad': 'v' } }), status: 400 },
      { name: 'metadata name with SQL', ...putBlob(`${A}/docs/meta.txt`, { headers: { "x-ms-meta-a'b": 'v' } }), status: 400 },
      { name: 'Content-MD5 invalid base64', ...putBlob(`${A}/docs/md5.txt`, { headers: { 'Content-MD5': '!!!' } }), status: 400 },
      { name: 'Content-MD5 wrong', ...putBlob(`${A}/docs/md5.txt`, { headers: { 'Content-MD5': Buffer.alloc(16).toString('base64') } }), status: 400 },
      { name: 'block id invalid base64', method: 'PUT', path: `${A}/docs/bl.txt?comp=block&blockid=${enc('!!!')}`, body: 'x', status: 400 },
      { name: 'block id missing', method: 'PUT', path: `${A}/docs/bl.txt?comp=block`, body: 'x', status: 400 },
      { name: 'block list: not XML', ...blockList('<BlockList><Latest>'), status: 400 },
      { name: 'block list: an unknown block', ...blockList('<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>bm9wZQ==</Latest></BlockList>'), status: 400 },
      { name: 'block list: block id invalid base64', ...blockList('<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>!!!</Latest></BlockList>'), status: 400 },
      { name: 'block list: nested 10000 deep', ...blockList(`<BlockList>${'<a>'.repeat(10_000)}${'</a>'.repeat(10_000)}</BlockList>`), status: 400 },
      { name: 'block list: entity expansion', ...blockList('<?xml version="1.0"?><!DOCTYPE b [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><BlockList><Latest>&d;</Latest></BlockList>'), status: 400 },
      { name: 'block list: external entity', ...blockList('<?xml version="1.0"?><!DOCTYPE b [<!ENTITY x SYSTEM "file:///etc/passwd">]><BlockList><Latest>&x;</Latest></BlockList>'), status: 400 },
      { name: 'block list: raw NUL', ...blockList(Buffer.from('<BlockList><Latest>a\0</Latest></BlockList>', 'latin1')), status: 400 },
      { name: 'acl: not XML', ...aclPut('<SignedIdentifiers><SignedIdentifier>'), status: 400 },
      { name: 'acl: id of 65 chars', ...aclPut(`<?xml version="1.0" encoding="utf-8"?><SignedIdentifiers><SignedIdentifier><Id>${'i'.repeat(65)}</Id><AccessPolicy><Permission>r</Permission></AccessPolicy></SignedIdentifier></SignedIdentifiers>`), status: 400 },
      { name: 'acl: six identifiers', ...aclPut(`<?xml version="1.0" encoding="utf-8"?><SignedIdentifiers>${Array.from({ length: 6 }, (_, i) => `<SignedIdentifier><Id>id${i}</Id><AccessPolicy><Permission>r</Permission></AccessPolicy></SignedIdentifier>`).join('')}</SignedIdentifiers>`), status: 400 },
      { name: 'acl: expiry not a date', ...aclPut('<?xml version="1.0" encoding="utf-8"?><SignedIdentifiers><SignedIdentifier><Id>a</Id><AccessPolicy><Expiry>tomorrow</Expiry><Permission>r</Permission></AccessPolicy></SignedIdentifier></SignedIdentifiers>'), status: 400 },
      { name: 'public access level unknown', method: 'PUT', path: `${A}/docs?restype=container&comp=acl`, headers: { 'x-ms-blob-public-access': 'everything' }, status: 400 },
      { name: 'user delegation key: not XML', ...udk('<KeyInfo>'), status: 400 },
      { name: 'user delegation key: expiry not a date', ...udk('<?xml version="1.0" encoding="utf-8"?><KeyInfo><Expiry>soon</Expiry></KeyInfo>'), status: 400 },
      { name: 'user delegation key: start after expiry', ...udk('<?xml version="1.0" encoding="utf-8"?><KeyInfo><Start>2030-01-02T00:00:00Z</Start><Expiry>2030-01-01T00:00:00Z</Expiry></KeyInfo>'), status: 400 },
      { name: 'lease: action unknown', method: 'PUT', path: `${blob}?comp=lease`, headers: { 'x-ms-lease-action': 'steal' }, status: 400 },
      { name: 'lease: duration 5 s', method: 'PUT', path: `${blob}?comp=lease`, headers: { 'x-ms-lease-action': 'acquire', 'x-ms-lease-duration': '5' }, status: 400 },
      { name: 'lease: proposed id not a GUID', method: 'PUT', path: `${blob}?comp=lease`, headers: { 'x-ms-lease-action': 'acquire', 'x-ms-lease-duration': '15', 'x-ms-proposed-lease-id': SQL[1] } },
      { name: 'HEAD a blob with SQL in its name', method: 'HEAD', path: `${A}/docs/${enc(SQL[0])}`, status: 404 },
      // Shared Key.
      { name: 'Shared Key: signature invalid base64', auth: 'raw', path: blob, headers: { 'x-ms-date': new Date().toUTCString(), 'x-ms-version': X_MS_VERSION, Authorization: `SharedKey ${ACCOUNT}:!!!notbase64!!!` }, status: 403 },
      { name: 'Shared Key: signature empty', auth: 'raw', path: blob, headers: { 'x-ms-date': new Date().toUTCString(), 'x-ms-version': X_MS_VERSION, Authorization: `SharedKey ${ACCOUNT}:` }, status: 403 },
      { name: 'Shared Key: no colon', auth: 'raw', path: blob, headers: { 'x-ms-date': new Date().toUTCString(), 'x-ms-version': X_MS_VERSION, Authorization: `SharedKey ${ACCOUNT}` } },
      { name: 'Shared Key: another account', auth: 'raw', path: blob, headers: { 'x-ms-date': new Date().toUTCString(), 'x-ms-version': X_MS_VERSION, Authorization: `SharedKey other${ACCOUNT}:${Buffer.alloc(32).toString('base64')}` }, status: 403 },
      { name: 'Shared Key: account with SQL', auth: 'raw', path: blob, headers: { 'x-ms-date': new Date().toUTCString(), 'x-ms-version': X_MS_VERSION, Authorization: `SharedKey ${SQL[1]}:${Buffer.alloc(32).toString('base64')}` }, status: 403 },
      { name: 'Shared Key: wrong signature', auth: 'raw', path: blob, headers: { 'x-ms-date': new Date().toUTCString(), 'x-ms-version': X_MS_VERSION, Authorization: `SharedKey ${ACCOUNT}:${Buffer.alloc(32).toString('base64')}` }, status: 403, code: 'AuthenticationFailed' },
      { name: 'Shared Key: 40 KB signature', auth: 'raw', path: blob, headers: { 'x-ms-date': new Date().toUTCString(), 'x-ms-version': X_MS_VERSION, Authorization: `SharedKey ${ACCOUNT}:${'A'.repeat(40_000)}` }, status: 403 },
      { name: 'Shared Key: signed with a key of invalid base64', auth: 'raw', path: blob, headers: { ...sharedKey('GET', blob, {}, '!!!!') }, status: 403 },
      { name: 'Shared Key: x-ms-date missing', auth: 'raw', path: blob, headers: (() => { const h = sharedKey('GET', blob); delete h['x-ms-date']; return h; })(), status: 403 },
      { name: 'Shared Key: x-ms-date garbage', auth: 'raw', path: blob, headers: sharedKey('GET', blob, { 'x-ms-date': "yesterday'; --" }), status: 403 },
      { name: 'Shared Key: x-ms-date a year old', auth: 'raw', path: blob, headers: sharedKey('GET', blob, { 'x-ms-date': new Date(Date.now() - 365 * 86400_000).toUTCString() }), status: 403 },
      { name: 'SharedKeyLite with garbage', auth: 'raw', path: blob, headers: { 'x-ms-date': new Date().toUTCString(), 'x-ms-version': X_MS_VERSION, Authorization: `SharedKeyLite ${ACCOUNT}:###` } },
      { name: 'Authorization scheme unknown', auth: 'raw', path: blob, headers: { 'x-ms-version': X_MS_VERSION, Authorization: 'Digest a=b' } },
      { name: 'bearer token garbage', auth: 'raw', path: blob, headers: { 'x-ms-version': X_MS_VERSION, Authorization: 'Bearer !!!.@@@.###' }, status: 401 },
      { name: 'bearer an ARM token', auth: 'raw', path: blob, headers: { 'x-ms-version': X_MS_VERSION, Authorization: `Bearer ${admin}` }, status: 401 },
      // SAS: account, service and user delegation, each field broken.
      sasGet('account SAS: sig invalid base64', sasWith(accountSas, 'sig', '!!!notbase64')),
      sasGet('account SAS: sig empty', sasWith(accountSas, 'sig', '')),
      sasGet('account SAS: sig missing', sasWith(accountSas, 'sig'), { status: undefined }),
      sasGet('account SAS: sig wrong', sasWith(accountSas, 'sig', Buffer.alloc(32).toString('base64')), { code: 'AuthenticationFailed' }),
      sasGet('account SAS: sig bad percent-encoding', `${sasWith(accountSas, 'sig')}&sig=%zz`, { status: 400 }),
      sasGet('account SAS: sv impossible', sasWith(accountSas, 'sv', '9999-99-99'), { status: undefined }),
      sasGet('account SAS: se not a date', sasWith(accountSas, 'se', "never'; --"), { status: undefined }),
      sasGet('account SAS: se in the past', sasWith(accountSas, 'se', '2000-01-01T00:00:00Z')),
      sasGet('account SAS: st after se', `${accountSas}&st=2099-01-01T00:00:00Z`),
      sasGet('account SAS: sp unknown letters', sasWith(accountSas, 'sp', 'zq!')),
      sasGet('account SAS: ss without b', sasWith(accountSas, 'ss', 'q')),
      sasGet('account SAS: srt garbage', sasWith(accountSas, 'srt', '%')),
      sasGet('account SAS: spr ftp', sasWith(accountSas, 'spr', 'ftp'), { status: undefined }),
      sasGet('account SAS: sip garbage', sasWith(accountSas, 'sip', '999.1.1.1-abc'), { status: undefined }),
      sasGet('service SAS: sig wrong', sasWith(blobSas, 'sig', Buffer.alloc(32, 1).toString('base64'))),
      sasGet('service SAS: sr unknown', sasWith(blobSas, 'sr', 'z'), { status: undefined }),
      sasGet('service SAS: sr missing', sasWith(blobSas, 'sr'), { status: undefined }),
      sasGet('service SAS: si unknown policy with SQL', `${blobSas}&si=${enc(SQL[0])}`),
      sasGet('service SAS: rscd header injection', `${blobSas}&rscd=${enc('attachment\r\nX-Injected: 1')}`),
      sasGet('user delegation SAS: sig wrong', sasWith(delegationSas, 'sig', Buffer.alloc(32, 2).toString('base64'))),
      sasGet('user delegation SAS: skoid not a GUID', sasWith(delegationSas, 'skoid', SQL[1])),
      sasGet('user delegation SAS: sktid garbage', sasWith(delegationSas, 'sktid', '../..')),
      sasGet('user delegation SAS: skt not a date', sasWith(delegationSas, 'skt', 'x'), { status: undefined }),
      sasGet('user delegation SAS: ske in the past', sasWith(delegationSas, 'ske', '2000-01-01T00:00:00Z')),
      sasGet('user delegation SAS: sks unknown', sasWith(delegationSas, 'sks', 'q')),
      sasGet('user delegation SAS: skv impossible', sasWith(delegationSas, 'skv', '9999-99-99'), { status: undefined }),
      // The Azurite listener runs the same code on plain http.
      { name: 'azurite: container name AB', listener: 'azurite', auth: 'none', method: 'PUT', path: '/devstoreaccount1/AB?restype=container', status: undefined },
      { name: 'azurite: Shared Key invalid base64', listener: 'azurite', auth: 'raw', path: '/devstoreaccount1/docs/x', headers: { 'x-ms-date': new Date().toUTCString(), 'x-ms-version': X_MS_VERSION, Authorization: 'SharedKey devstoreaccount1:!!!' }, status: 403 },
      { name: 'azurite: blob name with %00', listener: 'azurite', auth: 'none', path: '/devstoreaccount1/docs/a%00', status: 400 },
    ];
    await runCases('storage', cases);
  });

  // ---- the front door ---------------------------------------------------------------------------

  it('front door: CONNECT targets, absolute URIs, proxy credentials', async () => {
    const raw = (name, text, status) => ({ name, raw: text, status });
    const cases = [
      raw('CONNECT to a host with SQL', `CONNECT ${SQL[0].replace(/ /g, '')}:443 HTTP/1.1\r\n\r\n`, 403),
      raw('CONNECT to ../', 'CONNECT ../../etc:443 HTTP/1.1\r\n\r\n', 403),
      raw('CONNECT to %2e%2e.vault.azure.net', 'CONNECT %2e%2e.vault.azure.net:443 HTTP/1.1\r\n\r\n', 403),
      raw('CONNECT port 99999', 'CONNECT management.azure.com:99999 HTTP/1.1\r\n\r\n', 400),
      raw('CONNECT port -1', 'CONNECT management.azure.com:-1 HTTP/1.1\r\n\r\n', 400),
      raw('CONNECT port 0443 with junk', 'CONNECT management.azure.com:443abc HTTP/1.1\r\n\r\n', 400),
      raw('CONNECT host of 300 chars', `CONNECT ${'a'.repeat(300)}.vault.azure.net:443 HTTP/1.1\r\n\r\n`, 400),
      raw('CONNECT IPv6 unclosed', 'CONNECT [::1:443 HTTP/1.1\r\n\r\n', 400),
      raw('CONNECT with invalid UTF-8 host', Buffer.concat([Buffer.from('CONNECT '), Buffer.from([0xff, 0xfe]), Buffer.from('.vault.azure.net:443 HTTP/1.1\r\n\r\n')]), 403),
      raw('CONNECT with a NUL', 'CONNECT management.azure.com\0:443 HTTP/1.1\r\n\r\n', 400),
      raw('CONNECT with Proxy-Authorization not base64', 'CONNECT example.com:443 HTTP/1.1\r\nProxy-Authorization: Basic %%%%\r\n\r\n', 403),
      raw('absolute URI to a host with SQL', `GET http://${enc(SQL[1])}/ HTTP/1.1\r\n\r\n`, 403),
      raw('absolute URI https://', 'GET https://management.azure.com/health HTTP/1.1\r\n\r\n', 400),
      raw('absolute URI with userinfo', 'GET http://user:pass@169.254.169.254/health HTTP/1.1\r\n\r\n', 403),
      raw('absolute URI without a host', 'GET http:///metadata HTTP/1.1\r\n\r\n', 403),
      raw('absolute URI port 80x', 'GET http://169.254.169.254:80x/health HTTP/1.1\r\n\r\n', 403),
      raw('absolute URI host of 300 chars', `GET http://${'h'.repeat(300)}/ HTTP/1.1\r\n\r\n`, 403),
      raw('origin-form path ../', 'GET /../../etc/passwd HTTP/1.1\r\n\r\n', 400),
      raw('origin-form %2e%2e', 'GET /%2e%2e/%2e%2e/azsim/ca.pem HTTP/1.1\r\n\r\n', 400),
      raw('origin-form POST /health', 'POST /health HTTP/1.1\r\nContent-Length: 0\r\n\r\n', 400),
      raw('request target *', 'OPTIONS * HTTP/1.1\r\n\r\n', 400),
      raw('HTTP/1.9', 'GET /health HTTP/1.9x\r\n\r\n', 400),
    ];
    await runCases('frontdoor', cases);
  });

  // ---- and everything still works ---------------------------------------------------------------

  it('afterwards: every module is healthy and a normal request of each kind works', async () => {
    await az.assertHealthy(s);
    const own = await az.request(s.proxy, '/health');
    assert.equal(own.status, 200, own.text);
    px.assertHealth(await px.tunnelGet(s.ports.proxy, 'management.azure.com', '/health', { ca: s.caPem }), 'arm');
    // ARM, with a fresh token from Entra ID (client secret and client assertion).
    const fresh = await arm.appToken(s, info.tenantId, info.clientId, info.clientSecret);
    const g = await arm.armRequest(s, fresh.token, 'GET', `${rg}?${RG_API}`);
    assert.equal(g.status, 200, g.text);
    const byAssertion = await aad.postForm(s, tokenPath(), {
      grant_type: 'client_credentials', client_id: info.clientId, client_assertion: assertion,
      client_assertion_type: aad.ASSERTION_TYPE, scope: `${arm.ARM}/.default`,
    });
    assert.equal(byAssertion.status, 200, byAssertion.text);
    const dep = await arm.armRequest(s, fresh.token, 'PUT', `${rg}/providers/Microsoft.Resources/deployments/after?${DEPLOY_API}`, {
      properties: { mode: 'Incremental', template: { $schema: SCHEMA, contentVersion: '1.0.0.0', resources: [], outputs: { o: { type: 'int', value: '[add(1, 2)]' } } } },
    });
    assert.ok(dep.status === 200 || dep.status === 201, dep.text);
    // Graph.
    const apps = await graphSend({ path: '/v1.0/applications' });
    assert.equal(apps.status, 200, apps.text);
    // IMDS: a token for the VM.
    const t = await imdsSend({ path: `${TOKEN_PATH}?api-version=2018-02-01&resource=${enc(aad.VAULT)}` });
    assert.equal(t.status, 200, t.text);
    // Key Vault: the secret set before, and a new version.
    const got = await kvSend({ path: `/secrets/${secretId}?${KV_API}` });
    assert.equal(got.status, 200, got.text);
    assert.equal(got.json().value, 'v1');
    const names = await kvSend({ path: `/secrets?${KV_API}` });
    assert.equal(names.status, 200, names.text);
    assert.ok(names.json().value.every((x) => /\/secrets\/[0-9A-Za-z-]+$/.test(x.id)), names.text);
    // Blob Storage: Shared Key, account SAS, service SAS, user delegation SAS and bearer.
    const blob = `/${ACCOUNT}/docs/hello.txt`;
    for (const [what, c] of [
      ['Shared Key', { auth: 'sharedkey', path: blob }],
      ['account SAS', { auth: 'none', path: `${blob}?${accountSas}` }],
      ['service SAS', { auth: 'none', path: `${blob}?${blobSas}` }],
      ['user delegation SAS', { auth: 'none', path: `${blob}?${delegationSas}` }],
      ['bearer', { path: blob }],
    ]) {
      const r = await storageSend(c);
      assert.equal(r.status, 200, `${what}: ${r.status} ${r.text}`);
      assert.equal(r.text, 'hello', what);
    }
    // No container or blob was made by any of the bad names.
    const list = await storageSend({ auth: 'sharedkey', path: `/${ACCOUNT}/?comp=list` });
    assert.equal(list.status, 200, list.text);
    assert.deepEqual([...list.text.matchAll(/<Name>([^<]*)<\/Name>/g)].map((m) => m[1]), ['docs']);
  });
});

// Secrets stay secret, and the data directory is owner-only.
//
// A file-backed azsim at its most verbose (--log-level debug) handles every kind of secret it
// knows: the admin's client secret and a user's password in token requests, a certificate client
// assertion, the access and refresh tokens it answers, a storage account key (listKeys and Shared
// Key requests), account and user delegation SAS signatures (and the delegation key), a Key Vault
// secret value (set and get), a token IMDS got for a VM, a Graph addPassword secretText and a
// deployment's securestring parameter. Then it is stopped, and its whole stdout and stderr, the
// audit log (`azsim audit --json` and GET /_azsim/audit) and every file it wrote other than the
// state store and its keys are searched for each value, as sent and in its base64, base64url and
// percent-encoded forms: none may appear (STYLE.md: never log a token, secret value, key, SAS
// signature or password).
//
// The server runs under umask 022, so nothing depends on a restrictive umask: the data directory
// and tls/ must come out 0700, the store, its WAL and shared-memory files, the keys, the admin's
// credentials and the run file 0600 (or stricter); only the public certificates in tls/ may be
// readable by others (behind the 0700 directory).
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

import {
  AccountSASPermissions, AccountSASResourceTypes, AccountSASServices, generateAccountSASQueryParameters,
  generateBlobSASQueryParameters, StorageSharedKeyCredential,
} from '@azure/storage-blob';

import * as aad from './lib/aad.mjs';
import * as arm from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';

const ACCOUNT = 'secretsacct';
const VAULT = 'secrets-kv';
const X_MS_VERSION = '2023-11-03';
const GRAPH = 'https://graph.microsoft.com';
const STORAGE = 'https://storage.azure.com';
const BLOB_DATA_OWNER = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b';
const SCHEMA = 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#';

/** Every file under `dir`, recursively. */
function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    (e.isDirectory() ? [join(dir, e.name), ...walk(join(dir, e.name))] : [join(dir, e.name)]));
}

/** The forms a value travels in: as is, base64, base64url, percent-encoded. */
function forms(value) {
  const b = Buffer.from(value, 'utf8');
  return [...new Set([value, b.toString('base64'), b.toString('base64url'), encodeURIComponent(value)])]
    .filter((f) => f.length >= 8);
}

/** Assert nothing under `dataDir` is group- or world-accessible; returns "path mode" lines. */
function checkModesOf(dataDir, must) {
  const modes = [];
  const files = walk(dataDir);
  for (const f of [dataDir, ...files]) {
    const st = statSync(f);
    const mode = st.mode & 0o777;
    const rel = relative(dataDir, f);
    modes.push(`${rel || '.'} ${mode.toString(8).padStart(4, '0')}`);
    // The certificates in tls/ are public (ca.pem is the one to trust) and may be 0644: they hold
    // no key, and the 0700 directories around them keep others out anyway.
    if (/^tls\/[^/]+\.pem$/.test(rel) && !readFileSync(f, 'latin1').includes('PRIVATE KEY')) continue;
    assert.equal(mode & 0o077, 0, `${f} is ${mode.toString(8)}, want ${st.isDirectory() ? '0700' : '0600'} or stricter`);
  }
  for (const m of must) assert.ok(files.some((f) => relative(dataDir, f) === m), `${m} exists: ${modes.join(', ')}`);
  return modes;
}

test('no secret reaches a log, the audit log or a file; the data directory is owner-only', { timeout: 120_000 }, async (t) => {
  const tmp = az.tempDir('azsim-secrets-');
  t.after(() => tmp.cleanup());
  const dataDir = join(tmp.dir, 'data'); // azsim makes it, under umask 022
  const previous = process.umask(0o022);
  let s;
  try {
    s = await az.start({ dataDir, inMemory: false, args: ['--log-level', 'debug'] });
  } finally {
    process.umask(previous);
  }
  t.after(() => s.cleanup());

  const secrets = {}; // name → value
  const keep = (name, value) => {
    assert.equal(typeof value, 'string', name);
    assert.ok(value.length >= 8, `${name} is too short to search for: ${value}`);
    secrets[name] = value;
    return value;
  };

  const info = aad.info(dataDir);
  const tokenPath = `/${info.tenantId}/oauth2/v2.0/token`;
  keep('admin client secret', info.clientSecret);
  keep('admin user password', info.password);

  // Token requests: a client secret, a password (with a refresh token back), a client assertion.
  const byAdminSecret = await aad.postForm(s, tokenPath, {
    grant_type: 'client_credentials', client_id: info.clientId, client_secret: info.clientSecret, scope: `${arm.ARM}/.default`,
  });
  assert.equal(byAdminSecret.status, 200, byAdminSecret.text);
  const admin = keep('access token (client secret)', byAdminSecret.json().access_token);
  keep('access token signature (client secret)', admin.split('.')[2]);
  const wrongSecret = await aad.postForm(s, tokenPath, {
    grant_type: 'client_credentials', client_id: info.clientId, client_secret: keep('a wrong client secret', `wrong-${randomUUID()}`), scope: `${arm.ARM}/.default`,
  });
  assert.equal(wrongSecret.status, 401, wrongSecret.text);
  const byPassword = await aad.postForm(s, tokenPath, {
    grant_type: 'password', client_id: aad.AZURE_CLI_APP_ID, username: info.username, password: info.password,
    scope: `${arm.ARM}/.default openid profile offline_access`,
  });
  assert.equal(byPassword.status, 200, byPassword.text);
  keep('access token (password)', byPassword.json().access_token);
  const refresh = keep('refresh token', byPassword.json().refresh_token);
  const wrongPassword = await aad.postForm(s, tokenPath, {
    grant_type: 'password', client_id: aad.AZURE_CLI_APP_ID, username: info.username, password: keep('a wrong password', `Wrong-${randomUUID()}`),
    scope: `${arm.ARM}/.default openid profile offline_access`,
  });
  assert.equal(wrongPassword.status, 400, wrongPassword.text);
  const byRefresh = await aad.postForm(s, tokenPath, {
    grant_type: 'refresh_token', client_id: aad.AZURE_CLI_APP_ID, refresh_token: refresh, scope: `${GRAPH}/.default offline_access`,
  });
  assert.equal(byRefresh.status, 200, byRefresh.text);
  keep('access token (refresh)', byRefresh.json().access_token);
  if (byRefresh.json().refresh_token) keep('second refresh token', byRefresh.json().refresh_token);
  const pem = aad.readClientPem(info.clientCertificatePath);
  const assertion = keep('client assertion', await aad.clientAssertion({
    keyPem: pem.keyPem, header: { 'x5t#S256': pem.x5tS256 }, clientId: info.clientId, aud: `${s.urls.aad}${tokenPath}`,
  }));
  keep('client assertion signature', assertion.split('.')[2]);
  const byAssertion = await aad.postForm(s, tokenPath, {
    grant_type: 'client_credentials', client_id: info.clientId, client_assertion: assertion,
    client_assertion_type: aad.ASSERTION_TYPE, scope: `${GRAPH}/.default`,
  });
  assert.equal(byAssertion.status, 200, byAssertion.text);
  const graph = keep('access token (assertion)', byAssertion.json().access_token);

  const ok = async (method, path, body, token = admin) => {
    const r = await arm.armRequest(s, token, method, path, body);
    assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
    return r.text ? r.json() : null;
  };
  const sub = `/subscriptions/${info.subscriptionId}`;
  const rg = `${sub}/resourceGroups/secrets-rg`;
  await ok('PUT', `${rg}?api-version=2021-04-01`, { location: 'westus' });
  const adminOid = arm.claimsOf(admin).oid;

  // Storage: listKeys, Shared Key requests, account and user delegation SAS.
  const accountId = `${rg}/providers/Microsoft.Storage/storageAccounts/${ACCOUNT}`;
  await ok('PUT', `${accountId}?api-version=2023-05-01`, { location: 'westus', sku: { name: 'Standard_LRS' }, kind: 'StorageV2' });
  const listed = await ok('POST', `${accountId}/listKeys?api-version=2023-05-01`);
  const key = keep('storage key1', listed.keys[0].value);
  keep('storage key2', listed.keys[1].value);
  const sharedKey = (method, path, headers = {}) => {
    const h = { 'x-ms-date': new Date().toUTCString(), 'x-ms-version': X_MS_VERSION, ...headers };
    const get = (n) => Object.entries(h).find(([k]) => k.toLowerCase() === n.toLowerCase())?.[1] ?? '';
    const standard = ['Content-Encoding', 'Content-Language', 'Content-Length', 'Content-MD5', 'Content-Type', 'Date',
      'If-Modified-Since', 'If-Match', 'If-None-Match', 'If-Unmodified-Since', 'Range'].map((n) => (n === 'Content-Length' && get(n) === '0' ? '' : get(n)));
    const ms = Object.entries(h).filter(([k]) => k.toLowerCase().startsWith('x-ms-')).map(([k, v]) => `${k.toLowerCase()}:${v}`).sort();
    const u = new URL(`https://x${path}`);
    const params = [...u.searchParams.entries()].map(([k, v]) => `${k.toLowerCase()}:${v}`).sort();
    const text = [method, ...standard, ...ms, `/${ACCOUNT}${u.pathname}`].join('\n') + params.map((p) => `\n${p}`).join('');
    const sig = keep(`Shared Key signature ${method} ${path}`, createHmac('sha256', Buffer.from(key, 'base64')).update(text, 'utf8').digest('base64'));
    return { ...h, Authorization: `SharedKey ${ACCOUNT}:${sig}` };
  };
  const blobReq = (method, path, opts = {}) => s.request('storage', path, { method, ...opts });
  const blobBody = 'hello secrets';
  for (const [method, path, headers, body, status] of [
    ['PUT', `/${ACCOUNT}/docs?restype=container`, {}, undefined, 201],
    ['PUT', `/${ACCOUNT}/docs/a.txt`, { 'x-ms-blob-type': 'BlockBlob', 'Content-Length': String(blobBody.length) }, blobBody, 201],
    ['GET', `/${ACCOUNT}/docs/a.txt`, {}, undefined, 200],
  ]) {
    const r = await blobReq(method, path, { headers: sharedKey(method, path, headers), body });
    assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
  }
  const wrongSig = await blobReq('GET', `/${ACCOUNT}/docs/a.txt`, {
    headers: { 'x-ms-date': new Date().toUTCString(), 'x-ms-version': X_MS_VERSION, Authorization: `SharedKey ${ACCOUNT}:${keep('a wrong Shared Key signature', Buffer.from(randomUUID()).toString('base64'))}` },
  });
  assert.equal(wrongSig.status, 403, wrongSig.text);
  const cred = new StorageSharedKeyCredential(ACCOUNT, key);
  const expiresOn = new Date(Date.now() + 3600_000);
  const accountSas = new URLSearchParams(generateAccountSASQueryParameters({
    expiresOn, permissions: AccountSASPermissions.parse('rl'), resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
    services: AccountSASServices.parse('b').toString(),
  }, cred).toString());
  keep('account SAS signature', accountSas.get('sig'));
  const viaAccountSas = await blobReq('GET', `/${ACCOUNT}/docs/a.txt?${accountSas}`);
  assert.equal(viaAccountSas.status, 200, viaAccountSas.text);
  await ok('PUT', `${accountId}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=2022-04-01`, {
    properties: { roleDefinitionId: `${sub}/providers/Microsoft.Authorization/roleDefinitions/${BLOB_DATA_OWNER}`, principalId: adminOid, principalType: 'ServicePrincipal' },
  });
  const storageToken = keep('access token (storage)', (await arm.appToken(s, info.tenantId, info.clientId, info.clientSecret, STORAGE)).token);
  const iso = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
  const kr = await blobReq('POST', `/${ACCOUNT}/?restype=service&comp=userdelegationkey`, {
    headers: { Authorization: `Bearer ${storageToken}`, 'x-ms-version': X_MS_VERSION, 'Content-Type': 'application/xml' },
    body: `<?xml version="1.0" encoding="utf-8"?><KeyInfo><Start>${iso(Date.now() - 60_000)}</Start><Expiry>${iso(Date.now() + 3600_000)}</Expiry></KeyInfo>`,
  });
  assert.equal(kr.status, 200, kr.text);
  const tag = (n) => new RegExp(`<${n}>([^<]*)</${n}>`).exec(kr.text)[1];
  keep('user delegation key', tag('Value'));
  const delegationSas = new URLSearchParams(generateBlobSASQueryParameters({ containerName: 'docs', blobName: 'a.txt', permissions: 'r', expiresOn }, {
    signedObjectId: tag('SignedOid'), signedTenantId: tag('SignedTid'), signedStartsOn: new Date(tag('SignedStart')),
    signedExpiresOn: new Date(tag('SignedExpiry')), signedService: tag('SignedService'), signedVersion: tag('SignedVersion'), value: tag('Value'),
  }, ACCOUNT).toString());
  keep('user delegation SAS signature', delegationSas.get('sig'));
  const viaDelegation = await blobReq('GET', `/${ACCOUNT}/docs/a.txt?${delegationSas}`);
  assert.equal(viaDelegation.status, 200, viaDelegation.text);
  const forged = new URLSearchParams(delegationSas);
  forged.set('sig', keep('a wrong SAS signature', Buffer.from(randomUUID()).toString('base64')));
  assert.equal((await blobReq('GET', `/${ACCOUNT}/docs/a.txt?${forged}`)).status, 403);

  // Key Vault: a secret set and read back.
  await ok('PUT', `${rg}/providers/Microsoft.KeyVault/vaults/${VAULT}?api-version=2023-07-01`, {
    location: 'westus',
    properties: { tenantId: info.tenantId, sku: { family: 'A', name: 'standard' }, accessPolicies: [{ tenantId: info.tenantId, objectId: adminOid, permissions: { secrets: ['all'] } }] },
  });
  const vaultToken = keep('access token (vault)', (await arm.appToken(s, info.tenantId, info.clientId, info.clientSecret, aad.VAULT)).token);
  const kv = (method, path, body) => s.request('keyvault', path, {
    method, servername: `${VAULT}.vault.azure.net`,
    headers: { Host: `${VAULT}.vault.azure.net`, Authorization: `Bearer ${vaultToken}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const secretValue = keep('Key Vault secret value', `kv-value-${randomUUID()}`);
  assert.equal((await kv('PUT', '/secrets/db-password?api-version=7.4', { value: secretValue })).status, 200);
  const read = await kv('GET', '/secrets/db-password?api-version=7.4');
  assert.equal(read.status, 200, read.text);
  assert.equal(read.json().value, secretValue);

  // IMDS: a token for a VM's system-assigned identity.
  await ok('PUT', `${rg}/providers/Microsoft.Network/virtualNetworks/vnet?api-version=2022-07-01`, {
    location: 'westus', properties: { addressSpace: { addressPrefixes: ['10.88.0.0/16'] }, subnets: [{ name: 'default', properties: { addressPrefix: '10.88.0.0/24' } }] },
  });
  await ok('PUT', `${rg}/providers/Microsoft.Network/networkInterfaces/nic?api-version=2022-07-01`, {
    location: 'westus', properties: { ipConfigurations: [{ name: 'ipconfig1', properties: { subnet: { id: `${rg}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default` } } }] },
  });
  await ok('PUT', `${rg}/providers/Microsoft.Compute/virtualMachines/vm?api-version=2024-07-01`, {
    location: 'westus', identity: { type: 'SystemAssigned' },
    properties: {
      hardwareProfile: { vmSize: 'Standard_B1s' },
      storageProfile: { imageReference: { publisher: 'Canonical', offer: '0001-com-ubuntu-server-jammy', sku: '22_04-lts-gen2', version: 'latest' } },
      osProfile: { computerName: 'vm', adminUsername: 'azureuser', linuxConfiguration: {} },
      networkProfile: { networkInterfaces: [{ id: `${rg}/providers/Microsoft.Network/networkInterfaces/nic` }] },
    },
  });
  const vmEnv = JSON.parse(az.run(['env', '--vm', 'vm', '--format', 'json', '--data-dir', dataDir]).stdout);
  const imdsPath = new URL(vmEnv.AZURE_POD_IDENTITY_AUTHORITY_HOST).pathname.replace(/\/$/, '');
  keep('IMDS per-VM secret', new URL(vmEnv.HTTP_PROXY).password);
  const imds = await s.request('imds', `${imdsPath}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(aad.VAULT)}`, { headers: { Metadata: 'true' } });
  assert.equal(imds.status, 200, imds.text);
  keep('access token (IMDS)', imds.json().access_token);
  keep('access token signature (IMDS)', imds.json().access_token.split('.')[2]);

  // Graph: an application and a password for it.
  const graphReq = (method, path, body) => s.request('aad', path, {
    method, headers: { Authorization: `Bearer ${graph}`, 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const app = await graphReq('POST', '/v1.0/applications', { displayName: 'secrets-app' });
  assert.equal(app.status, 201, app.text);
  const pw = await graphReq('POST', `/v1.0/applications/${app.json().id}/addPassword`, { passwordCredential: { displayName: 'ci' } });
  assert.equal(pw.status, 200, pw.text);
  keep('Graph addPassword secretText', pw.json().secretText);

  // A deployment with a securestring parameter.
  const secure = keep('securestring parameter', `Secure-${randomUUID()}`);
  const dep = await arm.armRequest(s, admin, 'PUT', `${rg}/providers/Microsoft.Resources/deployments/secure?api-version=2022-09-01`, {
    properties: {
      mode: 'Incremental',
      template: { $schema: SCHEMA, contentVersion: '1.0.0.0', parameters: { pw: { type: 'securestring' } }, variables: { v: "[parameters('pw')]" }, resources: [] },
      parameters: { pw: { value: secure } },
    },
  });
  assert.ok(dep.status === 200 || dep.status === 201, dep.text);
  assert.ok(!dep.text.includes(secure), 'the deployment does not echo its securestring');

  // The audit log, over HTTP and from the command line (which reads the store directly).
  const auditHttp = await s.request('arm', '/_azsim/audit?top=1000', { headers: { Authorization: `Bearer ${admin}` } });
  assert.equal(auditHttp.status, 200, auditHttp.text);
  assert.ok(auditHttp.json().value.length > 0, 'the audit log recorded decisions');
  const auditCli = az.run(['audit', '--json', '--data-dir', dataDir]);
  assert.equal(auditCli.code, 0, auditCli.stderr);

  // Permissions: nothing group- or world-accessible, whatever the umask; the run file exists only
  // while the server runs.
  const checkModes = (must) => checkModesOf(dataDir, must);
  const running = checkModes(['azsim.db', 'azsim.run.json', 'tls', 'tls/ca.key']).join(', ');

  const exit = await s.stop();
  az.assertCleanExit(exit);
  assert.match(exit.stderr, /\S/, 'debug logging wrote something');

  // Everything to search: the server's output, both audit views, and every file it wrote except
  // the state store (which must hold some of these, e.g. the vault's secret) and the TLS keys.
  const haystacks = {
    'azsim stdout': exit.stdout,
    'azsim stderr': exit.stderr,
    'GET /_azsim/audit': auditHttp.text,
    'azsim audit --json': auditCli.stdout + auditCli.stderr,
  };
  const files = walk(dataDir);
  for (const f of files) {
    const rel = relative(dataDir, f);
    // The secret stores themselves: the state store, the TLS keys, the admin's credentials.
    if (statSync(f).isDirectory() || /^azsim\.db(-wal|-shm|-journal)?$/.test(rel) || /\.key$/.test(rel) ||
      rel === 'credentials.json' || rel === 'admin-client.pem') continue;
    haystacks[`file ${rel}`] = readFileSync(f, 'latin1');
  }
  const leaks = [];
  for (const [name, value] of Object.entries(secrets)) {
    for (const form of forms(value)) {
      for (const [where, text] of Object.entries(haystacks)) {
        if (text.includes(form)) leaks.push(`${name} (${form === value ? 'as is' : `encoded: ${form.slice(0, 20)}…`}) in ${where}`);
      }
    }
  }
  assert.deepEqual(leaks, [], `secrets found:\n${leaks.join('\n')}`);
  console.log(`secrets stay secret: ${Object.keys(secrets).length} values in up to 4 forms each, ` +
    `searched in ${Object.keys(haystacks).join(', ')}`);

  console.log(`data directory modes under umask 022, running: ${running}; stopped: ${checkModes([]).join(', ')}`);
});

// Blob Storage's data plane with the real clients, end to end through the front door.
//
// The seed scenario: a VM with a system-assigned identity; an application that *is* the VM (a
// child `node` with exactly the environment `azsim env --vm` printed, lib/blob-client.mjs) uses a
// plain `new DefaultAzureCredential()` and `new BlobServiceClient("https://<account>.blob.core.
// windows.net", credential)` with no options, on a container the admin made with Shared Key:
// 403 AuthorizationPermissionMismatch for download and upload with no role; with "Storage Blob
// Data Reader" download works and upload still gets 403; with "Storage Blob Data Contributor" (on
// the container) both work. The audit log shows each storage decision.
//
// Then, as the admin application (ClientSecretCredential in a child with `azsim env`, "Storage
// Blob Data Owner" on the account), the surface of @azure/storage-blob azsim serves; and the
// authentication negatives over raw HTTPS through the front door: another audience, no token, a
// wrong Shared Key signature, Shared Key on an account that forbids it, anonymous reads of public
// containers.
import assert from 'node:assert/strict';
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import * as aad from './lib/aad.mjs';
import * as arm from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';

const ST = 'api-version=2023-05-01';
const NET = 'api-version=2022-07-01';
const COMPUTE = 'api-version=2024-07-01';
const AUTHZ = 'api-version=2022-04-01';
const LOCATION = 'westus';
const GROUP = 'blob-sdk-rg';
const VM_NAME = 'blob-vm';
const STORAGE = 'https://storage.azure.com';
const BLOB_CLIENT = fileURLToPath(new URL('./lib/blob-client.mjs', import.meta.url));
/** Built-in Blob data roles (data/builtin-roles.json, the same ids as Azure's). */
const BLOB_ROLES = {
  'Storage Blob Data Reader': '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1',
  'Storage Blob Data Contributor': 'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
  'Storage Blob Data Owner': 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  'Storage Blob Delegator': 'db58b8e5-c6ad-4a2a-8342-4190687cbf4a',
};
const BLOBS = 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs';
const accountUrl = (name) => `https://${name}.blob.core.windows.net`;
const X_MS_VERSION = '2021-12-02';

describe('Blob Storage: the seed scenario, @azure/storage-blob, raw HTTP negatives', () => {
  let s, info, admin, sub, rg, ok;
  let adminOid; // the admin service principal's object id
  let adminEnv; // `azsim env --format json`
  let vmEnv; // `azsim env --vm VM_NAME --format json`
  let vm; // the VM as ARM answered its PUT
  let ca; // the CA the front door's certificates chain to
  const keys = {}; // account name -> key1

  const accountId = (name) => `${rg}/providers/Microsoft.Storage/storageAccounts/${name}`;
  /** A StorageV2 account made over ARM as the admin, with `props`; returns its key1. */
  async function createAccount(name, props = {}) {
    const a = await ok('PUT', `${accountId(name)}?${ST}`, {
      location: LOCATION, sku: { name: 'Standard_LRS' }, kind: 'StorageV2', properties: props,
    });
    assert.equal(a.properties.primaryEndpoints.blob, `${accountUrl(name)}/`);
    const k = await ok('POST', `${accountId(name)}/listKeys?${ST}`);
    keys[name] = k.keys[0].value;
    return a;
  }
  /** The admin assigns a built-in Blob data role at `scope` to a service principal. */
  const assignRole = (scope, role, principalId) => ok('PUT',
    `${scope}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?${AUTHZ}`, {
      properties: {
        roleDefinitionId: `${sub}/providers/Microsoft.Authorization/roleDefinitions/${BLOB_ROLES[role]}`,
        principalId,
        principalType: 'ServicePrincipal',
      },
    });

  /** Run lib/blob-client.mjs with exactly `env`: {byId, stderr}. */
  async function blobClient(scenario, env) {
    const { output, stderr } = await aad.runGuardedChild(BLOB_CLIENT, scenario, aad.sdkEnv(env),
      { timeoutMs: 60_000, what: 'Blob Storage SDK child' });
    return { byId: Object.fromEntries(output.results.map((r) => [r.id, r])), stderr };
  }
  const adminCredential = () => ({ tenantId: info.tenantId, clientId: info.clientId, clientSecret: info.clientSecret });
  /** The admin's BlobServiceClient (ClientSecretCredential, the front door) running `steps`. */
  const asAdmin = (account, steps) => blobClient({ credential: adminCredential(), accountUrl: accountUrl(account), steps }, adminEnv);
  /** A BlobServiceClient with the account's key (StorageSharedKeyCredential) running `steps`. */
  const withKey = (account, steps) => blobClient({
    credential: { accountName: account, accountKey: keys[account] }, accountUrl: accountUrl(account), steps,
  }, adminEnv);
  /** The VM's plain BlobServiceClient with DefaultAzureCredential running `steps`. */
  const asVm = (account, steps) => blobClient({ credential: 'default', plain: true, accountUrl: accountUrl(account), steps }, vmEnv);

  function okStep(run, id) {
    const r = run.byId[id];
    assert.ok(r, `no result for ${id}: ${JSON.stringify(run.byId, null, 2)}\n${run.stderr}`);
    assert.ok(r.ok, `${id} failed: ${JSON.stringify(r.error, null, 2)}\nchild stderr:\n${run.stderr}`);
    return r.value;
  }
  function failedStep(run, id, statusCode, code) {
    const r = run.byId[id];
    assert.ok(r, `no result for ${id}`);
    assert.equal(r.ok, false, `${id} succeeded: ${JSON.stringify(r.value)}`);
    assert.equal(r.error.statusCode, statusCode, `${id}: ${JSON.stringify(r.error)}`);
    if (code !== undefined) assert.equal(r.error.code, code, `${id}: ${JSON.stringify(r.error)}`);
    return r.error;
  }

  /** A raw request to an account through the front door. */
  function blobRequest(account, method, path, { headers = {}, body } = {}) {
    return aad.proxiedRequest(adminEnv.HTTPS_PROXY, `${accountUrl(account)}${path}`, { ca, method, headers, body });
  }
  /** Headers of a Shared Key request signed with `key` (the REST API's string-to-sign). */
  function sharedKeyHeaders(account, key, method, path, headers = {}) {
    const h = { 'x-ms-date': new Date().toUTCString(), 'x-ms-version': X_MS_VERSION, ...headers };
    const get = (name) => Object.entries(h).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1] ?? '';
    const standard = ['Content-Encoding', 'Content-Language', 'Content-Length', 'Content-MD5', 'Content-Type', 'Date',
      'If-Modified-Since', 'If-Match', 'If-None-Match', 'If-Unmodified-Since', 'Range']
      .map((n) => (n === 'Content-Length' && get(n) === '0' ? '' : get(n)));
    const msHeaders = Object.entries(h).filter(([k]) => k.toLowerCase().startsWith('x-ms-'))
      .map(([k, v]) => `${k.toLowerCase()}:${v}`).sort();
    const u = new URL(`https://x${path}`);
    const params = [...u.searchParams.entries()].map(([k, v]) => `${k.toLowerCase()}:${v}`).sort();
    const text = [method, ...standard, ...msHeaders, `/${account}${u.pathname}`].join('\n') +
      params.map((p) => `\n${p}`).join('');
    const signature = createHmac('sha256', Buffer.from(key, 'base64')).update(text, 'utf8').digest('base64');
    return { ...h, Authorization: `SharedKey ${account}:${signature}` };
  }
  const storageToken = async (resource = STORAGE) =>
    (await arm.appToken(s, info.tenantId, info.clientId, info.clientSecret, resource)).token;
  /** The challenge of a 401: Bearer authorization_uri=.../<tenant>/oauth2/authorize resource_id=... */
  const challenge = () => `Bearer authorization_uri=https://login.microsoftonline.com/${info.tenantId}/oauth2/authorize resource_id=${STORAGE}`;
  function assertStorageError(r, status, code) {
    const where = `${r.status} ${JSON.stringify(r.headers)} ${r.text}`;
    assert.equal(r.status, status, where);
    assert.equal(r.headers['x-ms-error-code'], code, where);
    assert.match(r.headers['content-type'] ?? '', /^application\/xml/, where);
    assert.match(r.text, new RegExp(`<Error><Code>${code}</Code><Message>[^<]+`), where);
    assert.ok(r.headers['x-ms-request-id'], where);
  }

  before(async () => {
    ({ s, info, admin, sub, rg, ok } = await arm.adminWorkspace(GROUP, { vnetPrefix: '10.61.0.0/16' }));
    adminOid = arm.claimsOf(admin).oid;
    adminEnv = aad.envVars(s.dataDir);
    ca = readFileSync(adminEnv.NODE_EXTRA_CA_CERTS, 'utf8');

    // A VM with a system-assigned identity, on a NIC in the workspace's network.
    const nicId = `${rg}/providers/Microsoft.Network/networkInterfaces/blob-nic`;
    await ok('PUT', `${nicId}?${NET}`, {
      location: LOCATION,
      properties: { ipConfigurations: [{ name: 'ipconfig1', properties: { subnet: { id: `${rg}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default` } } }] },
    });
    vm = await ok('PUT', `${rg}/providers/Microsoft.Compute/virtualMachines/${VM_NAME}?${COMPUTE}`, {
      location: LOCATION,
      identity: { type: 'SystemAssigned' },
      properties: {
        hardwareProfile: { vmSize: 'Standard_B1s' },
        osProfile: { computerName: VM_NAME, adminUsername: 'azureuser', adminPassword: 'Secret-123456' },
        networkProfile: { networkInterfaces: [{ id: nicId }] },
      },
    });
    assert.match(vm.identity?.principalId ?? '', az.UUID_RE, JSON.stringify(vm));
    const r = az.run(['env', '--vm', VM_NAME, '--format', 'json', '--data-dir', s.dataDir]);
    az.assertNoSanitizerReport(r.stderr);
    assert.equal(r.code, 0, `azsim env --vm: ${r.stderr}`);
    vmEnv = JSON.parse(r.stdout);

    await createAccount('blobseed');
    await createAccount('blobsdk');
    await createAccount('blobnokey', { allowSharedKeyAccess: false });
    await createAccount('blobpublic', { allowBlobPublicAccess: true });
    await assignRole(accountId('blobsdk'), 'Storage Blob Data Owner', adminOid);
    await assignRole(accountId('blobnokey'), 'Storage Blob Data Owner', adminOid);
  });
  after(() => az.finish(s));

  // ---- the seed scenario ------------------------------------------------------------------------

  it('the seed scenario: the VM downloads and uploads with DefaultAzureCredential and a plain BlobServiceClient', async () => {
    const setup = await withKey('blobseed', [
      { id: 'create', op: 'createContainer', container: 'data' },
      { id: 'upload', op: 'upload', container: 'data', blob: 'config.json', content: '{"mode":"seed"}', options: { blobHTTPHeaders: { blobContentType: 'application/json' } } },
    ]);
    assert.equal(okStep(setup, 'create').status, 201);
    assert.equal(okStep(setup, 'upload').status, 201);
    const containerScope = `${accountId('blobseed')}/blobServices/default/containers/data`;
    const vmSteps = (content) => [
      { id: 'token', op: 'token' },
      { id: 'download', op: 'download', container: 'data', blob: 'config.json' },
      { id: 'upload', op: 'upload', container: 'data', blob: 'from-vm.txt', content },
      { id: 'readBack', op: 'download', container: 'data', blob: 'from-vm.txt' },
    ];

    // No role: both refused.
    const denied = await asVm('blobseed', vmSteps('one'));
    const claims = arm.claimsOf(okStep(denied, 'token'));
    assert.equal(claims.oid, vm.identity.principalId, 'the token is the VM\'s system-assigned identity');
    assert.ok([STORAGE, `${STORAGE}/`].includes(claims.aud), claims.aud);
    assert.equal(claims.tid, info.tenantId);
    failedStep(denied, 'download', 403, 'AuthorizationPermissionMismatch');
    failedStep(denied, 'upload', 403, 'AuthorizationPermissionMismatch');
    const deniedEntries = await arm.audit(s, admin, { principal: vm.identity.principalId, denied: true, top: 50 });
    for (const action of [`${BLOBS}/read`, `${BLOBS}/write`]) {
      const e = deniedEntries.find((x) => x.action === action);
      assert.ok(e, `the denial of ${action} is audited: ${JSON.stringify(deniedEntries, null, 2)}`);
      assert.equal(e.scope.toLowerCase(), containerScope.toLowerCase(), JSON.stringify(e));
      assert.equal(e.allowed, false, JSON.stringify(e));
    }

    // Reader on the account: download yes, upload no.
    await assignRole(accountId('blobseed'), 'Storage Blob Data Reader', vm.identity.principalId);
    const reader = await asVm('blobseed', vmSteps('two'));
    const got = okStep(reader, 'download');
    assert.equal(got.status, 200);
    assert.equal(got.text, '{"mode":"seed"}');
    assert.equal(got.contentType, 'application/json');
    failedStep(reader, 'upload', 403, 'AuthorizationPermissionMismatch');
    failedStep(reader, 'readBack', 404, 'BlobNotFound');

    // Contributor on the container: both.
    await assignRole(containerScope, 'Storage Blob Data Contributor', vm.identity.principalId);
    const contributor = await asVm('blobseed', vmSteps('three'));
    assert.equal(okStep(contributor, 'download').text, '{"mode":"seed"}');
    assert.equal(okStep(contributor, 'upload').status, 201);
    assert.equal(okStep(contributor, 'readBack').text, 'three');

    const entries = await arm.audit(s, admin, { principal: vm.identity.principalId, top: 100 });
    const storageEntries = entries.filter((e) => e.action?.startsWith(BLOBS));
    assert.ok(storageEntries.some((e) => e.action === `${BLOBS}/write` && e.allowed === true), JSON.stringify(storageEntries, null, 2));
    assert.ok(storageEntries.some((e) => e.action === `${BLOBS}/read` && e.allowed === true), JSON.stringify(storageEntries, null, 2));
    assert.ok(storageEntries.filter((e) => e.action === `${BLOBS}/write` && e.allowed === false).length >= 2,
      `two denied uploads: ${JSON.stringify(storageEntries, null, 2)}`);
  });

  // ---- @azure/storage-blob as the admin --------------------------------------------------------

  describe('@azure/storage-blob as the admin (ClientSecretCredential, Storage Blob Data Owner)', () => {
    it('containers: create 201, again 409 ContainerAlreadyExists, createIfNotExists, metadata, list, delete 202', async () => {
      const run = await asAdmin('blobsdk', [
        { id: 'create', op: 'createContainer', container: 'box', options: { metadata: { team: 'storage' } } },
        { id: 'createAgain', op: 'createContainer', container: 'box' },
        { id: 'ifNotExists', op: 'createIfNotExists', container: 'box' },
        { id: 'ifNotExistsNew', op: 'createIfNotExists', container: 'box-two' },
        { id: 'props', op: 'containerProperties', container: 'box' },
        { id: 'setMeta', op: 'setContainerMetadata', container: 'box', metadata: { team: 'blob', tier: 'gold' } },
        { id: 'props2', op: 'containerProperties', container: 'box' },
        { id: 'badName', op: 'createContainer', container: 'Bad_Name' },
        { id: 'list', op: 'listContainers', prefix: 'box', includeMetadata: true },
        { id: 'listPaged', op: 'listContainers', prefix: 'box', maxPageSize: 1 },
        { id: 'delete', op: 'deleteContainer', container: 'box-two' },
        { id: 'propsGone', op: 'containerProperties', container: 'box-two' },
        { id: 'deleteGone', op: 'deleteContainer', container: 'box-two' },
      ]);
      const created = okStep(run, 'create');
      assert.equal(created.status, 201);
      assert.match(created.etag, /^"0x[0-9A-F]+"$/);
      failedStep(run, 'createAgain', 409, 'ContainerAlreadyExists');
      assert.deepEqual(okStep(run, 'ifNotExists'), { succeeded: false, errorCode: 'ContainerAlreadyExists', status: 409 });
      assert.equal(okStep(run, 'ifNotExistsNew').succeeded, true);
      const props = okStep(run, 'props');
      assert.deepEqual(props.metadata, { team: 'storage' });
      assert.equal(props.etag, created.etag);
      assert.equal(props.blobPublicAccess, null);
      okStep(run, 'setMeta');
      const props2 = okStep(run, 'props2');
      assert.deepEqual(props2.metadata, { team: 'blob', tier: 'gold' });
      assert.notEqual(props2.etag, created.etag);
      failedStep(run, 'badName', 400, 'InvalidResourceName');
      const list = okStep(run, 'list').pages.flat();
      assert.deepEqual(list.map((c) => c.name), ['box', 'box-two']);
      assert.deepEqual(list[0].metadata, { team: 'blob', tier: 'gold' });
      const paged = okStep(run, 'listPaged').pages;
      assert.deepEqual(paged.map((p) => p.map((c) => c.name)), [['box'], ['box-two']]);
      assert.equal(okStep(run, 'delete').status, 202);
      failedStep(run, 'propsGone', 404, 'ContainerNotFound');
      failedStep(run, 'deleteGone', 404, 'ContainerNotFound');
    });

    it('blobs: upload with headers and metadata, download whole and ranged (206), properties, metadata, headers', async () => {
      const content = 'hello, blob world';
      const run = await asAdmin('blobsdk', [
        { id: 'container', op: 'createContainer', container: 'surface' },
        {
          id: 'upload', op: 'upload', container: 'surface', blob: 'docs/readme.txt', content,
          options: {
            blobHTTPHeaders: { blobContentType: 'text/plain; charset=utf-8', blobCacheControl: 'no-cache', blobContentDisposition: 'attachment; filename=readme.txt', blobContentLanguage: 'en-US' },
            metadata: { owner: 'admin', purpose: 'test' },
          },
        },
        { id: 'download', op: 'download', container: 'surface', blob: 'docs/readme.txt' },
        { id: 'ranged', op: 'download', container: 'surface', blob: 'docs/readme.txt', offset: 7, count: 4 },
        { id: 'rangedOpen', op: 'download', container: 'surface', blob: 'docs/readme.txt', offset: 12 },
        { id: 'rangedPastEnd', op: 'download', container: 'surface', blob: 'docs/readme.txt', offset: 100, count: 5 },
        { id: 'toBuffer', op: 'downloadToBuffer', container: 'surface', blob: 'docs/readme.txt' },
        { id: 'props', op: 'properties', container: 'surface', blob: 'docs/readme.txt' },
        { id: 'setMeta', op: 'setMetadata', container: 'surface', blob: 'docs/readme.txt', metadata: { reviewed: 'yes' } },
        { id: 'props2', op: 'properties', container: 'surface', blob: 'docs/readme.txt' },
        { id: 'setHeaders', op: 'setHTTPHeaders', container: 'surface', blob: 'docs/readme.txt', headers: { blobContentType: 'application/json', blobCacheControl: 'max-age=60' } },
        { id: 'props3', op: 'properties', container: 'surface', blob: 'docs/readme.txt' },
        { id: 'missing', op: 'download', container: 'surface', blob: 'nope.txt' },
        { id: 'missingProps', op: 'properties', container: 'surface', blob: 'nope.txt' },
        { id: 'noContainer', op: 'upload', container: 'no-such-container', blob: 'x.txt', content: 'x' },
      ]);
      okStep(run, 'container');
      const up = okStep(run, 'upload');
      assert.equal(up.status, 201);
      assert.match(up.etag, /^"0x[0-9A-F]+"$/);
      assert.equal(up.contentMD5, createHash('md5').update(content, 'utf8').digest('base64'));
      assert.equal(up.requestServerEncrypted, true);

      const whole = okStep(run, 'download');
      assert.equal(whole.status, 200);
      assert.equal(whole.text, content);
      assert.equal(whole.contentLength, content.length);
      assert.equal(whole.contentRange, null);
      assert.equal(whole.contentType, 'text/plain; charset=utf-8');
      assert.equal(whole.cacheControl, 'no-cache');
      assert.equal(whole.contentDisposition, 'attachment; filename=readme.txt');
      assert.equal(whole.contentLanguage, 'en-US');
      assert.deepEqual(whole.metadata, { owner: 'admin', purpose: 'test' });
      assert.equal(whole.blobType, 'BlockBlob');
      assert.equal(whole.etag, up.etag);
      assert.equal(whole.contentMD5, up.contentMD5);

      const ranged = okStep(run, 'ranged');
      assert.equal(ranged.status, 206);
      assert.equal(ranged.text, 'blob');
      assert.equal(ranged.contentRange, `bytes 7-10/${content.length}`);
      assert.equal(ranged.contentLength, 4);
      const open = okStep(run, 'rangedOpen');
      assert.equal(open.status, 206);
      assert.equal(open.text, 'world');
      assert.equal(open.contentRange, `bytes 12-16/${content.length}`);
      failedStep(run, 'rangedPastEnd', 416, 'InvalidRange');
      const buf = okStep(run, 'toBuffer');
      assert.equal(buf.length, content.length);
      assert.equal(buf.text, content);

      const props = okStep(run, 'props');
      assert.equal(props.status, 200);
      assert.equal(props.contentLength, content.length);
      assert.equal(props.contentType, 'text/plain; charset=utf-8');
      assert.equal(props.contentMD5, up.contentMD5);
      assert.equal(props.blobType, 'BlockBlob');
      assert.equal(props.cacheControl, 'no-cache');
      assert.deepEqual(props.metadata, { owner: 'admin', purpose: 'test' });
      assert.equal(props.etag, up.etag);
      assert.ok(Math.abs(Date.parse(props.createdOn) - Date.now()) < 300_000, props.createdOn);
      assert.equal(props.isServerEncrypted, true);

      const setMeta = okStep(run, 'setMeta');
      assert.equal(setMeta.status, 200);
      assert.notEqual(setMeta.etag, up.etag);
      const props2 = okStep(run, 'props2');
      assert.deepEqual(props2.metadata, { reviewed: 'yes' }, 'set metadata replaces it all');
      assert.equal(props2.etag, setMeta.etag);
      assert.equal(props2.contentType, 'text/plain; charset=utf-8', 'metadata leaves the headers alone');

      const setHeaders = okStep(run, 'setHeaders');
      assert.equal(setHeaders.status, 200);
      const props3 = okStep(run, 'props3');
      assert.equal(props3.contentType, 'application/json');
      assert.equal(props3.cacheControl, 'max-age=60');
      // Set Blob Properties replaces every content header; the ones not sent are cleared.
      assert.equal(props3.contentDisposition, null);
      assert.equal(props3.contentLanguage, null);
      assert.deepEqual(props3.metadata, { reviewed: 'yes' }, 'headers leave the metadata alone');
      assert.equal(props3.contentLength, content.length);
      assert.equal(props3.etag, setHeaders.etag);

      failedStep(run, 'missing', 404, 'BlobNotFound');
      failedStep(run, 'missingProps', 404);
      failedStep(run, 'noContainer', 404, 'ContainerNotFound');
    });

    it('listing: flat with prefix and metadata, by hierarchy with "/", paging with maxPageSize', async () => {
      const names = ['docs/a.txt', 'docs/b.txt', 'docs/sub/c.txt', 'img/x.png', 'root.txt', 'zeta.txt'];
      const run = await asAdmin('blobsdk', [
        { id: 'container', op: 'createContainer', container: 'listing' },
        ...names.map((name, i) => ({ id: `put${i}`, op: 'upload', container: 'listing', blob: name, content: `content of ${name}`, options: { metadata: { index: String(i) }, blobHTTPHeaders: { blobContentType: 'text/plain' } } })),
        { id: 'all', op: 'listFlat', container: 'listing' },
        { id: 'docs', op: 'listFlat', container: 'listing', prefix: 'docs/', includeMetadata: true },
        { id: 'noMeta', op: 'listFlat', container: 'listing', prefix: 'docs/' },
        { id: 'top', op: 'listHierarchy', container: 'listing', delimiter: '/' },
        { id: 'underDocs', op: 'listHierarchy', container: 'listing', delimiter: '/', prefix: 'docs/' },
        { id: 'paged', op: 'listFlat', container: 'listing', maxPageSize: 2 },
        { id: 'noContainer', op: 'listFlat', container: 'no-such-container' },
      ]);
      okStep(run, 'container');
      const all = okStep(run, 'all').pages.flat();
      assert.deepEqual(all.map((b) => b.name), names);
      const readme = all.find((b) => b.name === 'docs/a.txt');
      assert.equal(readme.contentLength, 'content of docs/a.txt'.length);
      assert.equal(readme.contentType, 'text/plain');
      assert.equal(readme.blobType, 'BlockBlob');
      assert.equal(readme.metadata, null, 'no metadata unless asked');

      const docs = okStep(run, 'docs').pages.flat();
      assert.deepEqual(docs.map((b) => b.name), ['docs/a.txt', 'docs/b.txt', 'docs/sub/c.txt']);
      assert.deepEqual(docs.map((b) => b.metadata), [{ index: '0' }, { index: '1' }, { index: '2' }]);
      assert.deepEqual(okStep(run, 'noMeta').pages.flat().map((b) => b.metadata), [null, null, null]);

      assert.deepEqual(okStep(run, 'top'), { prefixes: ['docs/', 'img/'], blobs: ['root.txt', 'zeta.txt'] });
      assert.deepEqual(okStep(run, 'underDocs'), { prefixes: ['docs/sub/'], blobs: ['docs/a.txt', 'docs/b.txt'] });

      const { pages } = okStep(run, 'paged');
      assert.equal(pages.length, 3, JSON.stringify(pages));
      for (const p of pages) assert.equal(p.length, 2, JSON.stringify(pages));
      assert.deepEqual(pages.flat().map((b) => b.name), names);
      failedStep(run, 'noContainer', 404, 'ContainerNotFound');
    });

    it('blocks: uploadData in small blocks, stageBlock + commitBlockList in any order', async () => {
      const id = (n) => Buffer.from(`block-${String(n).padStart(4, '0')}`).toString('base64');
      const run = await asAdmin('blobsdk', [
        { id: 'container', op: 'createContainer', container: 'blocks' },
        { id: 'uploadData', op: 'uploadData', container: 'blocks', blob: 'big.bin', size: 10_000, blockSize: 4096, maxSingleShotSize: 4096 },
        { id: 'props', op: 'properties', container: 'blocks', blob: 'big.bin' },
        { id: 'readBig', op: 'downloadToBuffer', container: 'blocks', blob: 'big.bin', blockSize: 3000 },
        { id: 'stage1', op: 'stageBlock', container: 'blocks', blob: 'staged.txt', blockId: id(1), content: 'first ' },
        { id: 'stage2', op: 'stageBlock', container: 'blocks', blob: 'staged.txt', blockId: id(2), content: 'second ' },
        { id: 'stage3', op: 'stageBlock', container: 'blocks', blob: 'staged.txt', blockId: id(3), content: 'third' },
        { id: 'notYet', op: 'exists', container: 'blocks', blob: 'staged.txt' },
        { id: 'commit', op: 'commitBlockList', container: 'blocks', blob: 'staged.txt', blockIds: [id(2), id(1), id(3)], options: { metadata: { by: 'blocks' }, blobHTTPHeaders: { blobContentType: 'text/plain' } } },
        { id: 'read', op: 'download', container: 'blocks', blob: 'staged.txt' },
        { id: 'commitUnknown', op: 'commitBlockList', container: 'blocks', blob: 'other.txt', blockIds: [id(9)] },
      ]);
      okStep(run, 'container');
      const data = okStep(run, 'uploadData');
      const props = okStep(run, 'props');
      assert.equal(props.contentLength, 10_000);
      const big = okStep(run, 'readBig');
      assert.equal(big.length, 10_000);
      assert.equal(big.sha256, data.sha256, 'the committed blocks, in order');
      for (const n of [1, 2, 3]) assert.equal(okStep(run, `stage${n}`).status, 201);
      assert.equal(okStep(run, 'notYet'), false, 'staged blocks are not a blob');
      assert.equal(okStep(run, 'commit').status, 201);
      const read = okStep(run, 'read');
      assert.equal(read.text, 'second first third');
      assert.deepEqual(read.metadata, { by: 'blocks' });
      assert.equal(read.contentType, 'text/plain');
      failedStep(run, 'commitUnknown', 400, 'InvalidBlockList');
    });

    it('conditions: ifNoneMatch * (409 BlobAlreadyExists), ifMatch (412 on a wrong ETag), delete 202', async () => {
      const run = await asAdmin('blobsdk', [
        { id: 'container', op: 'createContainer', container: 'cond' },
        { id: 'first', op: 'upload', container: 'cond', blob: 'c.txt', content: 'v1', options: { conditions: { ifNoneMatch: '*' } } },
        { id: 'noOverwrite', op: 'upload', container: 'cond', blob: 'c.txt', content: 'v2', options: { conditions: { ifNoneMatch: '*' } } },
        { id: 'wrongEtag', op: 'upload', container: 'cond', blob: 'c.txt', content: 'v2', options: { conditions: { ifMatch: '"0x8DEADBEEF000000"' } } },
        { id: 'rightEtag', op: 'upload', container: 'cond', blob: 'c.txt', content: 'v3', options: { conditions: { ifMatch: { $from: 'first', path: 'etag' } } } },
        { id: 'read', op: 'download', container: 'cond', blob: 'c.txt' },
        { id: 'metaWrongEtag', op: 'setMetadata', container: 'cond', blob: 'c.txt', metadata: { a: 'b' }, options: { conditions: { ifMatch: { $from: 'first', path: 'etag' } } } },
        { id: 'deleteWrongEtag', op: 'delete', container: 'cond', blob: 'c.txt', options: { conditions: { ifMatch: '"0x8DEADBEEF000000"' } } },
        { id: 'delete', op: 'delete', container: 'cond', blob: 'c.txt' },
        { id: 'exists', op: 'exists', container: 'cond', blob: 'c.txt' },
        { id: 'readGone', op: 'download', container: 'cond', blob: 'c.txt' },
        { id: 'deleteGone', op: 'delete', container: 'cond', blob: 'c.txt' },
        { id: 'odd', op: 'upload', container: 'cond', blob: 'dir with space/ünï cödé+%.txt', content: 'odd name' },
        { id: 'oddRead', op: 'download', container: 'cond', blob: 'dir with space/ünï cödé+%.txt' },
        { id: 'oddList', op: 'listFlat', container: 'cond', prefix: 'dir with' },
        { id: 'oddNotModified', op: 'download', container: 'cond', blob: 'dir with space/ünï cödé+%.txt', options: { conditions: { ifNoneMatch: { $from: 'odd', path: 'etag' } } } },
        { id: 'deleteNoContainer', op: 'delete', container: 'no-such-container', blob: 'c.txt' },
        { id: 'readNoContainer', op: 'download', container: 'no-such-container', blob: 'c.txt' },
      ]);
      okStep(run, 'container');
      const first = okStep(run, 'first');
      assert.equal(first.status, 201);
      failedStep(run, 'noOverwrite', 409, 'BlobAlreadyExists');
      failedStep(run, 'wrongEtag', 412, 'ConditionNotMet');
      const right = okStep(run, 'rightEtag');
      assert.equal(right.status, 201);
      assert.notEqual(right.etag, first.etag);
      assert.equal(okStep(run, 'read').text, 'v3');
      failedStep(run, 'metaWrongEtag', 412, 'ConditionNotMet');
      failedStep(run, 'deleteWrongEtag', 412, 'ConditionNotMet');
      assert.equal(okStep(run, 'delete').status, 202);
      assert.equal(okStep(run, 'exists'), false);
      failedStep(run, 'readGone', 404, 'BlobNotFound');
      failedStep(run, 'deleteGone', 404, 'BlobNotFound');
      assert.equal(okStep(run, 'odd').status, 201);
      assert.equal(okStep(run, 'oddRead').text, 'odd name');
      assert.deepEqual(okStep(run, 'oddList').pages.flat().map((b) => b.name), ['dir with space/ünï cödé+%.txt']);
      failedStep(run, 'oddNotModified', 304);
      // Azure answers blob operations in a container that does not exist with ContainerNotFound.
      failedStep(run, 'deleteNoContainer', 404, 'ContainerNotFound');
      failedStep(run, 'readNoContainer', 404, 'ContainerNotFound');
    });
  });

  // ---- authentication and authorization negatives over raw HTTPS --------------------------------

  describe('negatives over raw HTTPS through the front door', () => {
    before(async () => {
      const run = await withKey('blobsdk', [
        { id: 'container', op: 'createContainer', container: 'private' },
        { id: 'upload', op: 'upload', container: 'private', blob: 'secret.txt', content: 'top secret' },
      ]);
      okStep(run, 'container');
      okStep(run, 'upload');
    });

    it('a storage token works; a token for another audience gets 401 InvalidAuthenticationInfo with the challenge', async () => {
      const good = await blobRequest('blobsdk', 'GET', '/private/secret.txt', {
        headers: { Authorization: `Bearer ${await storageToken()}`, 'x-ms-version': X_MS_VERSION },
      });
      assert.equal(good.status, 200, good.text);
      assert.equal(good.text, 'top secret');
      assert.equal(good.headers['x-ms-version'], X_MS_VERSION);
      for (const resource of [arm.ARM, aad.VAULT]) {
        const r = await blobRequest('blobsdk', 'GET', '/private/secret.txt', {
          headers: { Authorization: `Bearer ${await storageToken(resource)}`, 'x-ms-version': X_MS_VERSION },
        });
        assertStorageError(r, 401, 'InvalidAuthenticationInfo');
        assert.equal(r.headers['www-authenticate'], challenge(), resource);
      }
    });

    it('no token on a private container: 401 NoAuthenticationInformation and the exact challenge', async () => {
      for (const path of ['/private/secret.txt', '/private?restype=container&comp=list', '/private/missing.txt']) {
        const r = await blobRequest('blobsdk', 'GET', path, { headers: { 'x-ms-version': X_MS_VERSION } });
        assertStorageError(r, 401, 'NoAuthenticationInformation');
        assert.equal(r.headers['www-authenticate'], challenge(), path);
      }
      const put = await blobRequest('blobsdk', 'PUT', '/private/new.txt', {
        headers: { 'x-ms-version': X_MS_VERSION, 'x-ms-blob-type': 'BlockBlob' }, body: 'x',
      });
      assertStorageError(put, 401, 'NoAuthenticationInformation');
    });

    it('Shared Key: a correct signature reads; a wrong one gets 403 AuthenticationFailed', async () => {
      const path = '/private/secret.txt';
      const good = await blobRequest('blobsdk', 'GET', path, { headers: sharedKeyHeaders('blobsdk', keys.blobsdk, 'GET', path) });
      assert.equal(good.status, 200, good.text);
      assert.equal(good.text, 'top secret');
      const wrongKey = Buffer.alloc(64, 7).toString('base64');
      const bad = await blobRequest('blobsdk', 'GET', path, { headers: sharedKeyHeaders('blobsdk', wrongKey, 'GET', path) });
      assertStorageError(bad, 403, 'AuthenticationFailed');
      // Signed for another path than the one requested.
      const moved = await blobRequest('blobsdk', 'GET', path, { headers: sharedKeyHeaders('blobsdk', keys.blobsdk, 'GET', '/private/other.txt') });
      assertStorageError(moved, 403, 'AuthenticationFailed');
    });

    it('Shared Key on an account with allowSharedKeyAccess false: 403 KeyBasedAuthenticationNotPermitted; bearer still works', async () => {
      const sdk = await withKey('blobnokey', [{ id: 'create', op: 'createContainer', container: 'nokey' }]);
      failedStep(sdk, 'create', 403, 'KeyBasedAuthenticationNotPermitted');
      const path = '/nokey?restype=container';
      const raw = await blobRequest('blobnokey', 'PUT', path, { headers: sharedKeyHeaders('blobnokey', keys.blobnokey, 'PUT', path, { 'Content-Length': '0' }), body: '' });
      assertStorageError(raw, 403, 'KeyBasedAuthenticationNotPermitted');
      const bearer = await asAdmin('blobnokey', [{ id: 'create', op: 'createContainer', container: 'nokey' }]);
      assert.equal(okStep(bearer, 'create').status, 201);
    });

    it('anonymous reads: a "blob" container serves blobs but no listing; a "container" one both; never writes', async () => {
      const setup = await withKey('blobpublic', [
        { id: 'blobLevel', op: 'createContainer', container: 'pub-blob', options: { access: 'blob' } },
        { id: 'containerLevel', op: 'createContainer', container: 'pub-cont', options: { access: 'container' } },
        { id: 'private', op: 'createContainer', container: 'priv' },
        { id: 'up1', op: 'upload', container: 'pub-blob', blob: 'a.txt', content: 'public a' },
        { id: 'up2', op: 'upload', container: 'pub-cont', blob: 'b.txt', content: 'public b' },
        { id: 'up3', op: 'upload', container: 'priv', blob: 'c.txt', content: 'private c' },
        { id: 'props', op: 'containerProperties', container: 'pub-cont' },
      ]);
      for (const id of ['blobLevel', 'containerLevel', 'private', 'up1', 'up2', 'up3']) okStep(setup, id);
      assert.equal(okStep(setup, 'props').blobPublicAccess, 'container');
      const anon = (method, path, extra = {}) => blobRequest('blobpublic', method, path, { headers: { 'x-ms-version': X_MS_VERSION, ...extra.headers }, body: extra.body });

      const a = await anon('GET', '/pub-blob/a.txt');
      assert.equal(a.status, 200, a.text);
      assert.equal(a.text, 'public a');
      const listBlobLevel = await anon('GET', '/pub-blob?restype=container&comp=list');
      assertStorageError(listBlobLevel, 401, 'NoAuthenticationInformation');
      const b = await anon('GET', '/pub-cont/b.txt');
      assert.equal(b.status, 200, b.text);
      assert.equal(b.text, 'public b');
      const list = await anon('GET', '/pub-cont?restype=container&comp=list');
      assert.equal(list.status, 200, list.text);
      assert.match(list.text, /<Blob><Name>b\.txt<\/Name>/);
      const priv = await anon('GET', '/priv/c.txt');
      assertStorageError(priv, 401, 'NoAuthenticationInformation');
      const write = await anon('PUT', '/pub-cont/new.txt', { headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'nope' });
      assertStorageError(write, 401, 'NoAuthenticationInformation');
      const del = await anon('DELETE', '/pub-cont/b.txt');
      assertStorageError(del, 401, 'NoAuthenticationInformation');

      // The SDK with no credential reads the same way.
      const sdk = await blobClient({
        credential: 'anonymous', accountUrl: accountUrl('blobpublic'), steps: [
          { id: 'read', op: 'download', container: 'pub-blob', blob: 'a.txt' },
          { id: 'list', op: 'listFlat', container: 'pub-cont' },
          { id: 'listBlobLevel', op: 'listFlat', container: 'pub-blob' },
          { id: 'upload', op: 'upload', container: 'pub-cont', blob: 'x.txt', content: 'x' },
        ],
      }, adminEnv);
      assert.equal(okStep(sdk, 'read').text, 'public a');
      assert.deepEqual(okStep(sdk, 'list').pages.flat().map((x) => x.name), ['b.txt']);
      failedStep(sdk, 'listBlobLevel', 401, 'NoAuthenticationInformation');
      failedStep(sdk, 'upload', 401, 'NoAuthenticationInformation');
    });

    it('anonymous: a "blob" container does not show its properties or metadata', async () => {
      // Azure: with public access level "blob", "container data is not available" anonymously;
      // Get Container Properties/Metadata need level "container".
      const r = await blobRequest('blobpublic', 'GET', '/pub-blob?restype=container', { headers: { 'x-ms-version': X_MS_VERSION } });
      assert.notEqual(r.status, 200, `anonymous container properties of a "blob" container: ${r.status} ${JSON.stringify(r.headers)}`);
      assert.ok(r.status === 401 || r.status === 404, `${r.status} ${r.text}`);
      const c = await blobRequest('blobpublic', 'GET', '/pub-cont?restype=container', { headers: { 'x-ms-version': X_MS_VERSION } });
      assert.equal(c.status, 200, c.text);
    });

    it('anonymous reads after the account stops allowing public access: 409 PublicAccessNotPermitted', async () => {
      await createAccount('blobwaspublic', { allowBlobPublicAccess: true });
      const setup = await withKey('blobwaspublic', [
        { id: 'container', op: 'createContainer', container: 'was-public', options: { access: 'container' } },
        { id: 'upload', op: 'upload', container: 'was-public', blob: 'a.txt', content: 'a' },
      ]);
      okStep(setup, 'container');
      okStep(setup, 'upload');
      const before = await blobRequest('blobwaspublic', 'GET', '/was-public/a.txt', { headers: { 'x-ms-version': X_MS_VERSION } });
      assert.equal(before.status, 200, before.text);
      await ok('PATCH', `${accountId('blobwaspublic')}?${ST}`, { properties: { allowBlobPublicAccess: false } });
      // Azure: "Public access is not permitted on this storage account." (409) for anonymous
      // requests once the account disallows anonymous access, whatever the container's level.
      const r = await blobRequest('blobwaspublic', 'GET', '/was-public/a.txt', { headers: { 'x-ms-version': X_MS_VERSION } });
      assertStorageError(r, 409, 'PublicAccessNotPermitted');
    });

    it('public access on an account that does not allow it: 409 PublicAccessNotPermitted', async () => {
      const run = await asAdmin('blobsdk', [{ id: 'create', op: 'createContainer', container: 'wants-public', options: { access: 'blob' } }]);
      failedStep(run, 'create', 409, 'PublicAccessNotPermitted');
    });
  });

  // ---- user delegation SAS ----------------------------------------------------------------------

  describe('user delegation SAS: keys from getUserDelegationKey, the signer\'s roles checked at use', () => {
    const sasSteps = (permissions, extra = []) => [
      { id: 'key', op: 'userDelegationKey', minutes: 60 },
      { id: 'sas', op: 'userDelegationSas', key: { $from: 'key', path: '' }, permissions, minutes: 30, container: 'delegated', blob: 'd.txt' },
      { id: 'read', op: 'sasDownload', sas: { $from: 'sas', path: '' }, container: 'delegated', blob: 'd.txt' },
      { id: 'write', op: 'sasUpload', sas: { $from: 'sas', path: '' }, container: 'delegated', blob: 'd.txt', content: 'overwritten' },
      ...extra,
    ];

    before(async () => {
      const setup = await asAdmin('blobsdk', [
        { id: 'container', op: 'createIfNotExists', container: 'delegated' },
        { id: 'upload', op: 'upload', container: 'delegated', blob: 'd.txt', content: 'delegated' },
      ]);
      okStep(setup, 'upload');
    });

    it('the admin (Storage Blob Data Owner) signs a read-only SAS: it reads and cannot write', async () => {
      const run = await asAdmin('blobsdk', sasSteps('r'));
      const key = okStep(run, 'key');
      assert.equal(key.signedObjectId, adminOid);
      assert.equal(key.signedTenantId, info.tenantId);
      assert.equal(key.signedService, 'b');
      assert.match(key.value, /^[A-Za-z0-9+/]{43}=$/);
      const sas = new URLSearchParams(okStep(run, 'sas'));
      assert.equal(sas.get('skoid'), adminOid);
      assert.equal(okStep(run, 'read'), 'delegated');
      failedStep(run, 'write', 403, 'AuthorizationPermissionMismatch');
    });

    it('the VM with only Storage Blob Delegator gets a key, but its SAS reads only once it may read', async () => {
      const refused = await asVm('blobsdk', [{ id: 'key', op: 'userDelegationKey', minutes: 60 }]);
      failedStep(refused, 'key', 403, 'AuthorizationPermissionMismatch');
      await assignRole(accountId('blobsdk'), 'Storage Blob Delegator', vm.identity.principalId);
      const run = await asVm('blobsdk', [
        { id: 'key', op: 'userDelegationKey', minutes: 60 },
        { id: 'sas', op: 'userDelegationSas', key: { $from: 'key', path: '' }, permissions: 'r', minutes: 30, container: 'delegated', blob: 'd.txt' },
      ]);
      assert.equal(okStep(run, 'key').signedObjectId, vm.identity.principalId);
      const sas = okStep(run, 'sas');
      const use = () => asAdmin('blobsdk', [{ id: 'read', op: 'sasDownload', sas, container: 'delegated', blob: 'd.txt' }]);
      failedStep(await use(), 'read', 403, 'AuthorizationPermissionMismatch');
      const entries = await arm.audit(s, admin, { principal: vm.identity.principalId, denied: true, top: 20 });
      assert.ok(entries.some((e) => e.module === 'storage' && e.action === `${BLOBS}/read`), JSON.stringify(entries));
      await assignRole(`${accountId('blobsdk')}/blobServices/default/containers/delegated`, 'Storage Blob Data Reader', vm.identity.principalId);
      assert.equal(okStep(await use(), 'read'), 'delegated');
    });

    it('works on an account that forbids Shared Key; a changed field or a Shared Key caller is refused', async () => {
      const nokey = await asAdmin('blobnokey', [
        { id: 'container', op: 'createIfNotExists', container: 'delegated' },
        { id: 'upload', op: 'upload', container: 'delegated', blob: 'd.txt', content: 'no keys here' },
        ...sasSteps('rw').slice(0, 3),
      ]);
      assert.equal(okStep(nokey, 'read'), 'no keys here');

      const run = await asAdmin('blobsdk', sasSteps('r').slice(0, 2));
      const sas = new URLSearchParams(okStep(run, 'sas'));
      const get = (params) => blobRequest('blobsdk', 'GET', `/delegated/d.txt?${params}`, { headers: { 'x-ms-version': X_MS_VERSION } });
      assert.equal((await get(sas)).status, 200);
      const forged = new URLSearchParams(sas);
      forged.set('skoid', vm.identity.principalId); // claim another signer
      assertStorageError(await get(forged), 403, 'AuthenticationFailed');
      const wider = new URLSearchParams(sas);
      wider.set('sp', 'rw');
      assertStorageError(await get(wider), 403, 'AuthenticationFailed');
      // Another account does not take the key's SAS.
      const elsewhere = await blobRequest('blobseed', 'GET', `/delegated/d.txt?${sas}`, { headers: { 'x-ms-version': X_MS_VERSION } });
      assertStorageError(elsewhere, 403, 'AuthenticationFailed');

      const body = '<?xml version="1.0" encoding="utf-8"?><KeyInfo><Expiry>2099-01-01T00:00:00Z</Expiry></KeyInfo>';
      const path = '/?restype=service&comp=userdelegationkey';
      const byKey = await blobRequest('blobsdk', 'POST', path, {
        headers: sharedKeyHeaders('blobsdk', keys.blobsdk, 'POST', path, { 'Content-Length': String(body.length), 'Content-Type': 'application/xml' }), body,
      });
      assertStorageError(byKey, 403, 'AuthenticationFailed');
      const token = await storageToken();
      const tooLong = await blobRequest('blobsdk', 'POST', path, { headers: { Authorization: `Bearer ${token}`, 'x-ms-version': X_MS_VERSION }, body });
      assertStorageError(tooLong, 400, 'InvalidXmlNodeValue');
      const noInfo = await blobRequest('blobsdk', 'POST', path, { headers: { Authorization: `Bearer ${token}`, 'x-ms-version': X_MS_VERSION }, body: '<Nothing/>' });
      assertStorageError(noInfo, 400, 'InvalidXmlDocument');
    });
  });
});


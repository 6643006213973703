// The Blob service with Shared Key and shared access signatures, path-style (https://127.0.0.1:<port>/<account>/…), with
// @azure/storage-blob in this process and raw HTTP for the edges: containers, block blobs in one
// shot and in blocks, ranges (206, clamped, 416), conditional requests, listings with prefix and
// delimiter, metadata and properties, and x-ms-version echoed. Bearer tokens, RBAC, anonymous
// access and the real clients' scenarios are in storage-blob-sdk.test.mjs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';

import {
  AccountSASPermissions, AccountSASResourceTypes, AnonymousCredential, AccountSASServices, BlobSASPermissions,
  BlobServiceClient, ContainerClient, ContainerSASPermissions, SASProtocol,
  StorageSharedKeyCredential, generateAccountSASQueryParameters, generateBlobSASQueryParameters,
} from '@azure/storage-blob';

import * as aad from './lib/aad.mjs';
import * as armLib from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';

const API = 'api-version=2023-05-01';

describe('Blob Storage with Shared Key', () => {
  let s, rg, ok, svc, base, key, ca, cred;

  before(async () => {
    ({ s, rg, ok } = await armLib.adminWorkspace('blob-rg'));
    await ok('PUT', `${rg}/providers/Microsoft.Storage/storageAccounts/stblob1?${API}`,
      { location: 'westus', sku: { name: 'Standard_LRS' }, kind: 'StorageV2' });
    key = (await ok('POST', `${rg}/providers/Microsoft.Storage/storageAccounts/stblob1/listKeys?${API}`)).keys[0].value;
    base = `https://127.0.0.1:${new URL(s.urls.storage).port}/stblob1`;
    ca = fs.readFileSync(aad.context(s).env.NODE_EXTRA_CA_CERTS);
    cred = new StorageSharedKeyCredential('stblob1', key);
    svc = new BlobServiceClient(base, cred, { tlsOptions: { ca } });
  });
  after(() => az.finish(s));

  it('containers: names checked, 201 then 409, properties and metadata, listed', async () => {
    const bad = svc.getContainerClient('ab');
    await assert.rejects(bad.create(), (e) => e.statusCode === 400 && e.code === 'InvalidResourceName');
    const c = svc.getContainerClient('docs');
    assert.equal((await c.create({ metadata: { team: 'a' } }))._response.status, 201);
    await assert.rejects(c.create(), (e) => e.statusCode === 409 && e.code === 'ContainerAlreadyExists');
    const props = await c.getProperties();
    assert.deepEqual(props.metadata, { team: 'a' });
    await c.setMetadata({ team: 'b' });
    assert.deepEqual((await c.getProperties()).metadata, { team: 'b' });
    const names = [];
    for await (const x of svc.listContainers({ includeMetadata: true })) names.push([x.name, x.metadata]);
    assert.deepEqual(names, [['docs', { team: 'b' }]]);
  });

  it('a blob in one shot: headers, metadata, MD5, whole and ranged reads', async () => {
    const b = svc.getContainerClient('docs').getBlockBlobClient('dir/hello.txt');
    const up = await b.upload('hello world!!', 13, { blobHTTPHeaders: { blobContentType: 'text/plain', blobCacheControl: 'no-cache' }, metadata: { k: 'v' } });
    assert.equal(up._response.status, 201);
    assert.match(up.etag, /^"0x8D[0-9A-F]+"$/);
    assert.ok(up.contentMD5);
    const whole = await b.downloadToBuffer();
    assert.equal(whole.toString(), 'hello world!!');
    const p = await b.getProperties();
    assert.equal(p.contentType, 'text/plain');
    assert.equal(p.cacheControl, 'no-cache');
    assert.equal(p.contentLength, 13);
    assert.equal(p.blobType, 'BlockBlob');
    assert.deepEqual(p.metadata, { k: 'v' });
    const part = await b.download(6, 5);
    assert.equal(part._response.status, 206);
    assert.equal(part.contentRange, 'bytes 6-10/13');
  });

  it('ranges past the end are clamped; a range that starts past it is 416', async () => {
    const url = `${base}/docs/dir/hello.txt`;
    const b = svc.getContainerClient('docs').getBlockBlobClient('dir/hello.txt');
    const clamped = await b.download(0, 33554432);
    assert.equal(clamped.contentRange, 'bytes 0-12/13');
    await assert.rejects(b.download(20, 5), (e) => e.statusCode === 416 && e.code === 'InvalidRange');
    assert.ok(url);
  });

  it('blocks: staged, committed in order, the blob is exactly them', async () => {
    const c = svc.getContainerClient('docs');
    const data = Buffer.alloc(2.5 * 1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    const b = c.getBlockBlobClient('big.bin');
    await b.uploadData(data, { blockSize: 1024 * 1024, maxSingleShotSize: 512 * 1024 });
    assert.ok((await b.downloadToBuffer()).equals(data));
    const ids = ['YQ==', 'Yg=='];
    await b.stageBlock(ids[0], 'first-', 6);
    await b.stageBlock(ids[1], 'second', 6);
    await b.commitBlockList([ids[1], ids[0]]);
    assert.equal((await b.downloadToBuffer()).toString(), 'secondfirst-');
    await assert.rejects(b.commitBlockList(['Yw==']), (e) => e.statusCode === 400 && e.code === 'InvalidBlockList');
  });

  it('conditional requests: If-None-Match * (409), a stale If-Match (412), If-None-Match on read (304)', async () => {
    const b = svc.getContainerClient('docs').getBlockBlobClient('cond.txt');
    const first = await b.upload('one', 3, { conditions: { ifNoneMatch: '*' } });
    await assert.rejects(b.upload('two', 3, { conditions: { ifNoneMatch: '*' } }), (e) => e.statusCode === 409 && e.code === 'BlobAlreadyExists');
    await assert.rejects(b.upload('two', 3, { conditions: { ifMatch: '"0x8D000000000000"' } }), (e) => e.statusCode === 412 && e.code === 'ConditionNotMet');
    await b.upload('two', 3, { conditions: { ifMatch: first.etag } });
    const current = await b.getProperties();
    await assert.rejects(b.download(0, undefined, { conditions: { ifNoneMatch: current.etag } }), (e) => e.statusCode === 304);
  });

  it('listings: flat with prefix and metadata, by hierarchy, paged', async () => {
    const c = svc.getContainerClient('docs');
    for (const n of ['dir/a.txt', 'dir/sub/b.txt', 'top.txt']) await c.getBlockBlobClient(n).upload('x', 1);
    const flat = [];
    for await (const x of c.listBlobsFlat({ prefix: 'dir/', includeMetadata: true })) flat.push(x.name);
    assert.deepEqual(flat, ['dir/a.txt', 'dir/hello.txt', 'dir/sub/b.txt']);
    const tree = [];
    for await (const x of c.listBlobsByHierarchy('/')) tree.push(`${x.kind}:${x.name}`);
    // The SDK yields each page's prefixes before its blobs.
    assert.deepEqual(tree, ['prefix:dir/', 'blob:big.bin', 'blob:cond.txt', 'blob:top.txt']);
    const pages = [];
    for await (const page of c.listBlobsFlat().byPage({ maxPageSize: 2 })) pages.push(page.segment.blobItems.length);
    assert.deepEqual(pages, [2, 2, 2]);
  });

  it('properties and metadata change the ETag; delete is 202; deleting the container takes its blobs', async () => {
    const c = svc.getContainerClient('docs');
    const b = c.getBlockBlobClient('top.txt');
    const before = await b.getProperties();
    await b.setMetadata({ x: '1' });
    await b.setHTTPHeaders({ blobContentType: 'application/json' });
    const after = await b.getProperties();
    assert.notEqual(after.etag, before.etag);
    assert.equal(after.contentType, 'application/json');
    assert.deepEqual(after.metadata, { x: '1' });
    assert.equal((await b.delete())._response.status, 202);
    await assert.rejects(b.getProperties(), (e) => e.statusCode === 404);
    assert.equal((await c.delete())._response.status, 202);
    await c.create();
    const left = [];
    for await (const x of c.listBlobsFlat()) left.push(x.name);
    assert.deepEqual(left, []);
  });

  it('leases: a leased blob is written only with its lease; renew, change, break, release', async () => {
    const c = svc.getContainerClient('leased');
    await c.create();
    const b = c.getBlockBlobClient('held.txt');
    await b.upload('v1', 2);
    const lease = b.getBlobLeaseClient();
    const acquired = await lease.acquireLease(15);
    assert.equal(acquired._response.status, 201);
    const p = await b.getProperties();
    assert.deepEqual([p.leaseStatus, p.leaseState, p.leaseDuration], ['locked', 'leased', 'fixed']);
    await assert.rejects(b.upload('v2', 2), (e) => e.statusCode === 412 && e.code === 'LeaseIdMissing');
    await assert.rejects(b.upload('v2', 2, { conditions: { leaseId: '00000000-0000-0000-0000-000000000000' } }),
      (e) => e.statusCode === 412 && e.code === 'LeaseIdMismatchWithBlobOperation');
    await b.upload('v2', 2, { conditions: { leaseId: lease.leaseId } });
    assert.equal((await b.getProperties()).leaseState, 'leased', 'an overwrite keeps the lease');
    await assert.rejects(b.getBlobLeaseClient().acquireLease(15), (e) => e.statusCode === 409 && e.code === 'LeaseAlreadyPresent');
    await lease.renewLease();
    const next = '11111111-1111-1111-1111-111111111111';
    await lease.changeLease(next);
    assert.equal(lease.leaseId, next);
    await assert.rejects(b.delete(), (e) => e.statusCode === 412);
    const broken = await lease.breakLease(0);
    assert.equal(broken._response.status, 202);
    assert.equal((await b.getProperties()).leaseState, 'broken');
    await b.upload('v3', 2);
    const again = b.getBlobLeaseClient();
    await again.acquireLease(-1);
    assert.equal((await b.getProperties()).leaseDuration, 'infinite');
    await again.releaseLease();
    assert.equal((await b.getProperties()).leaseState, 'available');
    await assert.rejects(b.upload('v4', 2, { conditions: { leaseId: again.leaseId } }), (e) => e.statusCode === 412 && e.code === 'LeaseNotPresentWithBlobOperation');

    const held = c.getBlobLeaseClient(); // a container's lease
    await held.acquireLease(-1);
    await assert.rejects(c.delete(), (e) => e.statusCode === 412 && e.code === 'LeaseIdMissing');
    assert.equal((await c.delete({ conditions: { leaseId: held.leaseId } }))._response.status, 202);
  });

  it('copy within the account: content, properties and metadata; a missing or foreign source is refused', async () => {
    const c = svc.getContainerClient('copies');
    await c.create();
    const from = c.getBlockBlobClient('from.txt');
    await from.upload('copy me', 7, { blobHTTPHeaders: { blobContentType: 'text/plain' }, metadata: { origin: 'a' } });
    const to = c.getBlockBlobClient('to.txt');
    const done = await (await to.beginCopyFromURL(from.url)).pollUntilDone();
    assert.equal(done.copyStatus, 'success');
    assert.equal((await to.downloadToBuffer()).toString(), 'copy me');
    const p = await to.getProperties();
    assert.equal(p.contentType, 'text/plain');
    assert.deepEqual(p.metadata, { origin: 'a' });
    await assert.rejects(async () => (await to.beginCopyFromURL(`${base}/copies/missing.txt`)).pollUntilDone(),
      (e) => e.statusCode === 404 && e.code === 'CannotVerifyCopySource');
    await assert.rejects(async () => (await to.beginCopyFromURL('https://elsewhere.blob.core.windows.net/c/b')).pollUntilDone(),
      (e) => e.statusCode === 400 && e.code === 'CannotVerifyCopySource');
  });

  describe('shared access signatures', () => {
    const hour = () => new Date(Date.now() + 3600e3);
    const sasContainer = (sas) => new ContainerClient(`${base}/sas?${sas}`, new AnonymousCredential(), { tlsOptions: { ca } });

    before(async () => {
      const c = svc.getContainerClient('sas');
      await c.create();
      await c.getBlockBlobClient('one.txt').upload('one', 3);
      await c.getBlockBlobClient('two.txt').upload('two', 3);
    });

    it('a container SAS with read and list: reads and lists, cannot write', async () => {
      const sas = generateBlobSASQueryParameters({ containerName: 'sas', permissions: ContainerSASPermissions.parse('rl'),
        expiresOn: hour(), protocol: SASProtocol.Https }, cred).toString();
      const c = sasContainer(sas);
      assert.equal((await c.getBlockBlobClient('one.txt').downloadToBuffer()).toString(), 'one');
      const names = [];
      for await (const x of c.listBlobsFlat()) names.push(x.name);
      assert.deepEqual(names, ['one.txt', 'two.txt']);
      await assert.rejects(c.getBlockBlobClient('new.txt').upload('x', 1), (e) => e.statusCode === 403 && e.code === 'AuthorizationPermissionMismatch');
    });

    it('a blob SAS covers its blob only; expired, tampered or address-bound SAS are refused', async () => {
      const one = generateBlobSASQueryParameters({ containerName: 'sas', blobName: 'one.txt', permissions: BlobSASPermissions.parse('r'), expiresOn: hour() }, cred).toString();
      const c = sasContainer(one);
      assert.equal((await c.getBlockBlobClient('one.txt').downloadToBuffer()).toString(), 'one');
      await assert.rejects(c.getBlockBlobClient('two.txt').downloadToBuffer(), (e) => e.statusCode === 403);
      const expired = generateBlobSASQueryParameters({ containerName: 'sas', permissions: ContainerSASPermissions.parse('r'), startsOn: new Date(Date.now() - 7200e3), expiresOn: new Date(Date.now() - 3600e3) }, cred).toString();
      // download() is a GET: a HEAD (downloadToBuffer's first request) carries no error body.
      await assert.rejects(sasContainer(expired).getBlockBlobClient('one.txt').download(), (e) => e.statusCode === 403 && e.code === 'AuthenticationFailed');
      const tampered = one.replace(/sp=r/, 'sp=rw');
      await assert.rejects(sasContainer(tampered).getBlockBlobClient('one.txt').download(), (e) => e.statusCode === 403 && e.code === 'AuthenticationFailed');
      const elsewhere = generateBlobSASQueryParameters({ containerName: 'sas', permissions: ContainerSASPermissions.parse('r'), expiresOn: hour(), ipRange: { start: '10.9.9.9' } }, cred).toString();
      await assert.rejects(sasContainer(elsewhere).getBlockBlobClient('one.txt').download(), (e) => e.statusCode === 403 && e.code === 'AuthorizationSourceIPMismatch');
    });

    it('an account SAS: its services, resource types and permissions decide', async () => {
      const sas = (srt, sp) => generateAccountSASQueryParameters({ services: AccountSASServices.parse('b').toString(),
        resourceTypes: AccountSASResourceTypes.parse(srt).toString(), permissions: AccountSASPermissions.parse(sp), expiresOn: hour() }, cred).toString();
      const full = new BlobServiceClient(`${base}?${sas('sco', 'rwlc')}`, new AnonymousCredential(), { tlsOptions: { ca } });
      await full.getContainerClient('by-sas').create();
      await full.getContainerClient('by-sas').getBlockBlobClient('b.txt').upload('bee', 3);
      const objectsOnly = new BlobServiceClient(`${base}?${sas('o', 'rwlc')}`, new AnonymousCredential(), { tlsOptions: { ca } });
      await assert.rejects(objectsOnly.getContainerClient('by-sas-2').create(), (e) => e.statusCode === 403 && e.code === 'AuthorizationResourceTypeMismatch');
      assert.equal((await objectsOnly.getContainerClient('by-sas').getBlockBlobClient('b.txt').downloadToBuffer()).toString(), 'bee');
      const readOnly = new BlobServiceClient(`${base}?${sas('sco', 'r')}`, new AnonymousCredential(), { tlsOptions: { ca } });
      await assert.rejects(readOnly.getContainerClient('by-sas').getBlockBlobClient('c.txt').upload('x', 1), (e) => e.statusCode === 403 && e.code === 'AuthorizationPermissionMismatch');
    });

    it('an account that disallows Shared Key refuses its SAS and its keys alike', async () => {
      await ok('PUT', `${rg}/providers/Microsoft.Storage/storageAccounts/stnokey1?${API}`,
        { location: 'westus', sku: { name: 'Standard_LRS' }, kind: 'StorageV2', properties: { allowSharedKeyAccess: false } });
      const k = (await ok('POST', `${rg}/providers/Microsoft.Storage/storageAccounts/stnokey1/listKeys?${API}`)).keys[0].value;
      const noKeyCred = new StorageSharedKeyCredential('stnokey1', k);
      const url = `https://127.0.0.1:${new URL(s.urls.storage).port}/stnokey1`;
      const viaKey = new BlobServiceClient(url, noKeyCred, { tlsOptions: { ca } });
      await assert.rejects(viaKey.getContainerClient('x01').create(), (e) => e.statusCode === 403 && e.code === 'KeyBasedAuthenticationNotPermitted');
      const sas = generateBlobSASQueryParameters({ containerName: 'x01', permissions: ContainerSASPermissions.parse('r'), expiresOn: hour() }, noKeyCred).toString();
      const viaSas = new ContainerClient(`${url}/x01?${sas}`, new AnonymousCredential(), { tlsOptions: { ca } });
      await assert.rejects(viaSas.getProperties(), (e) => e.statusCode === 403);
    });
  });

  it('x-ms-version is echoed; an unknown account is 404', async () => {
    const raw = (path, headers = {}) => s.request('storage', path, { headers });
    const echoed = await raw('/stblob1/docs?restype=container', { 'x-ms-version': '2019-02-02' });
    assert.equal(echoed.headers['x-ms-version'], '2019-02-02');
    const nobody = await raw('/nosuchacct/docs?restype=container');
    assert.equal(nobody.status, 404);
    assert.equal(nobody.headers['x-ms-error-code'], 'ResourceNotFound');
  });
});

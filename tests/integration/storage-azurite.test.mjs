// Standing in for Azurite: a project that uses the official emulator switches to azsim without a
// change. azsim listens in plain http on Azurite's blob port (10000, `--azurite-port`) and holds
// Azurite's development account, devstoreaccount1 with its published key, as a real storage
// account of the default subscription (resource group "development-storage"): ARM shows it and
// lists its keys. @azure/storage-blob runs in this process, as an application's tests would:
// `UseDevelopmentStorage=true`, Azurite's explicit connection string, a SAS signed with the
// well-known key, container ACLs with stored access policies (si=, changed and revoked after the
// SAS was issued) and public access. Negatives: a wrong key, a SAS naming no policy, one that
// repeats a policy's field, bad ACL bodies. Containers are the same through Resource Manager
// (blobServices/default/containers) and the data plane, and deleting a container or an account
// takes its blobs and, at the latest by the next start, their files.
//
// Port 10000 must be free on this machine (Azurite itself must not be running).
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  AnonymousCredential, BlobServiceClient, ContainerClient, StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
} from '@azure/storage-blob';

import * as arm from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';

const DEV_ACCOUNT = 'devstoreaccount1';
const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const ENDPOINT = `http://127.0.0.1:10000/${DEV_ACCOUNT}`;
const EXPLICIT = `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};BlobEndpoint=${ENDPOINT};`;
const noRetry = { retryOptions: { maxTries: 1 } };
const inHours = (h) => new Date(Date.now() + h * 3600_000);

/** Assert a RestError from the SDK: status and Storage error code. */
async function rejectsWith(promise, statusCode, code) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.statusCode, statusCode, `${err.statusCode} ${err.code} ${err.message}`);
    if (code) assert.equal(err.code ?? err.details?.errorCode, code, err.message);
    return true;
  });
}

describe('Azurite compatibility: the development account on port 10000', () => {
  let s, info, admin, sub, dir;
  const sasClient = (container, sas) => new ContainerClient(`${ENDPOINT}/${container}?${sas}`, new AnonymousCredential(), noRetry);

  before(async () => {
    dir = az.tempDir();
    s = await az.start({ dataDir: dir.dir, inMemory: false, ports: { azurite: 10000 } });
    info = JSON.parse(az.run(['info', '--json', '--data-dir', s.dataDir]).stdout);
    admin = (await arm.appToken(s, info.tenantId, info.clientId, info.clientSecret)).token;
    sub = `/subscriptions/${info.subscriptionId}`;
  });
  after(async () => {
    await az.finish(s);
    dir.cleanup();
  });

  it('listens in plain http on 10000 and serves UseDevelopmentStorage=true', async () => {
    assert.equal(s.urls.azurite, 'http://127.0.0.1:10000');
    const service = BlobServiceClient.fromConnectionString('UseDevelopmentStorage=true', noRetry);
    assert.equal(service.url, ENDPOINT);
    const container = service.getContainerClient('from-azurite');
    assert.equal((await container.create())._response.status, 201);
    const blob = container.getBlockBlobClient('dir/hello.txt');
    await blob.upload('hello, azurite', 14, { blobHTTPHeaders: { blobContentType: 'text/plain' } });
    assert.equal((await blob.downloadToBuffer()).toString(), 'hello, azurite');
    const props = await blob.getProperties();
    assert.equal(props.contentType, 'text/plain');
    assert.equal(props.contentLength, 14);
    const names = [];
    for await (const b of container.listBlobsFlat()) names.push(b.name);
    assert.deepEqual(names, ['dir/hello.txt']);
    const containers = [];
    for await (const c of service.listContainers()) containers.push(c.name);
    assert.ok(containers.includes('from-azurite'), containers.join());
    assert.equal((await blob.delete())._response.status, 202);
    assert.equal(await blob.exists(), false);
  });

  it('serves Azurite\'s explicit connection string; a wrong key is refused', async () => {
    const service = BlobServiceClient.fromConnectionString(EXPLICIT, noRetry);
    const container = service.getContainerClient('explicit');
    await container.createIfNotExists();
    await container.getBlockBlobClient('a.txt').upload('a', 1);
    assert.equal((await container.getBlobClient('a.txt').downloadToBuffer()).toString(), 'a');

    const wrongKey = Buffer.alloc(64, 7).toString('base64');
    const forged = new BlobServiceClient(ENDPOINT, new StorageSharedKeyCredential(DEV_ACCOUNT, wrongKey), noRetry);
    await rejectsWith(forged.getContainerClient('explicit').getBlobClient('a.txt').downloadToBuffer(), 403, 'AuthenticationFailed');
  });

  it('the development account is a storage account in ARM, its key1 the published key', async () => {
    const id = `${sub}/resourceGroups/development-storage/providers/Microsoft.Storage/storageAccounts/${DEV_ACCOUNT}`;
    const account = await arm.armRequest(s, admin, 'GET', `${id}?api-version=2023-05-01`);
    assert.equal(account.status, 200, account.text);
    const body = account.json();
    assert.equal(body.id, id);
    assert.equal(body.kind, 'StorageV2');
    assert.equal(body.properties.provisioningState, 'Succeeded');
    assert.equal(body.properties.allowSharedKeyAccess, true);
    assert.equal(body.properties.primaryEndpoints.blob, `https://${DEV_ACCOUNT}.blob.core.windows.net/`);
    const keys = await arm.armRequest(s, admin, 'POST', `${id}/listKeys?api-version=2023-05-01`);
    assert.equal(keys.status, 200, keys.text);
    assert.equal(keys.json().keys[0].value, DEV_KEY);
    assert.notEqual(keys.json().keys[1].value, DEV_KEY);
    const list = await arm.armRequest(s, admin, 'GET', `${sub}/providers/Microsoft.Storage/storageAccounts?api-version=2023-05-01`);
    assert.ok(list.json().value.some((a) => a.name === DEV_ACCOUNT), list.text);
  });

  it('the account is made once: a restart neither duplicates nor recreates it', async () => {
    const id = `${sub}/resourceGroups/development-storage/providers/Microsoft.Storage/storageAccounts/${DEV_ACCOUNT}`;
    const before = (await arm.armRequest(s, admin, 'GET', `${id}?api-version=2023-05-01`)).json();
    await az.stopClean(s);
    s = await az.start({ dataDir: dir.dir, inMemory: false, ports: { azurite: 10000 } });
    const again = (await arm.armRequest(s, admin, 'GET', `${id}?api-version=2023-05-01`)).json();
    assert.deepEqual(again, before);
    const service = BlobServiceClient.fromConnectionString('UseDevelopmentStorage=true', noRetry);
    assert.equal((await service.getContainerClient('explicit').getBlobClient('a.txt').downloadToBuffer()).toString(), 'a',
      'blobs outlive the restart');
  });

  it('a service SAS signed with the development key reads, and only what it permits', async () => {
    const key = new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY);
    const service = new BlobServiceClient(ENDPOINT, key, noRetry);
    const container = service.getContainerClient('sas-dev');
    await container.createIfNotExists();
    await container.getBlockBlobClient('r.txt').upload('readable', 8);
    const sas = generateBlobSASQueryParameters({
      containerName: 'sas-dev', permissions: 'rl', expiresOn: inHours(1),
    }, key).toString();
    const viaSas = sasClient('sas-dev', sas);
    assert.equal((await viaSas.getBlobClient('r.txt').downloadToBuffer()).toString(), 'readable');
    await rejectsWith(viaSas.getBlockBlobClient('w.txt').upload('x', 1), 403, 'AuthorizationPermissionMismatch');
  });

  it('Set/Get Container ACL: stored access policies a SAS names, changed and revoked later', async () => {
    const key = new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY);
    const container = new BlobServiceClient(ENDPOINT, key, noRetry).getContainerClient('policies');
    await container.createIfNotExists();
    await container.getBlockBlobClient('doc.txt').upload('policy', 6);
    const start = new Date(Date.now() - 60_000);
    start.setMilliseconds(0);
    const expiry = inHours(2);
    expiry.setMilliseconds(0);
    const set = await container.setAccessPolicy(undefined, [
      { id: 'readers', accessPolicy: { permissions: 'rl', startsOn: start, expiresOn: expiry } },
      { id: 'writers', accessPolicy: { permissions: 'rcw' } },
    ]);
    assert.equal(set._response.status, 200);
    assert.ok(set.etag);
    const acl = await container.getAccessPolicy();
    assert.equal(acl.blobPublicAccess, undefined);
    assert.deepEqual(acl.signedIdentifiers.map((i) => [i.id, i.accessPolicy.permissions]), [['readers', 'rl'], ['writers', 'rcw']]);
    assert.equal(acl.signedIdentifiers[0].accessPolicy.startsOn.getTime(), start.getTime());
    assert.equal(acl.signedIdentifiers[0].accessPolicy.expiresOn.getTime(), expiry.getTime());

    // The SAS names the policy and carries neither permissions nor a window of its own.
    const readers = sasClient('policies', generateBlobSASQueryParameters({ containerName: 'policies', identifier: 'readers' }, key).toString());
    assert.equal((await readers.getBlobClient('doc.txt').downloadToBuffer()).toString(), 'policy');
    await rejectsWith(readers.getBlockBlobClient('new.txt').upload('x', 1), 403, 'AuthorizationPermissionMismatch');
    // The "writers" policy has no expiry: the SAS gives it.
    const writers = sasClient('policies', generateBlobSASQueryParameters({ containerName: 'policies', identifier: 'writers', expiresOn: inHours(1) }, key).toString());
    await writers.getBlockBlobClient('new.txt').upload('x', 1);
    // A field in both the SAS and its policy, or a policy that does not exist: refused.
    const twice = sasClient('policies', generateBlobSASQueryParameters({ containerName: 'policies', identifier: 'readers', permissions: 'r' }, key).toString());
    await rejectsWith(twice.getBlobClient('doc.txt').downloadToBuffer(), 403, 'AuthenticationFailed');
    const none = sasClient('policies', generateBlobSASQueryParameters({ containerName: 'policies', identifier: 'nobody', permissions: 'r', expiresOn: inHours(1) }, key).toString());
    await rejectsWith(none.getBlobClient('doc.txt').downloadToBuffer(), 403, 'AuthenticationFailed');

    // Changing the policy changes what the SAS already handed out may do; removing it revokes it.
    await container.setAccessPolicy(undefined, [{ id: 'readers', accessPolicy: { permissions: 'rcw', expiresOn: expiry } }]);
    await readers.getBlockBlobClient('by-readers.txt').upload('y', 1);
    await container.setAccessPolicy(undefined, []);
    assert.deepEqual((await container.getAccessPolicy()).signedIdentifiers, []);
    await rejectsWith(readers.getBlobClient('doc.txt').downloadToBuffer(), 403, 'AuthenticationFailed');
  });

  it('Set Container ACL: public access for anonymous readers, and bad bodies refused', async () => {
    const key = new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY);
    const container = new BlobServiceClient(ENDPOINT, key, noRetry).getContainerClient('public-acl');
    await container.createIfNotExists();
    await container.getBlockBlobClient('p.txt').upload('public', 6);
    const anonymous = new ContainerClient(`${ENDPOINT}/public-acl`, new AnonymousCredential(), noRetry);
    await rejectsWith(anonymous.getBlobClient('p.txt').downloadToBuffer(), 401, 'NoAuthenticationInformation');
    await container.setAccessPolicy('container');
    assert.equal((await container.getAccessPolicy()).blobPublicAccess, 'container');
    assert.equal((await anonymous.getBlobClient('p.txt').downloadToBuffer()).toString(), 'public');
    const listed = [];
    for await (const b of anonymous.listBlobsFlat()) listed.push(b.name);
    assert.deepEqual(listed, ['p.txt']);
    // The ACL itself is never shown to anonymous callers.
    await rejectsWith(anonymous.getAccessPolicy(), 401, 'NoAuthenticationInformation');
    await container.setAccessPolicy(); // private again
    await rejectsWith(anonymous.getBlobClient('p.txt').downloadToBuffer(), 401, 'NoAuthenticationInformation');

    // Six policies, an Id too long, a bad time, a body that is not SignedIdentifiers.
    const six = Array.from({ length: 6 }, (_, i) => ({ id: `p${i}`, accessPolicy: { permissions: 'r' } }));
    await rejectsWith(container.setAccessPolicy(undefined, six), 400, 'InvalidXmlDocument');
    await rejectsWith(container.setAccessPolicy(undefined, [{ id: 'x'.repeat(65), accessPolicy: { permissions: 'r' } }]), 400, 'InvalidXmlDocument');
    const raw = async (body) => {
      const date = new Date().toUTCString();
      const path = '/public-acl';
      const text = ['PUT', '', '', String(Buffer.byteLength(body)), '', 'application/xml', '', '', '', '', '', '',
        `x-ms-date:${date}`, 'x-ms-version:2021-12-02', `/${DEV_ACCOUNT}/${DEV_ACCOUNT}${path}`].join('\n') + '\ncomp:acl\nrestype:container';
      const sig = createHmac('sha256', Buffer.from(DEV_KEY, 'base64')).update(text).digest('base64');
      return az.request(s.urls.azurite, `/${DEV_ACCOUNT}${path}?restype=container&comp=acl`, {
        method: 'PUT', body,
        headers: { 'Content-Type': 'application/xml', 'x-ms-date': date, 'x-ms-version': '2021-12-02', Authorization: `SharedKey ${DEV_ACCOUNT}:${sig}` },
      });
    };
    const badTime = await raw('<SignedIdentifiers><SignedIdentifier><Id>t</Id><AccessPolicy><Expiry>tomorrow</Expiry></AccessPolicy></SignedIdentifier></SignedIdentifiers>');
    az.assertModuleError('azurite', badTime, 400, 'InvalidXmlDocument');
    const notAcl = await raw('<Something/>');
    az.assertModuleError('azurite', notAcl, 400, 'InvalidXmlDocument');
    const unclosed = await raw('<SignedIdentifiers><SignedIdentifier><Id>t</Id>');
    az.assertModuleError('azurite', unclosed, 400, 'InvalidXmlDocument');
    assert.equal((await az.request(s.urls.azurite, '/health')).status, 200);
  });

  it('containers are one: made by ARM, listed by the data plane and the reverse; ARM deletes blobs with them', async () => {
    const devId = `${sub}/resourceGroups/development-storage/providers/Microsoft.Storage/storageAccounts/${DEV_ACCOUNT}`;
    const containers = `${devId}/blobServices/default/containers`;
    const api = 'api-version=2023-05-01';
    const put = await arm.armRequest(s, admin, 'PUT', `${containers}/from-arm?${api}`, { properties: { metadata: { made: 'arm' } } });
    assert.equal(put.status, 201, put.text);
    const service = BlobServiceClient.fromConnectionString('UseDevelopmentStorage=true', noRetry);
    const listed = [];
    for await (const c of service.listContainers({ includeMetadata: true })) listed.push([c.name, c.metadata]);
    assert.deepEqual(listed.find(([n]) => n === 'from-arm'), ['from-arm', { made: 'arm' }]);
    const armList = (await arm.armRequest(s, admin, 'GET', `${containers}?${api}`)).json().value.map((c) => c.name);
    assert.ok(armList.includes('explicit') && armList.includes('from-arm'), armList.join());

    const files = () => (existsSync(join(dir.dir, 'blobs')) ? readdirSync(join(dir.dir, 'blobs')).length : 0);
    const before = files();
    // Content above the 64 KiB kept in the row has a file of its own.
    const large = 'x'.repeat(100 * 1024);
    await service.getContainerClient('from-arm').getBlockBlobClient('x.txt').upload(large, large.length);
    assert.equal(files(), before + 1);
    const del = await arm.armRequest(s, admin, 'DELETE', `${containers}/from-arm?${api}`);
    assert.equal(del.status, 200, del.text);
    assert.equal(files(), before, 'the blob\'s file went with its container');
    await rejectsWith(service.getContainerClient('from-arm').getProperties(), 404);
    assert.equal((await arm.armRequest(s, admin, 'DELETE', `${containers}/from-arm?${api}`)).status, 204);
    const missing = await arm.armRequest(s, admin, 'GET', `${containers}/from-arm?${api}`);
    assert.equal(missing.status, 404);
    assert.equal(missing.json().error.code, 'ContainerNotFound');
    const noAccount = await arm.armRequest(s, admin, 'GET', `${sub}/resourceGroups/development-storage/providers/Microsoft.Storage/storageAccounts/nosuchaccount/blobServices/default/containers?${api}`);
    assert.equal(noAccount.status, 404, noAccount.text);
  });

  it('deleting an account deletes its data: the name starts empty again, and the next start removes the files', async () => {
    const api = 'api-version=2023-05-01';
    const rg = `${sub}/resourceGroups/recycle-rg`;
    const id = `${rg}/providers/Microsoft.Storage/storageAccounts/recycled`;
    const create = async () => {
      const r = await arm.armRequest(s, admin, 'PUT', `${id}?${api}`, { location: 'westus', sku: { name: 'Standard_LRS' }, kind: 'StorageV2' });
      assert.equal(r.status, 200, r.text);
      const keys = await arm.armRequest(s, admin, 'POST', `${id}/listKeys?${api}`);
      return new BlobServiceClient(`http://127.0.0.1:10000/recycled`, new StorageSharedKeyCredential('recycled', keys.json().keys[0].value), noRetry);
    };
    assert.equal((await arm.armRequest(s, admin, 'PUT', `${rg}?api-version=2021-04-01`, { location: 'westus' })).status, 201);
    const files = () => readdirSync(join(dir.dir, 'blobs')).length;
    const first = await create();
    await first.getContainerClient('old').create();
    const large = 'old data'.repeat(16 * 1024); // above what is kept in the row: a file
    await first.getContainerClient('old').getBlockBlobClient('old.txt').upload(large, large.length);
    const withData = files();
    assert.equal((await arm.armRequest(s, admin, 'DELETE', `${id}?${api}`)).status, 200);
    const second = await create();
    const names = [];
    for await (const c of second.listContainers()) names.push(c.name);
    assert.deepEqual(names, [], 'a new account of the same name starts empty');
    await az.stopClean(s);
    s = await az.start({ dataDir: dir.dir, inMemory: false, ports: { azurite: 10000 } });
    assert.equal(files(), withData - 1, 'the deleted account\'s blob file is gone after the restart');
  });
});

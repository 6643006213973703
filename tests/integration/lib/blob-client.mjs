// The child process of the Blob Storage SDK tests (storage-blob-sdk.test.mjs): an application using
// @azure/storage-blob the way it would against Azure. It is started by lib/aad.mjs runGuardedChild
// (so it can reach nothing but the loopback) with exactly the environment `azsim env` (the admin)
// or `azsim env --vm NAME` (code that *is* the VM) printed: HTTPS_PROXY is the front door for
// <account>.blob.core.windows.net and login.microsoftonline.com, NODE_EXTRA_CA_CERTS the CA.
// Nothing in code points at the simulator.
//
// Reads one scenario on stdin:
//   {credential  'default'                          new DefaultAzureCredential()
//                'anonymous'                        no credential (AnonymousCredential)
//                {tenantId, clientId, clientSecret} new ClientSecretCredential(...)
//                {accountName, accountKey}          new StorageSharedKeyCredential(...)
//    accountUrl  "https://<account>.blob.core.windows.net"
//    plain       true: new BlobServiceClient(accountUrl, credential) with NO options at all (the
//                seed scenario); otherwise retries are off (a 5xx shows at once)
//    steps       [{id, op, container?, blob?, ...arguments}] run in order, each on its own:
//      createContainer      {options?}               ContainerClient.create: {status, etag}
//      createIfNotExists    {options?}               {succeeded, errorCode, status}
//      containerProperties  {}                       {status, metadata, blobPublicAccess, etag}
//      setContainerMetadata {metadata}               {status, etag}
//      deleteContainer      {}                       {status}
//      listContainers       {prefix?, includeMetadata?, maxPageSize?} {pages: [[{name, metadata}]]}
//      upload               {content, options?}      BlockBlobClient.upload of the UTF-8 content:
//                                                    {status, etag, contentMD5 (base64),
//                                                     requestServerEncrypted, lastModified}
//      uploadData           {size, blockSize, maxSingleShotSize} uploadData of `size` pseudo-random
//                                                    bytes: {sha256}
//      stageBlock           {blockId, content}       {status}
//      commitBlockList      {blockIds, options?}     {status, etag}
//      download             {offset?, count?, options?} {status, text, contentRange, contentLength,
//                                                    contentType, metadata, etag, blobType, ...}
//      downloadToBuffer     {}                       {sha256, text (first 64 bytes), length}
//      properties           {}                       getProperties: the headers that matter
//      setMetadata          {metadata}               {status, etag}
//      setHTTPHeaders       {headers}                {status, etag}
//      listFlat             {prefix?, includeMetadata?, maxPageSize?} {pages: [[{name, metadata,
//                                                    contentLength, contentType}]]}
//      listHierarchy        {delimiter, prefix?}     {prefixes: [...], blobs: [...]}
//      exists               {}                       BlobClient.exists
//      delete               {options?}               {status}
//      token                {}                       credential.getToken(storage scope).token
//      userDelegationKey    {minutes}                getUserDelegationKey(now, now + minutes): the key
//      userDelegationSas    {key, permissions, minutes, container, blob?} a SAS signed with `key`
//                                                    (from userDelegationKey): its query string
//      sasDownload          {sas, container, blob}   download through a client holding only the
//                                                    SAS (AnonymousCredential): the text
//      sasUpload            {sas, container, blob, content} upload the same way: {status}
// An argument {"$from": "<step id>", "path": "a.b"} stands for a value an earlier step returned
// (path "": the whole value).
// Prints {results: [{id, ok, value | error, statuses}], requests} (lib/sdk-child.mjs); `requests`
// and `statuses` stay empty (the storage pipeline takes no additional policies); statuses are in
// the values (the SDK's _response.status).
import { createHash } from 'node:crypto';

import { ClientSecretCredential, DefaultAzureCredential } from '@azure/identity';
import {
  AnonymousCredential, BlobServiceClient, BlockBlobClient, StorageSharedKeyCredential, generateBlobSASQueryParameters,
} from '@azure/storage-blob';

import { readScenario, runSteps } from './sdk-child.mjs';

const sc = await readScenario();

function makeCredential(spec) {
  if (spec === 'default') return new DefaultAzureCredential();
  if (spec === 'anonymous') return new AnonymousCredential();
  if (spec && typeof spec === 'object' && spec.clientSecret) {
    return new ClientSecretCredential(spec.tenantId, spec.clientId, spec.clientSecret);
  }
  if (spec && typeof spec === 'object' && spec.accountKey) {
    return new StorageSharedKeyCredential(spec.accountName, spec.accountKey);
  }
  throw new Error(`blob-client: unknown credential ${JSON.stringify(spec)}`);
}

let service;
let credential;
try {
  credential = makeCredential(sc.credential);
  service = sc.plain
    ? new BlobServiceClient(sc.accountUrl, credential)
    : new BlobServiceClient(sc.accountUrl, credential, { retryOptions: { maxTries: 1 } });
} catch (err) {
  await runSteps([['client', () => { throw err; }]]);
}

const iso = (d) => (d instanceof Date ? d.toISOString() : d ?? null);
const b64 = (u8) => (u8 ? Buffer.from(u8).toString('base64') : null);
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
/** `size` bytes that differ from block to block, the same every run. */
const pattern = (size) => {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + (i >> 8) * 7) & 0xff;
  return out;
};
const streamToBuffer = async (stream) => {
  const chunks = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks);
};
const container = (a) => service.getContainerClient(a.container);
const blob = (a) => container(a).getBlockBlobClient(a.blob);
const opts = (o = {}) => {
  const out = { ...o };
  // Conditions come as {ifMatch, ifNoneMatch, ifModifiedSince (ISO), ...}.
  if (out.conditions) {
    out.conditions = { ...out.conditions };
    for (const k of ['ifModifiedSince', 'ifUnmodifiedSince']) {
      if (out.conditions[k]) out.conditions[k] = new Date(out.conditions[k]);
    }
  }
  return out;
};

const ops = {
  createContainer: async (a) => {
    const r = await container(a).create(opts(a.options));
    return { status: r._response.status, etag: r.etag, lastModified: iso(r.lastModified) };
  },
  createIfNotExists: async (a) => {
    const r = await container(a).createIfNotExists(opts(a.options));
    return { succeeded: r.succeeded, errorCode: r.errorCode ?? null, status: r._response?.status ?? null };
  },
  containerProperties: async (a) => {
    const r = await container(a).getProperties();
    return {
      status: r._response.status, metadata: r.metadata, blobPublicAccess: r.blobPublicAccess ?? null,
      etag: r.etag, lastModified: iso(r.lastModified),
    };
  },
  setContainerMetadata: async (a) => {
    const r = await container(a).setMetadata(a.metadata);
    return { status: r._response.status, etag: r.etag };
  },
  deleteContainer: async (a) => ({ status: (await container(a).delete())._response.status }),
  listContainers: async (a) => {
    const pages = [];
    const iter = service.listContainers({ prefix: a.prefix, includeMetadata: a.includeMetadata })
      .byPage(a.maxPageSize ? { maxPageSize: a.maxPageSize } : {});
    for await (const page of iter) {
      pages.push((page.containerItems ?? []).map((c) => ({
        name: c.name, metadata: c.metadata ?? null, publicAccess: c.properties.publicAccess ?? null,
      })));
    }
    return { pages };
  },
  upload: async (a) => {
    const body = Buffer.from(a.content, 'utf8');
    const r = await blob(a).upload(body, body.length, opts(a.options));
    return {
      status: r._response.status, etag: r.etag, contentMD5: b64(r.contentMD5),
      requestServerEncrypted: r.isServerEncrypted ?? null, lastModified: iso(r.lastModified),
    };
  },
  uploadData: async (a) => {
    const data = pattern(a.size);
    await blob(a).uploadData(data, { blockSize: a.blockSize, maxSingleShotSize: a.maxSingleShotSize, concurrency: 1 });
    return { sha256: sha256(data), size: data.length };
  },
  stageBlock: async (a) => {
    const body = Buffer.from(a.content, 'utf8');
    const r = await blob(a).stageBlock(a.blockId, body, body.length);
    return { status: r._response.status };
  },
  commitBlockList: async (a) => {
    const r = await blob(a).commitBlockList(a.blockIds, opts(a.options));
    return { status: r._response.status, etag: r.etag };
  },
  download: async (a) => {
    const r = await blob(a).download(a.offset ?? 0, a.count, opts(a.options));
    const buf = r.readableStreamBody ? await streamToBuffer(r.readableStreamBody) : Buffer.alloc(0);
    return {
      status: r._response.status, text: buf.toString('utf8'), contentRange: r.contentRange ?? null,
      contentLength: r.contentLength, contentType: r.contentType ?? null, metadata: r.metadata,
      etag: r.etag, blobType: r.blobType ?? null, cacheControl: r.cacheControl ?? null,
      contentDisposition: r.contentDisposition ?? null, contentLanguage: r.contentLanguage ?? null,
      contentMD5: b64(r.contentMD5), blobContentMD5: b64(r.blobContentMD5),
    };
  },
  downloadToBuffer: async (a) => {
    const buf = await blob(a).downloadToBuffer(0, undefined, { blockSize: a.blockSize });
    return { sha256: sha256(buf), length: buf.length, text: buf.subarray(0, 64).toString('utf8') };
  },
  properties: async (a) => {
    const r = await blob(a).getProperties();
    return {
      status: r._response.status, contentType: r.contentType ?? null, contentLength: r.contentLength,
      contentMD5: b64(r.contentMD5), metadata: r.metadata, blobType: r.blobType ?? null,
      cacheControl: r.cacheControl ?? null, contentDisposition: r.contentDisposition ?? null,
      contentLanguage: r.contentLanguage ?? null, contentEncoding: r.contentEncoding ?? null,
      etag: r.etag, lastModified: iso(r.lastModified), createdOn: iso(r.createdOn),
      accessTier: r.accessTier ?? null, isServerEncrypted: r.isServerEncrypted ?? null,
      leaseState: r.leaseState ?? null,
    };
  },
  setMetadata: async (a) => {
    const r = await blob(a).setMetadata(a.metadata, opts(a.options));
    return { status: r._response.status, etag: r.etag };
  },
  setHTTPHeaders: async (a) => {
    const r = await blob(a).setHTTPHeaders(a.headers, opts(a.options));
    return { status: r._response.status, etag: r.etag };
  },
  listFlat: async (a) => {
    const pages = [];
    const iter = container(a).listBlobsFlat({ prefix: a.prefix, includeMetadata: a.includeMetadata })
      .byPage(a.maxPageSize ? { maxPageSize: a.maxPageSize } : {});
    for await (const page of iter) {
      pages.push(page.segment.blobItems.map((b) => ({
        name: b.name, metadata: b.metadata ?? null, contentLength: b.properties.contentLength,
        contentType: b.properties.contentType ?? null, blobType: b.properties.blobType ?? null,
        etag: b.properties.etag,
      })));
    }
    return { pages };
  },
  listHierarchy: async (a) => {
    const prefixes = [];
    const blobs = [];
    for await (const item of container(a).listBlobsByHierarchy(a.delimiter, { prefix: a.prefix })) {
      if (item.kind === 'prefix') prefixes.push(item.name);
      else blobs.push(item.name);
    }
    return { prefixes, blobs };
  },
  exists: (a) => blob(a).exists(),
  delete: async (a) => ({ status: (await blob(a).delete(opts(a.options)))._response.status }),
  token: async () => (await credential.getToken('https://storage.azure.com/.default')).token,
  userDelegationKey: async (a) => {
    const now = Date.now();
    const key = await service.getUserDelegationKey(new Date(now - 60_000), new Date(now + a.minutes * 60_000));
    return {
      signedObjectId: key.signedObjectId, signedTenantId: key.signedTenantId, signedService: key.signedService,
      signedVersion: key.signedVersion, value: key.value,
      signedStartsOn: iso(key.signedStartsOn), signedExpiresOn: iso(key.signedExpiresOn),
    };
  },
  userDelegationSas: (a) => {
    const key = { ...a.key, signedStartsOn: new Date(a.key.signedStartsOn), signedExpiresOn: new Date(a.key.signedExpiresOn) };
    const accountName = new URL(sc.accountUrl).hostname.split('.')[0];
    return generateBlobSASQueryParameters({
      containerName: a.container, blobName: a.blob, permissions: a.permissions,
      expiresOn: new Date(Date.now() + a.minutes * 60_000),
    }, key, accountName).toString();
  },
  sasDownload: async (a) => {
    const client = new BlockBlobClient(`${sc.accountUrl}/${a.container}/${a.blob}?${a.sas}`, new AnonymousCredential(), { retryOptions: { maxTries: 1 } });
    const r = await client.download(); // a GET: its error has a body and a code
    return (await streamToBuffer(r.readableStreamBody)).toString('utf8');
  },
  sasUpload: async (a) => {
    const client = new BlockBlobClient(`${sc.accountUrl}/${a.container}/${a.blob}?${a.sas}`, new AnonymousCredential(), { retryOptions: { maxTries: 1 } });
    const body = Buffer.from(a.content, 'utf8');
    return { status: (await client.upload(body, body.length))._response.status };
  },
};

// An argument {"$from": "<step id>", "path": "a.b"} is the value an earlier step returned.
const values = {};
const resolve = (v) => {
  if (Array.isArray(v)) return v.map(resolve);
  if (!v || typeof v !== 'object') return v;
  if (v.$from) return (v.path ? v.path.split('.') : []).reduce((o, k) => o?.[k], values[v.$from]);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
};

await runSteps((sc.steps ?? []).map((step) => [step.id, async () => {
  if (!ops[step.op]) throw new Error(`blob-client: unknown op ${step.op}`);
  values[step.id] = await ops[step.op](resolve(step));
  return values[step.id];
}]));

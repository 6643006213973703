// A 1 GiB blob through the Blob service: uploaded in 8 MiB blocks and committed, then downloaded
// and checked byte for byte (SHA-256), while the server's resident memory stays flat — content
// goes to files and comes back from them a piece at a time, never whole in memory. (A sanitizer
// build checks the round trip only: its allocator's quarantine keeps freed memory resident.)
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';

import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';

import * as aad from './lib/aad.mjs';
import * as armLib from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';

const BLOCK = 8 * 1024 * 1024;
const BLOCKS = 128; // 1 GiB
const API = 'api-version=2023-05-01';

/** Resident memory of a process, in bytes. */
function rss(pid) {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line.split(/\s+/)[1]) * 1024;
}

/** Block i: the same 8 MiB pattern with i stamped in, so every block differs. */
function blockData(template, i) {
  template.writeUInt32BE(i, 0);
  template.writeUInt32BE(i, BLOCK - 4);
  return template;
}

describe('Blob Storage: a 1 GiB blob, memory flat', () => {
  let s, blob;

  before(async () => {
    const w = await armLib.adminWorkspace('large-rg');
    s = w.s;
    await w.ok('PUT', `${w.rg}/providers/Microsoft.Storage/storageAccounts/stlarge1?${API}`,
      { location: 'westus', sku: { name: 'Standard_LRS' }, kind: 'StorageV2' });
    const key = (await w.ok('POST', `${w.rg}/providers/Microsoft.Storage/storageAccounts/stlarge1/listKeys?${API}`)).keys[0].value;
    const ca = fs.readFileSync(aad.context(s).env.NODE_EXTRA_CA_CERTS);
    const svc = new BlobServiceClient(`https://127.0.0.1:${new URL(s.urls.storage).port}/stlarge1`,
      new StorageSharedKeyCredential('stlarge1', key), { tlsOptions: { ca } });
    const c = svc.getContainerClient('large');
    await c.create();
    blob = c.getBlockBlobClient('one-gib.bin');
  });
  after(() => az.finish(s));

  it('uploads in blocks, commits, downloads the same bytes; resident memory grows by less than 96 MiB', async () => {
    const template = Buffer.alloc(BLOCK);
    for (let i = 0; i < BLOCK; i += 4) template.writeUInt32BE((i * 2654435761) >>> 0, i);
    const sent = createHash('sha256');
    const ids = [];
    let baseline = 0;
    for (let i = 0; i < BLOCKS; i++) {
      const id = Buffer.from(String(i).padStart(6, '0')).toString('base64');
      const data = blockData(template, i);
      sent.update(data);
      await blob.stageBlock(id, data, BLOCK);
      ids.push(id);
      if (i === 7) baseline = rss(s.pid); // after the first 64 MiB: buffers and caches warmed up
    }
    await blob.commitBlockList(ids);
    const props = await blob.getProperties();
    assert.equal(props.contentLength, BLOCK * BLOCKS);

    const got = createHash('sha256');
    const download = await blob.download();
    let bytes = 0;
    for await (const chunk of download.readableStreamBody) {
      got.update(chunk);
      bytes += chunk.length;
    }
    assert.equal(bytes, BLOCK * BLOCKS);
    assert.equal(got.digest('hex'), sent.digest('hex'));
    // Under AddressSanitizer freed memory sits in quarantine: only the round trip is checked there.
    const grown = rss(s.pid) - baseline;
    if (!az.SANITIZED)
      assert.ok(grown < 96 * 1024 * 1024, `resident memory grew by ${(grown / 1048576).toFixed(1)} MiB while 1 GiB went through`);
  });
});

// A data directory outlives its server: CA, server certificates and the store's identity survive
// kill -9 and a restart.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import * as az from './lib/azsim.mjs';

const NAMES = ['management.azure.com', 'login.microsoftonline.com', 'myvault.vault.azure.net',
  'myaccount.blob.core.windows.net', 'localhost'];

async function fingerprints(server) {
  const out = {};
  for (const name of NAMES) {
    const { cert, authorized } = await az.peerCertificate(server.ports.arm, {
      ca: server.caPem,
      servername: name,
    });
    assert.equal(authorized, true, name);
    out[name] = cert.fingerprint256;
  }
  return out;
}

function ms(from, to) {
  return `${(to - from).toFixed(1)} ms`;
}

test('after SIGKILL, a restart on the same data directory keeps CA, certificates and instance_id', async (t) => {
  const { dir, cleanup } = az.tempDir();
  let first;
  let second;
  t.after(async () => {
    await first?.cleanup();
    await second?.cleanup();
    cleanup();
  });

  first = await az.start({ dataDir: dir, inMemory: false });
  t.diagnostic(`first start (empty data dir): ${ms(first.spawnedAt, await az.waitHealthy(first, 'arm'))} ` +
    'from spawn to the first healthy response');
  assert.ok(existsSync(join(dir, 'azsim.db')), 'the store is a file');
  const caPem = first.caPem;
  assert.equal(readFileSync(join(dir, 'tls', 'ca.pem'), 'utf8'), caPem);
  const fps = await fingerprints(first);
  const id = az.instanceId(dir);
  assert.match(id, az.UUID_RE);
  t.diagnostic(`instance_id ${id}; management.azure.com ${fps['management.azure.com']}`);

  const killed = await first.kill();
  assert.equal(killed.signal, 'SIGKILL');
  az.assertNoSanitizerReport(killed.stderr);
  assert.notEqual(az.run(['health', '--data-dir', dir]).code, 0, 'nothing answers after the kill');

  // Same ports too: a restarted simulator must be able to take its ports back at once.
  second = await az.start({ dataDir: dir, inMemory: false, ports: first.ports });
  t.diagnostic(`restart (existing data dir): ${ms(second.spawnedAt, await az.waitHealthy(second, 'arm'))} ` +
    'from spawn to the first healthy response');
  assert.deepEqual(second.ports, first.ports);
  assert.equal(second.ca, first.ca);
  assert.equal(second.caPem, caPem, 'same CA');
  assert.deepEqual(await fingerprints(second), fps, 'same server certificates');
  assert.equal(az.instanceId(dir), id, 'same instance_id');
  await az.assertHealthy(second);
  assert.equal(az.run(['health', '--data-dir', dir]).code, 0);
  const run = JSON.parse(readFileSync(join(dir, 'azsim.run.json'), 'utf8'));
  assert.equal(run.pid, second.pid, 'the stale run file was replaced');

  await az.stopClean(second);
  assert.equal(az.instanceId(dir), id);
});

test('after a clean stop, a restart keeps the instance_id and the CA', async (t) => {
  const { dir, cleanup } = az.tempDir();
  let first;
  let second;
  t.after(async () => {
    await first?.cleanup();
    await second?.cleanup();
    cleanup();
  });
  first = await az.start({ dataDir: dir, inMemory: false });
  const id = az.instanceId(dir);
  await az.stopClean(first);
  assert.equal(az.instanceId(dir), id);

  second = await az.start({ dataDir: dir, inMemory: false });
  assert.equal(second.caPem, first.caPem);
  assert.equal(az.instanceId(dir), id);
  await az.assertHealthy(second);
  await az.stopClean(second);
});

test('--in-memory keeps no store file but still reuses the CA of the data directory', async (t) => {
  const { dir, cleanup } = az.tempDir();
  let first;
  let second;
  t.after(async () => {
    await first?.cleanup();
    await second?.cleanup();
    cleanup();
  });
  first = await az.start({ dataDir: dir });
  assert.ok(!existsSync(join(dir, 'azsim.db')), 'no azsim.db with --in-memory');
  await az.stopClean(first);
  second = await az.start({ dataDir: dir });
  assert.equal(second.caPem, first.caPem);
  await az.assertHealthy(second);
  await az.stopClean(second);
});

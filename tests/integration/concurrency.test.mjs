// Writers racing (the reliability issue's "Concurrency" part): many clients at once, over many
// connections, so both threads of a module take some. On one resource with the same If-Match
// ETag exactly one PUT wins and the rest get 412; new versions of one secret set at once are all
// kept, each with its own value; blobs written at once under different names all arrive whole.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';

import * as aad from './lib/aad.mjs';
import * as armLib from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';

const WRITERS = 24;
const NET = 'api-version=2023-09-01';

describe('concurrent writers', () => {
  let s, info, admin, rg, ok;

  before(async () => {
    ({ s, info, admin, rg, ok } = await armLib.adminWorkspace('race-rg'));
  });
  after(() => az.finish(s));

  it(`${WRITERS} PUTs with the same If-Match: exactly one wins, the others get 412 and nothing is lost`, async () => {
    const path = `${rg}/providers/Microsoft.Network/networkSecurityGroups/raced?${NET}`;
    await ok('PUT', path, { location: 'westus', properties: {} });
    for (let round = 0; round < 3; round++) {
      const current = await armLib.armRequest(s, admin, 'GET', path);
      const etag = current.headers.etag;
      assert.ok(etag, current.text);
      const answers = await Promise.all(Array.from({ length: WRITERS }, (_, i) => s.request('arm', path, {
        method: 'PUT',
        headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json', 'If-Match': etag },
        body: JSON.stringify({ location: 'westus', tags: { writer: String(i), round: String(round) }, properties: {} }),
        agent: false, // a connection each
      })));
      const won = answers.filter((r) => r.status === 200);
      const refused = answers.filter((r) => r.status === 412);
      assert.equal(won.length, 1, answers.map((r) => `${r.status} ${r.text.slice(0, 80)}`).join('\n'));
      assert.equal(refused.length, WRITERS - 1);
      for (const r of refused) assert.equal(r.json().error.code, 'PreconditionFailed');
      const after = (await armLib.armRequest(s, admin, 'GET', path)).json();
      assert.deepEqual(after.tags, won[0].json().tags, 'what is stored is what the winner was told');
      assert.notEqual(after.etag, etag);
    }
  });

  it(`${WRITERS} new versions of one secret set at once: every one kept, with its own value`, async () => {
    const vault = 'kv-race';
    const ctx = aad.context(s);
    const oid = armLib.claimsOf(admin).oid;
    await ok('PUT', `${rg}/providers/Microsoft.KeyVault/vaults/${vault}?api-version=2023-07-01`, {
      location: 'westus',
      properties: { tenantId: info.tenantId, sku: { family: 'A', name: 'standard' },
        accessPolicies: [{ tenantId: info.tenantId, objectId: oid, permissions: { secrets: ['get', 'set', 'list'] } }] },
    });
    const { token } = await armLib.appToken(s, info.tenantId, info.clientId, info.clientSecret, 'https://vault.azure.net');
    const ca = fs.readFileSync(ctx.env.NODE_EXTRA_CA_CERTS);
    const kv = (method, path, body) => aad.proxiedRequest(ctx.env.HTTPS_PROXY, `https://${vault}.vault.azure.net${path}?api-version=7.4`, {
      ca, method, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const set = await Promise.all(Array.from({ length: WRITERS }, (_, i) => kv('PUT', '/secrets/raced', { value: `value-${i}` })));
    for (const r of set) assert.equal(r.status, 200, r.text);
    const versions = new Map(set.map((r) => [r.json().id.split('/').pop(), r.json().value]));
    assert.equal(versions.size, WRITERS, 'a distinct version for every write');
    for (const [version, value] of versions) {
      const got = await kv('GET', `/secrets/raced/${version}`);
      assert.equal(got.status, 200, got.text);
      assert.equal(got.json().value, value);
    }
    const listed = (await kv('GET', '/secrets/raced/versions')).json().value;
    assert.equal(listed.length, WRITERS);
    const latest = (await kv('GET', '/secrets/raced')).json();
    assert.ok(versions.has(latest.id.split('/').pop()), 'the latest is one of the writes');
  });

  it(`${WRITERS} blobs written at once through the Azurite port: all there, each whole`, async () => {
    // Shared Key with the development account's published key, as Azurite's clients sign.
    const account = 'devstoreaccount1';
    const key = Buffer.from('Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==', 'base64');
    const signed = (method, path, query = {}, body = undefined, extra = {}) => {
      const headers = { 'x-ms-date': new Date().toUTCString(), 'x-ms-version': '2021-08-06', ...extra };
      const length = body?.length ? String(body.length) : '';
      const xms = Object.keys(headers).filter((h) => h.startsWith('x-ms-')).sort().map((h) => `${h}:${headers[h]}`);
      const resource = [`/${account}/${account}${path}`,
        ...Object.keys(query).sort().map((k) => `${k}:${query[k]}`)].join('\n');
      const toSign = [method, '', '', length, '', '', '', '', '', '', '', '', ...xms, resource].join('\n');
      headers.Authorization = `SharedKey ${account}:${createHmac('sha256', key).update(toSign, 'utf8').digest('base64')}`;
      const qs = Object.keys(query).length ? `?${new URLSearchParams(query)}` : '';
      return s.request('azurite', `/${account}${path}${qs}`, { method, headers, body });
    };
    const made = await signed('PUT', '/race', { restype: 'container' });
    assert.equal(made.status, 201, made.text);
    const bodies = Array.from({ length: WRITERS }, (_, i) => az.pseudoRandomBytes(64 * 1024 + i, `blob-${i}`));
    const answers = await Promise.all(bodies.map((b, i) => signed('PUT', `/race/blob-${i}`, {}, b, { 'x-ms-blob-type': 'BlockBlob' })));
    for (const r of answers) assert.equal(r.status, 201, r.text);
    for (const [i, b] of bodies.entries()) {
      const got = await signed('GET', `/race/blob-${i}`);
      assert.equal(got.status, 200, got.text);
      assert.ok(Buffer.compare(got.body, b) === 0, `blob-${i} is whole`);
    }
  });
});

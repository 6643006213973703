// Key Vault keys, end to end through the front door: raw HTTPS to https://<vault>.vault.azure.net
// as the admin application (an access policy granting keys 'all'), then the real
// @azure/keyvault-keys KeyClient and CryptographyClient in a child process (lib/kv-keys-client.mjs).
//
// Every cryptographic answer is checked with Node's own crypto: signatures azsim makes verify
// against the public JWK it answers; what Node encrypts with that JWK decrypts in azsim; what
// azsim encrypts with an imported key decrypts with Node holding the private half.
import assert from 'node:assert/strict';
import {
  constants, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, privateDecrypt,
  publicEncrypt, randomBytes, sign as nodeSign, verify as nodeVerify,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import * as aad from './lib/aad.mjs';
import * as arm from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';

const KV = 'api-version=2023-07-01';
const API = 'api-version=7.4';
const VAULT = 'kv-keys';
const LIMITED = 'kv-keys-limited'; // the admin's policy grants keys get and list only
const CLIENT = fileURLToPath(new URL('./lib/kv-keys-client.mjs', import.meta.url));
const DATA = Buffer.from('the quick brown fox signs with azsim');
const SDK_DATA = Buffer.from('signed by azsim through @azure/keyvault-keys'); // lib/kv-keys-client.mjs signs it
const HASH = { 256: 'sha256', 384: 'sha384', 512: 'sha512' };
const digestOf = (bits, data = DATA) => createHash(HASH[bits]).update(data).digest();
const b64u = (b) => Buffer.from(b).toString('base64url');
const unb64u = (s) => Buffer.from(s, 'base64url');

/** Node's public key for an answered JWK (kty RSA-HSM/EC-HSM read as RSA/EC). */
function publicKeyOf(jwk) {
  const { kty, n, e, crv, x, y } = jwk;
  const base = kty.replace(/-HSM$/, '');
  const curve = crv === 'P-256K' ? 'secp256k1' : crv; // JOSE's name and Node's
  return createPublicKey({ key: base === 'RSA' ? { kty: base, n, e } : { kty: base, crv: curve, x, y }, format: 'jwk' });
}

/** Does `sig` (as azsim answered it) sign DATA under `alg` with the key `jwk`? */
function nodeVerifies(alg, jwk, sig, data = DATA) {
  const bits = alg.slice(2, 5);
  const key = publicKeyOf(jwk);
  const opts = { key };
  if (alg.startsWith('PS')) Object.assign(opts, { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(bits) / 8 });
  if (alg.startsWith('ES')) opts.dsaEncoding = 'ieee-p1363';
  return nodeVerify(HASH[bits], data, opts, unb64u(sig));
}

describe('Key Vault keys: raw HTTP and @azure/keyvault-keys, checked with Node crypto', () => {
  let s, info, ok, rg, adminOid, env, ca, token;

  const vaultId = (name) => `${rg}/providers/Microsoft.KeyVault/vaults/${name}`;
  /** A request to `vault` through the front door as the admin; `path` without the api-version. */
  function kv(method, path, body, { vault = VAULT, timeoutMs = 5_000 } = {}) {
    const sep = path.includes('?') ? '&' : '?';
    return aad.proxiedRequest(env.HTTPS_PROXY, `https://${vault}.vault.azure.net${path}${sep}${API}`, {
      ca, method, timeoutMs,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }
  /** A request that must answer `status` (200 by default): its JSON. */
  async function ok200(method, path, body, { status = 200, ...opts } = {}) {
    const r = await kv(method, path, body, opts);
    assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
    return r.text ? r.json() : null;
  }
  /** A request that must fail with `status`, `code` and (optionally) innererror `inner`. */
  async function fails(method, path, body, status, code, inner, opts) {
    const r = await kv(method, path, body, opts);
    assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
    assert.equal(r.json().error.code, code, r.text);
    if (inner) assert.equal(r.json().error.innererror?.code, inner, r.text);
    return r.json().error;
  }
  const create = (name, body) => ok200('POST', `/keys/${name}/create`, body, { timeoutMs: 30_000 });
  const versionOf = (kid) => kid.split('/').pop();
  const op = (kid, operation, body) => ok200('POST', `${new URL(kid).pathname}/${operation}`, body);

  before(async () => {
    let admin;
    ({ s, info, admin, rg, ok } = await arm.adminWorkspace('kv-keys-rg'));
    adminOid = arm.claimsOf(admin).oid;
    env = aad.envVars(s.dataDir);
    ca = readFileSync(env.NODE_EXTRA_CA_CERTS);
    token = (await arm.appToken(s, info.tenantId, info.clientId, info.clientSecret, aad.VAULT)).token;
    const vault = (name, keys) => ok('PUT', `${vaultId(name)}?${KV}`, {
      location: 'westus',
      properties: {
        tenantId: info.tenantId, sku: { family: 'A', name: 'standard' }, enableRbacAuthorization: false,
        accessPolicies: [{ tenantId: info.tenantId, objectId: adminOid, permissions: { keys, secrets: ['all'] } }],
      },
    });
    await vault(VAULT, ['all']);
    await vault(LIMITED, ['get', 'list']);
  });
  after(() => az.finish(s));

  it('RSA 2048/3072/4096: the public JWK of the key that signs, all six RSA signature algorithms', async () => {
    for (const bits of [2048, 3072, 4096]) {
      const k = await create(`rsa-${bits}`, bits === 2048 ? { kty: 'RSA' } : { kty: 'RSA', key_size: bits, tags: { bits: String(bits) } });
      const jwk = k.key;
      assert.match(jwk.kid, new RegExp(`^https://${VAULT}\\.vault\\.azure\\.net/keys/rsa-${bits}/[0-9a-f]{32}$`));
      assert.equal(jwk.kty, 'RSA');
      assert.deepEqual(jwk.key_ops, ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey']);
      assert.equal(unb64u(jwk.n).length, bits / 8, 'n has no leading zero byte');
      assert.equal(jwk.e, 'AQAB');
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'pem']) assert.equal(jwk[secret], undefined, secret);
      assert.equal(publicKeyOf(jwk).asymmetricKeyDetails.modulusLength, bits);
      assert.equal(k.attributes.enabled, true);
      assert.equal(typeof k.attributes.created, 'number');
      if (bits !== 2048) assert.deepEqual(k.tags, { bits: String(bits) });
      const algs = bits === 2048 ? ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] : ['RS256', 'PS512'];
      for (const alg of algs) {
        const signed = await op(jwk.kid, 'sign', { alg, value: b64u(digestOf(alg.slice(2))) });
        assert.equal(signed.kid, jwk.kid);
        assert.equal(unb64u(signed.value).length, bits / 8);
        assert.ok(nodeVerifies(alg, jwk, signed.value), `${alg} with RSA ${bits} verifies with Node`);
      }
    }
    // A key from public_exponent 3.
    const three = await create('rsa-e3', { kty: 'RSA-HSM', public_exponent: 3 });
    assert.equal(three.key.e, 'Aw');
    assert.equal(three.key.kty, 'RSA-HSM');
  });

  it('EC P-256/P-384/P-521/P-256K: ES256/384/512/256K as raw r||s that Node verifies', async () => {
    for (const [crv, alg, size] of [['P-256', 'ES256', 32], ['P-384', 'ES384', 48], ['P-521', 'ES512', 66], ['P-256K', 'ES256K', 32]]) {
      const k = await create(`ec-${crv}`, { kty: 'EC', crv });
      const jwk = k.key;
      assert.equal(jwk.kty, 'EC');
      assert.equal(jwk.crv, crv);
      assert.deepEqual(jwk.key_ops, ['sign', 'verify']);
      assert.equal(unb64u(jwk.x).length, size);
      assert.equal(unb64u(jwk.y).length, size);
      assert.equal(jwk.d, undefined);
      const digest = digestOf(alg.slice(2, 5));
      const signed = await op(jwk.kid, 'sign', { alg, value: b64u(digest) });
      assert.equal(unb64u(signed.value).length, 2 * size, 'raw r||s, not DER');
      assert.ok(nodeVerifies(alg, jwk, signed.value), `${alg} verifies with Node`);
      const verified = await op(jwk.kid, 'verify', { alg, digest: b64u(digest), value: signed.value });
      assert.deepEqual(verified, { value: true });
      const tampered = Buffer.from(unb64u(signed.value));
      tampered[5] ^= 1;
      assert.deepEqual(await op(jwk.kid, 'verify', { alg, digest: b64u(digest), value: b64u(tampered) }), { value: false });
    }
    const ec = await create('ec-default', { kty: 'EC-HSM' });
    assert.equal(ec.key.crv, 'P-256');
    assert.equal(ec.key.kty, 'EC-HSM');
    // The algorithm must suit the curve and the digest its hash.
    await fails('POST', `${new URL(ec.key.kid).pathname}/sign`, { alg: 'ES384', value: b64u(digestOf(384)) }, 400, 'BadParameter');
    await fails('POST', `${new URL(ec.key.kid).pathname}/sign`, { alg: 'ES256', value: b64u(digestOf(384)) }, 400, 'BadParameter');
    await fails('POST', `${new URL(ec.key.kid).pathname}/sign`, { alg: 'RS256', value: b64u(digestOf(256)) }, 400, 'BadParameter');
    await fails('POST', `${new URL(ec.key.kid).pathname}/encrypt`, { alg: 'RSA-OAEP', value: 'AAAA' }, 403, 'Forbidden', 'KeyOperationForbidden');
  });

  it('encrypt/decrypt and wrapkey/unwrapkey with RSA1_5, RSA-OAEP and RSA-OAEP-256 against Node crypto', async () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = pair.privateKey.export({ format: 'jwk' });
    const k = await ok200('PUT', '/keys/rsa-imported', { key: jwk, tags: { from: 'node' } });
    assert.equal(k.key.n, jwk.n);
    assert.equal(k.key.e, jwk.e);
    assert.equal(k.key.d, undefined);
    assert.deepEqual(k.tags, { from: 'node' });
    const kid = k.key.kid;
    const plain = randomBytes(32);
    const NODE = {
      'RSA1_5': { padding: constants.RSA_PKCS1_PADDING },
      'RSA-OAEP': { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      'RSA-OAEP-256': { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    };
    for (const [encrypt, decrypt] of [['encrypt', 'decrypt'], ['wrapkey', 'unwrapkey']]) {
      for (const alg of Object.keys(NODE)) {
        // Node encrypts with the public JWK azsim answered; azsim decrypts.
        const ciphertext = publicEncrypt({ key: publicKeyOf(k.key), ...NODE[alg] }, plain);
        const opened = await op(kid, decrypt, { alg, value: b64u(ciphertext) });
        assert.equal(opened.kid, kid);
        assert.deepEqual(unb64u(opened.value), plain, `${decrypt} ${alg}`);
        // azsim encrypts; Node (holding the private half) decrypts — except PKCS#1 v1.5, which
        // Node 20 refuses to decrypt (CVE-2023-46809), so azsim's own decrypt checks that one.
        const sealed = await op(kid, encrypt, { alg, value: b64u(plain) });
        assert.equal(unb64u(sealed.value).length, 256);
        const back = alg === 'RSA1_5'
          ? unb64u((await op(kid, decrypt, { alg, value: sealed.value })).value)
          : privateDecrypt({ key: pair.privateKey, ...NODE[alg] }, unb64u(sealed.value));
        assert.deepEqual(back, plain, `${encrypt} ${alg}`);
      }
    }
    // Garbage does not decrypt; an unknown algorithm, a value too long.
    await fails('POST', `${new URL(kid).pathname}/decrypt`, { alg: 'RSA-OAEP', value: b64u(randomBytes(256)) }, 400, 'BadParameter');
    await fails('POST', `${new URL(kid).pathname}/encrypt`, { alg: 'A256GCM', value: b64u(plain) }, 400, 'BadParameter');
    await fails('POST', `${new URL(kid).pathname}/encrypt`, { alg: 'RSA-OAEP', value: b64u(randomBytes(300)) }, 400, 'BadParameter');
    await fails('POST', `${new URL(kid).pathname}/encrypt`, { alg: 'RSA-OAEP', value: 'not base64url!' }, 400, 'BadParameter');
    // A signature Node makes with the private half verifies in azsim (RS and PS).
    for (const alg of ['RS256', 'PS384']) {
      const bits = alg.slice(2);
      const opts = alg.startsWith('PS') ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(bits) / 8 } : {};
      const sig = nodeSign(HASH[bits], DATA, { key: pair.privateKey, ...opts });
      assert.deepEqual(await op(kid, 'verify', { alg, digest: b64u(digestOf(bits)), value: b64u(sig) }), { value: true });
      assert.deepEqual(await op(kid, 'verify', { alg, digest: b64u(digestOf(bits, Buffer.from('other'))), value: b64u(sig) }), { value: false });
    }
    // The operations without a version in the path use the latest one.
    const latest = await ok200('POST', '/keys/rsa-imported/sign', { alg: 'RS512', value: b64u(digestOf(512)) });
    assert.equal(latest.kid, kid);
    assert.ok(nodeVerifies('RS512', k.key, latest.value));
  });

  it('import: EC keys, hsm, key_ops from the JWK; keys whose halves do not match are refused', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'jwk' });
    const k = await ok200('PUT', '/keys/ec-imported', { key: { ...ec, key_ops: ['sign'] }, hsm: true });
    assert.equal(k.key.kty, 'EC-HSM');
    assert.equal(k.key.crv, 'P-384');
    assert.equal(k.key.x, ec.x);
    assert.equal(k.key.y, ec.y);
    assert.deepEqual(k.key.key_ops, ['sign']);
    const signed = await op(k.key.kid, 'sign', { alg: 'ES384', value: b64u(digestOf(384)) });
    assert.ok(nodeVerifies('ES384', { kty: 'EC', crv: 'P-384', x: ec.x, y: ec.y }, signed.value));
    await fails('POST', `${new URL(k.key.kid).pathname}/verify`, { alg: 'ES384', digest: b64u(digestOf(384)), value: signed.value }, 403, 'Forbidden', 'KeyOperationForbidden');
    // Node's signature with the same private key verifies once verify is allowed.
    const updated = await ok200('PATCH', `/keys/ec-imported/${versionOf(k.key.kid)}`, { key_ops: ['sign', 'verify'] });
    assert.deepEqual(updated.key.key_ops, ['sign', 'verify']);
    const nodeSig = nodeSign('sha384', DATA, { key: createPrivateKey({ key: ec, format: 'jwk' }), dsaEncoding: 'ieee-p1363' });
    assert.deepEqual(await op(k.key.kid, 'verify', { alg: 'ES384', digest: b64u(digestOf(384)), value: b64u(nodeSig) }), { value: true });

    const other = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'jwk' });
    await fails('PUT', '/keys/mismatch', { key: { ...ec, d: other.d } }, 400, 'BadParameter');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
    await fails('PUT', '/keys/mismatch', { key: { ...rsa, n: other.x } }, 400, 'BadParameter');
    await fails('PUT', '/keys/mismatch', { key: { kty: rsa.kty, n: rsa.n, e: rsa.e } }, 400, 'BadParameter'); // public only
    await fails('PUT', '/keys/mismatch', { key: { ...rsa, kty: 'oct' } }, 400, 'BadParameter');
    await fails('GET', '/keys/mismatch', undefined, 404, 'KeyNotFound');
  });

  it('bad create requests: the key type, size, exponent, curve and key_ops', async () => {
    for (const body of [{}, { kty: 'oct' }, { kty: 'RSA', key_size: 1024 }, { kty: 'RSA', public_exponent: 17 },
      { kty: 'EC', crv: 'P-192' }, { kty: 'RSA', key_ops: ['fly'] }, { kty: 'RSA', tags: 'x' },
      { kty: 'RSA', attributes: { enabled: 'yes' } }]) {
      await fails('POST', '/keys/bad/create', body, 400, 'BadParameter');
    }
    await fails('POST', '/keys/bad_name/create', { kty: 'RSA' }, 400, 'BadParameter');
  });

  it('get, versions, list with paging, update; key_ops enforced; a disabled key is refused but readable', async () => {
    const v1 = await create('multi', { kty: 'EC', key_ops: ['sign'], tags: { v: '1' } });
    const v2 = await create('multi', { kty: 'EC', tags: { v: '2' }, attributes: { exp: Math.floor(Date.now() / 1000) + 3600 } });
    assert.notEqual(v1.key.kid, v2.key.kid);
    assert.equal((await ok200('GET', '/keys/multi/')).key.kid, v2.key.kid, 'trailing slash = latest');
    assert.equal((await ok200('GET', '/keys/multi')).key.kid, v2.key.kid);
    const got1 = await ok200('GET', `/keys/multi/${versionOf(v1.key.kid)}`);
    assert.equal(got1.key.x, v1.key.x);
    assert.deepEqual(got1.tags, { v: '1' });
    assert.equal(got1.attributes.exp, undefined);
    assert.equal((await ok200('GET', '/keys/multi/')).attributes.exp, v2.attributes.exp);

    const versions = await ok200('GET', '/keys/multi/versions');
    assert.deepEqual(versions.value.map((i) => i.kid), [v1.key.kid, v2.key.kid]);
    assert.equal(versions.value[0].key, undefined, 'items carry no key material');
    assert.equal(versions.nextLink, null);

    const page = await ok200('GET', '/keys?maxresults=2');
    assert.equal(page.value.length, 2);
    assert.match(page.nextLink, /^https:\/\/kv-keys\.vault\.azure\.net\/keys\?api-version=7\.4&\$skiptoken=2&maxresults=2$/);
    const names = [];
    for (let url = `/keys?maxresults=5`; url;) {
      const r = await ok200('GET', url);
      names.push(...r.value.map((i) => i.kid.split('/').pop()));
      assert.ok(r.value.every((i) => i.kid.split('/').length === 5 && i.attributes && !i.key), JSON.stringify(r.value[0]));
      url = r.nextLink && r.nextLink.slice(r.nextLink.indexOf('/keys')).replace(/&?api-version=7\.4/, '');
    }
    assert.ok(names.includes('multi') && names.includes('rsa-2048') && names.includes('ec-P-521'), names.join());

    // key_ops: v1 may only sign.
    const k1 = v1.key.kid;
    await op(k1, 'sign', { alg: 'ES256', value: b64u(digestOf(256)) });
    const refused = await fails('POST', `${new URL(k1).pathname}/verify`, { alg: 'ES256', digest: b64u(digestOf(256)), value: 'AA' }, 403, 'Forbidden', 'KeyOperationForbidden');
    assert.equal(refused.message, 'Operation verify is not permitted on this key.');
    // Update v1: tags and attributes; key_ops kept when not sent.
    const disabled = await ok200('PATCH', `/keys/multi/${versionOf(k1)}`, { attributes: { enabled: false }, tags: { v: 'one' } });
    assert.equal(disabled.attributes.enabled, false);
    assert.deepEqual(disabled.tags, { v: 'one' });
    assert.deepEqual(disabled.key.key_ops, ['sign']);
    assert.equal(disabled.key.x, v1.key.x);
    const off = await fails('POST', `${new URL(k1).pathname}/sign`, { alg: 'ES256', value: b64u(digestOf(256)) }, 403, 'Forbidden', 'KeyDisabled');
    assert.match(off.message, /disabled/);
    assert.equal((await ok200('GET', `/keys/multi/${versionOf(k1)}`)).attributes.enabled, false, 'a disabled key can still be read');
    // The latest version is untouched; an expired key may not sign but may still verify.
    await op(v2.key.kid, 'sign', { alg: 'ES256', value: b64u(digestOf(256)) });
    await ok200('PATCH', '/keys/multi', { attributes: { exp: Math.floor(Date.now() / 1000) - 10 } });
    await fails('POST', `${new URL(v2.key.kid).pathname}/sign`, { alg: 'ES256', value: b64u(digestOf(256)) }, 403, 'Forbidden', 'KeyExpired');
    assert.deepEqual(await op(v2.key.kid, 'verify', { alg: 'ES256', digest: b64u(digestOf(256)), value: b64u(Buffer.alloc(64, 1)) }), { value: false });
  });

  it('KeyNotFound for missing keys and versions, on every kind of route', async () => {
    const e = await fails('GET', '/keys/nope/', undefined, 404, 'KeyNotFound');
    assert.match(e.message, /A key with \(name\/id\) nope was not found/);
    await fails('GET', `/keys/rsa-2048/${'0'.repeat(32)}`, undefined, 404, 'KeyNotFound');
    await fails('POST', '/keys/nope/sign', { alg: 'RS256', value: b64u(digestOf(256)) }, 404, 'KeyNotFound');
    await fails('POST', `/keys/nope/${'0'.repeat(32)}/decrypt`, { alg: 'RSA-OAEP', value: 'AA' }, 404, 'KeyNotFound');
    await fails('PATCH', '/keys/nope', { tags: {} }, 404, 'KeyNotFound');
    await fails('DELETE', '/keys/nope', undefined, 404, 'KeyNotFound');
    await fails('POST', '/keys/nope/backup', undefined, 404, 'KeyNotFound');
    await fails('GET', '/deletedkeys/nope', undefined, 404, 'KeyNotFound');
    await fails('POST', '/deletedkeys/nope/recover', undefined, 404, 'KeyNotFound');
    await fails('DELETE', '/deletedkeys/nope', undefined, 404, 'KeyNotFound');
  });

  it('delete, list deleted, recover with the same material, purge (204)', async () => {
    const k = await create('doomed', { kty: 'RSA' });
    const d = await ok200('DELETE', '/keys/doomed');
    assert.equal(d.recoveryId, `https://${VAULT}.vault.azure.net/deletedkeys/doomed`);
    assert.equal(d.key.kid, k.key.kid);
    assert.equal(typeof d.deletedDate, 'number');
    assert.ok(d.scheduledPurgeDate > d.deletedDate);
    await fails('GET', '/keys/doomed', undefined, 404, 'KeyNotFound');
    await fails('POST', `${new URL(k.key.kid).pathname}/sign`, { alg: 'RS256', value: b64u(digestOf(256)) }, 404, 'KeyNotFound');
    const deleted = await ok200('GET', '/deletedkeys/doomed');
    assert.equal(deleted.key.n, k.key.n);
    assert.equal(deleted.recoveryId, d.recoveryId);
    const list = await ok200('GET', '/deletedkeys');
    assert.ok(list.value.some((i) => i.kid === `https://${VAULT}.vault.azure.net/keys/doomed` && i.recoveryId === d.recoveryId), JSON.stringify(list));
    await fails('POST', '/keys/doomed/create', { kty: 'RSA' }, 409, 'Conflict');
    await fails('PUT', '/keys/doomed', { key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }) }, 409, 'Conflict');

    const recovered = await ok200('POST', '/deletedkeys/doomed/recover');
    assert.equal(recovered.key.kid, k.key.kid);
    const signed = await op(k.key.kid, 'sign', { alg: 'PS256', value: b64u(digestOf(256)) });
    assert.ok(nodeVerifies('PS256', k.key, signed.value), 'the recovered key is the same key');
    await fails('GET', '/deletedkeys/doomed', undefined, 404, 'KeyNotFound');

    await ok200('DELETE', '/keys/doomed');
    await ok200('DELETE', '/deletedkeys/doomed', undefined, { status: 204 });
    await fails('GET', '/deletedkeys/doomed', undefined, 404, 'KeyNotFound');
    await create('doomed', { kty: 'EC' }); // the name is free again
  });

  it('backup and restore: every version back under its name, the same key material', async () => {
    const a = await create('saved', { kty: 'RSA', tags: { n: '1' } });
    const b = await create('saved', { kty: 'RSA' });
    const backup = await ok200('POST', '/keys/saved/backup');
    assert.match(backup.value, /^[A-Za-z0-9_-]+$/);
    await fails('POST', '/keys/restore', { value: backup.value }, 409, 'Conflict');
    await ok200('DELETE', '/keys/saved');
    await fails('POST', '/keys/restore', { value: backup.value }, 409, 'Conflict'); // deleted, not purged
    await ok200('DELETE', '/deletedkeys/saved', undefined, { status: 204 });
    const restored = await ok200('POST', '/keys/restore', { value: backup.value });
    assert.equal(restored.key.kid, b.key.kid);
    assert.equal(restored.key.n, b.key.n);
    const versions = await ok200('GET', '/keys/saved/versions');
    assert.deepEqual(versions.value.map((i) => i.kid), [a.key.kid, b.key.kid]);
    const signed = await op(a.key.kid, 'sign', { alg: 'RS384', value: b64u(digestOf(384)) });
    assert.ok(nodeVerifies('RS384', a.key, signed.value));
    await fails('POST', '/keys/restore', { value: 'bm90IGEgYmFja3Vw' }, 400, 'BadParameter');
    // A secret's backup is not a key's.
    await ok200('PUT', '/secrets/not-a-key', { value: 'x' });
    const secretBackup = await ok200('POST', '/secrets/not-a-key/backup');
    await fails('POST', '/keys/restore', { value: secretBackup.value }, 400, 'BadParameter');
  });

  it('access policies: keys get/list do not grant create, sign or decrypt', async () => {
    const denied = await fails('POST', '/keys/k/create', { kty: 'RSA' }, 403, 'Forbidden', 'ForbiddenByPolicy', { vault: LIMITED });
    assert.match(denied.message, /does not have keys create permission/);
    await fails('POST', '/keys/k/sign', { alg: 'RS256', value: 'AA' }, 403, 'Forbidden', 'ForbiddenByPolicy', { vault: LIMITED });
    await fails('POST', '/keys/k/v/decrypt', { alg: 'RSA-OAEP', value: 'AA' }, 403, 'Forbidden', 'ForbiddenByPolicy', { vault: LIMITED });
    assert.deepEqual((await ok200('GET', '/keys', undefined, { vault: LIMITED })).value, []);
    await fails('GET', '/keys/k', undefined, 404, 'KeyNotFound', undefined, { vault: LIMITED });
  });

  it('@azure/keyvault-keys: KeyClient and CryptographyClient, local and remote operations', async () => {
    const { output, stderr } = await aad.runGuardedChild(CLIENT, {
      tenantId: info.tenantId, clientId: info.clientId, clientSecret: info.clientSecret,
      vaultUrl: `https://${VAULT}.vault.azure.net`, prefix: 'sdk',
    }, aad.sdkEnv(env), { timeoutMs: 60_000, what: 'Key Vault keys SDK child' });
    const byId = Object.fromEntries(output.results.map((r) => [r.id, r]));
    const step = (id) => {
      const r = byId[id];
      assert.ok(r?.ok, `${id} failed: ${JSON.stringify(r?.error, null, 2)}\nchild stderr:\n${stderr}`);
      return r.value;
    };
    const rsa = step('createRsa');
    assert.equal(rsa.keyType, 'RSA');
    assert.equal(unb64u(rsa.key.n).length, 256);
    const ec = step('createEc');
    assert.equal(ec.key.crv, 'P-384');
    assert.equal(step('getRsa').id, rsa.id);
    step('clients');
    assert.deepEqual(step('oaep'), { same: true, keyID: rsa.id });
    assert.deepEqual(step('pkcs1'), { same: true });
    assert.equal(step('oaep256').same, true);
    assert.deepEqual(step('wrap'), { same: true });
    const rs = step('signRs256');
    assert.equal(rs.verified, true);
    const rsaJwk = { kty: 'RSA', n: rsa.key.n, e: rsa.key.e };
    assert.ok(nodeVerifies('RS256', rsaJwk, rs.signature, SDK_DATA));
    const rs512 = step('signDataRs512');
    assert.equal(rs512.verified, true, 'the SDK verifies locally with n/e');
    assert.ok(nodeVerifies('RS512', rsaJwk, rs512.signature, SDK_DATA));
    assert.ok(nodeVerifies('PS512', rsaJwk, step('signDataPs512'), SDK_DATA));
    const es = step('signEs384');
    assert.equal(es.verified, true);
    assert.equal(es.badVerified, false);
    assert.ok(nodeVerifies('ES384', { kty: 'EC', crv: ec.key.crv, x: ec.key.x, y: ec.key.y }, es.signature,
      SDK_DATA));
    assert.deepEqual(step('update'), { tags: { env: 'test' }, keyOperations: ['sign', 'verify'] });
    const refused = byId.decryptRefused;
    assert.equal(refused.ok, false, JSON.stringify(refused));
    assert.match(refused.error.message, /decrypt/, JSON.stringify(refused.error));
    assert.ok(['sdk-rsa', 'sdk-ec'].every((n) => step('list').includes(n)), JSON.stringify(step('list')));
    assert.equal(step('versions').length, 2);
    assert.ok(step('backup') > 0);
    assert.equal(step('delete').recoveryId, `https://${VAULT}.vault.azure.net/deletedkeys/sdk-ec`);
    assert.equal(step('getDeleted'), 'sdk-ec');
    assert.equal(step('recover').id, ec.id);
    step('purge');
    const restored = step('restore');
    assert.equal(restored.id, ec.id);
    assert.equal(restored.key.x, ec.key.x);
    const imported = step('import');
    assert.equal(imported.key.key.x, imported.x);
    assert.equal(imported.key.keyType, 'EC');
    // What went to azsim: RSA-OAEP, RSA1_5 encryption and wrapping happened in the SDK with n/e;
    // decrypt, unwrap, sign and RSA-OAEP-256 were posted.
    const posted = (op) => output.requests.filter((r) => r.method === 'POST' && new URL(r.url).pathname.endsWith(`/${op}`));
    assert.equal(posted('encrypt').length, 1, 'only RSA-OAEP-256 encrypts remotely');
    assert.equal(posted('wrapkey').length, 0);
    assert.equal(posted('decrypt').filter((r) => r.status === 200).length, 3);
    assert.equal(posted('unwrapkey').length, 1);
    assert.ok(posted('sign').length >= 4);
    assert.ok(output.requests.every((r) => r.status !== 200 || r.aud === aad.VAULT), 'vault tokens only');
    const missing = byId.notFound;
    assert.equal(missing.ok, false);
    assert.equal(missing.error.statusCode, 404);
    assert.equal(missing.error.code, 'KeyNotFound');
  });
});

// The child process of the Key Vault keys tests (keyvault-keys.test.mjs): an application using
// @azure/keyvault-keys (KeyClient and CryptographyClient with a ClientSecretCredential) the way it
// would against Azure. Started by lib/aad.mjs runGuardedChild with exactly the environment
// `azsim env` printed (HTTPS_PROXY is the front door, NODE_EXTRA_CA_CERTS the CA); nothing in code
// points at the simulator.
//
// Reads one scenario on stdin: {tenantId, clientId, clientSecret, vaultUrl, prefix} and runs the
// steps below in order, each on its own. Byte values (public key members, signatures, results)
// come out as base64url so the parent can check them with Node's crypto. Prints {results: [{id, ok,
// value | error, statuses}], requests} (lib/sdk-child.mjs).
import { createHash, randomBytes } from 'node:crypto';

import { ClientSecretCredential } from '@azure/identity';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';

import { readScenario, Recorder, runSteps } from './sdk-child.mjs';

const sc = await readScenario();
const recorder = new Recorder();
const credential = new ClientSecretCredential(sc.tenantId, sc.clientId, sc.clientSecret);
const options = { additionalPolicies: [recorder.policy], retryOptions: { maxRetries: 0 } };
const client = new KeyClient(sc.vaultUrl, credential, options);
const POLL = { updateIntervalInMs: 100 };
const b64u = (bytes) => Buffer.from(bytes).toString('base64url');
const name = (n) => `${sc.prefix}-${n}`;

/** A KeyVaultKey as JSON: the JWK with its byte members in base64url, and its properties. */
function keyJson(k) {
  const jwk = {};
  for (const [key, v] of Object.entries(k.key ?? {})) jwk[key] = v instanceof Uint8Array ? b64u(v) : v;
  return { id: k.id, name: k.name, keyType: k.keyType, keyOperations: k.keyOperations, key: jwk,
    enabled: k.properties.enabled, version: k.properties.version, tags: k.properties.tags };
}

const data = Buffer.from('signed by azsim through @azure/keyvault-keys');
const digest = (alg) => createHash(alg).update(data).digest();
const plain = randomBytes(32);
const crypto = {};

const steps = [
  ['createRsa', async () => keyJson(await client.createRsaKey(name('rsa'), { keySize: 2048 }))],
  ['createEc', async () => keyJson(await client.createEcKey(name('ec'), { curve: 'P-384' }))],
  ['getRsa', async () => keyJson(await client.getKey(name('rsa')))],
  ['clients', async () => {
    const rsa = await client.getKey(name('rsa'));
    const ec = await client.getKey(name('ec'));
    crypto.rsaById = new CryptographyClient(rsa.id, credential, options);
    crypto.rsaByKey = new CryptographyClient(rsa, credential, options); // local public operations
    crypto.ec = new CryptographyClient(ec.id, credential, options);
    return null;
  }],
  // encrypt RSA-OAEP and RSA1_5 locally (with n/e), decrypt in azsim; RSA-OAEP-256 both remote.
  ['oaep', async () => {
    const enc = await crypto.rsaByKey.encrypt({ algorithm: 'RSA-OAEP', plaintext: plain });
    const dec = await crypto.rsaById.decrypt({ algorithm: 'RSA-OAEP', ciphertext: enc.result });
    return { same: Buffer.from(dec.result).equals(plain), keyID: dec.keyID };
  }],
  ['pkcs1', async () => {
    const enc = await crypto.rsaByKey.encrypt({ algorithm: 'RSA1_5', plaintext: plain });
    const dec = await crypto.rsaById.decrypt({ algorithm: 'RSA1_5', ciphertext: enc.result });
    return { same: Buffer.from(dec.result).equals(plain) };
  }],
  ['oaep256', async () => {
    const enc = await crypto.rsaById.encrypt({ algorithm: 'RSA-OAEP-256', plaintext: plain });
    const dec = await crypto.rsaById.decrypt({ algorithm: 'RSA-OAEP-256', ciphertext: enc.result });
    return { same: Buffer.from(dec.result).equals(plain), ciphertext: b64u(enc.result) };
  }],
  ['wrap', async () => {
    const wrapped = await crypto.rsaByKey.wrapKey('RSA-OAEP', plain);
    const unwrapped = await crypto.rsaById.unwrapKey('RSA-OAEP', wrapped.result);
    return { same: Buffer.from(unwrapped.result).equals(plain) };
  }],
  ['signRs256', async () => {
    const r = await crypto.rsaById.sign('RS256', digest('sha256'));
    const v = await crypto.rsaById.verify('RS256', digest('sha256'), r.result);
    return { signature: b64u(r.result), verified: v.result };
  }],
  // signData hashes locally and signs remotely. verifyData checks locally with n/e, but with
  // PKCS#1 v1.5 padding whatever the algorithm (the SDK's createVerify passes no padding), so a
  // PS* signature never verifies there, against Azure either: RS512 is checked locally, PS512 by
  // the parent with Node's crypto.
  ['signDataRs512', async () => {
    const r = await crypto.rsaById.signData('RS512', data);
    const v = await crypto.rsaByKey.verifyData('RS512', data, r.result);
    return { signature: b64u(r.result), verified: v.result };
  }],
  ['signDataPs512', async () => b64u((await crypto.rsaById.signData('PS512', data)).result)],
  ['signEs384', async () => {
    const r = await crypto.ec.sign('ES384', digest('sha384'));
    const v = await crypto.ec.verify('ES384', digest('sha384'), r.result);
    const bad = await crypto.ec.verify('ES384', digest('sha384'), Buffer.alloc(r.result.length, 1));
    return { signature: b64u(r.result), verified: v.result, badVerified: bad.result };
  }],
  ['update', async () => {
    const p = await client.updateKeyProperties(name('rsa'), { tags: { env: 'test' }, keyOps: ['sign', 'verify'] });
    return { tags: p.properties.tags, keyOperations: p.keyOperations };
  }],
  ['decryptRefused', async () => {
    const c = new CryptographyClient((await client.getKey(name('rsa'))).id, credential, options);
    return c.decrypt({ algorithm: 'RSA-OAEP', ciphertext: Buffer.alloc(256) });
  }],
  ['list', async () => {
    const out = [];
    for await (const p of client.listPropertiesOfKeys()) out.push(p.name);
    return out;
  }],
  ['versions', async () => {
    await client.createRsaKey(name('rsa'));
    const out = [];
    for await (const p of client.listPropertiesOfKeyVersions(name('rsa'))) out.push(p.version);
    return out;
  }],
  ['backup', async () => {
    crypto.backup = await client.backupKey(name('ec'));
    return crypto.backup.length;
  }],
  ['delete', async () => {
    const d = await (await client.beginDeleteKey(name('ec'), POLL)).pollUntilDone();
    return { recoveryId: d.properties.recoveryId, name: d.name };
  }],
  ['getDeleted', async () => (await client.getDeletedKey(name('ec'))).name],
  ['recover', async () => keyJson(await (await client.beginRecoverDeletedKey(name('ec'), POLL)).pollUntilDone())],
  ['purge', async () => {
    await (await client.beginDeleteKey(name('ec'), POLL)).pollUntilDone();
    await client.purgeDeletedKey(name('ec'));
    return null;
  }],
  ['restore', async () => keyJson(await client.restoreKeyBackup(crypto.backup))],
  ['import', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
    const bytes = Object.fromEntries(Object.entries(jwk).map(([k, v]) => [k, k === 'kty' || k === 'crv' ? v : Buffer.from(v, 'base64url')]));
    const k = await client.importKey(name('imported'), bytes);
    return { x: jwk.x, key: keyJson(k) };
  }],
  ['notFound', () => client.getKey(name('nope'))],
];

await runSteps(steps, recorder);

// Entra ID state that outlives a request: signing key rotation with `azsim keys` on a running,
// file-backed server, and the bootstrap identity fixed by flags (or AZSIM_* variables) and kept
// across restarts.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';

import * as aad from './lib/aad.mjs';
import * as az from './lib/azsim.mjs';

/**
 * A data directory of its own for test `t`, and `start` for servers on it: at the end every
 * server still running is killed first, then the directory is removed.
 */
function ownDataDir(t) {
  const { dir, cleanup } = az.tempDir();
  const servers = [];
  t.after(async () => {
    for (const s of servers) await s.cleanup();
    cleanup();
  });
  return {
    dir,
    async start(opts = {}) {
      const s = await az.start({ ...opts, dataDir: dir });
      servers.push(s);
      return s;
    },
  };
}

/** A client_credentials token for the vault, with the secret, straight from the aad listener. */
async function secretToken(server, ident) {
  const r = await aad.postForm(server, `/${ident.tenantId}/oauth2/v2.0/token`, {
    grant_type: 'client_credentials',
    client_id: ident.clientId,
    client_secret: ident.clientSecret,
    scope: `${aad.VAULT}/.default`,
  });
  assert.equal(r.status, 200, r.text);
  return r.json().access_token;
}

/** A password-grant token of the admin user (Azure CLI app). */
async function userToken(server, ident) {
  const r = await aad.postForm(server, `/${ident.tenantId}/oauth2/v2.0/token`, {
    grant_type: 'password',
    client_id: aad.AZURE_CLI_APP_ID,
    username: ident.username,
    password: ident.password,
    scope: `${aad.ARM}/.default offline_access openid profile`,
  });
  assert.equal(r.status, 200, r.text);
  return r.json().access_token;
}

async function publishedKids(server, tenantId) {
  const jwks = await aad.getJson(server, `/${tenantId}/discovery/v2.0/keys`);
  return jwks.keys.map((k) => k.kid);
}

/** `azsim keys list` as {kid: 'active' | 'published'}. */
function listKeys(dataDir) {
  const r = aad.keys(dataDir, 'list');
  assert.equal(r.code, 0, r.stderr);
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/)));
}

test('signing keys: `azsim keys rotate` and `retire` change what a running server signs and publishes', async (t) => {
  const { dir, start } = ownDataDir(t);
  const s = await start({ inMemory: false });
  const ctx = aad.context(s);
  const { tenantId } = ctx.info;

  const before = await secretToken(s, ctx.info);
  const k1 = aad.kidOf(before);
  await aad.verifyAppToken(ctx, before, aad.VAULT);
  assert.deepEqual(await publishedKids(s, tenantId), [k1]);
  assert.deepEqual(listKeys(dir), { [k1]: 'active' });

  // Rotate: new tokens carry the new key, both keys are published, old tokens still verify.
  const rotated = aad.keys(dir, 'rotate');
  assert.equal(rotated.code, 0, rotated.stderr);
  const [k2, state] = rotated.stdout.trim().split(/\s+/);
  assert.equal(state, 'active');
  assert.notEqual(k2, k1);
  assert.deepEqual(listKeys(dir), { [k2]: 'active', [k1]: 'published' });

  const afterRotate = await secretToken(s, ctx.info);
  assert.equal(aad.kidOf(afterRotate), k2, 'the running server signs with the new key');
  await aad.verifyAppToken(ctx, afterRotate, aad.VAULT);
  const user = await userToken(s, ctx.info);
  assert.equal(aad.kidOf(user), k2);
  await aad.verifyUserToken(ctx, user, aad.ARM);
  assert.deepEqual((await publishedKids(s, tenantId)).sort(), [k1, k2].sort());
  await aad.verifyAppToken(ctx, before, aad.VAULT);

  // The active key cannot be retired.
  const refused = aad.keys(dir, 'retire', k2);
  assert.notEqual(refused.code, 0, refused.stdout);
  assert.deepEqual((await publishedKids(s, tenantId)).sort(), [k1, k2].sort());

  // Retire the old key: no longer published, so tokens it signed no longer verify.
  const retired = aad.keys(dir, 'retire', k1);
  assert.equal(retired.code, 0, retired.stderr);
  assert.deepEqual(await publishedKids(s, tenantId), [k2]);
  assert.deepEqual(listKeys(dir), { [k2]: 'active' });
  await assert.rejects(aad.verifyToken(s, before, { tenantId, audience: aad.VAULT }), { code: 'ERR_JWKS_NO_MATCHING_KEY' });
  await aad.verifyAppToken(ctx, afterRotate, aad.VAULT);
  const latest = await secretToken(s, ctx.info);
  assert.equal(aad.kidOf(latest), k2);
  await aad.verifyAppToken(ctx, latest, aad.VAULT);

  // Retiring it again is refused.
  assert.notEqual(aad.keys(dir, 'retire', k1).code, 0);

  // After a restart the server still signs with, and publishes only, the rotated key.
  await az.stopClean(s);
  const again = await start({ inMemory: false });
  const restarted = await secretToken(again, ctx.info);
  assert.equal(aad.kidOf(restarted), k2);
  assert.deepEqual(await publishedKids(again, tenantId), [k2]);
  await az.stopClean(again);
});

test('`azsim keys` refuses a data directory without a store (an --in-memory server)', async (t) => {
  const s = await az.startFor(t);
  const r = aad.keys(s.dataDir, 'rotate');
  assert.notEqual(r.code, 0, r.stdout);
  assert.ok(r.stderr.length > 0, 'says why');
  await az.stopClean(s);
});

function fixedIdentity() {
  return {
    tenantId: randomUUID(),
    tenantDomain: `fixed${Date.now().toString(36)}.onmicrosoft.com`,
    clientId: randomUUID(),
    clientSecret: `Fixed~${randomUUID()}`,
    password: `Pw-${randomUUID().slice(0, 8)}!`,
  };
}

function assertIdentity(got, want) {
  assert.equal(got.tenantId, want.tenantId);
  assert.equal(got.tenantDomain, want.tenantDomain);
  assert.equal(got.clientId, want.clientId);
  assert.equal(got.clientSecret, want.clientSecret);
  assert.equal(got.password, want.password);
  assert.equal(got.username, `admin@${want.tenantDomain}`);
  assert.match(got.userId, az.UUID_RE);
}

for (const inMemory of [false, true]) {
  test(`fixed identity (${inMemory ? 'in memory' : 'file-backed'}): flags set it, a restart without them keeps it`, async (t) => {
    const { start } = ownDataDir(t);
    const want = fixedIdentity();
    const s = await start({
      inMemory,
      args: [
        '--tenant-id', want.tenantId,
        '--tenant-domain', want.tenantDomain,
        '--admin-client-id', want.clientId,
        '--admin-client-secret', want.clientSecret,
        '--admin-password', want.password,
      ],
    });
    const ctx = aad.context(s);
    assertIdentity(ctx.info, want);
    assert.match(s.stdout, new RegExp(`^tenant\\s+${want.tenantId} \\(${want.tenantDomain.replace(/\./g, '\\.')}\\)$`, 'm'));
    // The banner names the admins; their secret and password are only in `azsim info`.
    assert.ok(s.stdout.includes(`client id ${want.clientId} (secret: azsim info)`), s.stdout);
    assert.ok(!s.stdout.includes(want.clientSecret) && !s.stdout.includes(want.password), s.stdout);

    // A real client with these credentials, through the front door.
    const run = await aad.runClient([
      {
        id: 'secret',
        kind: 'identity',
        credential: 'ClientSecretCredential',
        args: [want.tenantId, want.clientId, want.clientSecret],
        scopes: [`${aad.VAULT}/.default`, `${aad.ARM}/.default`],
      },
    ], aad.sdkEnv(ctx.env));
    const tokens = aad.okResult(run, 'secret').tokens;
    const spOid = (await aad.verifyAppToken(ctx, tokens[0].token, aad.VAULT)).oid;
    await aad.verifyAppToken(ctx, tokens[1].token, aad.ARM);
    const userOid = (await aad.verifyUserToken(ctx, await userToken(s, ctx.info), aad.ARM)).oid;
    assert.equal(userOid, ctx.info.userId);
    await az.stopClean(s);

    // Restarted on the same data directory without any flag: the same identity, all of it.
    const again = await start({ inMemory });
    const ctx2 = aad.context(again);
    assertIdentity(ctx2.info, want);
    // Everything `azsim info` reports (the listener ports aside), the admin user's object id and
    // the admin certificate included.
    const kept = (c) => ({
      ...c.info,
      directAuthority: undefined,
      certificateThumbprint: aad.readClientPem(c.info.clientCertificatePath).x5tS256,
    });
    assert.deepEqual(kept(ctx2), kept(ctx), 'the same identity after a restart');
    const app = await aad.verifyAppToken(ctx2, await secretToken(again, want), aad.VAULT);
    // (An in-memory store recreates the service principal; its object id is recorded nowhere.)
    if (!inMemory) assert.equal(app.oid, spOid, 'the service principal keeps its object id');
    const user = await aad.verifyUserToken(ctx2, await userToken(again, ctx2.info), aad.ARM);
    assert.equal(user.oid, userOid);
    await az.stopClean(again);
  });
}

test('fixed identity from AZSIM_* variables', async (t) => {
  const want = fixedIdentity();
  const s = await az.startFor(t, {
    env: {
      AZSIM_TENANT_ID: want.tenantId,
      AZSIM_TENANT_DOMAIN: want.tenantDomain,
      AZSIM_ADMIN_CLIENT_ID: want.clientId,
      AZSIM_ADMIN_CLIENT_SECRET: want.clientSecret,
      AZSIM_ADMIN_PASSWORD: want.password,
    },
  });
  const ctx = aad.context(s);
  assertIdentity(ctx.info, want);
  await aad.verifyAppToken(ctx, await secretToken(s, want), aad.VAULT);
  await aad.verifyUserToken(ctx, await userToken(s, ctx.info), aad.ARM);
  await az.stopClean(s);
});

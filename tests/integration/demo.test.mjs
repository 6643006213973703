// `azsim demo`: the seven steps of the managed-identity flow, narrated over HTTP only. Both
// flows, on a server the demo starts for itself and on one already running; the narration must
// show the denial before the role assignment and the success after it, with plain text when
// piped (no colour codes).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';

import * as aad from './lib/aad.mjs';
import * as armLib from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';

/** The narration's checkpoints, in the order they must appear. */
function assertNarration(out, mode) {
  const marks = [
    `a ${mode} managed identity`,
    'Step 1 — ARM receives',
    'Step 2 — ARM created a service principal',
    '"servicePrincipalType": "ManagedIdentity"',
    'Step 3 —',
    '"type": "AsymmetricX509Cert"',
    'Before step 4 —',
    '← 403 Forbidden',
    'Forbidden (ForbiddenByRbac)',
    'audit: DENIED keyvault Microsoft.KeyVault/vaults/secrets/getSecret/action',
    'Step 4 — someone grants the principal access',
    'Key Vault Secrets User (4633458b-17de-408a-b874-0445c86b69e6)',
    'Step 5 — code on the VM asks IMDS for a token',
    '→ GET http://169.254.169.254/metadata/identity/oauth2/token?',
    'Step 6 — IMDS signed in to Entra ID',
    '"alg": "RS256"',
    'is published by Entra ID',
    '= the principalId of step 1',
    'Step 7 — the VM sends the token to Key Vault',
    'value: hello from Key Vault',
    'audit: allowed keyvault Microsoft.KeyVault/vaults/secrets/getSecret/action',
    'The flow ran end to end',
  ];
  let at = 0;
  for (const m of marks) {
    const i = out.indexOf(m, at);
    assert.ok(i >= 0, `"${m}" missing after position ${at}:\n${out}`);
    at = i;
  }
  assert.doesNotMatch(out, /\x1b\[/, 'no colour codes when piped');
}

describe('azsim demo', () => {
  it('system-assigned, on an azsim it starts and removes afterwards', () => {
    const scratch = az.tempDir();
    try {
      const r = az.run(['demo', 'system-assigned', '--data-dir', scratch.dir], { timeoutMs: 60_000 });
      az.assertNoSanitizerReport(r.stderr);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assertNarration(r.stdout, 'system-assigned');
      assert.doesNotMatch(r.stdout, /client_id names/, 'no selector for a system-assigned identity');
      const dir = /started for this demo in (\S+);/.exec(r.stdout)?.[1];
      assert.ok(dir, r.stdout);
      assert.equal(existsSync(dir), false, `${dir} is left behind`);
    } finally {
      scratch.cleanup();
    }
  });

  describe('against a running azsim', () => {
    let s, info, admin;
    before(async () => {
      s = await az.start({ inMemory: false });
      info = aad.info(s.dataDir);
      admin = (await armLib.appToken(s, info.tenantId, info.clientId, info.clientSecret)).token;
    });
    after(() => az.finish(s));

    it('user-assigned: the identity by client_id, and what it made stays for inspection', async () => {
      const r = az.run(['demo', 'user-assigned', '--data-dir', s.dataDir], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assertNarration(r.stdout, 'user-assigned');
      assert.match(r.stdout, /running, data directory /);
      assert.match(r.stdout, /&client_id=[0-9a-f-]{36}/);
      const group = /resourceGroups\/(azsim-demo-[0-9a-f]+)/.exec(r.stdout)[1];
      const g = await armLib.armRequest(s, admin, 'GET', `/subscriptions/${info.subscriptionId}/resourcegroups/${group}?api-version=2021-04-01`);
      assert.equal(g.status, 200, g.text);
      const oid = /`azsim audit ([0-9a-f-]{36})`/.exec(r.stdout)[1];
      const audit = az.run(['audit', oid, '--data-dir', s.dataDir]);
      assert.match(audit.stdout, /DENIED\s+keyvault/);
      assert.match(audit.stdout, /allowed\s+keyvault/);
    });
  });

  it('an unknown flow is a usage error', () => {
    const r = az.run(['demo', 'both']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /usage: azsim demo system-assigned\|user-assigned/);
  });
});

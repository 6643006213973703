// Seed files: `azsim serve --seed FILE` and `azsim apply FILE`. The compose environment's own
// seed (docker/seed.json) applied at start, checked through Resource Manager; the sample app of
// docker/app reading what it seeded as a VM (`azsim env --vm`); applying again changing nothing;
// directory objects with fixed ids and credentials that then sign in; Key Vault secrets through
// Resource Manager with @azure/arm-keyvault; and bad files, each refused with the entry and
// field at fault.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { ClientSecretCredential } from '@azure/identity';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';

import * as aad from './lib/aad.mjs';
import * as armLib from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';

const SEED = fileURLToPath(new URL('../../docker/seed.json', import.meta.url));
const APP = fileURLToPath(new URL('../../docker/app/app.mjs', import.meta.url));
const UAI_CLIENT_ID = '6c3f6a8e-2d8b-4b7e-9d7e-0b7c1f3a9e51';
const UAI_PRINCIPAL_ID = '9a0e7d35-5c0b-4f43-8a29-3c1b8e2f6d70';
const SYSTEM_PRINCIPAL_ID = '4d8f2c61-7a3e-4b9d-8c15-2e6a0f9b3d47';
const VAULT = 'azsim-demo-kv';

describe('seed files', () => {
  let s, info, admin, sub, rg;
  const arm = async (method, path, body) => {
    const r = await armLib.armRequest(s, admin, method, path, body);
    assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
    return r.json();
  };
  const apply = (file) => az.run(['apply', file, '--data-dir', s.dataDir], { timeoutMs: 30_000 });
  /** docker/app as VM `vm`, its environment what `azsim env --vm` prints. */
  const runApp = (vm, env = {}) => {
    const vmEnv = JSON.parse(az.run(['env', '--vm', vm, '--format', 'json', '--data-dir', s.dataDir]).stdout);
    const r = spawnSync(process.execPath, [APP], {
      env: { PATH: process.env.PATH, ...vmEnv, APP_NAME: vm, KEY_VAULT_URL: `https://${VAULT}.vault.azure.net`,
        SECRET_NAME: 'greeting', BLOB_URL: 'https://azsimdemostore.blob.core.windows.net/data/hello.txt', ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { code: r.status, out: r.stdout + r.stderr };
  };
  const count = async () => ({
    resources: (await arm('GET', `${sub}/resources?api-version=2021-04-01`)).value.length,
    assignments: (await arm('GET', `${sub}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01`)).value.length,
  });

  before(async () => {
    s = await az.start({ inMemory: false, args: ['--seed', SEED] });
    info = aad.info(s.dataDir);
    admin = (await armLib.appToken(s, info.tenantId, info.clientId, info.clientSecret)).token;
    sub = `/subscriptions/${info.subscriptionId}`;
    rg = `${sub}/resourceGroups/demo`;
  });
  after(() => az.finish(s));

  it('serve --seed: the identities with their fixed ids, the VMs at their addresses', async () => {
    const uai = await arm('GET', `${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/orders-identity?api-version=2023-01-31`);
    assert.equal(uai.properties.clientId, UAI_CLIENT_ID);
    assert.equal(uai.properties.principalId, UAI_PRINCIPAL_ID);
    assert.equal(uai.properties.tenantId, info.tenantId);
    const vm = await arm('GET', `${rg}/providers/Microsoft.Compute/virtualMachines/vm-system?api-version=2024-03-01`);
    assert.equal(vm.identity.type, 'SystemAssigned');
    assert.equal(vm.identity.principalId, SYSTEM_PRINCIPAL_ID);
    assert.equal(vm.location, 'westeurope');
    const user = await arm('GET', `${rg}/providers/Microsoft.Compute/virtualMachines/vm-user?api-version=2024-03-01`);
    assert.equal(user.identity.type, 'UserAssigned');
    assert.deepEqual(Object.keys(user.identity.userAssignedIdentities).map((k) => k.toLowerCase()), [uai.id.toLowerCase()]);
    const nic = await arm('GET', `${rg}/providers/Microsoft.Network/networkInterfaces/vm-userVMNic?api-version=2023-09-01`);
    assert.equal(nic.properties.ipConfigurations[0].properties.privateIPAddress, '169.254.169.11');
    const list = JSON.parse(az.run(['vm', 'list', '--json', '--data-dir', s.dataDir]).stdout);
    assert.equal(list.length, 2, JSON.stringify(list));
  });

  it('serve --seed: role assignments by reference, and the secret through Resource Manager without its value', async () => {
    const mine = (oid) => arm('GET', `${sub}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=principalId%20eq%20'${oid}'`);
    for (const oid of [SYSTEM_PRINCIPAL_ID, UAI_PRINCIPAL_ID]) {
      const scopes = (await mine(oid)).value.map((a) => a.properties.scope.split('/').pop()).sort();
      assert.deepEqual(scopes, ['azsim-demo-kv', 'azsimdemostore']);
    }
    const secret = await arm('GET', `${rg}/providers/Microsoft.KeyVault/vaults/${VAULT}/secrets/greeting?api-version=2023-07-01`);
    assert.equal(secret.properties.value, undefined);
    assert.equal(secret.properties.secretUri, `https://${VAULT}.vault.azure.net/secrets/greeting`);
    assert.match(secret.properties.secretUriWithVersion, /\/secrets\/greeting\/[0-9a-f]{32}$/);
  });

  it('the sample app reads the secret and the blob as each VM, unmodified', () => {
    const system = runApp('vm-system');
    assert.equal(system.code, 0, system.out);
    assert.match(system.out, /vm-system: secret: hello from Key Vault/);
    assert.match(system.out, /vm-system: blob: hello from Blob Storage/);
    const user = runApp('vm-user', { AZURE_CLIENT_ID: UAI_CLIENT_ID });
    assert.equal(user.code, 0, user.out);
    assert.match(user.out, /vm-user: secret: hello from Key Vault/);
    const denied = runApp('vm-system', { AZURE_CLIENT_ID: UAI_CLIENT_ID });
    assert.notEqual(denied.code, 0, denied.out);
    assert.doesNotMatch(denied.out, /hello from/);
  });

  it('apply again, beside the running server: nothing new, not even a secret version', async () => {
    const before = await count();
    const version = async () => (await arm('GET', `${rg}/providers/Microsoft.KeyVault/vaults/${VAULT}/secrets/greeting?api-version=2023-07-01`)).properties.secretUriWithVersion;
    const was = await version();
    for (let i = 0; i < 2; i++) {
      const r = apply(SEED);
      az.assertNoSanitizerReport(r.stderr);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^applied /);
    }
    assert.deepEqual(await count(), before);
    assert.equal(await version(), was);
  });

  it('directory objects with fixed ids and credentials sign in; a second apply changes the password', async () => {
    const tenant = 'c0ffee00-1111-4222-8333-444455556666';
    const appId = '0badcafe-1111-4222-8333-444455556666';
    const file = join(s.dataDir, 'directory.json');
    const seed = (password) => ({
      tenants: [{ id: tenant, domain: 'fabrikam.example', displayName: 'Fabrikam' }],
      users: [{ userPrincipalName: 'alice@fabrikam.example', password, tenant: 'fabrikam.example', id: 'a11ce000-1111-4222-8333-444455556666' }],
      applications: [{ displayName: 'orders-api', appId, secret: 'orders-api-secret-1', identifierUri: 'api://orders' }],
      subscriptions: [{ id: '5ab5c0de-1111-4222-8333-444455556666', displayName: 'second' }],
      roleAssignments: [{ principal: 'app:orders-api', role: 'Reader', scope: 'subscription', subscription: '5ab5c0de-1111-4222-8333-444455556666' }],
    });
    writeFileSync(file, JSON.stringify(seed('Alice-Pass-1')));
    let r = apply(file);
    assert.equal(r.code, 0, r.stderr);
    const { token, claims } = await armLib.appToken(s, info.tenantId, appId, 'orders-api-secret-1');
    assert.equal(claims.appid, appId);
    const subs = await armLib.armRequest(s, token, 'GET', '/subscriptions?api-version=2022-12-01');
    assert.deepEqual(subs.json().value.map((x) => x.subscriptionId), ['5ab5c0de-1111-4222-8333-444455556666']);
    const password = (p) => aad.postForm(s, `/${tenant}/oauth2/v2.0/token`, {
      grant_type: 'password', client_id: aad.AZURE_CLI_APP_ID, username: 'alice@fabrikam.example', password: p,
      scope: `${armLib.ARM}/.default`,
    });
    let t = await password('Alice-Pass-1');
    assert.equal(t.status, 200, t.text);
    assert.equal(armLib.claimsOf(t.json().access_token).oid, 'a11ce000-1111-4222-8333-444455556666');
    writeFileSync(file, JSON.stringify(seed('Alice-Pass-2')));
    r = apply(file);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await password('Alice-Pass-1')).status, 400);
    t = await password('Alice-Pass-2');
    assert.equal(t.status, 200, t.text);
  });

  it('an application with a certificate (PEM in the file) signs in with a client assertion', async () => {
    const dir = az.tempDir();
    try {
      const key = join(dir.dir, 'key.pem');
      const cert = join(dir.dir, 'cert.pem');
      const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
        '-days', '30', '-subj', '/CN=orders-worker'], { encoding: 'utf8' });
      assert.equal(made.status, 0, made.stderr);
      const appId = 'ce47ce47-1111-4222-8333-444455556666';
      const file = join(dir.dir, 'seed.json');
      writeFileSync(file, JSON.stringify({
        applications: [{ displayName: 'orders-worker', appId, certificate: readFileSync(cert, 'utf8') }],
      }));
      for (let i = 0; i < 2; i++) assert.equal(apply(file).code, 0);
      const both = join(dir.dir, 'both.pem');
      writeFileSync(both, readFileSync(key, 'utf8') + readFileSync(cert, 'utf8'));
      const pem = aad.readClientPem(both);
      const tokenPath = `/${info.tenantId}/oauth2/v2.0/token`;
      const assertion = await aad.clientAssertion({
        keyPem: pem.keyPem, alg: 'PS256', header: { 'x5t#S256': pem.x5tS256 }, clientId: appId, aud: `${s.urls.aad}${tokenPath}`,
      });
      const r = await aad.postForm(s, tokenPath, {
        grant_type: 'client_credentials', client_id: appId, client_assertion_type: aad.ASSERTION_TYPE,
        client_assertion: assertion, scope: `${armLib.ARM}/.default`,
      });
      assert.equal(r.status, 200, r.text);
      assert.equal(armLib.claimsOf(r.json().access_token).appid, appId);
      const bad = join(dir.dir, 'bad.json');
      writeFileSync(bad, JSON.stringify({ applications: [{ displayName: 'x', certificate: 'not a certificate' }] }));
      const refused = apply(bad);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /applications\[0\] \(x\)\.certificate: is not a PEM certificate/);
    } finally {
      dir.cleanup();
    }
  });

  it('@azure/arm-keyvault: secrets created, updated, got and listed through Resource Manager', async () => {
    const tlsOptions = { ca: s.caPem };
    const credential = new ClientSecretCredential(info.tenantId, info.clientId, info.clientSecret, {
      authorityHost: s.urls.aad, disableInstanceDiscovery: true, tlsOptions,
    });
    const client = new KeyVaultManagementClient(credential, info.subscriptionId, { endpoint: s.urls.arm, tlsOptions });
    const made = await client.secrets.createOrUpdate('demo', VAULT, 'api-key', {
      properties: { value: 'k-123', contentType: 'text/plain' }, tags: { team: 'orders' },
    });
    assert.equal(made.properties.value, undefined);
    assert.equal(made.properties.contentType, 'text/plain');
    assert.equal(made.tags.team, 'orders');
    assert.equal(made.properties.secretUri, `https://${VAULT}.vault.azure.net/secrets/api-key`);
    const got = await client.secrets.get('demo', VAULT, 'api-key');
    assert.equal(got.properties.secretUriWithVersion, made.properties.secretUriWithVersion);
    const names = [];
    for await (const x of client.secrets.list('demo', VAULT)) names.push(x.name);
    assert.deepEqual(names.sort(), ['api-key', 'greeting']);
    const changed = await client.secrets.createOrUpdate('demo', VAULT, 'api-key', { properties: { value: 'k-456' } });
    assert.notEqual(changed.properties.secretUriWithVersion, made.properties.secretUriWithVersion);
    // The data plane has the new value: the VM (Key Vault Secrets User) reads it.
    const app = runApp('vm-system', { SECRET_NAME: 'api-key' });
    assert.match(app.out, /vm-system: secret: k-456/);
    const bad = await armLib.armRequest(s, admin, 'PUT', `${rg}/providers/Microsoft.KeyVault/vaults/${VAULT}/secrets/new-one?api-version=2023-07-01`, { properties: {} });
    assert.equal(bad.status, 400, bad.text);
    const badName = await armLib.armRequest(s, admin, 'PUT', `${rg}/providers/Microsoft.KeyVault/vaults/${VAULT}/secrets/no_underscores?api-version=2023-07-01`, { properties: { value: 'x' } });
    assert.equal(badName.status, 400, badName.text);
  });

  it('bad seed files are refused with the entry and the field at fault', () => {
    const cases = [
      ['{"resourceGroups": [', /not JSON/],
      ['[]', /a seed file is a JSON object/],
      ['{"vms": []}', /vms: unknown section/],
      ['{"resourceGroups": {"name": "x"}}', /resourceGroups: must be an array/],
      ['{"resourceGroups": [{"nmae": "x"}]}', /resourceGroups\[0\]\.nmae: unknown member/],
      ['{"resourceGroups": [{"location": "westus"}]}', /resourceGroups\[0\]\.name: is required/],
      ['{"identities": [{"name": "i", "resourceGroup": "g", "clientId": "nope"}]}', /identities\[0\] \(i\)\.clientId: must be a GUID/],
      ['{"virtualMachines": [{"name": "v", "resourceGroup": "g", "address": "10.0.0"}]}', /virtualMachines\[0\] \(v\)\.address: must be an IPv4 address/],
      ['{"virtualMachines": [{"name": "v", "resourceGroup": "g", "userAssigned": "i"}]}', /virtualMachines\[0\] \(v\)\.userAssigned: must be an array/],
      ['{"vaults": [{"name": "-bad-", "resourceGroup": "g"}]}', /vaults\[0\] \(-bad-\): Resource Manager answered PUT .* with 400 VaultNameNotValid/],
      ['{"vaults": [{"name": "okvault9", "resourceGroup": "g", "secrets": {"s": 1}}]}', /vaults\[0\] \(okvault9\)\.secrets\.s: must be a string/],
      ['{"roleAssignments": [{"principal": "vm:nope", "role": "Reader"}]}', /roleAssignments\[0\] \(vm:nope\)\.principal: 'vm:nope' is in no entry of the file/],
      ['{"roleAssignments": [{"principal": "vm:nope", "role": "Reader", "resourceGroup": "demo"}]}', /\(vm:nope\)\.principal: no VM 'nope' in the file or in Resource Manager/],
      ['{"roleAssignments": [{"principal": "identity:orders-identity", "role": "Reader", "scope": "vault:x"}]}', /\(identity:orders-identity\)\.scope: 'vault:x' is in no entry/],
      ['{"roleAssignments": [{"principal": "identity:orders-identity", "role": "Reader", "scope": "planet:x"}]}', /\.scope: 'planet:x' is not subscription, resourceGroup:NAME/],
      ['{"roleAssignments": [{"principal": "identity:orders-identity", "role": "Chief Wizard", "resourceGroup": "demo"}]}', /\.role: no role named 'Chief Wizard'/],
      ['{"users": [{"userPrincipalName": "bob", "password": "Bob-Pass-1"}]}', /users\[0\] \(bob\)\.userPrincipalName: must be user@domain/],
      ['{"applications": [{"displayName": "a", "secret": "short"}]}', /applications\[0\] \(a\)\.secret: must be at least 8/],
      ['{"tenants": [{"id": "c0ffee00-1111-4222-8333-444455556666", "domain": "other.example"}]}', /tenants\[0\] \(other\.example\)\.domain: tenant .* exists with domain fabrikam\.example/],
    ];
    for (const [i, [text, want]] of cases.entries()) {
      const file = join(s.dataDir, `bad-${i}.json`);
      writeFileSync(file, text);
      const r = apply(file);
      az.assertNoSanitizerReport(r.stderr);
      assert.equal(r.code, 1, `${text}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, want, text);
      assert.ok(r.stderr.includes(file), r.stderr);
    }
  });

  it('serve --seed with a bad file: no listener is announced and azsim exits 1', async () => {
    const dir = az.tempDir();
    try {
      const file = join(dir.dir, 'bad.json');
      writeFileSync(file, '{"virtualMachines": [{"name": "v", "resourceGroup": "g", "address": "300.1.1.1"}]}');
      const r = az.run(['serve', '--in-memory', '--data-dir', dir.dir, '--seed', file, '--proxy-port', '0',
        ...az.MODULES.flatMap((m) => [`--${m}-port`, '0'])], { timeoutMs: 20_000 });
      az.assertNoSanitizerReport(r.stderr);
      assert.equal(r.code, 1, r.stderr);
      assert.doesNotMatch(r.stdout, /^arm /m);
      assert.match(r.stderr, /virtualMachines\[0\] \(v\)\.address: must be an IPv4 address, not '300\.1\.1\.1'/);
    } finally {
      dir.cleanup();
    }
  });
});

// Managed identities with the real Azure SDKs for JavaScript, end to end. As the admin (the
// ClientSecretCredential of `azsim info`, aimed at the listeners with `endpoint` and
// authorityHost): a resource group with @azure/arm-resources, a user-assigned identity with
// @azure/arm-msi, a VM with both a system-assigned and that user-assigned identity with
// @azure/arm-compute (its virtual network and network interface over plain HTTP: no network SDK
// is installed), role assignments with @azure/arm-authorization. Then, in child `node` processes
// (lib/mi-client.mjs) that *are* the VM — their environment is what `azsim env --vm` printed and
// nothing else — @azure/identity's ManagedIdentityCredential and DefaultAzureCredential get tokens
// from IMDS (through the front door's proxy for 169.254.169.254, or the VM's own IMDS address),
// and @azure/arm-resources calls ARM with them, where RBAC decides.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { ComputeManagementClient } from '@azure/arm-compute';
import { ManagedServiceIdentityClient } from '@azure/arm-msi';
import { ResourceManagementClient } from '@azure/arm-resources';
import { ClientSecretCredential } from '@azure/identity';

import * as aad from './lib/aad.mjs';
import * as arm from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';

const LOCATION = 'westus';
const GROUP = 'mi-rg';
const VM_NAME = 'mi-vm';
const UAI_NAME = 'mi-uai';
const NET = 'api-version=2022-07-01';
const ARM_SCOPE = `${arm.ARM}/.default`;
const MI_CLIENT = fileURLToPath(new URL('./lib/mi-client.mjs', import.meta.url));

describe('managed identities with @azure/identity, as a VM made with the ARM SDKs', () => {
  let s;
  let ctx;
  let sub;
  let groupId;
  let admin; // {credential, options, resources, authorization}
  let uai; // the user-assigned identity as @azure/arm-msi answered it
  let vm; // the VM as @azure/arm-compute answered it
  let vmSp; // the service principal of the VM's system-assigned identity (Graph)
  let vmEnv; // `azsim env --vm VM_NAME --format json`

  /** Run lib/mi-client.mjs as the VM: {byId, requests, stderr}. */
  async function asVm(scenario, env = vmEnv) {
    const { output, stderr } = await aad.runGuardedChild(MI_CLIENT, {
      subscriptionId: sub,
      group: GROUP,
      scope: ARM_SCOPE,
      ...scenario,
    }, aad.sdkEnv(env), { timeoutMs: 30_000, what: 'managed identity SDK child' });
    return {
      byId: Object.fromEntries(output.results.map((r) => [r.id, r])),
      requests: output.requests,
      stderr,
    };
  }

  /** Verify a token with jose against the tenant's JWKS and check whose it is; returns the claims. */
  async function assertIdentityToken(token, { oid, appid, mirid, audience = arm.ARM }) {
    const { payload, protectedHeader } = await aad.verifyToken(s, token, { tenantId: ctx.info.tenantId, audience });
    assert.equal(protectedHeader.alg, 'RS256');
    assert.equal(payload.oid, oid, 'oid');
    assert.equal(payload.appid, appid, 'appid');
    assert.equal(payload.tid, ctx.info.tenantId, 'tid');
    assert.equal(payload.aud, audience, 'aud');
    assert.equal(payload.iss, `https://sts.windows.net/${ctx.info.tenantId}/`, 'iss');
    assert.equal(payload.xms_mirid, mirid, 'xms_mirid');
    assert.equal(payload.sub, oid, 'sub == oid');
    assert.equal(payload.idtyp, 'app');
    return payload;
  }

  /** The service principal behind an object id, asked of Graph with an admin token. */
  async function servicePrincipal(oid) {
    const { token } = await arm.appToken(s, ctx.info.tenantId, ctx.info.clientId, ctx.info.clientSecret, 'https://graph.microsoft.com');
    const r = await s.request('aad', '/v1.0/directoryObjects/getByIds', {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ ids: [oid], types: ['servicePrincipal'] }),
    });
    assert.equal(r.status, 200, r.text);
    return r.json().value[0];
  }

  before(async () => {
    s = await az.start({ inMemory: false });
    ctx = aad.context(s);
    sub = ctx.info.subscriptionId;
    groupId = `/subscriptions/${sub}/resourceGroups/${GROUP}`;

    // The admin, straight to the listeners; the server's CA is the only trust anchor.
    const tlsOptions = { ca: s.caPem };
    const credential = new ClientSecretCredential(ctx.info.tenantId, ctx.info.clientId, ctx.info.clientSecret, {
      authorityHost: s.urls.aad,
      disableInstanceDiscovery: true,
      tlsOptions,
    });
    const options = { endpoint: s.urls.arm, tlsOptions };
    admin = {
      resources: new ResourceManagementClient(credential, sub, options),
      authorization: new AuthorizationManagementClient(credential, sub, options),
    };
    await admin.resources.resourceGroups.createOrUpdate(GROUP, { location: LOCATION });

    // The virtual network and the network interface: plain HTTP, an admin token.
    const { token } = await arm.appToken(s, ctx.info.tenantId, ctx.info.clientId, ctx.info.clientSecret);
    const put = async (path, body) => {
      const r = await arm.armRequest(s, token, 'PUT', `${path}?${NET}`, body);
      assert.equal(r.status, 201, `PUT ${path}: ${r.status} ${r.text}`);
      return r.json();
    };
    const vnetId = `${groupId}/providers/Microsoft.Network/virtualNetworks/mi-vnet`;
    await put(vnetId, {
      location: LOCATION,
      properties: {
        addressSpace: { addressPrefixes: ['10.20.0.0/16'] },
        subnets: [{ name: 'default', properties: { addressPrefix: '10.20.1.0/24' } }],
      },
    });
    const nic = await put(`${groupId}/providers/Microsoft.Network/networkInterfaces/mi-nic`, {
      location: LOCATION,
      properties: { ipConfigurations: [{ name: 'ipconfig1', properties: { subnet: { id: `${vnetId}/subnets/default` } } }] },
    });
    assert.equal(nic.properties.ipConfigurations[0].properties.privateIPAddress, '10.20.1.4');

    // The user-assigned identity with @azure/arm-msi.
    const msi = new ManagedServiceIdentityClient(credential, sub, options);
    uai = await msi.userAssignedIdentities.createOrUpdate(GROUP, UAI_NAME, { location: LOCATION });
    assert.equal(uai.id, `${groupId}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${UAI_NAME}`);
    assert.equal(uai.tenantId, ctx.info.tenantId);
    assert.match(uai.principalId, az.UUID_RE);
    assert.match(uai.clientId, az.UUID_RE);

    // The VM with @azure/arm-compute: both kinds of identity.
    const compute = new ComputeManagementClient(credential, sub, options);
    vm = await compute.virtualMachines.createOrUpdate(GROUP, VM_NAME, {
      location: LOCATION,
      identity: { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: { [uai.id]: {} } },
      hardwareProfile: { vmSize: 'Standard_B1s' },
      osProfile: { computerName: VM_NAME, adminUsername: 'azureuser', adminPassword: 'Secret-123456' },
      networkProfile: { networkInterfaces: [{ id: nic.id }] },
    }, { updateIntervalInMs: 100 });
    assert.equal(vm.id, `${groupId}/providers/Microsoft.Compute/virtualMachines/${VM_NAME}`);
    assert.equal(vm.provisioningState, 'Succeeded');
    assert.equal(vm.identity?.type, 'SystemAssigned, UserAssigned');
    assert.match(vm.identity.principalId ?? '', az.UUID_RE);
    assert.deepEqual(vm.identity.userAssignedIdentities, {
      [uai.id]: { principalId: uai.principalId, clientId: uai.clientId },
    });
    vmSp = await servicePrincipal(vm.identity.principalId);
    assert.equal(vmSp?.servicePrincipalType, 'ManagedIdentity', JSON.stringify(vmSp));

    const r = az.run(['env', '--vm', VM_NAME, '--format', 'json', '--data-dir', s.dataDir]);
    az.assertNoSanitizerReport(r.stderr);
    assert.equal(r.code, 0, `azsim env --vm: ${r.stderr}`);
    vmEnv = JSON.parse(r.stdout);
  });
  after(() => az.finish(s));

  it('`azsim env --vm` makes the shell the VM: its secret in HTTP_PROXY, its own IMDS address', () => {
    const httpProxy = new URL(vmEnv.HTTP_PROXY);
    assert.equal(httpProxy.username, VM_NAME);
    assert.ok(httpProxy.password.length > 0, vmEnv.HTTP_PROXY);
    assert.equal(httpProxy.host, new URL(vmEnv.HTTPS_PROXY).host);
    assert.equal(vmEnv.http_proxy, vmEnv.HTTP_PROXY);
    assert.equal(vmEnv.NO_PROXY, 'localhost,127.0.0.1,::1');
    assert.equal(vmEnv.NODE_EXTRA_CA_CERTS, s.ca);
    assert.equal(vmEnv.AZURE_POD_IDENTITY_AUTHORITY_HOST, `${s.urls.imds}/vms/${httpProxy.password}`);
  });

  it('system-assigned: ARM says 403 AuthorizationFailed without a role, 200 with Reader on the group, 403 again once it is deleted', async () => {
    const system = { credential: 'system' };
    const assertDenied = (run, when) => {
      const t = run.byId.token;
      assert.ok(t?.ok, `${when}: token: ${JSON.stringify(t?.error ?? run.byId, null, 2)}\n${run.stderr}`);
      const g = run.byId.getGroup;
      assert.equal(g.ok, false, `${when}: ${JSON.stringify(g.value)}`);
      assert.equal(g.error.statusCode, 403, `${when}: ${JSON.stringify(g.error)}`);
      assert.equal(g.error.code, 'AuthorizationFailed', `${when}: ${JSON.stringify(g.error)}`);
      assert.deepEqual(g.statuses, [403], when);
      return t.value.token;
    };

    const before = await asVm(system);
    const token = assertDenied(before, 'before the assignment');
    await assertIdentityToken(token, { oid: vm.identity.principalId, appid: vmSp.appId, mirid: vm.id });
    aad.assertExpiresInAnHour(before.byId.token.value.expiresOnTimestamp, 'system-assigned token');
    // The ARM client went through the front door to the public host, with the VM's token.
    assert.equal(before.requests.length, 1, JSON.stringify(before.requests));
    assert.match(before.requests[0].url, new RegExp(`^${arm.ARM}/subscriptions/${sub}/resourcegroups/${GROUP}\\?`, 'i'));
    assert.equal(before.requests[0].aud, arm.ARM);
    assert.equal(before.requests[0].oid, vm.identity.principalId);

    const assignmentName = randomUUID();
    const assignment = await admin.authorization.roleAssignments.create(groupId, assignmentName, {
      roleDefinitionId: `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/${arm.ROLES.Reader}`,
      principalId: vm.identity.principalId,
      principalType: 'ServicePrincipal',
    });
    assert.equal(assignment.principalId, vm.identity.principalId);

    const granted = await asVm(system);
    const g = granted.byId.getGroup;
    assert.ok(g?.ok, `with Reader: ${JSON.stringify(g?.error ?? granted.byId, null, 2)}\n${granted.stderr}`);
    assert.deepEqual(g.statuses, [200]);
    assert.equal(g.value.id, groupId);
    assert.equal(g.value.name, GROUP);
    assert.equal(g.value.location, LOCATION);

    await admin.authorization.roleAssignments.delete(groupId, assignmentName);
    assertDenied(await asVm(system), 'after the assignment was deleted');
  });

  for (const [how, spec] of [
    ['clientId', () => ({ clientId: uai.clientId })],
    ['resourceId', () => ({ resourceId: uai.id })],
    ['objectId', () => ({ objectId: uai.principalId })],
  ]) {
    it(`user-assigned by ${how}: a token of the user-assigned identity (oid, appid, xms_mirid), verified against the JWKS`, async () => {
      const run = await asVm({ credential: spec(), steps: ['token'] });
      const t = run.byId.token;
      assert.ok(t?.ok, `token: ${JSON.stringify(t?.error ?? run.byId, null, 2)}\n${run.stderr}`);
      const claims = await assertIdentityToken(t.value.token, { oid: uai.principalId, appid: uai.clientId, mirid: uai.id });
      assert.notEqual(claims.oid, vm.identity.principalId, 'not the system-assigned identity');
      aad.assertExpiresInAnHour(t.value.expiresOnTimestamp, `token by ${how}`);
    });
  }

  for (const [how, drop] of [
    ['without AZURE_POD_IDENTITY_AUTHORITY_HOST: 169.254.169.254 through the front door', true],
    ['with AZURE_POD_IDENTITY_AUTHORITY_HOST: the VM\'s own IMDS address', false],
  ]) {
    it(`DefaultAzureCredential, ${how}, gets the system-assigned token`, async () => {
      const env = { ...vmEnv };
      if (drop) delete env.AZURE_POD_IDENTITY_AUTHORITY_HOST;
      const run = await asVm({ credential: 'default', steps: ['token'] }, env);
      const t = run.byId.token;
      assert.ok(t?.ok, `token: ${JSON.stringify(t?.error ?? run.byId, null, 2)}\n${run.stderr}`);
      await assertIdentityToken(t.value.token, { oid: vm.identity.principalId, appid: vmSp.appId, mirid: vm.id });
    });
  }
});

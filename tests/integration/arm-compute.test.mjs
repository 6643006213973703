// Microsoft.Network, Microsoft.ManagedIdentity and Microsoft.Compute through the generic
// resource machinery, over plain HTTP on the arm listener (the SDK suites use real clients):
// virtual networks with subnets, public IPs and network interfaces with their addresses; user-
// assigned identities and their service principals; VMs with system- and user-assigned
// identities, linked authorization, power actions and the instance view.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import * as armLib from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';

const NET = 'api-version=2022-07-01';
const MSI = 'api-version=2023-01-31';
const VM = 'api-version=2024-07-01';

describe('ARM: network, managed identities and virtual machines', () => {
  let s, info, token, sub, rg;
  const arm = (method, path, body, t = token) => armLib.armRequest(s, t, method, path, body);
  const net = (type, name) => `${rg}/providers/Microsoft.Network/${type}/${name}`;
  const uaiPath = (name) => `${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
  const vmPath = (name) => `${rg}/providers/Microsoft.Compute/virtualMachines/${name}`;
  const servicePrincipal = (oid) => armLib.servicePrincipal(s, info, oid);
  // An ARM call that must answer one of `status`; resolves its JSON or null.
  const ok = async (method, path, body, status = [200, 201]) => {
    const r = await arm(method, path, body);
    assert.ok([].concat(status).includes(r.status), `${method} ${path}: ${r.status} ${r.text}`);
    return r.text ? r.json() : null;
  };
  const nic = (name, subnetId, extra = {}) => ({
    location: 'westus',
    properties: { ipConfigurations: [{ name: 'ipconfig1', properties: { subnet: { id: subnetId }, ...extra } }] },
  });
  const vmBody = (nicId, identity) => ({
    location: 'westus',
    properties: {
      hardwareProfile: { vmSize: 'Standard_B1s' },
      osProfile: { computerName: 'vm', adminUsername: 'azureuser', adminPassword: 'Secret-123456' },
      networkProfile: { networkInterfaces: [{ id: nicId }] },
    },
    ...(identity ? { identity } : {}),
  });

  before(async () => {
    ({ s, info, admin: token, sub, rg } = await armLib.adminWorkspace('compute-rg', { vnetPrefix: '10.1.0.0/16' }));
  });
  after(() => az.finish(s));

  describe('network', () => {
    it('a virtual network lists its subnets, each a resource of its own; a subnet outside the range is refused', async () => {
      const vnet = await ok('GET', `${net('virtualNetworks', 'vnet')}?${NET}`);
      assert.deepEqual(vnet.properties.subnets.map((x) => x.id), [`${net('virtualNetworks', 'vnet')}/subnets/default`]);
      const subnet = await ok('GET', `${net('virtualNetworks', 'vnet')}/subnets/default?${NET}`);
      assert.equal(subnet.properties.addressPrefix, '10.1.0.0/24');
      const outside = await arm('PUT', `${net('virtualNetworks', 'vnet')}/subnets/far?${NET}`, { properties: { addressPrefix: '10.9.0.0/24' } });
      assert.equal(outside.status, 400, outside.text);
      assert.equal(outside.json().error.code, 'NetcfgSubnetRangeOutsideVnet');
      const bad = await arm('PUT', `${net('virtualNetworks', 'vnet2')}?${NET}`, { location: 'westus', properties: { addressSpace: { addressPrefixes: ['10.2.0.1/16'] } } });
      assert.equal(bad.status, 400, bad.text);
      assert.equal(bad.json().error.code, 'InvalidAddressPrefixFormat');
    });

    it('network interfaces get the lowest free address of their subnet, or the static one asked for', async () => {
      const subnetId = `${net('virtualNetworks', 'vnet')}/subnets/default`;
      const a = await ok('PUT', `${net('networkInterfaces', 'nic-a')}?${NET}`, nic('nic-a', subnetId));
      assert.equal(a.properties.ipConfigurations[0].properties.privateIPAddress, '10.1.0.4');
      assert.equal(a.properties.ipConfigurations[0].properties.privateIPAllocationMethod, 'Dynamic');
      assert.match(a.properties.macAddress, /^00-0D-3A-[0-9A-F]{2}-[0-9A-F]{2}-[0-9A-F]{2}$/);
      const b = await ok('PUT', `${net('networkInterfaces', 'nic-b')}?${NET}`, nic('nic-b', subnetId));
      assert.equal(b.properties.ipConfigurations[0].properties.privateIPAddress, '10.1.0.5');
      const again = await ok('PUT', `${net('networkInterfaces', 'nic-a')}?${NET}`, nic('nic-a', subnetId));
      assert.equal(again.properties.ipConfigurations[0].properties.privateIPAddress, '10.1.0.4', 'kept across updates');
      assert.equal(again.properties.macAddress, a.properties.macAddress);
      const fixed = await ok('PUT', `${net('networkInterfaces', 'nic-s')}?${NET}`,
        nic('nic-s', subnetId, { privateIPAllocationMethod: 'Static', privateIPAddress: '10.1.0.50' }));
      assert.equal(fixed.properties.ipConfigurations[0].properties.privateIPAddress, '10.1.0.50');
      const taken = await arm('PUT', `${net('networkInterfaces', 'nic-t')}?${NET}`,
        nic('nic-t', subnetId, { privateIPAllocationMethod: 'Static', privateIPAddress: '10.1.0.50' }));
      assert.equal(taken.status, 400, taken.text);
      assert.equal(taken.json().error.code, 'PrivateIPAddressInUse');
      const outside = await arm('PUT', `${net('networkInterfaces', 'nic-t')}?${NET}`,
        nic('nic-t', subnetId, { privateIPAllocationMethod: 'Static', privateIPAddress: '10.7.0.9' }));
      assert.equal(outside.status, 400, outside.text);
      assert.equal(outside.json().error.code, 'PrivateIPAddressNotInSubnet');
      const dangling = await arm('PUT', `${net('networkInterfaces', 'nic-t')}?${NET}`, nic('nic-t', `${subnetId}x`));
      assert.equal(dangling.status, 400, dangling.text);
      assert.equal(dangling.json().error.code, 'InvalidResourceReference');
      const none = await arm('PUT', `${net('networkInterfaces', 'nic-t')}?${NET}`, { location: 'westus', properties: {} });
      assert.equal(none.status, 400, none.text);
      const ipconfig = await ok('GET', `${net('networkInterfaces', 'nic-s')}/ipConfigurations/ipconfig1?${NET}`);
      assert.equal(ipconfig.properties.privateIPAddress, '10.1.0.50');
    });

    it('public IP addresses are allocated an address, kept across updates', async () => {
      const ip = await ok('PUT', `${net('publicIPAddresses', 'pip1')}?${NET}`, { location: 'westus', properties: { dnsSettings: { domainNameLabel: 'myvm' } } });
      assert.match(ip.properties.ipAddress, /^20\.\d+\.\d+\.\d+$/);
      assert.equal(ip.properties.dnsSettings.fqdn, 'myvm.westus.cloudapp.azure.com');
      const again = await ok('PUT', `${net('publicIPAddresses', 'pip1')}?${NET}`, { location: 'westus' });
      assert.equal(again.properties.ipAddress, ip.properties.ipAddress);
    });
  });

  describe('user-assigned identities', () => {
    it('creating one creates its service principal; deleting it deletes the principal', async () => {
      const uai = await ok('PUT', `${uaiPath('id-one')}?${MSI}`, { location: 'westus' }, 201);
      const { principalId, clientId, tenantId } = uai.properties;
      assert.equal(tenantId, info.tenantId);
      const sp = await servicePrincipal(principalId);
      assert.equal(sp.id, principalId);
      assert.equal(sp.appId, clientId);
      assert.equal(sp.servicePrincipalType, 'ManagedIdentity');
      assert.equal(sp.displayName, 'id-one');
      // Step 3: the certificate ARM registered on it (the private half is IMDS's), as Graph lists it.
      assert.equal(sp.keyCredentials.length, 1, JSON.stringify(sp));
      const [cert] = sp.keyCredentials;
      assert.equal(cert.type, 'AsymmetricX509Cert');
      assert.equal(cert.usage, 'Verify');
      assert.equal(cert.displayName, `CN=${clientId}`);
      assert.equal(cert.key, null);
      assert.equal(Buffer.from(cert.customKeyIdentifier, 'base64').length, 20, 'a SHA-1 thumbprint');
      assert.ok(Date.parse(cert.endDateTime) > Date.now() + 300 * 86400_000, cert.endDateTime);
      await ok('DELETE', `${uaiPath('id-one')}?${MSI}`, undefined, 200);
      assert.equal(await servicePrincipal(principalId), undefined);
    });

    it('names follow the identity rule', async () => {
      for (const name of ['ab', '-lead', 'a.b']) {
        const r = await arm('PUT', `${uaiPath(name)}?${MSI}`, { location: 'westus' });
        assert.equal(r.status, 400, `${name}: ${r.text}`);
        assert.equal(r.json().error.code, 'InvalidResourceName');
      }
    });
  });

  describe('virtual machines', () => {
    it('a system-assigned identity is created with the VM, answered in `identity`, and never the password', async () => {
      const vm = await ok('PUT', `${vmPath('vm-sys')}?${VM}`, vmBody(net('networkInterfaces', 'nic-a'), { type: 'SystemAssigned' }), 201);
      assert.equal(vm.identity.type, 'SystemAssigned');
      assert.equal(vm.identity.tenantId, info.tenantId);
      assert.match(vm.properties.vmId, az.UUID_RE);
      assert.equal(vm.properties.osProfile.adminPassword, undefined);
      assert.equal(vm.properties.provisioningState, 'Succeeded');
      const sp = await servicePrincipal(vm.identity.principalId);
      assert.equal(sp.servicePrincipalType, 'ManagedIdentity');
      const again = await ok('PUT', `${vmPath('vm-sys')}?${VM}`, vmBody(net('networkInterfaces', 'nic-a'), { type: 'systemassigned' }), 200);
      assert.equal(again.identity.principalId, vm.identity.principalId, 'the same identity across updates');
      assert.equal(again.properties.vmId, vm.properties.vmId);
      const off = await ok('PATCH', `${vmPath('vm-sys')}?${VM}`, { identity: { type: 'None' } }, 200);
      assert.equal(off.identity, undefined);
      assert.equal(await servicePrincipal(vm.identity.principalId), undefined, 'disabling deletes the principal');
      const on = await ok('PATCH', `${vmPath('vm-sys')}?${VM}`, { identity: { type: 'SystemAssigned' } }, 200);
      assert.notEqual(on.identity.principalId, vm.identity.principalId, 'a new identity');
      await ok('DELETE', `${vmPath('vm-sys')}?${VM}`, undefined, 200);
      assert.equal(await servicePrincipal(on.identity.principalId), undefined, 'deleting the VM deletes the principal');
    });

    it('user-assigned identities: keyed by id (any case), answered with their ids; PATCH removes one with null', async () => {
      const one = await ok('PUT', `${uaiPath('uai-one')}?${MSI}`, { location: 'westus' });
      const two = await ok('PUT', `${uaiPath('uai-two')}?${MSI}`, { location: 'westus' });
      const vm = await ok('PUT', `${vmPath('vm-user')}?${VM}`, vmBody(net('networkInterfaces', 'nic-b'), {
        type: 'SystemAssigned, UserAssigned',
        userAssignedIdentities: { [one.id.toLowerCase()]: {}, [two.id]: {} },
      }), 201);
      assert.equal(vm.identity.type, 'SystemAssigned, UserAssigned');
      assert.deepEqual(vm.identity.userAssignedIdentities, {
        [one.id]: { principalId: one.properties.principalId, clientId: one.properties.clientId },
        [two.id]: { principalId: two.properties.principalId, clientId: two.properties.clientId },
      });
      const patched = await ok('PATCH', `${vmPath('vm-user')}?${VM}`, { identity: { userAssignedIdentities: { [two.id]: null } } });
      assert.deepEqual(Object.keys(patched.identity.userAssignedIdentities), [one.id]);
      const missing = await arm('PATCH', `${vmPath('vm-user')}?${VM}`, { identity: { userAssignedIdentities: { [`${uaiPath('nope')}`]: {} } } });
      assert.equal(missing.status, 400, missing.text);
      assert.equal(missing.json().error.code, 'FailedIdentityOperation');
      const badType = await arm('PATCH', `${vmPath('vm-user')}?${VM}`, { identity: { type: 'Everything' } });
      assert.equal(badType.status, 400, badType.text);
    });

    it('a network interface belongs to one VM; a missing one is refused', async () => {
      const shared = await arm('PUT', `${vmPath('vm-other')}?${VM}`, vmBody(net('networkInterfaces', 'nic-b')));
      assert.equal(shared.status, 400, shared.text);
      assert.equal(shared.json().error.code, 'NicInUse');
      const missing = await arm('PUT', `${vmPath('vm-other')}?${VM}`, vmBody(net('networkInterfaces', 'nic-zzz')));
      assert.equal(missing.status, 400, missing.text);
    });

    it('power actions change the power state the instance view shows', async () => {
      const view = async () => (await ok('GET', `${vmPath('vm-user')}?${VM}&$expand=instanceView`)).properties.instanceView.statuses.map((x) => x.code);
      assert.deepEqual(await view(), ['ProvisioningState/succeeded', 'PowerState/running']);
      assert.equal((await ok('GET', `${vmPath('vm-user')}?${VM}`)).properties.instanceView, undefined);
      await ok('POST', `${vmPath('vm-user')}/powerOff?${VM}`, undefined, 200);
      assert.deepEqual(await view(), ['ProvisioningState/succeeded', 'PowerState/stopped']);
      await ok('POST', `${vmPath('vm-user')}/deallocate?${VM}`, undefined, 200);
      assert.equal((await view())[1], 'PowerState/deallocated');
      await ok('POST', `${vmPath('vm-user')}/start?${VM}`, undefined, 200);
      assert.equal((await view())[1], 'PowerState/running');
    });

    it('linked authorization: Virtual Machine Contributor alone cannot attach an identity; with Managed Identity Operator it can', async () => {
      const operator = await armLib.principal(s, info.tenantId, 'vm-operator');
      const assign = (role, scope) => ok('PUT', `${scope}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=2022-04-01`,
        { properties: { roleDefinitionId: `${sub}/providers/Microsoft.Authorization/roleDefinitions/${role}`, principalId: operator.oid } }, 201);
      await assign('9980e02c-c2be-4d73-94e8-173b1dc7cf3c', rg); // Virtual Machine Contributor
      const uai = await ok('PUT', `${uaiPath('uai-linked')}?${MSI}`, { location: 'westus' });
      const body = { identity: { type: 'UserAssigned', userAssignedIdentities: { [uai.id]: {} } } };
      const denied = await arm('PATCH', `${vmPath('vm-user')}?${VM}`, body, operator.token);
      assert.equal(denied.status, 403, denied.text);
      assert.equal(denied.json().error.code, 'LinkedAuthorizationFailed');
      assert.equal(denied.json().error.message,
        `The client '${operator.appId}' with object id '${operator.oid}' has permission to perform action ` +
        `'Microsoft.Compute/virtualMachines/write' on scope '${vmPath('vm-user')}'; however, it does not have permission ` +
        `to perform action(s) 'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action' on the linked scope(s) '${uai.id}' ` +
        '(respectively) or the linked scope(s) are invalid.');
      await assign('f1a07417-d97a-45cb-824c-7a7467783830', uai.id); // Managed Identity Operator
      const allowed = await arm('PATCH', `${vmPath('vm-user')}?${VM}`, body, operator.token);
      assert.equal(allowed.status, 200, allowed.text);
      assert.ok(uai.id in allowed.json().identity.userAssignedIdentities, allowed.text);
    });
  });
});

// Microsoft.Resources/deployments with raw HTTPS: a template with a copy loop, dependsOn,
// reference() and outputs deployed at a resource group; the deployment's own operations
// (get, list, operations, status, exportTemplate, validate, cancel, delete); a subscription-scope
// deployment that makes a resource group; every resource going through RBAC as the caller (a
// principal allowed deployments but not networks gets DeploymentFailed with AuthorizationFailed
// inside); secure parameters never echoed; and a table of malformed deployments, each refused
// with ARM's error and a 4xx. (The az walkthrough in tests/cli runs `az vm create` and `az
// deployment group create` through the same engine.)
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import * as arm from './lib/arm.mjs';
import * as az from './lib/azsim.mjs';

const API = '?api-version=2022-09-01';
const AUTHZ_API = '?api-version=2022-04-01';
const SCHEMA = 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#';

/** A network with `count` subnets made by a property copy loop, and a NIC in the first. */
const networkTemplate = {
  $schema: SCHEMA,
  contentVersion: '1.0.0.0',
  parameters: {
    prefix: { type: 'string' },
    count: { type: 'int', defaultValue: 2, minValue: 1, maxValue: 4 },
    secret: { type: 'securestring', defaultValue: 'not-a-real-secret-but-secure' },
  },
  variables: { vnet: "[concat(parameters('prefix'), '-vnet')]" },
  resources: [
    {
      type: 'Microsoft.Network/networkInterfaces',
      apiVersion: '2022-07-01',
      name: "[concat(parameters('prefix'), '-nic')]",
      location: '[resourceGroup().location]',
      dependsOn: ["[resourceId('Microsoft.Network/virtualNetworks', variables('vnet'))]"],
      properties: {
        ipConfigurations: [{
          name: 'ipconfig1',
          properties: { subnet: { id: "[resourceId('Microsoft.Network/virtualNetworks/subnets', variables('vnet'), 'subnet0')]" } },
        }],
      },
    },
    {
      type: 'Microsoft.Network/virtualNetworks',
      apiVersion: '2022-07-01',
      name: "[variables('vnet')]",
      location: '[resourceGroup().location]',
      properties: {
        addressSpace: { addressPrefixes: ['10.7.0.0/16'] },
        copy: [{
          name: 'subnets',
          count: "[parameters('count')]",
          input: { name: "[concat('subnet', copyIndex('subnets'))]", properties: { addressPrefix: "[format('10.7.{0}.0/24', copyIndex('subnets'))]" } },
        }],
      },
    },
  ],
  outputs: {
    nicIp: { type: 'string', value: "[reference(concat(parameters('prefix'), '-nic')).ipConfigurations[0].properties.privateIPAddress]" },
    subnets: { type: 'int', value: "[length(reference(variables('vnet'), '2022-07-01', 'Full').properties.subnets)]" },
    echo: { type: 'securestring', value: "[parameters('secret')]" },
  },
};

describe('ARM template deployments', () => {
  let s;
  let info;
  let sub;
  let admin;
  let deployer; // may deploy, and read groups, but not write networks
  const rg = 'deploy-rg';
  const group = () => `/subscriptions/${sub}/resourceGroups/${rg}`;
  const deployment = (name, scope = group()) => `${scope}/providers/Microsoft.Resources/deployments/${name}`;
  const send = (who, method, path, body) => arm.armRequest(s, who.token, method, path, body);

  before(async () => {
    s = await az.start({ inMemory: false });
    info = JSON.parse(az.run(['info', '--json', '--data-dir', s.dataDir]).stdout);
    sub = info.subscriptionId;
    const t = await arm.appToken(s, info.tenantId, info.clientId, info.clientSecret);
    admin = { appId: info.clientId, oid: t.claims.oid, token: t.token };
    assert.equal((await send(admin, 'PUT', `${group()}${API}`, { location: 'westus' })).status, 201);
    deployer = await arm.principal(s, info.tenantId, 'deployer');
    const roleId = randomUUID();
    const def = await send(admin, 'PUT', `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/${roleId}${AUTHZ_API}`, {
      properties: {
        roleName: `azsim deployer ${roleId.slice(0, 8)}`,
        type: 'CustomRole',
        permissions: [{ actions: ['Microsoft.Resources/deployments/*', 'Microsoft.Resources/subscriptions/resourceGroups/read'], notActions: [] }],
        assignableScopes: [`/subscriptions/${sub}`],
      },
    });
    assert.equal(def.status, 201, def.text);
    const a = await send(admin, 'PUT', `${group()}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}${AUTHZ_API}`, {
      properties: { roleDefinitionId: `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/${roleId}`, principalId: deployer.oid, principalType: 'ServicePrincipal' },
    });
    assert.equal(a.status, 201, a.text);
  });
  after(() => az.finish(s));

  it('deploys resources in dependsOn order, with copy loops, reference() and outputs', async () => {
    const r = await send(admin, 'PUT', deployment('net') + API, {
      properties: { mode: 'Incremental', template: networkTemplate, parameters: { prefix: { value: 'web' }, count: { value: 3 } } },
    });
    assert.equal(r.status, 201, r.text);
    const body = r.json();
    assert.equal(body.properties.provisioningState, 'Succeeded', r.text);
    assert.match(r.headers['azure-asyncoperation'], /\/deployments\/net\/operationStatuses\//);
    assert.equal(body.properties.outputs.subnets.value, 3);
    assert.match(body.properties.outputs.nicIp.value, /^10\.7\.0\.\d+$/);
    // Secure values are neither echoed in parameters nor in outputs.
    assert.deepEqual(body.properties.parameters.secret, { type: 'SecureString' });
    assert.deepEqual(body.properties.outputs.echo, { type: 'Securestring' });
    assert.ok(!r.text.includes('not-a-real-secret'), r.text);
    assert.deepEqual(body.properties.outputResources.map((o) => o.id.split('/').pop()), ['web-vnet', 'web-nic']);
    assert.equal(body.properties.dependencies[0].dependsOn[0].resourceName, 'web-vnet');
    assert.deepEqual(body.properties.providers.map((p) => [p.namespace, p.resourceTypes.map((t) => t.resourceType)]),
      [['Microsoft.Network', ['networkInterfaces', 'virtualNetworks']]]);

    const vnet = await send(admin, 'GET', `${group()}/providers/Microsoft.Network/virtualNetworks/web-vnet${API}`);
    assert.deepEqual(vnet.json().properties.subnets.map((x) => x.properties.addressPrefix), ['10.7.0.0/24', '10.7.1.0/24', '10.7.2.0/24']);

    const got = await send(admin, 'GET', deployment('net') + API);
    assert.equal(got.status, 200);
    assert.equal(got.json().properties.correlationId, body.properties.correlationId);
    assert.ok(!got.text.includes('not-a-real-secret'));
    const status = await send(admin, 'GET', new URL(r.headers['azure-asyncoperation']).pathname + API);
    assert.deepEqual(status.json(), { status: 'Succeeded' });
    const ops = await send(admin, 'GET', `${deployment('net')}/operations${API}`);
    assert.deepEqual(ops.json().value.map((o) => [o.properties.targetResource.resourceName, o.properties.statusCode]),
      [['web-vnet', 'Created'], ['web-nic', 'Created']]);
    const one = await send(admin, 'GET', `${deployment('net')}/operations/${ops.json().value[0].operationId}${API}`);
    assert.equal(one.json().properties.provisioningState, 'Succeeded');
    // The older path without the provider, which az's hybrid profile uses.
    const old = await send(admin, 'GET', `/subscriptions/${sub}/resourcegroups/${rg}/deployments/net/operations${API}`);
    assert.equal(old.json().value.length, 2);
    const exported = await send(admin, 'POST', `${deployment('net')}/exportTemplate${API}`);
    assert.deepEqual(exported.json().template, networkTemplate);
    const list = await send(admin, 'GET', `${group()}/providers/Microsoft.Resources/deployments/${API}`);
    assert.deepEqual(list.json().value.map((d) => d.name), ['net']);
    assert.equal((await send(admin, 'HEAD', deployment('net') + API)).status, 204);
    const cancel = await send(admin, 'POST', `${deployment('net')}/cancel${API}`);
    assert.equal(cancel.status, 409);
    assert.equal(cancel.json().error.code, 'DeploymentCannotBeCancelled');

    // Deploying again is incremental: the same resources, updated; the deployment answers 200.
    const again = await send(admin, 'PUT', deployment('net') + API, {
      properties: { mode: 'Incremental', template: networkTemplate, parameters: { prefix: { value: 'web' } } },
    });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json().properties.outputs.subnets.value, 2);
  });

  it('validates without deploying', async () => {
    const r = await send(admin, 'POST', `${deployment('check')}/validate${API}`, {
      properties: { mode: 'Incremental', template: networkTemplate, parameters: { prefix: { value: 'val' } } },
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json().properties.validatedResources.map((x) => x.id.split('/').pop()), ['val-nic', 'val-vnet']);
    const vnet = await send(admin, 'GET', `${group()}/providers/Microsoft.Network/virtualNetworks/val-vnet${API}`);
    assert.equal(vnet.status, 404);
    assert.equal((await send(admin, 'GET', deployment('check') + API)).status, 404);

    // ARM's limit, 800 instances: a loop of 400 that waits for another loop of 400.
    const loop = (name, count, extra = {}) => ({
      type: 'Microsoft.ManagedIdentity/userAssignedIdentities', apiVersion: '2018-11-30',
      name: `[concat('${name}', copyIndex())]`, location: 'westus', copy: { name, count }, ...extra,
    });
    const big = await send(admin, 'POST', `${deployment('big')}/validate${API}`, {
      properties: { mode: 'Incremental', template: { $schema: SCHEMA, contentVersion: '1.0.0.0', resources: [loop('b', 400, { dependsOn: ['a'] }), loop('a', 400)] } },
    });
    assert.equal(big.status, 200, big.text.slice(0, 500));
    const ids = big.json().properties.validatedResources.map((x) => x.id.split('/').pop());
    assert.equal(ids.length, 800);
    assert.equal(big.json().properties.dependencies.length, 400);
    assert.equal(big.json().properties.dependencies[0].dependsOn.length, 400);
    assert.deepEqual(big.json().properties.providers.map((p) => [p.namespace, p.resourceTypes.length]), [['Microsoft.ManagedIdentity', 1]]);
  });

  it('reads JSONC: comments, unquoted property names and trailing commas, as az sends them', async () => {
    const text = '{"properties": {"mode": "Incremental", "parameters": {}, template: {\n' +
      '  // a comment\n  "$schema": "' + SCHEMA + '", /* another */ "contentVersion": "1.0.0.0",\n' +
      '  "resources": [],\n  "outputs": {"x": {"type": "string", "value": "[concat(\'a\', \'//b\')]",},},\n}}}';
    const r = await s.request('arm', deployment('jsonc') + API, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${admin.token}`, 'Content-Type': 'application/json' },
      body: text,
    });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json().properties.outputs.x.value, 'a//b');
  });

  it('deploys at a subscription: a resource group', async () => {
    const name = `made-by-template-${randomUUID().slice(0, 6)}`;
    const template = {
      $schema: 'https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#',
      contentVersion: '1.0.0.0',
      resources: [{ type: 'Microsoft.Resources/resourceGroups', apiVersion: '2021-04-01', name, location: 'eastus', tags: { by: '[deployment().name]' } }],
      outputs: { id: { type: 'string', value: `[subscriptionResourceId('Microsoft.Resources/resourceGroups', '${name}')]` } },
    };
    const path = deployment('sub-level', `/subscriptions/${sub}`);
    const missing = await send(admin, 'PUT', path + API, { properties: { mode: 'Incremental', template } });
    assert.equal(missing.status, 400);
    assert.equal(missing.json().error.code, 'LocationRequired');
    const r = await send(admin, 'PUT', path + API, { location: 'westus', properties: { mode: 'Incremental', template } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json().location, 'westus');
    const g = await send(admin, 'GET', `/subscriptions/${sub}/resourcegroups/${name}${API}`);
    assert.equal(g.status, 200, g.text);
    assert.deepEqual([g.json().location, g.json().tags.by], ['eastus', 'sub-level']);
    assert.equal(r.json().properties.outputs.id.value, `/subscriptions/${sub}/resourceGroups/${name}`);
  });

  it('sends every resource as the caller: a principal without network rights gets DeploymentFailed', async () => {
    const r = await send(deployer, 'PUT', deployment('denied') + API, {
      properties: { mode: 'Incremental', template: networkTemplate, parameters: { prefix: { value: 'nope' } } },
    });
    assert.equal(r.status, 201, r.text);
    const props = r.json().properties;
    assert.equal(props.provisioningState, 'Failed');
    assert.equal(props.error.code, 'DeploymentFailed');
    assert.equal(props.error.details[0].code, 'AuthorizationFailed', r.text);
    assert.match(props.error.details[0].message, /Microsoft\.Network\/virtualNetworks\/write/);
    const status = await send(deployer, 'GET', new URL(r.headers['azure-asyncoperation']).pathname + API);
    assert.equal(status.json().status, 'Failed');
    assert.equal(status.json().error.details[0].code, 'AuthorizationFailed');
    const ops = await send(deployer, 'GET', `${deployment('denied')}/operations${API}`);
    assert.deepEqual(ops.json().value.map((o) => [o.properties.provisioningState, o.properties.statusCode]), [['Failed', 'Forbidden']]);
    const vnet = await send(admin, 'GET', `${group()}/providers/Microsoft.Network/virtualNetworks/nope-vnet${API}`);
    assert.equal(vnet.status, 404);
    // And without deployments/write, the deployment itself is refused.
    const reader = await arm.principal(s, info.tenantId, 'deploy-reader');
    const refused = await send(reader, 'PUT', deployment('x') + API, { properties: { mode: 'Incremental', template: networkTemplate } });
    assert.equal(refused.status, 403);
    assert.equal(refused.json().error.code, 'AuthorizationFailed');
  });

  it("fails a deployment with the provider's own error as the detail", async () => {
    const template = {
      $schema: SCHEMA, contentVersion: '1.0.0.0',
      resources: [{ type: 'Microsoft.Network/virtualNetworks', apiVersion: '2022-07-01', name: 'bad-vnet', location: 'atlantis', properties: {} }],
    };
    const r = await send(admin, 'PUT', deployment('provider-error') + API, { properties: { mode: 'Incremental', template } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json().properties.provisioningState, 'Failed');
    assert.equal(r.json().properties.error.details[0].code, 'LocationNotAvailableForResourceType', r.text);
  });

  it('deleting a deployment keeps its resources; deleting the group removes its deployments', async () => {
    const name = `gone-${randomUUID().slice(0, 6)}`;
    const scope = `/subscriptions/${sub}/resourceGroups/${name}`;
    assert.equal((await send(admin, 'PUT', scope + API, { location: 'westus' })).status, 201);
    const template = { $schema: SCHEMA, contentVersion: '1.0.0.0', resources: [{ type: 'Microsoft.ManagedIdentity/userAssignedIdentities', apiVersion: '2018-11-30', name: 'kept', location: 'westus' }] };
    assert.equal((await send(admin, 'PUT', deployment('d1', scope) + API, { properties: { mode: 'Incremental', template } })).status, 201);
    assert.equal((await send(admin, 'DELETE', deployment('d1', scope) + API)).status, 204);
    assert.equal((await send(admin, 'GET', deployment('d1', scope) + API)).json().error.code, 'DeploymentNotFound');
    assert.equal((await send(admin, 'GET', `${scope}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/kept${API}`)).status, 200);
    assert.equal((await send(admin, 'DELETE', deployment('d1', scope) + API)).status, 204);
    assert.equal((await send(admin, 'PUT', deployment('d2', scope) + API, { properties: { mode: 'Incremental', template } })).status, 201);
    const del = await send(admin, 'DELETE', scope + API);
    assert.ok([200, 202].includes(del.status), del.text);
    assert.equal((await send(admin, 'PUT', scope + API, { location: 'westus' })).status, 201);
    const list = await send(admin, 'GET', `${scope}/providers/Microsoft.Resources/deployments${API}`);
    assert.deepEqual(list.json().value, []);
  });

  it('refuses malformed deployments with ARM errors and 4xx', async () => {
    const tpl = (extra = {}) => ({ $schema: SCHEMA, contentVersion: '1.0.0.0', resources: [], ...extra });
    const vnet = (name, extra = {}) => ({ type: 'Microsoft.Network/virtualNetworks', apiVersion: '2022-07-01', name, location: 'westus', properties: { addressSpace: { addressPrefixes: ['10.9.0.0/16'] } }, ...extra });
    const cases = [
      ['not JSON', '{"properties":', 400, 'InvalidRequestContent'],
      ['no properties', {}, 400, 'InvalidRequestContent'],
      ['no template', { properties: { mode: 'Incremental' } }, 400, 'InvalidTemplate'],
      ['template not an object', { properties: { template: 'x' } }, 400, 'InvalidTemplate'],
      ['resources an object', { properties: { template: tpl({ resources: {} }) } }, 400, 'InvalidTemplate'],
      ['templateLink', { properties: { templateLink: { uri: 'https://example.com/t.json' } } }, 400, 'InvalidContentLink'],
      ['Complete mode', { properties: { mode: 'Complete', template: tpl() } }, 400, 'InvalidDeploymentMode'],
      ['unknown parameter', { properties: { template: tpl(), parameters: { nope: { value: 1 } } } }, 400, 'InvalidTemplate', /not present in the original template/],
      ['parameter without value', { properties: { template: tpl({ parameters: { a: { type: 'string' } } }), parameters: { a: 'x' } } }, 400, 'InvalidTemplate'],
      ['missing parameter', { properties: { template: tpl({ parameters: { a: { type: 'string' } } }) } }, 400, 'InvalidTemplate', /'a' at line '1' and column '1' is not provided/],
      ['wrong parameter type', { properties: { template: tpl({ parameters: { n: { type: 'int' } } }), parameters: { n: { value: 'x' } } } }, 400, 'InvalidTemplate', /Expected a value of type 'Integer'/],
      ['unknown parameter type', { properties: { template: tpl({ parameters: { n: { type: 'float' } } }), parameters: { n: { value: 1 } } } }, 400, 'InvalidTemplate'],
      ['not an allowed value', { properties: { template: tpl({ parameters: { n: { type: 'string', allowedValues: ['a'] } } }), parameters: { n: { value: 'b' } } } }, 400, 'InvalidTemplate', /allowed value/],
      ['above maxValue', { properties: { template: tpl({ parameters: { n: { type: 'int', maxValue: 3 } } }), parameters: { n: { value: 9 } } } }, 400, 'InvalidTemplate'],
      ['too long', { properties: { template: tpl({ parameters: { n: { type: 'string', maxLength: 3 } } }), parameters: { n: { value: 'abcd' } } } }, 400, 'InvalidTemplate'],
      ['Key Vault reference', { properties: { template: tpl({ parameters: { n: { type: 'string' } } }), parameters: { n: { reference: { keyVault: { id: 'x' }, secretName: 's' } } } } }, 400, 'InvalidTemplate'],
      ['circular dependsOn', { properties: { template: tpl({ resources: [vnet('a', { dependsOn: ['b'] }), vnet('b', { dependsOn: ['a'] })] }) } }, 400, 'InvalidTemplate', /Circular dependency/],
      ['unknown dependsOn', { properties: { template: tpl({ resources: [vnet('a', { dependsOn: ['ghost'] })] }) } }, 400, 'InvalidTemplate', /'ghost' is not defined/],
      ['defined twice', { properties: { template: tpl({ resources: [vnet('a'), vnet('a')] }) } }, 400, 'InvalidTemplate', /defined multiple times/],
      ['resource without type', { properties: { template: tpl({ resources: [{ name: 'x', apiVersion: '1' }] }) } }, 400, 'InvalidTemplate'],
      ['resource not an object', { properties: { template: tpl({ resources: [42] }) } }, 400, 'InvalidTemplate'],
      ['unknown function', { properties: { template: tpl({ resources: [vnet('[nosuch()]')] }) } }, 400, 'InvalidTemplate', /'nosuch' is not valid/],
      ['broken expression', { properties: { template: tpl({ resources: [vnet("[concat('a']")] }) } }, 400, 'InvalidTemplate', /Unable to parse language expression/],
      ['too many copies', { properties: { template: tpl({ resources: [vnet("[concat('a', copyIndex())]", { copy: { name: 'c', count: 801 } })] }) } }, 400, 'InvalidTemplate'],
      ['copy without name', { properties: { template: tpl({ resources: [vnet('a', { copy: { count: 2 } })] }) } }, 400, 'InvalidTemplate'],
      ['condition not a boolean', { properties: { template: tpl({ resources: [vnet('a', { condition: 'yes' })] }) } }, 400, 'InvalidTemplate'],
      ['user-defined functions', { properties: { template: tpl({ functions: [] }) } }, 400, 'InvalidTemplate'],
      ['variable cycle', { properties: { template: tpl({ variables: { a: "[variables('b')]", b: "[variables('a')]" }, resources: [vnet("[variables('a')]")] }) } }, 400, 'InvalidTemplate', /refers to itself/],
      ['name with a wrong number of segments', { properties: { template: tpl({ resources: [vnet('a/b')] }) } }, 400, 'InvalidTemplate'],
    ];
    let tried = 0;
    for (const [what, body, status, code, message] of cases) {
      const r = await s.request('arm', deployment('bad') + API, {
        method: 'PUT',
        headers: { Authorization: `Bearer ${admin.token}`, 'Content-Type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      assert.equal(r.status, status, `${what}: ${r.text}`);
      assert.equal(r.json().error.code, code, `${what}: ${r.text}`);
      if (message) assert.match(r.json().error.message, message, `${what}: ${r.text}`);
      tried++;
    }
    const noApi = await send(admin, 'PUT', deployment('bad'), { properties: { template: tpl() } });
    assert.equal(noApi.json().error.code, 'MissingApiVersionParameter');
    const badName = await send(admin, 'PUT', deployment('a%20b') + API, { properties: { template: tpl() } });
    assert.equal(badName.json().error.code, 'InvalidDeploymentName', badName.text);
    const noGroup = await send(admin, 'PUT', deployment('x', `/subscriptions/${sub}/resourceGroups/ghost`) + API, { properties: { template: tpl() } });
    assert.equal(noGroup.status, 404);
    assert.equal(noGroup.json().error.code, 'ResourceGroupNotFound');
    // None of them left a deployment behind, and the server is healthy.
    assert.equal((await send(admin, 'GET', deployment('bad') + API)).status, 404);
    await az.assertHealthy(s);
    assert.equal(tried, cases.length);
  });
});

// The child process of the ARM SDK tests (arm-sdk.test.mjs): real @azure/arm-resources and
// @azure/arm-authorization clients with an @azure/identity ClientSecretCredential, run in a `node`
// started with the environment under test (HTTPS_PROXY and NODE_EXTRA_CA_CERTS are only read at
// start-up). Preloaded with lib/aad-guard.mjs by lib/arm.mjs, so it can reach nothing but the
// loopback.
//
// Reads one scenario on stdin:
//   {tenantId, clientId, clientSecret, subscriptionId,
//    credentialOptions   (ClientSecretCredential options: authorityHost, ... or {}),
//    clientOptions       (options of both ARM clients: endpoint, ... or {}),
//    armScopeCheck       (optional: a scope for one extra ResourceManagementClient that sets
//                         credentialScopes to it and reads the group),
//    group, location, principalId, assignmentName, roleDefinitionId}
// and runs the steps below in order, each on its own (a failure is recorded and the next step
// runs). Prints {results: [{id, ok, value | error, statuses}], requests: [...]} on stdout:
// `statuses` are the HTTP statuses of the step's responses; `requests` lists every request sent
// ({method, url, status, aud} where aud is the audience of the bearer token it carried).
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { ManagedServiceIdentityClient } from '@azure/arm-msi';
import { ResourceManagementClient } from '@azure/arm-resources';
import { ClientSecretCredential } from '@azure/identity';

import { readScenario, Recorder, runSteps } from './sdk-child.mjs';

const sc = await readScenario();
const recorder = new Recorder();
const credential = new ClientSecretCredential(sc.tenantId, sc.clientId, sc.clientSecret, sc.credentialOptions ?? {});
const clientOptions = { ...(sc.clientOptions ?? {}), additionalPolicies: [recorder.policy] };
const resources = new ResourceManagementClient(credential, sc.subscriptionId, clientOptions);
const authorization = new AuthorizationManagementClient(credential, sc.subscriptionId, clientOptions);
const msi = new ManagedServiceIdentityClient(credential, sc.subscriptionId, clientOptions);

const sub = `/subscriptions/${sc.subscriptionId}`;
const groupScope = `${sub}/resourceGroups/${sc.group}`;
const collect = async (iterable) => {
  const out = [];
  for await (const item of iterable) out.push(item);
  return out;
};

const steps = [
  ['createGroup', () => resources.resourceGroups.createOrUpdate(sc.group, { location: sc.location, tags: { created: 'sdk' } })],
  ['createGroupAgain', () => resources.resourceGroups.createOrUpdate(sc.group, { location: sc.location, tags: { created: 'again' } })],
  ['getGroup', () => resources.resourceGroups.get(sc.group)],
  ['checkExistence', () => resources.resourceGroups.checkExistence(sc.group)],
  ['checkExistenceMissing', () => resources.resourceGroups.checkExistence(`${sc.group}-missing`)],
  ['updateTags', () => resources.resourceGroups.update(sc.group, { tags: { env: 'test', owner: 'azsim' } })],
  ['getAfterUpdate', () => resources.resourceGroups.get(sc.group)],
  ['listGroups', () => collect(resources.resourceGroups.list())],
  ['readerDefinitions', () => collect(authorization.roleDefinitions.list(sub, { filter: "roleName eq 'Reader'" }))],
  ['createAssignment', () => authorization.roleAssignments.create(groupScope, sc.assignmentName, {
    roleDefinitionId: sc.roleDefinitionId,
    principalId: sc.principalId,
    principalType: 'ServicePrincipal',
  })],
  ['getAssignment', () => authorization.roleAssignments.get(groupScope, sc.assignmentName)],
  ['listAtScope', () => collect(authorization.roleAssignments.listForScope(groupScope, { filter: 'atScope()' }))],
  ['deleteAssignment', () => authorization.roleAssignments.delete(groupScope, sc.assignmentName)],
  ['listAfterDelete', () => collect(authorization.roleAssignments.listForScope(groupScope, { filter: 'atScope()' }))],
];
// The generic resource operations, on a type served by azsim's generic machinery (a network
// security group and, nested in it, security rules).
const NET = ['Microsoft.Network', '', 'networkSecurityGroups', 'sdk-nsg', '2022-07-01'];
const nsgId = `${groupScope}/providers/Microsoft.Network/networkSecurityGroups/sdk-nsg`;
const rule = (priority, port) => ({
  protocol: 'Tcp', access: 'Allow', direction: 'Inbound', priority, sourcePortRange: '*',
  destinationPortRange: port, sourceAddressPrefix: '*', destinationAddressPrefix: '*',
});
const waitFast = { updateIntervalInMs: 100 };
const generic = resources.resources;
steps.push(
  ['createNsg', () => generic.beginCreateOrUpdateAndWait(sc.group, ...NET, {
    location: sc.location, tags: { tier: 'web' },
    properties: { securityRules: [{ name: 'ssh', properties: rule(100, '22') }] },
  }, waitFast)],
  ['createRule', () => generic.beginCreateOrUpdateAndWait(sc.group, 'Microsoft.Network',
    'networkSecurityGroups/sdk-nsg', 'securityRules', 'http', '2022-07-01', { properties: rule(200, '80') }, waitFast)],
  ['getNsg', () => generic.get(sc.group, ...NET)],
  ['nsgExists', () => generic.checkExistence(sc.group, ...NET)],
  ['nsgMissing', () => generic.checkExistence(sc.group, 'Microsoft.Network', '', 'networkSecurityGroups', 'sdk-nope', '2022-07-01')],
  ['updateNsg', () => generic.beginUpdateAndWait(sc.group, ...NET, { tags: { tier: 'db' } }, waitFast)],
  ['listTyped', () => collect(generic.listByResourceGroup(sc.group, { filter: "resourceType eq 'Microsoft.Network/networkSecurityGroups'" }))],
  ['getRuleById', () => generic.getById(`${nsgId}/securityRules/http`, '2022-07-01')],
  ['deleteRuleById', () => generic.beginDeleteByIdAndWait(`${nsgId}/securityRules/http`, '2022-07-01', waitFast)],
  ['getAfterRuleDelete', () => generic.getById(nsgId, '2022-07-01')],
  ['deleteNsg', () => generic.beginDeleteAndWait(sc.group, ...NET, waitFast)],
  ['nsgExistsAfterDelete', () => generic.checkExistence(sc.group, ...NET)],
);
// A user-assigned identity with @azure/arm-msi: its principal and client ids come from azsim.
steps.push(
  ['createIdentity', () => msi.userAssignedIdentities.createOrUpdate(sc.group, 'sdk-identity', { location: sc.location, tags: { app: 'web' } })],
  ['createIdentityAgain', () => msi.userAssignedIdentities.createOrUpdate(sc.group, 'sdk-identity', { location: sc.location })],
  ['getIdentity', () => msi.userAssignedIdentities.get(sc.group, 'sdk-identity')],
  ['updateIdentity', () => msi.userAssignedIdentities.update(sc.group, 'sdk-identity', { tags: { app: 'api' } })],
  ['listIdentitiesByGroup', () => collect(msi.userAssignedIdentities.listByResourceGroup(sc.group))],
  ['listIdentitiesBySubscription', () => collect(msi.userAssignedIdentities.listBySubscription())],
  ['deleteIdentity', () => msi.userAssignedIdentities.delete(sc.group, 'sdk-identity')],
  ['getIdentityAfterDelete', () => msi.userAssignedIdentities.get(sc.group, 'sdk-identity')],
);
if (sc.armScopeCheck) {
  const scoped = new ResourceManagementClient(credential, sc.subscriptionId, { ...clientOptions, credentialScopes: [sc.armScopeCheck] });
  steps.push(['getWithCredentialScopes', () => scoped.resourceGroups.get(sc.group)]);
}
steps.push(
  ['deleteGroup', () => resources.resourceGroups.beginDeleteAndWait(sc.group, { updateIntervalInMs: 100 })],
  ['checkExistenceAfterDelete', () => resources.resourceGroups.checkExistence(sc.group)],
);

await runSteps(steps, recorder);

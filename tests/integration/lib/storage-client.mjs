// The child process of the storage account SDK tests (storage-account-sdk.test.mjs): the real
// @azure/arm-storage StorageManagementClient (a "modular" client: create returns a core-lro
// poller) with an @azure/identity ClientSecretCredential, run in a `node` started with the
// environment under test (HTTPS_PROXY and NODE_EXTRA_CA_CERTS are only read at start-up).
// Started through lib/aad.mjs runGuardedChild, so lib/aad-guard.mjs is preloaded and it can reach
// nothing but the loopback.
//
// Reads one scenario on stdin:
//   {tenantId, clientId, clientSecret, subscriptionId,
//    credentialOptions   (ClientSecretCredential options: authorityHost, ... or {}),
//    clientOptions       (StorageManagementClient options: endpoint, ... or {}),
//    scopeCheck          (optional: a scope for one extra client with `credentials.scopes` set to
//                         it, which reads the account),
//    group, location, account (a name free at the start), otherGroup (a second, existing group)}
// and runs the steps below in order, each on its own (a failure is recorded and the next step
// runs). Prints {results: [{id, ok, value | error, statuses}], requests: [...]} on stdout (see
// lib/sdk-child.mjs).
import { ClientSecretCredential } from '@azure/identity';
import { StorageManagementClient } from '@azure/arm-storage';

import { readScenario, Recorder, runSteps } from './sdk-child.mjs';

const sc = await readScenario();
const recorder = new Recorder();
const credential = new ClientSecretCredential(sc.tenantId, sc.clientId, sc.clientSecret, sc.credentialOptions ?? {});
// The body of the last PATCH sent: arm-storage 20.0.0 builds `properties` of an update only when
// one of a list of names is set, and that list spells some of them with a capital letter
// ("AllowBlobPublicAccess", "EnableHttpsTrafficOnly", ...), so {allowBlobPublicAccess} alone is
// never sent. The update steps return what went on the wire next to the answer.
let lastPatch = null;
const patchBodies = {
  policy: {
    name: 'azsimPatchBodies',
    sendRequest: (request, next) => {
      if (request.method === 'PATCH') lastPatch = typeof request.body === 'string' ? JSON.parse(request.body) : null;
      return next(request);
    },
  },
  position: 'perCall',
};
const clientOptions = { ...(sc.clientOptions ?? {}), additionalPolicies: [recorder.policy, patchBodies] };
const storage = new StorageManagementClient(credential, sc.subscriptionId, clientOptions);
const accounts = storage.storageAccounts;

const TYPE = 'Microsoft.Storage/storageAccounts';
const collect = async (iterable) => {
  const out = [];
  for await (const item of iterable) out.push(item);
  return out;
};
const waitFast = { updateIntervalInMs: 100 };
const createBody = (tags) => ({ sku: { name: 'Standard_LRS' }, kind: 'StorageV2', location: sc.location, tags });

const steps = [
  ['checkNameFree', () => accounts.checkNameAvailability({ name: sc.account, type: TYPE })],
  // The poller of the modular client, then the deprecated ...AndWait form on the same account.
  ['create', () => accounts.create(sc.group, sc.account, createBody({ env: 'dev' }), waitFast).pollUntilDone()],
  ['createAgain', () => accounts.beginCreateAndWait(sc.group, sc.account, createBody({ env: 'staging' }), waitFast)],
  ['getProperties', () => accounts.getProperties(sc.group, sc.account)],
  ['listByResourceGroup', () => collect(accounts.listByResourceGroup(sc.group))],
  ['listBySubscription', () => collect(accounts.list())],
  ['listKeys', () => accounts.listKeys(sc.group, sc.account)],
  ['regenerateKey2', () => accounts.regenerateKey(sc.group, sc.account, { keyName: 'key2' })],
  ['listKeysAfterRegenerate', () => accounts.listKeys(sc.group, sc.account)],
  ['regenerateBadKey', () => accounts.regenerateKey(sc.group, sc.account, { keyName: 'key3' })],
  ['checkNameTaken', () => accounts.checkNameAvailability({ name: sc.account, type: TYPE })],
  ['checkNameInvalid', () => accounts.checkNameAvailability({ name: 'Bad_Name', type: TYPE })],
  ['checkNameTooShort', () => accounts.checkNameAvailability({ name: 'ab', type: TYPE })],
  // The name is global: another group cannot have it.
  ['createTakenElsewhere', () => accounts.create(sc.otherGroup, sc.account, createBody(), waitFast).pollUntilDone()],
  ['createInvalidName', () => accounts.create(sc.group, 'Bad_Name', createBody(), waitFast).pollUntilDone()],
  ['updateBlobAccessAlone', async () => {
    lastPatch = null;
    const account = await accounts.update(sc.group, sc.account, { allowBlobPublicAccess: true });
    return { sent: lastPatch, account };
  }],
  ['update', async () => {
    lastPatch = null;
    const account = await accounts.update(sc.group, sc.account, {
      tags: { env: 'test', owner: 'azsim' }, allowBlobPublicAccess: true, minimumTlsVersion: 'TLS1_2',
    });
    return { sent: lastPatch, account };
  }],
  ['getAfterUpdate', () => accounts.getProperties(sc.group, sc.account)],
  ['listKeysAfterUpdate', () => accounts.listKeys(sc.group, sc.account)],
  // Blob containers through Resource Manager.
  ['blobService', () => storage.blobServices.getServiceProperties(sc.group, sc.account)],
  ['containerCreate', () => storage.blobContainers.create(sc.group, sc.account, 'arm-made', { publicAccess: 'None', metadata: { owner: 'arm' } })],
  ['containerCreateAgain', () => storage.blobContainers.create(sc.group, sc.account, 'arm-made', { metadata: { owner: 'again' } })],
  ['containerUpdate', () => storage.blobContainers.update(sc.group, sc.account, 'arm-made', { metadata: { owner: 'patched' } })],
  ['containerGet', () => storage.blobContainers.get(sc.group, sc.account, 'arm-made')],
  ['containerSecond', () => storage.blobContainers.create(sc.group, sc.account, 'arm-second', { publicAccess: 'Blob' })],
  ['containerList', () => collect(storage.blobContainers.list(sc.group, sc.account))],
  ['containerInvalidName', () => storage.blobContainers.create(sc.group, sc.account, 'Bad_Name', {})],
  ['containerDelete', () => storage.blobContainers.delete(sc.group, sc.account, 'arm-made')],
  ['containerGetAfterDelete', () => storage.blobContainers.get(sc.group, sc.account, 'arm-made')],
  ['containerListAfterDelete', () => collect(storage.blobContainers.list(sc.group, sc.account))],
];
if (sc.scopeCheck) {
  const scoped = new StorageManagementClient(credential, sc.subscriptionId, {
    ...clientOptions,
    credentials: { scopes: [sc.scopeCheck] },
  });
  steps.push(['getWithCredentialScopes', () => scoped.storageAccounts.getProperties(sc.group, sc.account)]);
}
steps.push(
  ['delete', () => accounts.delete(sc.group, sc.account)],
  ['getAfterDelete', () => accounts.getProperties(sc.group, sc.account)],
  ['listKeysAfterDelete', () => accounts.listKeys(sc.group, sc.account)],
  ['listAfterDelete', () => collect(accounts.listByResourceGroup(sc.group))],
  ['checkNameAfterDelete', () => accounts.checkNameAvailability({ name: sc.account, type: TYPE })],
  ['deleteAgain', () => accounts.delete(sc.group, sc.account)],
);

await runSteps(steps, recorder);

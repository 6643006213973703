// The child process of the managed identity SDK tests (managed-identity-sdk.test.mjs): code that
// runs *as a VM*. It is started (by lib/aad.mjs runGuardedChild, so it can reach nothing but the
// loopback) with exactly the environment `azsim env --vm NAME --format json` printed, plus what
// aad.sdkEnv keeps: HTTP_PROXY carries the VM's secret (IMDS at 169.254.169.254 through the front
// door), HTTPS_PROXY is the front door for management.azure.com and login.microsoftonline.com,
// NODE_EXTRA_CA_CERTS the CA, and AZURE_POD_IDENTITY_AUTHORITY_HOST (unless the test removed it)
// the VM's own IMDS address. No option in code points anywhere: the credentials and the ARM client
// find the simulator the way they find Azure.
//
// Reads one scenario on stdin:
//   {credential  'system'      new ManagedIdentityCredential()
//                {clientId}    new ManagedIdentityCredential({clientId})   (user-assigned)
//                {resourceId}  new ManagedIdentityCredential({resourceId})
//                {objectId}    new ManagedIdentityCredential({objectId})
//                'default'     new DefaultAzureCredential()
//    scope, subscriptionId, group,
//    steps       (optional, in order; default ['token', 'getGroup']):
//                'token'     credential.getToken(scope): {token, expiresOnTimestamp}
//                'getGroup'  ResourceManagementClient(credential).resourceGroups.get(group)}
// and runs the steps, each on its own (a failure is recorded and the next step runs). Prints
// {results: [{id, ok, value | error, statuses}], requests: [...]} on stdout like lib/arm-client.mjs:
// `statuses` are the HTTP statuses of the ARM responses of a step; `requests` lists every ARM
// request ({method, url, status, aud, oid}, aud and oid from the bearer token it carried).
import { ResourceManagementClient } from '@azure/arm-resources';
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';

import { readScenario, Recorder, runSteps } from './sdk-child.mjs';

const sc = await readScenario();

function makeCredential(spec) {
  if (spec === 'default') return new DefaultAzureCredential();
  if (spec === 'system') return new ManagedIdentityCredential();
  if (spec && typeof spec === 'object') {
    if (spec.clientId) return new ManagedIdentityCredential({ clientId: spec.clientId });
    if (spec.resourceId) return new ManagedIdentityCredential({ resourceId: spec.resourceId });
    if (spec.objectId) return new ManagedIdentityCredential({ objectId: spec.objectId });
  }
  throw new Error(`mi-client: unknown credential ${JSON.stringify(spec)}`);
}

const recorder = new Recorder();

let credential;
try {
  credential = makeCredential(sc.credential);
} catch (err) {
  await runSteps([['credential', () => { throw err; }]], recorder);
}
// No retries: a 403 is an answer, and an IMDS failure must show at once.
const resources = new ResourceManagementClient(credential, sc.subscriptionId, {
  additionalPolicies: [recorder.policy],
  retryOptions: { maxRetries: 0 },
});
const known = {
  token: async () => {
    const t = await credential.getToken(sc.scope);
    return { token: t.token, expiresOnTimestamp: t.expiresOnTimestamp };
  },
  getGroup: () => resources.resourceGroups.get(sc.group),
};
await runSteps((sc.steps ?? ['token', 'getGroup']).map((id) => [id, () => {
  if (!known[id]) throw new Error(`mi-client: unknown step ${id}`);
  return known[id]();
}]), recorder);

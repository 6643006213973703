// The child process of the Key Vault secrets tests (keyvault-secrets.test.mjs): an application
// using @azure/keyvault-secrets the way it would against Azure. It is started by lib/aad.mjs
// runGuardedChild (so it can reach nothing but the loopback) with exactly the environment
// `azsim env` (the admin) or `azsim env --vm NAME` (code that *is* the VM) printed: HTTPS_PROXY is
// the front door for <vault>.vault.azure.net and login.microsoftonline.com, NODE_EXTRA_CA_CERTS
// the CA. Nothing in code points at the simulator.
//
// Reads one scenario on stdin:
//   {credential  'default'                          new DefaultAzureCredential()
//                {tenantId, clientId, clientSecret} new ClientSecretCredential(tenantId, clientId, clientSecret)
//    vaultUrl    "https://<vault>.vault.azure.net"
//    plain       true: new SecretClient(vaultUrl, credential) with NO options at all (the seed
//                scenario); otherwise the recorder policy and no retries are added
//    steps       [{id, op, ...arguments}] run in order, each on its own:
//      set      {name, value, options?}   setSecret (options.notBefore/expiresOn as ISO strings)
//      get      {name, version?}          getSecret
//      list     {maxPageSize?}            listPropertiesOfSecrets().byPage(): {pages: [[name...]]}
//      versions {name}                    listPropertiesOfSecretVersions: [properties...]
//      update   {name, version, options}  updateSecretProperties
//      delete   {name}                    beginDeleteSecret(...).pollUntilDone()
//      getDeleted {name}                  getDeletedSecret
//      listDeleted {}                     listDeletedSecrets: [deleted secret...]
//      recover  {name}                    beginRecoverDeletedSecret(...).pollUntilDone()
//      purge    {name}                    purgeDeletedSecret
//      backup   {name}                    backupSecret: base64 of the blob
//      restore  {backup}                  restoreSecretBackup(base64 blob)
//      token    {}                        credential.getToken('https://vault.azure.net/.default')
// An argument {"$from": "<step id>", "path": "a.b"} stands for a value an earlier step returned.
// (The SDK's RestError keeps Key Vault's error code but not its innererror: the tests read that
// over HTTP with the token of the `token` step.)
// Prints {results: [{id, ok, value | error, statuses}], requests} (lib/sdk-child.mjs); Dates come
// out as ISO strings. `statuses`/`requests` stay empty in the plain mode (no recorder).
import { ClientSecretCredential, DefaultAzureCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';

import { readScenario, Recorder, runSteps } from './sdk-child.mjs';

const sc = await readScenario();
const recorder = new Recorder();

function makeCredential(spec) {
  if (spec === 'default') return new DefaultAzureCredential();
  if (spec && typeof spec === 'object' && spec.clientSecret) {
    return new ClientSecretCredential(spec.tenantId, spec.clientId, spec.clientSecret);
  }
  throw new Error(`kv-client: unknown credential ${JSON.stringify(spec)}`);
}

let client;
let credential;
try {
  credential = makeCredential(sc.credential);
  client = sc.plain
    ? new SecretClient(sc.vaultUrl, credential)
    : new SecretClient(sc.vaultUrl, credential, {
      additionalPolicies: [recorder.policy],
      retryOptions: { maxRetries: 0 },
    });
} catch (err) {
  await runSteps([['client', () => { throw err; }]], recorder);
}

const dates = (o) => (o && typeof o === 'object' ? Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v])) : o);
const secret = (s) => ({ ...s, properties: dates(s.properties) });
const deletedSecret = (d) => ({ ...dates(d), properties: dates(d.properties) });
const options = (o = {}) => {
  const out = { ...o };
  for (const k of ['notBefore', 'expiresOn']) if (out[k]) out[k] = new Date(out[k]);
  return out;
};
const POLL = { updateIntervalInMs: 100 };

const ops = {
  set: (a) => client.setSecret(a.name, a.value, options(a.options)).then(secret),
  get: (a) => client.getSecret(a.name, a.version ? { version: a.version } : {}).then(secret),
  list: async (a) => {
    const pages = [];
    for await (const page of client.listPropertiesOfSecrets().byPage(a.maxPageSize ? { maxPageSize: a.maxPageSize } : {})) {
      pages.push(page.map((p) => p.name));
    }
    return { pages };
  },
  versions: async (a) => {
    const out = [];
    for await (const p of client.listPropertiesOfSecretVersions(a.name)) out.push(dates(p));
    return out;
  },
  update: (a) => client.updateSecretProperties(a.name, a.version, options(a.options)).then(dates),
  delete: async (a) => deletedSecret(await (await client.beginDeleteSecret(a.name, POLL)).pollUntilDone()),
  getDeleted: (a) => client.getDeletedSecret(a.name).then(deletedSecret),
  listDeleted: async () => {
    const out = [];
    for await (const d of client.listDeletedSecrets()) out.push(deletedSecret(d));
    return out;
  },
  recover: async (a) => dates(await (await client.beginRecoverDeletedSecret(a.name, POLL)).pollUntilDone()),
  purge: (a) => client.purgeDeletedSecret(a.name),
  backup: async (a) => Buffer.from(await client.backupSecret(a.name)).toString('base64'),
  restore: (a) => client.restoreSecretBackup(Buffer.from(a.backup, 'base64')).then(dates),
  token: async () => (await credential.getToken('https://vault.azure.net/.default')).token,
};

// An argument {"$from": "<step id>", "path": "a.b"} is the value an earlier step returned.
const values = {};
const resolve = (v) => {
  if (Array.isArray(v)) return v.map(resolve);
  if (!v || typeof v !== 'object') return v;
  if (v.$from) return v.path.split('.').reduce((o, k) => o?.[k], values[v.$from]);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
};

await runSteps((sc.steps ?? []).map((step) => [step.id, async () => {
  if (!ops[step.op]) throw new Error(`kv-client: unknown op ${step.op}`);
  values[step.id] = await ops[step.op](resolve(step));
  return values[step.id];
}]), recorder);

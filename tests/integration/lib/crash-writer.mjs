// The child process of the crash durability test (crash-durability.test.mjs): a client that keeps
// writing with the real SDKs while the test kills azsim under it. It is started (by lib/aad.mjs
// runGuardedChild's guard, so it can reach nothing but the loopback) with the environment
// `azsim env` printed: HTTPS_PROXY is the front door for <vault>.vault.azure.net,
// management.azure.com and login.microsoftonline.com, NODE_EXTRA_CA_CERTS the CA. Blobs go to the
// development account on the Azurite port (plain http, shared key), as an Azurite user's code does.
//
// Reads its configuration as the first line of stdin:
//   {tenantId, clientId, clientSecret, subscriptionId, group, location, vault, secrets (names),
//    blobEndpoint, accountName, accountKey, container, assigneeId, roleDefinitionId}
// and prints {"t":"ready"} once it holds its tokens; then commands, one a line: "resume" starts (or restarts) the writing lanes, "pause" stops them
// and, once every write in flight has settled, prints {"t":"paused"}. Every write is one line on
// stdout before it is sent ({"t":"intent", k, ...what it writes}) and one after it settled: an
// acknowledgement ({"t":"ack", k, ...}: the SDK call resolved, so the client saw a 2xx) with what
// the service answered, or {"t":"fail", k, seq, error}. Lines of one write share `seq`.
//
// Five lanes run side by side, one write at a time each, so the order of a lane's writes is the
// order azsim saw them in:
//   secret    (two lanes) setSecret(name, value) over a few names of the lane's own: every write
//             is a new version
//   blob      BlockBlobClient.upload of pseudo-random bytes (0 B to 1 MiB); every third write
//             replaces an earlier blob
//   role      roleAssignments.create of "Key Vault Secrets User" for `assigneeId` at a scope of its
//             own (a secret path under the vault), so no two collide
//   identity  userAssignedIdentities.createOrUpdate of a new identity
// The SDK clients retry nothing: a write either was acknowledged or it was not.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';

import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { ManagedServiceIdentityClient } from '@azure/arm-msi';
import { ClientSecretCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';

const lines = createInterface({ input: process.stdin });
const iter = lines[Symbol.asyncIterator]();
const cfg = JSON.parse((await iter.next()).value);

const noRetry = { retryOptions: { maxRetries: 0 } };
const credential = new ClientSecretCredential(cfg.tenantId, cfg.clientId, cfg.clientSecret);
const secrets = new SecretClient(`https://${cfg.vault}.vault.azure.net`, credential, noRetry);
const authorization = new AuthorizationManagementClient(credential, cfg.subscriptionId, noRetry);
const msi = new ManagedServiceIdentityClient(credential, cfg.subscriptionId, noRetry);
const container = new BlobServiceClient(cfg.blobEndpoint,
  new StorageSharedKeyCredential(cfg.accountName, cfg.accountKey), { retryOptions: { maxTries: 1 } })
  .getContainerClient(cfg.container);
const vaultId = `/subscriptions/${cfg.subscriptionId}/resourceGroups/${cfg.group}/providers/Microsoft.KeyVault/vaults/${cfg.vault}`;

const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const md5 = (b) => createHash('md5').update(b).digest('hex');
const BLOB_SIZES = [0, 1, 4096, 4096, 4096, 65_536, 300_000, 1 << 20];

let seq = 0;
let count = 0; // writes started by this process: names stay unique across runs of the lanes
const blobNames = [];

/** The next write of each lane: {k, intent (what it writes), run() → what the ack records}. */
const lanes = {
  secret: (names) => {
    const name = names[count % names.length];
    const value = `v${count}-${randomBytes(18).toString('base64url')}`;
    return {
      intent: { name, value },
      run: async () => ({ name, value, version: (await secrets.setSecret(name, value)).properties.version }),
    };
  },
  blob: () => {
    const replace = blobNames.length > 3 && count % 3 === 0;
    const name = replace ? blobNames[Math.floor(Math.random() * blobNames.length)] : `b${count}`;
    if (!replace) blobNames.push(name);
    const data = randomBytes(BLOB_SIZES[Math.floor(Math.random() * BLOB_SIZES.length)]);
    const sum = md5(data);
    return {
      intent: { name, md5: sum, length: data.length },
      run: async () => {
        await container.getBlockBlobClient(name).upload(data, data.length);
        return { name, md5: sum, length: data.length };
      },
    };
  },
  role: () => {
    const scope = `${vaultId}/secrets/ra${count}`;
    const name = randomUUID();
    return {
      intent: { scope, name },
      run: async () => {
        const ra = await authorization.roleAssignments.create(scope, name, {
          roleDefinitionId: cfg.roleDefinitionId, principalId: cfg.assigneeId, principalType: 'ServicePrincipal',
        });
        return { scope, name, id: ra.id, principalId: ra.principalId, roleDefinitionId: ra.roleDefinitionId };
      },
    };
  },
  identity: () => {
    const name = `id${count}`;
    return {
      intent: { name },
      run: async () => {
        const id = await msi.userAssignedIdentities.createOrUpdate(cfg.group, name, { location: cfg.location });
        return { name, id: id.id, clientId: id.clientId, principalId: id.principalId, tenantId: id.tenantId };
      },
    };
  },
};

// Secrets are the slowest writes here (a new TLS connection through the front door each): two
// lanes, each with names of its own, so each name's versions still come one at a time.
const half = Math.ceil(cfg.secrets.length / 2);
const LANES = [['secret', cfg.secrets.slice(0, half)], ['secret', cfg.secrets.slice(half)], ['blob'], ['role'], ['identity']];
let running = false;
let active = [];

// Tokens first, so the first writes are not token requests cut off by the first kill.
await Promise.all(['https://vault.azure.net/.default', 'https://management.azure.com/.default'].map((s) => credential.getToken(s)));
out({ t: 'ready' });

async function lane([k, arg]) {
  while (running) {
    const w = lanes[k](arg);
    const s = ++seq;
    count++;
    out({ t: 'intent', k, seq: s, ...w.intent });
    const t0 = performance.now();
    try {
      const ack = await w.run();
      out({ t: 'ack', k, seq: s, ms: Math.round(performance.now() - t0), ...ack });
    } catch (err) {
      out({ t: 'fail', k, seq: s, ms: Math.round(performance.now() - t0), error: `${err?.statusCode ?? err?.code ?? ''} ${String(err?.message ?? err).slice(0, 200)}` });
      await sleep(20); // the server is down: do not spin
    }
  }
}

for (;;) {
  const { value, done } = await iter.next();
  if (done) break;
  if (value === 'resume' && !running) {
    running = true;
    active = LANES.map(lane);
  } else if (value === 'pause') {
    running = false;
    await Promise.all(active);
    active = [];
    out({ t: 'paused' });
  }
}
running = false;
await Promise.all(active);
process.exit(0);

// The azsim side of bench.mjs and soak.mjs: start it, sign in as its admin, call Resource
// Manager, and build the state their workloads use.
import { spawnSync } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parallel, request, startProcess, waitHttp } from './lib.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
export const AZSIM_BIN = process.env.AZSIM_BIN ?? join(HERE, '../build/azsim');

/** Azurite's development account, which azsim holds too, with its published key. */
export const DEV_ACCOUNT = 'devstoreaccount1';
const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
export const X_MS_VERSION = '2021-12-02';
export const VAULT = 'benchvault';
export const LOCATION = 'westus';
/** The network security group the ARM workloads write and read (under the state's group). */
export const NSG = 'bench-nsg';

/** azsim on free ports with `dataDir`, ready: its process, URLs, CA, `azsim info` and start time.
 * What it writes on stderr afterwards is kept (the last 20 KB), to show if it fails. */
export async function startAzsim(dataDir, { inMemory = true } = {}) {
  const args = ['serve', '--data-dir', dataDir, '--log-level', 'warn'];
  if (inMemory) args.push('--in-memory');
  for (const m of ['arm', 'aad', 'imds', 'keyvault', 'storage', 'azurite', 'proxy']) args.push(`--${m}-port`, '0');
  const started = performance.now();
  const p = await startProcess(AZSIM_BIN, args, { ready: (out) => /^ca\s+\S+/m.test(out) });
  const urls = Object.fromEntries([...p.output.matchAll(/^(\w+)\s+(https?:\/\/\S+)$/gm)].map((m) => [m[1], m[2]]));
  const ca = readFileSync(join(dataDir, 'tls', 'ca.pem'));
  const healthyMs = await waitHttp(`${urls.arm}/health`, started, { ca });
  p.stderr = '';
  p.proc.stderr.on('data', (d) => { p.stderr = (p.stderr + d).slice(-20_000); });
  const info = JSON.parse(spawnSync(AZSIM_BIN, ['info', '--json', '--data-dir', dataDir], { encoding: 'utf8' }).stdout);
  return { ...p, urls, ca, info, dataDir, healthyMs };
}

/** A token for `scope` as the admin application (client credentials, direct to aad). */
export async function adminToken(az, scope) {
  const r = await request(`${az.urls.aad}/${az.info.tenantId}/oauth2/v2.0/token`, {
    method: 'POST', ca: az.ca, headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: az.info.clientId, client_secret: az.info.clientSecret, scope }).toString(),
  });
  if (r.status !== 200) throw new Error(`admin token: ${r.status} ${r.text}`);
  return r.json().access_token;
}

/** Resource Manager as the admin: the JSON answer, or an error. */
export function armCall(az, token, method, path, body) {
  return request(`${az.urls.arm}${path}`, {
    method, ca: az.ca, body,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
  }).then((r) => {
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
    return r.text ? r.json() : null;
  });
}

const ROLE = {
  'Key Vault Secrets Officer': 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
  'Key Vault Secrets User': '4633458b-17de-408a-b874-0445c86b69e6',
  Reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7',
};

export function assignRole(az, token, scope, role, principalId) {
  return armCall(az, token, 'PUT', `${scope}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=2022-04-01`, {
    properties: { roleDefinitionId: `/subscriptions/${az.info.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${ROLE[role]}`, principalId, principalType: 'ServicePrincipal' },
  });
}

/**
 * The state every workload needs: a VM with a system-assigned identity and `identities`
 * user-assigned ones (IMDS), a vault with a secret the admin may read (Key Vault), a group for
 * ARM writes. Returns what the targets are built from.
 */
export async function prepare(az, { identities, group = 'bench' }) {
  const sub = `/subscriptions/${az.info.subscriptionId}`;
  const rg = `${sub}/resourceGroups/${group}`;
  const arm = await adminToken(az, 'https://management.azure.com/.default');
  const adminOid = JSON.parse(Buffer.from(arm.split('.')[1], 'base64url')).oid;
  await armCall(az, arm, 'PUT', `${rg}?api-version=2021-04-01`, { location: LOCATION });
  await armCall(az, arm, 'PUT', `${rg}/providers/Microsoft.Network/virtualNetworks/vnet?api-version=2022-07-01`, {
    location: LOCATION,
    properties: { addressSpace: { addressPrefixes: ['10.90.0.0/16'] }, subnets: [{ name: 'default', properties: { addressPrefix: '10.90.0.0/24' } }] },
  });
  const nic = `${rg}/providers/Microsoft.Network/networkInterfaces/nic`;
  await armCall(az, arm, 'PUT', `${nic}?api-version=2022-07-01`, {
    location: LOCATION,
    properties: { ipConfigurations: [{ name: 'ipconfig1', properties: { subnet: { id: `${rg}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default` } } }] },
  });
  const uami = [];
  await parallel(Array.from({ length: identities }, (_, i) => i), 8, async (i) => {
    const id = `${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id${i}`;
    const made = await armCall(az, arm, 'PUT', `${id}?api-version=2023-01-31`, { location: LOCATION });
    uami[i] = { id, clientId: made.properties.clientId };
  });
  await armCall(az, arm, 'PUT', `${rg}/providers/Microsoft.Compute/virtualMachines/vm?api-version=2024-07-01`, {
    location: LOCATION,
    identity: { type: identities ? 'SystemAssigned, UserAssigned' : 'SystemAssigned', ...(identities ? { userAssignedIdentities: Object.fromEntries(uami.map((u) => [u.id, {}])) } : {}) },
    properties: {
      hardwareProfile: { vmSize: 'Standard_B1s' },
      osProfile: { computerName: 'vm', adminUsername: 'azureuser', adminPassword: 'Secret-123456' },
      networkProfile: { networkInterfaces: [{ id: nic }] },
    },
  });
  const env = JSON.parse(spawnSync(AZSIM_BIN, ['env', '--vm', 'vm', '--format', 'json', '--data-dir', az.dataDir], { encoding: 'utf8' }).stdout);
  const imdsBase = env.AZURE_POD_IDENTITY_AUTHORITY_HOST; // http://127.0.0.1:<imds>/vms/<secret>

  const vault = `${rg}/providers/Microsoft.KeyVault/vaults/${VAULT}`;
  await armCall(az, arm, 'PUT', `${vault}?api-version=2023-07-01`, {
    location: LOCATION, properties: { tenantId: az.info.tenantId, sku: { family: 'A', name: 'standard' }, enableRbacAuthorization: true },
  });
  await assignRole(az, arm, vault, 'Key Vault Secrets Officer', adminOid);
  const kv = await adminToken(az, 'https://vault.azure.net/.default');
  const put = await request(`${az.urls.keyvault}/secrets/s1?api-version=7.4`, {
    method: 'PUT', ca: az.ca, host: `${VAULT}.vault.azure.net`,
    headers: { Authorization: `Bearer ${kv}`, 'Content-Type': 'application/json' }, body: { value: 'bench-secret-value' },
  });
  if (put.status !== 200) throw new Error(`set secret: ${put.status} ${put.text}`);
  // The network security group the ARM workload writes and reads exists before its first GET.
  await armCall(az, arm, 'PUT', `${rg}/providers/Microsoft.Network/networkSecurityGroups/${NSG}?api-version=2022-07-01`, { location: LOCATION });
  return { sub, rg, arm, kv, adminOid, imdsBase, uami, uamiCount: uami.length, vault, secretUrl: `${az.urls.keyvault}/secrets/s1?api-version=7.4` };
}

/** An account SAS for the development account (Azurite and azsim both hold it): every right. */
export function devAccountSas() {
  const se = new Date(Date.now() + 3600_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const f = { sv: X_MS_VERSION, ss: 'b', srt: 'sco', sp: 'rwdlac', se, spr: 'https,http' };
  const text = [DEV_ACCOUNT, f.sp, f.ss, f.srt, '', f.se, '', f.spr, f.sv, '', ''].join('\n');
  const sig = createHmac('sha256', Buffer.from(DEV_KEY, 'base64')).update(text).digest('base64');
  return new URLSearchParams({ ...f, sig }).toString();
}

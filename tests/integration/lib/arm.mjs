// Helpers for the ARM and RBAC tests: service principals made with `azsim app create`, their
// tokens straight from the aad listener, raw ARM requests with a bearer token, the audit log, and
// the ARM SDK child process (lib/arm-client.mjs).
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

import { runGuardedChild } from './aad.mjs';
import * as az from './azsim.mjs';

export const ARM = 'https://management.azure.com';
/** Built-in role definition ids (data/builtin-roles.json, the same as Azure's). */
export const ROLES = {
  Owner: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
  Contributor: 'b24988ac-6180-42a0-ab88-20f7382dd24c',
  Reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7',
  'User Access Administrator': '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9',
};
const CLIENT_SCRIPT = fileURLToPath(new URL('./arm-client.mjs', import.meta.url));
const CHILD_TIMEOUT_MS = 60_000;

/**
 * `azsim app create NAME` on a server's (file-backed) data directory: {appId, clientSecret,
 * tenantId, displayName}.
 */
export function createApp(dataDir, name) {
  const r = az.run(['app', 'create', name, '--data-dir', dataDir]);
  az.assertNoSanitizerReport(r.stderr);
  assert.equal(r.code, 0, `azsim app create ${name}: ${r.stderr}`);
  const app = JSON.parse(r.stdout);
  assert.match(app.appId, az.UUID_RE, r.stdout);
  assert.equal(typeof app.clientSecret, 'string', r.stdout);
  return app;
}

/** The claims of a compact JWT, unverified (the AAD suites verify signatures). */
export function claimsOf(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

/**
 * A client-credentials token of `appId` for `resource`, straight from the aad listener:
 * {token, claims}.
 */
export async function appToken(server, tenantId, appId, secret, resource = ARM) {
  const r = await server.request('aad', `/${tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: appId,
      client_secret: secret,
      scope: `${resource}/.default`,
    }).toString(),
  });
  assert.equal(r.status, 200, `token for ${appId}: ${r.text}`);
  const token = r.json().access_token;
  return { token, claims: claimsOf(token) };
}

/**
 * A service principal made with `azsim app create`, with an ARM token: {name, appId,
 * clientSecret, oid (its object id, from the token), token}.
 */
export async function principal(server, tenantId, name) {
  const app = createApp(server.dataDir, name);
  const { token, claims } = await appToken(server, tenantId, app.appId, app.clientSecret);
  assert.equal(claims.appid, app.appId);
  assert.match(claims.oid, az.UUID_RE);
  assert.notEqual(claims.oid, app.appId, 'oid is the service principal, not the application');
  return { name, ...app, oid: claims.oid, token };
}

/**
 * One ARM request on the arm listener: `path` as given, `body` (an object) as JSON. Resolves
 * the response of az.request with `json()` and the x-ms-request-id.
 */
export function armRequest(server, token, method, path, body) {
  const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return server.request('arm', path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** Azure's AuthorizationFailed message, word for word. */
export function authorizationFailedMessage(client, oid, action, scope) {
  return `The client '${client}' with object id '${oid}' does not have authorization to perform ` +
    `action '${action}' over scope '${scope}' or the scope is invalid. If access was recently ` +
    'granted, please refresh your credentials.';
}

/** GET /_azsim/audit on the arm listener: the `value` list, newest first. */
export async function audit(server, token, { principal: oid, denied, top } = {}) {
  const q = new URLSearchParams();
  if (oid) q.set('principal', oid);
  if (denied) q.set('denied', 'true');
  if (top) q.set('top', String(top));
  const r = await armRequest(server, token, 'GET', `/_azsim/audit?${q}`);
  assert.equal(r.status, 200, r.text);
  return r.json().value;
}

/** The audit entry of one response (matched by x-ms-request-id), asserting there is one. */
export async function auditEntryOf(server, token, r, oid) {
  const requestId = r.headers['x-ms-request-id'];
  assert.match(requestId ?? '', az.UUID_RE, `no x-ms-request-id: ${r.status} ${r.text}`);
  const entries = await audit(server, token, { principal: oid, top: 200 });
  const mine = entries.filter((e) => e.requestId === requestId);
  assert.equal(mine.length, 1, `audit entries of request ${requestId}: ${JSON.stringify(entries.slice(0, 5), null, 2)}`);
  return mine[0];
}

/**
 * Run the ARM SDK scenario (see lib/arm-client.mjs) in a child `node` with exactly `env`.
 * Resolves {byId: {id: result}, requests, stderr}.
 */
export async function runArmClient(scenario, env, { timeoutMs = CHILD_TIMEOUT_MS } = {}) {
  const { output, stderr } = await runGuardedChild(CLIENT_SCRIPT, scenario, env,
    { timeoutMs, what: 'ARM SDK child' });
  return {
    byId: Object.fromEntries(output.results.map((r) => [r.id, r])),
    requests: output.requests,
    stderr,
  };
}

/** The result of one SDK step, asserting it succeeded. */
export { okResult as okStep } from './aad.mjs';

/**
 * A file-backed server (in memory with `inMemory`) to build on as the admin: {s, info, admin (an
 * ARM token), sub, rg (the id of group `group`, created), ok(method, path, body) (an ARM request
 * that must succeed; resolves its JSON or null)}. With `vnetPrefix` ("10.50.0.0/16") the group
 * also holds virtual network `vnet` whose subnet `default` is the first /24 of it.
 */
export async function adminWorkspace(group, { vnetPrefix, args, inMemory = false } = {}) {
  const s = await az.start({ inMemory, args });
  const info = JSON.parse(az.run(['info', '--json', '--data-dir', s.dataDir]).stdout);
  const admin = (await appToken(s, info.tenantId, info.clientId, info.clientSecret)).token;
  const sub = `/subscriptions/${info.subscriptionId}`;
  const rg = `${sub}/resourceGroups/${group}`;
  const ok = async (method, path, body) => {
    const r = await armRequest(s, admin, method, path, body);
    assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
    return r.text ? r.json() : null;
  };
  await ok('PUT', `${sub}/resourcegroups/${group}?api-version=2021-04-01`, { location: 'westus' });
  if (vnetPrefix) {
    await ok('PUT', `${rg}/providers/Microsoft.Network/virtualNetworks/vnet?api-version=2022-07-01`, {
      location: 'westus',
      properties: {
        addressSpace: { addressPrefixes: [vnetPrefix] },
        subnets: [{ name: 'default', properties: { addressPrefix: vnetPrefix.replace(/\/\d+$/, '/24') } }],
      },
    });
  }
  return { s, info, admin, sub, rg, ok };
}

/** The directory object `oid` as Graph's getByIds answers it (undefined when there is none). */
export async function servicePrincipal(server, info, oid) {
  const { token } = await appToken(server, info.tenantId, info.clientId, info.clientSecret, 'https://graph.microsoft.com');
  const r = await server.request('aad', '/v1.0/directoryObjects/getByIds', {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ ids: [oid] }),
  });
  assert.equal(r.status, 200, r.text);
  return r.json().value[0];
}

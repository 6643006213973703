// Helpers for the Entra ID (AAD) tests: the identity a server bootstrapped (`azsim info`), the
// environment `azsim env` prints, SDK code run in a child `node` (lib/aad-client.mjs), raw token
// requests (direct, or through the front door with CONNECT), client assertions and independent
// token verification with jose.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';

import { createRemoteJWKSet, customFetch, decodeProtectedHeader, importPKCS8, jwtVerify, SignJWT } from 'jose';

import * as az from './azsim.mjs';

/** The Azure CLI's application id: a public client every tenant accepts for user sign-in. */
export const AZURE_CLI_APP_ID = '04b07795-8ddb-461a-bbee-02f9e1bf7b46';
export const VAULT = 'https://vault.azure.net';
export const ARM = 'https://management.azure.com';
export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Lifetime of azsim's access tokens, in seconds (exp - iat). */
export const TOKEN_SECONDS = 3600;

const CLIENT_SCRIPT = fileURLToPath(new URL('./aad-client.mjs', import.meta.url));
const GUARD_SCRIPT = fileURLToPath(new URL('./aad-guard.mjs', import.meta.url));
const CHILD_TIMEOUT_MS = 30_000;

/** `azsim info --json` for a data directory. */
export function info(dataDir) {
  const r = az.run(['info', '--data-dir', dataDir, '--json']);
  az.assertNoSanitizerReport(r.stderr);
  assert.equal(r.code, 0, `azsim info: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** `azsim env --format json` for a data directory. */
export function envVars(dataDir) {
  const r = az.run(['env', '--data-dir', dataDir, '--format', 'json']);
  az.assertNoSanitizerReport(r.stderr);
  assert.equal(r.code, 0, `azsim env: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/**
 * `azsim keys ...` for a data directory; returns {code, stdout, stderr}. The arguments follow
 * `--`: a key id is base64url and may start with '-' ("-bX…" would be read as options).
 */
export function keys(dataDir, ...args) {
  const r = az.run(['keys', '--data-dir', dataDir, '--', ...args]);
  az.assertNoSanitizerReport(r.stderr);
  return r;
}

/** Everything of a server the AAD tests need: its identity, env and a JWKS verifier. */
export function context(server) {
  return {
    server,
    info: info(server.dataDir),
    env: envVars(server.dataDir),
    aadUrl: server.urls.aad,
    aadHost: new URL(server.urls.aad).host,
  };
}

// Whatever the test process inherited that would steer an SDK: proxies, CA bundles, Azure and
// managed identity settings, node options.
const STEERING = /^(AZURE_|AZSIM_|MSI_|IDENTITY_|IMDS_|MSAL_|NODE_OPTIONS$|NODE_EXTRA_CA_CERTS$|SSL_CERT_|REQUESTS_CA_BUNDLE$|CURL_CA_BUNDLE$|(HTTPS?|NO|ALL)_PROXY$)/i;

/** The environment of an SDK child: ours without anything that steers an SDK, plus `extra`. */
export function sdkEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!STEERING.test(k)) env[k] = v;
  }
  return { ...env, ...extra };
}

/**
 * Run `script` in a child `node` with exactly `env` and the network guard loaded first, write
 * `input` as JSON to its stdin, and resolve {output (its JSON stdout), stderr}. Rejects when the
 * child times out or prints no JSON; `what` names it in the error.
 */
export function runGuardedChild(script, input, env, { timeoutMs = CHILD_TIMEOUT_MS, what = 'SDK child' } = {}) {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--import', GUARD_SCRIPT, script], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`${what} did not finish within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      rej(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      try {
        res({ output: JSON.parse(stdout), stderr });
      } catch {
        rej(new Error(`${what} exited (${code ?? signal}) without a result\nstdout:\n${stdout}\nstderr:\n${stderr}`));
      }
    });
    child.stdin.end(JSON.stringify(input));
  });
}

/**
 * Run SDK steps (see lib/aad-client.mjs) in a child `node` with exactly `env` (built with
 * sdkEnv). Resolves {byId: {id: result}, stderr}; rejects if the child fails to report.
 */
export async function runClient(steps, env, { timeoutMs = CHILD_TIMEOUT_MS } = {}) {
  const { output, stderr } = await runGuardedChild(CLIENT_SCRIPT, steps, env, { timeoutMs });
  return { byId: Object.fromEntries(output.results.map((r) => [r.id, r])), stderr };
}

/** The result of one step, asserting it succeeded (with the child's stderr when it did not). */
export function okResult(run, id) {
  const r = run.byId[id];
  assert.ok(r, `no result for ${id}`);
  assert.ok(r.ok, `${id} failed: ${JSON.stringify(r.error, null, 2)}\nchild stderr:\n${run.stderr}`);
  return r;
}

// ---- raw requests -----------------------------------------------------------------------------

/** application/x-www-form-urlencoded body of `fields` (undefined values left out). */
export function form(fields) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined) p.append(k, v);
  }
  return p.toString();
}

/** POST a form to a path of the aad listener. */
export function postForm(server, path, fields, headers = {}) {
  return server.request('aad', path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: form(fields),
  });
}

/** GET a path of the aad listener and parse the JSON answer (asserting 200). */
export async function getJson(server, path) {
  const r = await server.request('aad', path, { headers: { Accept: 'application/json' } });
  assert.equal(r.status, 200, `GET ${path}: ${r.status} ${r.text}`);
  assert.match(r.headers['content-type'] ?? '', /^application\/json/, path);
  return r.json();
}

/**
 * One HTTPS request to `url` (a real Azure host name) through the front door at `proxyUrl`, the
 * way an SDK does it: CONNECT host:443, then TLS with SNI = host, trusting only `ca`.
 */
export function proxiedRequest(proxyUrl, url, { ca, method = 'GET', headers = {}, body, timeoutMs = 5_000 } = {}) {
  const target = new URL(url);
  const port = Number(target.port || 443);
  const p = new URL(proxyUrl);
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${method} ${url} via ${proxyUrl}: no answer within ${timeoutMs} ms`)), timeoutMs);
    const done = (fn) => (v) => {
      clearTimeout(timer);
      fn(v);
    };
    const connectReq = http.request({
      host: p.hostname,
      port: p.port,
      method: 'CONNECT',
      path: `${target.hostname}:${port}`,
      headers: { Host: `${target.hostname}:${port}` },
      agent: false,
    });
    connectReq.on('error', done(rej));
    connectReq.on('connect', (resp, socket) => {
      if (resp.statusCode !== 200) {
        socket.destroy();
        done(rej)(new Error(`CONNECT ${target.hostname}:${port} answered ${resp.statusCode}`));
        return;
      }
      const secure = tls.connect({ socket, servername: target.hostname, ca });
      const payload = body === undefined ? undefined : Buffer.from(body);
      const h = { Host: target.host, ...headers };
      if (payload) h['Content-Length'] = String(payload.length);
      const req = http.request({
        method,
        path: target.pathname + target.search,
        headers: h,
        // No agent: the request goes on exactly this tunnelled TLS socket.
        createConnection: () => secure,
      }, (r) => {
        const chunks = [];
        r.on('data', (c) => chunks.push(c));
        r.on('end', () => {
          secure.destroy();
          const buf = Buffer.concat(chunks);
          done(res)({
            status: r.statusCode,
            headers: r.headers,
            text: buf.toString('utf8'),
            json: () => JSON.parse(buf.toString('utf8')),
          });
        });
        r.on('error', done(rej));
      });
      req.on('error', done(rej));
      req.end(payload);
    });
    connectReq.end();
  });
}

/** Assert an Entra error answer: status, `error`, error_codes[0] and the AADSTS description. */
export function assertAadError(r, status, error, code) {
  const where = `${r.status} ${r.text}`;
  assert.equal(r.status, status, where);
  assert.match(r.headers['content-type'] ?? '', /^application\/json/, where);
  const body = r.json();
  assert.equal(body.error, error, where);
  assert.ok(Array.isArray(body.error_codes), `error_codes: ${where}`);
  assert.equal(body.error_codes[0], code, where);
  assert.ok(body.error_description.startsWith(`AADSTS${code}:`), `description: ${where}`);
  assert.equal(typeof body.timestamp, 'string', where);
  assert.equal(typeof body.trace_id, 'string', where);
  assert.equal(typeof body.correlation_id, 'string', where);
  return body;
}

// ---- the admin application's certificate -------------------------------------------------------

/** The admin PEM (key + certificate) of `azsim info`, with its thumbprints. */
export function readClientPem(path) {
  const pem = readFileSync(path, 'utf8');
  const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n?/.exec(pem)?.[0];
  const certPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(pem)?.[0];
  assert.ok(keyPem, `${path} holds no PKCS#8 private key`);
  assert.ok(certPem, `${path} holds no certificate`);
  const der = new X509Certificate(certPem).raw;
  return {
    pem,
    keyPem,
    certPem,
    der,
    x5t: createHash('sha1').update(der).digest('base64url'),
    x5tS256: createHash('sha256').update(der).digest('base64url'),
    sha256Hex: createHash('sha256').update(der).digest('hex').toUpperCase(),
  };
}

/**
 * A client assertion signed with `keyPem`. opts: alg (PS256|RS256), header (extra header fields:
 * x5t / x5t#S256 / x5c), clientId, aud, and iat/nbf/exp in seconds (defaults: now, now, now+600).
 */
export async function clientAssertion({ keyPem, alg = 'PS256', header = {}, clientId, aud, iat, nbf, exp }) {
  const now = Math.floor(Date.now() / 1000);
  const issuedAt = iat ?? now;
  const key = await importPKCS8(keyPem, alg);
  return new SignJWT({ jti: randomUUID(), nbf: nbf ?? issuedAt })
    .setProtectedHeader({ alg, typ: 'JWT', ...header })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(aud)
    .setIssuedAt(issuedAt)
    .setExpirationTime(exp ?? issuedAt + 600)
    .sign(key);
}

// ---- verification ------------------------------------------------------------------------------

/** jose's fetch for the JWKS: our own https request trusting only the server's CA. */
function caFetch(server) {
  return async (url, options) => {
    const u = new URL(url);
    const r = await az.request(`${u.protocol}//${u.host}`, u.pathname + u.search, {
      ca: server.caPem,
      headers: Object.fromEntries(options?.headers ?? []),
    });
    return new Response(r.body, { status: r.status, headers: { 'content-type': r.headers['content-type'] ?? '' } });
  };
}

/** jwks_uri of the tenant's v2 OpenID configuration, asked of the aad listener directly. */
export async function jwksUri(server, tenantId) {
  const doc = await getJson(server, `/${tenantId}/v2.0/.well-known/openid-configuration`);
  assert.equal(typeof doc.jwks_uri, 'string');
  return doc.jwks_uri;
}

/**
 * Verify `token` with jose against the tenant's published keys (fetched afresh every time, so key
 * rotation shows at once): RS256 only, issuer https://sts.windows.net/<tid>/, `audience`.
 * Resolves {payload, protectedHeader}; rejects as jose does.
 */
export async function verifyToken(server, token, { tenantId, audience }) {
  const jwks = createRemoteJWKSet(new URL(await jwksUri(server, tenantId)), {
    [customFetch]: caFetch(server),
    cooldownDuration: 0,
  });
  return jwtVerify(token, jwks, {
    algorithms: ['RS256'],
    issuer: `https://sts.windows.net/${tenantId}/`,
    audience,
    clockTolerance: 60,
  });
}

/** The kid a token was signed with. */
export function kidOf(token) {
  return decodeProtectedHeader(token).kid;
}

function assertCommonClaims(payload, protectedHeader, { tenantId, audience }) {
  assert.equal(protectedHeader.alg, 'RS256');
  assert.equal(typeof protectedHeader.kid, 'string');
  assert.equal(protectedHeader.x5t, protectedHeader.kid, 'header x5t == kid');
  assert.equal(payload.tid, tenantId);
  assert.equal(payload.aud, audience);
  assert.equal(payload.iss, `https://sts.windows.net/${tenantId}/`);
  assert.ok(Math.abs(payload.exp - payload.iat - TOKEN_SECONDS) <= 60, `exp - iat = ${payload.exp - payload.iat}`);
  assert.ok(payload.nbf <= payload.iat + 1, 'nbf');
  assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 300, `iat ${payload.iat} is not about now`);
  assert.match(payload.oid, az.UUID_RE);
  assert.equal(payload.sub, payload.oid, 'sub == oid');
}

/**
 * Verify an application token (client credentials) and check its claims; returns the payload.
 * The caller compares `oid` across grants (the admin service principal's object id).
 */
export async function verifyAppToken(ctx, token, audience) {
  const { payload, protectedHeader } = await verifyToken(ctx.server, token, { tenantId: ctx.info.tenantId, audience });
  assertCommonClaims(payload, protectedHeader, { tenantId: ctx.info.tenantId, audience });
  assert.equal(payload.appid, ctx.info.clientId);
  assert.equal(payload.idtyp, 'app');
  assert.notEqual(payload.oid, ctx.info.clientId, 'oid is the service principal, not the app id');
  assert.notEqual(payload.oid, ctx.info.userId, 'oid is the service principal, not the admin user');
  assert.equal(payload.upn, undefined);
  assert.equal(payload.scp, undefined);
  return payload;
}

/** Verify a user token of the admin user got through `appId`; returns the payload. */
export async function verifyUserToken(ctx, token, audience, appId = AZURE_CLI_APP_ID) {
  const { payload, protectedHeader } = await verifyToken(ctx.server, token, { tenantId: ctx.info.tenantId, audience });
  assertCommonClaims(payload, protectedHeader, { tenantId: ctx.info.tenantId, audience });
  assert.equal(payload.oid, ctx.info.userId);
  assert.equal(payload.upn, ctx.info.username);
  assert.equal(payload.appid, appId);
  assert.equal(payload.idtyp, 'user');
  return payload;
}

/** An SDK's expiresOnTimestamp (ms) must be about an hour ahead. */
export function assertExpiresInAnHour(expiresOnTimestamp, what = 'token') {
  const seconds = (expiresOnTimestamp - Date.now()) / 1000;
  assert.ok(seconds > TOKEN_SECONDS - 300 && seconds <= TOKEN_SECONDS + 60, `${what} expires in ${seconds} s`);
}

// Real clients reach azsim under the real Azure host names with nothing but `azsim env` applied
// (contracts/proxy.md §1): Debian's curl, Node with @azure/core-rest-pipeline and Debian's Python
// requests, each in a child process whose environment is exactly `azsim env --format json` plus
// PATH and HOME, with certificate verification on. Also the formats of `azsim env` itself.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import * as az from './lib/azsim.mjs';

const CURL = '/usr/bin/curl';
// Debian's interpreter, which has python3-requests; the python3 first on PATH may not.
const DEBIAN_PYTHON = '/usr/bin/python3';
const TESTS_DIR = fileURLToPath(new URL('..', import.meta.url));
const PIPELINE_CHILD = fileURLToPath(new URL('./lib/pipeline-get.mjs', import.meta.url));
const REQUESTS_CHILD = fileURLToPath(new URL('./lib/requests-get.py', import.meta.url));

// URL → the module that must answer it.
const TARGETS = {
  'https://management.azure.com/health': 'arm',
  'https://login.microsoftonline.com/health': 'aad',
  'https://graph.microsoft.com/health': 'aad',
  'https://myvault.vault.azure.net/health': 'keyvault',
  'https://myaccount.blob.core.windows.net/health': 'storage',
  'http://169.254.169.254/health': 'imds',
};

const ENV_KEYS = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy',
  'NODE_EXTRA_CA_CERTS', 'REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE', 'CURL_CA_BUNDLE',
  'AZURE_CORE_COLLECT_TELEMETRY'];
const PROXY_KEYS = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'];
const CA_KEYS = ['NODE_EXTRA_CA_CERTS', 'REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE', 'CURL_CA_BUNDLE'];

/** Run a child to completion (killed after `timeoutMs`); never rejects on a non-zero exit. */
function runChild(cmd, args, { env, cwd, timeoutMs = 20_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/** `azsim env` for a data directory; asserts exit 0 and a clean stderr. */
function azsimEnv(dataDir, format) {
  const args = ['env', '--data-dir', dataDir];
  if (format) args.push('--format', format);
  const r = az.run(args);
  az.assertNoSanitizerReport(r.stderr);
  assert.equal(r.code, 0, `azsim ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Every result a healthy answer from the expected module. */
function assertAllHealthy(results, who) {
  assert.deepEqual(results.map((r) => r.url), Object.keys(TARGETS), who);
  for (const r of results) {
    assert.equal(r.error, undefined, `${who} ${r.url}: ${r.error}`);
    assert.equal(r.status, 200, `${who} ${r.url}: ${r.status} ${r.body}`);
    const body = JSON.parse(r.body);
    assert.equal(body.status, 'Healthy', `${who} ${r.url}`);
    assert.equal(body.module, TARGETS[r.url], `${who} ${r.url}`);
  }
}

describe('real clients with nothing but `azsim env` applied', () => {
  let s;
  let vars; // azsim env --format json
  let env; // the children's whole environment

  before(async () => {
    s = await az.start();
    vars = JSON.parse(azsimEnv(s.dataDir, 'json'));
    // These clients would otherwise go to the real network: refuse to run them unless every
    // proxy variable names this server's front door on the loopback address.
    for (const k of PROXY_KEYS) assert.equal(vars[k], s.proxy, k);
    assert.equal(new URL(s.proxy).hostname, '127.0.0.1');
    env = { PATH: process.env.PATH, HOME: process.env.HOME, ...vars };
  });
  after(() => az.finish(s));

  it(`curl (${CURL}) reaches every module under its real host name`, async () => {
    const results = await Promise.all(Object.keys(TARGETS).map(async (url) => {
      // No -k, no --cacert, no --proxy: the proxy and the CA come from the environment.
      const r = await runChild(CURL, ['-sS', '--max-time', '10', '-w',
        '\n%{http_code} %{http_connect} %{ssl_verify_result}', url], { env });
      if (r.code !== 0) return { url, error: `curl exited ${r.code}: ${r.stderr}` };
      const nl = r.stdout.lastIndexOf('\n');
      const [status, connect, verify] = r.stdout.slice(nl + 1).split(' ');
      if (url.startsWith('https:')) {
        assert.equal(connect, '200', `${url}: curl tunnelled through the proxy`);
        assert.equal(verify, '0', `${url}: the certificate was verified`);
      }
      return { url, status: Number(status), body: r.stdout.slice(0, nl) };
    }));
    assertAllHealthy(results, 'curl');
  });

  it('curl without the CA variables fails verification (the check above had it on)', async () => {
    const { CURL_CA_BUNDLE, SSL_CERT_FILE, ...noCa } = env;
    const r = await runChild(CURL, ['-sS', '--max-time', '10', 'https://management.azure.com/health'],
      { env: noCa });
    assert.equal(r.code, 60, `curl exit code (60: peer certificate cannot be authenticated): ${r.stderr}`);
  });

  it('Node with @azure/core-rest-pipeline (default pipeline and HTTP client) reaches every module', async () => {
    const r = await runChild(process.execPath, [PIPELINE_CHILD, ...Object.keys(TARGETS)],
      { env, cwd: TESTS_DIR });
    assert.equal(r.code, 0, `node child exited ${r.code} (${r.signal}): ${r.stderr}`);
    const out = JSON.parse(r.stdout);
    assert.ok(out.policies.includes('proxyPolicy'), `the default pipeline has a proxy policy: ${out.policies}`);
    assertAllHealthy(out.results, '@azure/core-rest-pipeline');
  });

  it(`Python requests (${DEBIAN_PYTHON}) with its defaults reaches every module`, async () => {
    const r = await runChild(DEBIAN_PYTHON, [REQUESTS_CHILD, ...Object.keys(TARGETS)], { env });
    assert.equal(r.code, 0, `python child exited ${r.code} (${r.signal}): ${r.stderr}`);
    const out = JSON.parse(r.stdout);
    assertAllHealthy(out.results, `requests ${out.requests}`);
  });
});

describe('azsim env formats', () => {
  let s;
  before(async () => {
    s = await az.start();
  });
  after(() => az.finish(s));

  it('json: the proxy of the running server, its CA, NO_PROXY and the Azure CLI switches', () => {
    const vars = JSON.parse(azsimEnv(s.dataDir, 'json'));
    for (const k of ENV_KEYS) assert.equal(typeof vars[k], 'string', `has ${k}`);
    for (const k of PROXY_KEYS) assert.equal(vars[k], s.proxy, k);
    for (const k of CA_KEYS) assert.equal(vars[k], s.ca, k);
    for (const k of ['NO_PROXY', 'no_proxy']) {
      const list = vars[k].split(',');
      assert.ok(list.includes('localhost'), `${k}=${vars[k]}`);
      assert.ok(list.includes('127.0.0.1'), `${k}=${vars[k]}`);
      assert.ok(!list.some((h) => /169\.254|azure|microsoft|windows\.net/.test(h)), `${k}=${vars[k]}`);
    }
    assert.equal(vars.AZURE_CORE_COLLECT_TELEMETRY, 'false');
  });

  it('sh (the default): export NAME=\'value\' lines that bash evaluates to the same values', async () => {
    const json = JSON.parse(azsimEnv(s.dataDir, 'json'));
    const sh = azsimEnv(s.dataDir);
    assert.equal(azsimEnv(s.dataDir, 'sh'), sh, '--format sh is the default');
    const lines = sh.trimEnd().split('\n');
    for (const l of lines) assert.match(l, /^export [A-Za-z_][A-Za-z0-9_]*='[^']*'$/);
    assert.deepEqual(lines.map((l) => /^export ([^=]+)=/.exec(l)[1]), Object.keys(json));

    const echo = await runChild('bash', ['-c', 'eval "$("$AZSIM_BIN" env --data-dir "$D")"; echo $HTTPS_PROXY'],
      { env: { PATH: process.env.PATH, AZSIM_BIN: az.AZSIM_BIN, D: s.dataDir } });
    assert.equal(echo.code, 0, echo.stderr);
    assert.equal(echo.stdout, `${s.proxy}\n`);

    const all = await runChild('bash', ['-c', 'eval "$("$AZSIM_BIN" env --data-dir "$D")"; env -0'],
      { env: { PATH: process.env.PATH, AZSIM_BIN: az.AZSIM_BIN, D: s.dataDir } });
    assert.equal(all.code, 0, all.stderr);
    const exported = Object.fromEntries(all.stdout.split('\0').filter(Boolean).map((kv) => {
      const i = kv.indexOf('=');
      return [kv.slice(0, i), kv.slice(i + 1)];
    }));
    for (const [k, v] of Object.entries(json)) assert.equal(exported[k], v, k);
  });

  it('dotenv: NAME=value lines with the same values', () => {
    const json = JSON.parse(azsimEnv(s.dataDir, 'json'));
    const lines = azsimEnv(s.dataDir, 'dotenv').trimEnd().split('\n');
    for (const l of lines) assert.match(l, /^[A-Za-z_][A-Za-z0-9_]*=[^\n]*$/);
    const dotenv = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    assert.deepEqual(dotenv, json);
  });

  it('an unknown --format exits 2 with a message and prints nothing', () => {
    const r = az.run(['env', '--data-dir', s.dataDir, '--format', 'xml']);
    az.assertNoSanitizerReport(r.stderr);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.ok(r.stderr.length > 0);
  });
});

test('azsim env sh output quotes a data directory with quotes, spaces and $ safely', async (t) => {
  const { dir, cleanup } = az.tempDir();
  t.after(cleanup);
  const dataDir = join(dir, `it's a "dir" with $HOME and \`x\``);
  mkdirSync(dataDir);
  // No server runs here: azsim env creates the CA and names the configured proxy port.
  const sh = azsimEnv(dataDir, 'sh');
  const r = await runChild('bash', ['-c', 'eval "$OUT"; printf "%s\\n%s" "$NODE_EXTRA_CA_CERTS" "$HTTPS_PROXY"'],
    { env: { PATH: process.env.PATH, OUT: sh } });
  assert.equal(r.code, 0, r.stderr);
  const [ca, proxy] = r.stdout.split('\n');
  assert.equal(ca, join(realpathSync(dataDir), 'tls', 'ca.pem'));
  assert.match(proxy, /^http:\/\/127\.0\.0\.1:\d+$/);
});

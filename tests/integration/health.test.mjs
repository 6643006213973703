// Health of every listener, the CA it is trusted through, and the `azsim health` / `azsim ca`
// commands around a running server.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { after, before, describe, it, test } from 'node:test';

import * as az from './lib/azsim.mjs';

describe('a running azsim', () => {
  let s;
  before(async () => {
    s = await az.start();
  });
  after(() => az.finish(s));

  it('prints one line per listener, the tenant and admin credentials, then the absolute CA path', () => {
    const lines = s.stdout.trimEnd().split('\n').map((l) => l.split(/\s+/));
    // Listeners, then the directory's tenant and admin credentials, then the CA.
    assert.deepEqual(lines.map((l) => l[0]), ['proxy', ...az.MODULES, 'tenant', 'subscription', 'admin', 'admin', 'ca']);
    for (const m of az.MODULES) {
      const scheme = !az.TLS_MODULES.includes(m) ? 'http' : 'https';
      assert.match(s.urls[m], new RegExp(`^${scheme}://127\\.0\\.0\\.1:\\d+$`), m);
      assert.ok(s.ports[m] > 0, `${m} port`);
    }
    assert.equal(new Set(Object.values(s.ports)).size, az.MODULES.length + 1, 'distinct ports (and the proxy)');
    assert.ok(isAbsolute(s.ca), s.ca);
    assert.equal(realpathSync(s.ca), realpathSync(join(s.dataDir, 'tls', 'ca.pem')));
  });

  for (const m of az.TLS_MODULES) {
    it(`${m}: GET /health over TLS, trusting only the generated CA`, async () => {
      // https.request with `ca` replaces the default trust store; rejectUnauthorized stays on.
      const r = await s.request(m, '/health', { ca: s.caPem });
      assert.equal(r.status, 200);
      assert.match(r.headers['content-type'], /^application\/json/);
      assert.deepEqual(r.json(), { status: 'Healthy', module: m, version: az.VERSION });
    });
  }

  it('imds: GET /health over plain http', async () => {
    assert.match(s.urls.imds, /^http:\/\//);
    const r = await s.request('imds', '/health');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^application\/json/);
    assert.deepEqual(r.json(), { status: 'Healthy', module: 'imds', version: az.VERSION });
  });

  it('TLS listeners are not trusted without the generated CA', async () => {
    for (const m of az.TLS_MODULES) {
      await assert.rejects(s.request(m, '/health', { ca: undefined }), (err) => {
        assert.match(err.code ?? '', /CERT|SIGNATURE|ISSUER/, `${m}: ${err.code} ${err.message}`);
        return true;
      });
    }
  });

  it('the CA is a CA certificate that signed the server certificates', async () => {
    const ca = new X509Certificate(s.caPem);
    assert.equal(ca.ca, true);
    const { cert } = await az.peerCertificate(s.ports.arm, { ca: s.caPem });
    const leaf = new X509Certificate(cert.raw);
    assert.equal(leaf.ca, false);
    assert.ok(leaf.checkIssued(ca), 'leaf issued by the CA');
    assert.ok(leaf.verify(ca.publicKey), 'leaf signature verifies with the CA key');
  });

  it('GET /azsim/ca.pem over plain http on imds equals the CA file', async () => {
    const r = await s.request('imds', '/azsim/ca.pem');
    assert.equal(r.status, 200);
    assert.equal(r.text, readFileSync(s.ca, 'utf8'));
    assert.match(r.text, /^-----BEGIN CERTIFICATE-----\n/);
  });

  it('every TLS listener serves the same CA at /azsim/ca.pem', async () => {
    for (const m of az.TLS_MODULES) {
      const r = await s.request(m, '/azsim/ca.pem');
      assert.equal(r.status, 200, m);
      assert.equal(r.text, s.caPem, m);
    }
  });

  it('azsim.run.json records the pid, the CA and every listener', () => {
    const run = JSON.parse(readFileSync(join(s.dataDir, 'azsim.run.json'), 'utf8'));
    assert.equal(run.pid, s.pid);
    assert.equal(run.version, az.VERSION);
    assert.equal(run.ca, s.ca);
    assert.deepEqual(run.listeners, { proxy: s.proxy, ...s.urls });
  });

  it('`azsim health` exits 0 and reports every module healthy', () => {
    const r = az.run(['health', '--data-dir', s.dataDir]);
    az.assertNoSanitizerReport(r.stderr);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const m of az.MODULES) {
      assert.match(r.stdout, new RegExp(`^${m}\\s+\\S+\\s+healthy$`, 'm'), r.stdout);
    }
  });

  it('`azsim ca` prints the CA path', () => {
    const r = az.run(['ca', '--data-dir', s.dataDir]);
    az.assertNoSanitizerReport(r.stderr);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${s.ca}\n`);
  });
});

test('`azsim health` exits non-zero after a clean stop', async (t) => {
  const s = await az.startFor(t);
  assert.equal(az.run(['health', '--data-dir', s.dataDir]).code, 0);
  await az.stopClean(s);
  const r = az.run(['health', '--data-dir', s.dataDir]);
  az.assertNoSanitizerReport(r.stderr);
  assert.notEqual(r.code, 0, r.stdout);
  assert.ok(r.stderr.length > 0, 'says why');
});

test('`azsim health` exits non-zero when the server was killed (stale run file)', async (t) => {
  const s = await az.startFor(t);
  const killed = await s.kill();
  az.assertNoSanitizerReport(killed.stderr);
  assert.ok(existsSync(join(s.dataDir, 'azsim.run.json')), 'SIGKILL leaves the run file');
  const r = az.run(['health', '--data-dir', s.dataDir]);
  az.assertNoSanitizerReport(r.stderr);
  assert.notEqual(r.code, 0, r.stdout);
});

test('`azsim ca` creates the CA in a data directory that has none', (t) => {
  const { dir, cleanup } = az.tempDir();
  t.after(cleanup);
  const r = az.run(['ca', '--data-dir', dir]);
  az.assertNoSanitizerReport(r.stderr);
  assert.equal(r.code, 0, r.stderr);
  const path = r.stdout.trim();
  assert.equal(realpathSync(path), realpathSync(join(dir, 'tls', 'ca.pem')));
  const pem = readFileSync(path, 'utf8');
  assert.equal(new X509Certificate(pem).ca, true);
  // Asked again: the same path and the same CA, not a new one.
  const again = az.run(['ca', '--data-dir', dir]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, r.stdout);
  assert.equal(readFileSync(path, 'utf8'), pem);
});

test('azsim.run.json is written by the time the "ca" line announces the server', async (t) => {
  // Scripts wait for the "ca" line and then run `azsim health`, which needs the run file. The
  // window is short, so look at many starts (each takes a few tens of milliseconds).
  const missing = [];
  for (let i = 0; i < 20; i++) {
    const s = await az.startFor(t, { waitForRunFile: false });
    const runFile = join(s.dataDir, 'azsim.run.json');
    let pid = null;
    try {
      pid = JSON.parse(readFileSync(runFile, 'utf8')).pid;
    } catch {
      // missing
    }
    if (pid !== s.pid) missing.push(i);
    await az.stopClean(s);
  }
  assert.deepEqual(missing, [], `starts whose run file was missing when "ca" was printed: ${missing}`);
});

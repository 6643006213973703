// The HTTP surface every module shares: Azure-style errors in each module's own format, path
// tolerance, body limits and request ids.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import * as az from './lib/azsim.mjs';

describe('HTTP behaviour common to all modules', () => {
  let s;
  before(async () => {
    s = await az.start();
  });
  after(() => az.finish(s));

  for (const m of az.MODULES) {
    // Blob Storage reads every path as /<account>/<container>/<blob> (path-style): an unknown
    // path is an account that does not exist, and GET, HEAD, PUT and DELETE go everywhere.
    const storage = m === 'storage' || m === 'azurite';

    it(`${m}: unknown paths are 404 in the module's error format`, async () => {
      const code = storage ? 'ResourceNotFound' : 'NotFound';
      for (const path of ['/no/such/path', '/healthz', '/health/extra', '/', '/azsim']) {
        az.assertModuleError(m, await s.request(m, path), 404, code);
      }
      if (!storage) {
        az.assertModuleError(m, await s.request(m, '/no/such/path', { method: 'POST', body: '{}' }),
          404, 'NotFound');
      }
    });

    it(`${m}: a known path with the wrong method is 405 MethodNotAllowed with Allow`, async () => {
      // Storage's one POST is at the service (Get User Delegation Key): every path takes it.
      const cases = storage
        ? [['PATCH', '/azsim/ca.pem'], ['OPTIONS', '/health']]
        : [['POST', '/health'], ['PUT', '/health'], ['DELETE', '/azsim/ca.pem'],
          ['PATCH', '/azsim/ca.pem'], ['OPTIONS', '/health']];
      for (const [method, path] of cases) {
        const r = await s.request(m, path, { method, body: method === 'OPTIONS' ? undefined : '' });
        az.assertModuleError(m, r, 405, 'MethodNotAllowed');
        assert.equal(r.headers.allow, storage ? 'GET, HEAD, POST, PUT, DELETE' : 'GET, HEAD', `${m} ${method} ${path}`);
      }
    });

    it(`${m}: paths are case-insensitive and tolerate trailing and doubled slashes`, async () => {
      for (const path of ['/HEALTH', '/Health/', '//health', '//HEALTH/', '/health//', '///health///']) {
        const r = await s.request(m, path);
        assert.equal(r.status, 200, `${m} ${path}: ${r.text}`);
        assert.deepEqual(r.json(), { status: 'Healthy', module: m, version: az.VERSION });
      }
      for (const path of ['/AZSIM/CA.PEM', '//azsim//ca.pem/', '/Azsim/Ca.Pem/']) {
        const r = await s.request(m, path);
        assert.equal(r.status, 200, `${m} ${path}`);
        assert.equal(r.text, s.caPem, `${m} ${path}`);
      }
    });

    it(`${m}: a query string does not change routing`, async () => {
      const r = await s.request(m, '/health?api-version=2023-01-01&&flag&x=%41%2F');
      assert.equal(r.status, 200, r.text);
    });

    it(`${m}: every response has a fresh x-ms-request-id and echoes x-ms-client-request-id`, async () => {
      const seen = new Set();
      for (const [method, path, status] of [['GET', '/health', 200], ['GET', '/nope', 404],
        ['POST', '/health', storage ? 404 : 405], ['GET', '/he%zzalth', 400], ['GET', '/health?a=%zz', 400]]) {
        const clientId = `client-${m}-${method}-${status}-0f8fad5b-d9cb-469f-a165-70867728950e`;
        const r = await s.request(m, path, {
          method,
          body: method === 'POST' ? '' : undefined,
          headers: { 'x-ms-client-request-id': clientId },
        });
        assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
        const id = r.headers['x-ms-request-id'];
        assert.match(id ?? '', az.UUID_RE, `${method} ${path}`);
        assert.ok(!seen.has(id), `request id ${id} repeated`);
        seen.add(id);
        assert.equal(r.headers['x-ms-client-request-id'], clientId, `${method} ${path}`);

        const bare = await s.request(m, path, { method, body: method === 'POST' ? '' : undefined });
        assert.match(bare.headers['x-ms-request-id'] ?? '', az.UUID_RE);
        assert.ok(!seen.has(bare.headers['x-ms-request-id']));
        seen.add(bare.headers['x-ms-request-id']);
        assert.equal(bare.headers['x-ms-client-request-id'], undefined, 'nothing to echo');
      }
    });
  }

  it('HEAD /health answers like GET but without a body, on every module', async () => {
    for (const m of az.MODULES) {
      // HEAD then GET pipelined on one connection: the GET's status line must follow the HEAD's
      // header block directly, or the connection's framing is broken for every client.
      const r = await az.rawExchange(s.ports[m],
        'HEAD /health HTTP/1.1\r\nHost: localhost\r\n\r\n' +
        'GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
        { tls: !az.TLS_MODULES.includes(m) ? undefined : { ca: s.caPem } });
      const text = r.data.toString('latin1');
      assert.equal(r.status, 200, `${m}: ${text}`);
      const headEnd = text.indexOf('\r\n\r\n');
      assert.ok(headEnd > 0, text);
      assert.match(text.slice(0, headEnd), /\r\nx-ms-request-id: [0-9a-f-]{36}/i, text);
      const rest = text.slice(headEnd + 4);
      assert.match(rest, /^HTTP\/1\.1 200 /,
        `${m}: bytes after the HEAD response's headers: ${JSON.stringify(rest.slice(0, 90))}`);
      assert.ok(rest.endsWith(JSON.stringify({ status: 'Healthy', module: m, version: az.VERSION })), rest);
    }
  });

  it('an absolute-form request target is routed by its path', async () => {
    const r = await az.rawExchange(s.ports.imds,
      'GET http://169.254.169.254/health HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n\r\n');
    assert.equal(r.status, 200, r.data.toString());
    const body = r.data.toString().split('\r\n\r\n')[1];
    assert.deepEqual(JSON.parse(body), { status: 'Healthy', module: 'imds', version: az.VERSION });
  });

  it('imds: a body of exactly 64 KiB is accepted (then routed: 405)', async () => {
    const r = await s.request('imds', '/health', { method: 'POST', body: Buffer.alloc(64 * 1024, 'a') });
    az.assertModuleError('imds', r, 405, 'MethodNotAllowed');
  });

  it('imds: a body above 64 KiB is refused with 413', async () => {
    const r = await s.request('imds', '/metadata/identity/oauth2/token', {
      method: 'POST',
      body: Buffer.alloc(64 * 1024 + 1, 'a'),
    });
    assert.equal(r.status, 413, r.text);
    await az.assertHealthy(s);
  });

  it('imds: a chunked body above 64 KiB is refused with 413', async () => {
    const r = await s.request('imds', '/metadata/identity/oauth2/token', {
      method: 'POST',
      headers: { 'Transfer-Encoding': 'chunked' },
      body: Buffer.alloc(100 * 1024, 'a'),
    });
    assert.equal(r.status, 413, r.text);
    await az.assertHealthy(s);
  });
});

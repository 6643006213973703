// Bad input on the wire. Whatever a client sends, the server answers with a 4xx or closes the
// connection, and stays healthy for everyone else; each test ends with a health check (and the
// suite with a clean SIGTERM exit, which is where a sanitizer build reports what it saw).
import assert from 'node:assert/strict';
import { after, before, describe, it, test } from 'node:test';

import * as az from './lib/azsim.mjs';

/** Split one raw HTTP/1.1 response into status, headers and body. */
function parseRaw(data) {
  const text = data.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  assert.ok(end > 0, `not an HTTP response: ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
  const body = data.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1'));
  return {
    status,
    headers,
    body,
    text: body.toString('utf8'),
    json: () => JSON.parse(body.toString('utf8')),
  };
}

/** A 4xx answer or a connection closed without an answer; anything else fails. */
function assertRefused(r, what) {
  const shown = JSON.stringify(r.data.toString('latin1').slice(0, 200));
  if (r.data.length === 0) {
    assert.ok(r.closed, `${what}: no answer and the connection is still open`);
    return;
  }
  assert.ok(r.status >= 400 && r.status < 500, `${what}: expected a 4xx or a close, got ${shown}`);
}

const tlsFor = (s, m) => (!az.TLS_MODULES.includes(m) ? undefined : { ca: s.caPem });

describe('bad input', () => {
  let s;
  before(async () => {
    s = await az.start();
  });
  after(() => az.finish(s));

  const GARBAGE = [
    'GARBAGE\r\n\r\n',
    'GET\r\n\r\n',
    'GET /health HTTP/9.9\r\nHost: x\r\n\r\n',
    'GET /health FTP/1.0\r\n\r\n',
    '\x00\x01\x02\x03 /\x7f HTTP/1.1\r\n\r\n',
    ' / HTTP/1.1\r\n\r\n',
    'GET /health HTTP/1.1\r\nno-colon-header\r\n\r\n',
    'GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n',
    'GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n',
    'POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n',
  ];

  for (const m of ['imds', 'arm']) {
    it(`${m}: garbage request lines get a 4xx or a closed connection`, async () => {
      for (const g of GARBAGE) {
        assertRefused(await az.rawExchange(s.ports[m], g, { tls: tlsFor(s, m) }), JSON.stringify(g));
      }
      await az.assertHealthy(s);
    });

    it(`${m}: a header block over 100 KB gets a 4xx or a closed connection`, async () => {
      const one = `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(110_000)}\r\n\r\n`;
      assertRefused(await az.rawExchange(s.ports[m], one, { tls: tlsFor(s, m) }), 'one big header');
      const many = 'GET /health HTTP/1.1\r\nHost: x\r\n' +
        Array.from({ length: 2_000 }, (_, i) => `X-H${i}: ${'b'.repeat(50)}\r\n`).join('') + '\r\n';
      assertRefused(await az.rawExchange(s.ports[m], many, { tls: tlsFor(s, m) }), '2000 headers');
      const line = `GET /${'c'.repeat(110_000)} HTTP/1.1\r\nHost: x\r\n\r\n`;
      assertRefused(await az.rawExchange(s.ports[m], line, { tls: tlsFor(s, m) }), '110 KB request line');
      await az.assertHealthy(s);
    });
  }

  for (const m of az.MODULES) {
    it(`${m}: malformed percent-encoding or non-UTF-8 in the path is 400 InvalidUri`, async () => {
      for (const path of ['/he%zzalth', '/%ff%fe', '/health%', '/health%4', '/%c0%af', '/%ed%a0%80',
        '/health%00', '/azsim/ca.pem%fe']) {
        az.assertModuleError(m, await s.request(m, path), 400, 'InvalidUri');
      }
      await az.assertHealthy(s);
    });

    it(`${m}: a malformed query is 400 InvalidQueryParameterValue`, async () => {
      for (const path of ['/health?a=%zz', '/health?a=%ff', '/health?%zz=1', '/health?a=%',
        '/no/such/path?a=%zz']) {
        az.assertModuleError(m, await s.request(m, path), 400, 'InvalidQueryParameterValue');
      }
      await az.assertHealthy(s);
    });
  }

  for (const m of ['imds', 'arm']) {
    it(`${m}: a raw 0xff byte in the path is 400 InvalidUri`, async () => {
      for (const bytes of [[0xff], [0xc0, 0xaf], [0xfe, 0xff, 0xfe]]) {
        const req = Buffer.concat([Buffer.from('GET /he'), Buffer.from(bytes),
          Buffer.from('alth HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')]);
        const r = await az.rawExchange(s.ports[m], req, { tls: tlsFor(s, m) });
        az.assertModuleError(m, parseRaw(r.data), 400, 'InvalidUri');
      }
      await az.assertHealthy(s);
    });
  }

  it('very deep and very long paths are 404', async () => {
    az.assertModuleError('arm', await s.request('arm', '/a'.repeat(500)), 404, 'NotFound');
    az.assertModuleError('arm', await s.request('arm', `/${'x'.repeat(30_000)}`), 404, 'NotFound');
    az.assertModuleError('imds', await s.request('imds', `/${'/'.repeat(5_000)}health/x`), 404, 'NotFound');
    await az.assertHealthy(s);
  });

  for (const m of ['imds', 'arm']) {
    it(`${m}: 50 connections stalled in the request line do not delay a new one`, async (t) => {
      const stalled = [];
      t.after(() => stalled.forEach((c) => c.destroy()));
      for (let i = 0; i < 50; i++) {
        const c = await az.connect(s.ports[m], { tls: tlsFor(s, m) });
        stalled.push(c);
        c.sock.write('GET /hea');
      }
      const r = await s.request(m, '/health', { timeoutMs: 5_000 });
      assert.equal(r.status, 200);
      assert.equal(stalled.filter((c) => c.state.closed).length, 0, 'the stalled ones are still open');
      await az.assertHealthy(s);
    });
  }

  it('arm: 50 TCP connections that never start the TLS handshake do not delay a new one', async (t) => {
    const stalled = [];
    t.after(() => stalled.forEach((c) => c.destroy()));
    for (let i = 0; i < 50; i++) stalled.push(await az.connect(s.ports.arm));
    const r = await s.request('arm', '/health', { timeoutMs: 5_000 });
    assert.equal(r.status, 200);
    await az.assertHealthy(s);
  });

  for (const m of ['imds', 'arm']) {
    it(`${m}: a client that sends 10 of 1000 declared body bytes and disconnects`, async () => {
      for (const path of ['/health', '/no/such/path']) {
        const c = await az.connect(s.ports[m], { tls: tlsFor(s, m) });
        c.sock.write(`POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
          'Content-Length: 1000\r\n\r\n0123456789');
        await az.sleep(50);
        c.destroy();
      }
      // The same, half-closing instead: the server sees EOF in the body.
      const c = await az.connect(s.ports[m], { tls: tlsFor(s, m) });
      c.sock.end('POST /health HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n0123456789');
      assert.ok(await c.waitClosed(5_000), 'the server closes after EOF in the body');
      await az.assertHealthy(s);
    });
  }

  for (const m of az.TLS_MODULES) {
    it(`${m}: plaintext HTTP sent to the TLS port gets the connection closed`, async () => {
      const r = await az.rawExchange(s.ports[m], 'GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
      assert.ok(r.closed, 'closed within 5 s');
      assert.ok(!r.data.toString('latin1').includes('Healthy'), 'no HTTP answer in clear text');
      await az.assertHealthy(s);
    });
  }

  it('random bytes as a TLS ClientHello get the connection closed', async () => {
    const inputs = [
      az.pseudoRandomBytes(1_024, 'plain'),
      // A handshake record header in front, so the bytes reach the ClientHello parser.
      Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), az.pseudoRandomBytes(512, 'record')]),
      // A ClientHello header with a random body.
      Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x01, 0x04, 0x01, 0x00, 0x01, 0x00, 0x03, 0x03]),
        az.pseudoRandomBytes(255, 'hello')]),
      // A record header claiming more than TLS allows.
      Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff]),
    ];
    for (const m of az.TLS_MODULES) {
      for (const [i, bytes] of inputs.entries()) {
        const r = await az.rawExchange(s.ports[m], bytes);
        assert.ok(r.closed, `${m} input ${i}: closed within 5 s`);
        assert.ok(!r.data.toString('latin1').includes('HTTP/1.1'), `${m} input ${i}: no HTTP answer`);
      }
    }
    await az.assertHealthy(s);
  });

  it('many concurrent requests on every module all succeed', async () => {
    const reqs = [];
    for (let i = 0; i < 20; i++) {
      for (const m of az.MODULES) reqs.push(s.request(m, i % 2 ? '/health' : '/nope', { timeoutMs: 10_000 }));
    }
    const rs = await Promise.all(reqs);
    assert.deepEqual(new Set(rs.map((r) => r.status)), new Set([200, 404]));
    await az.assertHealthy(s);
  });
});

test('--idle-timeout 1 closes silent connections', async (t) => {
  const s = await az.startFor(t, { args: ['--idle-timeout', '1'] });
  const conns = {
    'imds, nothing sent': await az.connect(s.ports.imds),
    'imds, half a request line': await az.connect(s.ports.imds),
    'imds, after one keep-alive response': await az.connect(s.ports.imds),
    'arm, before the TLS handshake': await az.connect(s.ports.arm),
    'arm, after the TLS handshake': await az.connect(s.ports.arm, { tls: { ca: s.caPem } }),
  };
  t.after(() => Object.values(conns).forEach((c) => c.destroy()));
  conns['imds, half a request line'].sock.write('GET /hea');
  conns['imds, after one keep-alive response'].sock.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
  const closed = await Promise.all(Object.values(conns).map((c) => c.waitClosed(5_000)));
  const open = Object.keys(conns).filter((_, i) => !closed[i]);
  assert.deepEqual(open, [], `still open after 5 s: ${open.join('; ')}`);
  assert.match(conns['imds, after one keep-alive response'].received.toString(), /^HTTP\/1\.1 200 /);
  await az.assertHealthy(s);
  await az.stopClean(s);
});

// The front door: azsim's plain-HTTP proxy port (contracts/proxy.md). CONNECT tunnels to the
// real Azure host names, absolute-form requests to IMDS, its own /health and /azsim/ca.pem, a
// clear 4xx for everything else, and no descriptors left behind by any of it.
import assert from 'node:assert/strict';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';

import * as az from './lib/azsim.mjs';
import * as px from './lib/proxy.mjs';

/** The front door's own /health, a tunnel to arm and an absolute-form request to imds. */
async function assertProxyHealthy(s) {
  assert.ok(s.running, `azsim is no longer running\n${s.stderr}`);
  const own = await az.request(s.proxy, '/health');
  assert.equal(own.status, 200, own.text);
  assert.deepEqual(own.json(), { status: 'Healthy', module: 'proxy', version: az.VERSION });
  px.assertHealth(await px.tunnelGet(s.ports.proxy, 'management.azure.com', '/health', { ca: s.caPem }),
    'arm', 'tunnel to management.azure.com');
  px.assertHealth(await px.absoluteGet(s.ports.proxy, 'http://169.254.169.254/health'), 'imds',
    'absolute-form http://169.254.169.254/health');
}

/** A refusal: the status, Connection: close, a text body, and the connection closed at once. */
function assertRefusal(r, status, what) {
  const shown = JSON.stringify(r.data.toString('latin1').slice(0, 300));
  assert.ok(r.head, `${what}: no HTTP answer: ${shown}`);
  assert.equal(r.head.status, status, `${what}: ${shown}`);
  assert.equal(r.head.headers.connection?.toLowerCase(), 'close', `${what}: Connection: close: ${shown}`);
  assert.equal(Number(r.head.headers['content-length']), Buffer.byteLength(r.body, 'latin1'),
    `${what}: Content-Length`);
  assert.ok(r.body.length > 0, `${what}: says why`);
  assert.ok(r.closed, `${what}: the connection is closed`);
  assert.ok(r.elapsedMs < 2_000, `${what}: answered at once (${Math.round(r.elapsedMs)} ms)`);
}

describe('front door', () => {
  let s;
  let fdBaseline;

  before(async () => {
    s = await az.start();
    // Touch every path once so that lazily opened descriptors (per-thread store connections and
    // the like) exist before the baseline is taken.
    for (const [host, m] of Object.entries(px.HOSTS)) {
      px.assertHealth(await px.tunnelGet(s.ports.proxy, host, '/health', { ca: s.caPem }), m, host);
    }
    await assertProxyHealthy(s);
    fdBaseline = await px.stableFdCount(s.pid);
  });
  after(() => az.finish(s));

  it('answers GET /health and GET /azsim/ca.pem itself', async () => {
    const h = await az.request(s.proxy, '/health');
    assert.equal(h.status, 200);
    assert.match(h.headers['content-type'], /^application\/json/);
    assert.deepEqual(h.json(), { status: 'Healthy', module: 'proxy', version: az.VERSION });
    const ca = await az.request(s.proxy, '/azsim/ca.pem');
    assert.equal(ca.status, 200);
    assert.equal(ca.text, s.caPem);
  });

  it('absolute-form GET http://169.254.169.254/health reaches imds, also twice on one connection', async () => {
    px.assertHealth(await px.absoluteGet(s.ports.proxy, 'http://169.254.169.254/health'), 'imds');
    const sock = await px.tcpConnect(s.ports.proxy);
    try {
      const reader = new px.ResponseReader(sock);
      for (let i = 0; i < 3; i++) {
        const r = await px.get(sock, reader, 'http://169.254.169.254/health', '169.254.169.254');
        px.assertHealth(r, 'imds', `request ${i + 1} on one connection`);
      }
    } finally {
      sock.destroy();
    }
  });

  it('CONNECT host:443 to every served name reaches its module, with a certificate for that name', async () => {
    for (const [host, m] of Object.entries(px.HOSTS)) {
      const t = await px.openTunnel(s.ports.proxy, host, { ca: s.caPem });
      try {
        assert.match(t.connectHead, /^HTTP\/1\.1 200 Connection Established\r\n/, host);
        assert.equal(t.authorized, true, `${host}: ${t.authorizationError}`);
        assert.equal(tls.checkServerIdentity(host, t.getPeerCertificate()), undefined, host);
        px.assertHealth(await px.get(t, new px.ResponseReader(t), '/health', host, { close: true }), m, host);
      } finally {
        t.destroy();
      }
    }
  });

  it('refuses what it does not serve, at once and with Connection: close', async () => {
    const cases = [
      [px.connectHead('example.com'), 403],
      [px.connectHead('management.azure.com', 8443), 403],
      [px.connectHead('management.azure.com', 80), 403],
      [px.connectHead('a.b.vault.azure.net'), 403],
      [px.connectHead('vault.azure.net'), 403],
      [px.connectHead('169.254.169.254'), 403],
      ['CONNECT management.azure.com HTTP/1.1\r\nHost: management.azure.com\r\n\r\n', 400],
      ['CONNECT management.azure.com: HTTP/1.1\r\n\r\n', 400],
      ['CONNECT management.azure.com:https HTTP/1.1\r\n\r\n', 400],
      ['CONNECT :443 HTTP/1.1\r\n\r\n', 400],
      ['GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n', 403],
      ['GET http://169.254.169.254:8080/health HTTP/1.1\r\nHost: 169.254.169.254:8080\r\n\r\n', 403],
      ['GET http://management.azure.com/health HTTP/1.1\r\nHost: management.azure.com\r\n\r\n', 403],
      ['GARBAGE\r\n\r\n', 400],
      ['GET /health\r\n\r\n', 400],
      ['GET /health SPDY/3\r\n\r\n', 400],
      ['GET /nope HTTP/1.1\r\nHost: x\r\n\r\n', 400],
      ['GET ftp://169.254.169.254/ HTTP/1.1\r\n\r\n', 400],
    ];
    for (const [req, status] of cases) {
      assertRefusal(await px.proxyExchange(s.ports.proxy, req), status, JSON.stringify(req));
    }
    await assertProxyHealthy(s);
  });

  it('a ClientHello sent in the same write as the CONNECT header is kept and answered', async () => {
    const { tls: t, stream } = await px.openEarlyTunnel(s.ports.proxy, 'management.azure.com', { ca: s.caPem });
    try {
      // What went out first: the whole CONNECT header block and a whole TLS handshake record.
      const header = px.connectHead('management.azure.com');
      const hl = Buffer.byteLength(header);
      assert.equal(stream.firstWrite.subarray(0, hl).toString('latin1'), header);
      const record = stream.firstWrite.subarray(hl);
      assert.equal(record[0], 0x16, 'a TLS handshake record follows the header in the same write');
      assert.equal(record[5], 0x01, 'it is a ClientHello');
      assert.equal(record.length, 5 + record.readUInt16BE(3), 'the whole ClientHello record');
      // What came back first: exactly the 200, then TLS.
      assert.ok(stream.firstRead.toString('latin1').startsWith('HTTP/1.1 200 Connection Established\r\n'),
        JSON.stringify(stream.firstRead.toString('latin1').slice(0, 80)));
      assert.equal(stream.head, 'HTTP/1.1 200 Connection Established\r\n\r\n');
      assert.equal(stream.afterHead[0], 0x16, 'a TLS handshake record (ServerHello) after the head');
      assert.equal(t.authorized, true, String(t.authorizationError));
      const reader = new px.ResponseReader(t);
      px.assertHealth(await px.get(t, reader, '/health', 'management.azure.com'), 'arm');
      px.assertHealth(await px.get(t, reader, '/health', 'management.azure.com'), 'arm', 'second request');
    } finally {
      t.destroy();
    }
    await assertProxyHealthy(s);
  });

  it('keep-alive inside one tunnel: 20 requests back to back on one TLS connection', async () => {
    for (const host of ['management.azure.com', 'myvault.vault.azure.net']) {
      const t = await px.openTunnel(s.ports.proxy, host, { ca: s.caPem });
      try {
        const reader = new px.ResponseReader(t);
        for (let i = 0; i < 20; i++) {
          const r = await px.get(t, reader, i % 2 ? '/health' : '/no/such/path', host);
          if (i % 2) px.assertHealth(r, px.HOSTS[host], `${host} request ${i + 1}`);
          else assert.equal(r.status, 404, `${host} request ${i + 1}: ${r.text}`);
          assert.notEqual(r.headers.connection?.toLowerCase(), 'close', `${host} request ${i + 1}`);
        }
        assert.equal(t.destroyed, false);
      } finally {
        t.destroy();
      }
    }
  });

  // The module behind a tunnel knows the request came through the front door, and for which host:
  // a request inside the tunnel that names another host is refused (421), while the same request
  // sent to the module directly is not a front-door request and is answered.
  it('a tunnel belongs to its CONNECT host: another Host inside it gets 421 MisdirectedRequest', async () => {
    const t = await px.openTunnel(s.ports.proxy, 'management.azure.com', { ca: s.caPem });
    try {
      const reader = new px.ResponseReader(t);
      const ok = await px.get(t, reader, '/health', 'management.azure.com:443');
      px.assertHealth(ok, 'arm');
      const r = await px.get(t, reader, '/health', 'myvault.vault.azure.net');
      assert.equal(r.status, 421, r.text);
      assert.equal(JSON.parse(r.text).error.code, 'MisdirectedRequest');
    } finally {
      t.destroy();
    }
    const direct = await s.request('arm', '/health', { headers: { Host: 'myvault.vault.azure.net' } });
    assert.equal(direct.status, 200, direct.text);
  });

  it('keep-alive inside one tunnel with https.Agent (keepAlive, CONNECT in createConnection)', async () => {
    let tunnels = 0;
    class TunnelAgent extends https.Agent {
      createConnection(options, callback) {
        tunnels++;
        px.openTunnel(s.ports.proxy, options.host, { ca: s.caPem })
          .then((t) => callback(null, t), (err) => callback(err));
      }
    }
    const agent = new TunnelAgent({ keepAlive: true, maxSockets: 1 });
    try {
      const get = (host, path) => new Promise((resolve, reject) => {
        const req = https.get({ host, path, agent, ca: s.caPem }, (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode, reused: req.reusedSocket,
            body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        });
        req.setTimeout(5_000, () => req.destroy(new Error(`GET https://${host}${path}: timeout`)));
        req.on('error', reject);
      });
      for (let i = 0; i < 10; i++) {
        const r = await get('login.microsoftonline.com', '/health');
        assert.equal(r.status, 200, r.body);
        assert.equal(JSON.parse(r.body).module, 'aad');
        assert.equal(r.reused, i > 0, `request ${i + 1} reused the tunnel`);
      }
      assert.equal(tunnels, 1, 'one CONNECT for all ten requests');
    } finally {
      agent.destroy();
    }
  });

  it('100 short tunnels in a row all succeed', async () => {
    const hosts = Object.keys(px.HOSTS);
    for (let i = 0; i < 100; i++) {
      const host = hosts[i % hosts.length];
      px.assertHealth(await px.tunnelGet(s.ports.proxy, host, '/health', { ca: s.caPem }),
        px.HOSTS[host], `tunnel ${i + 1} (${host})`);
    }
  });

  it('200 tunnels opened at once to a mix of hosts all complete', async () => {
    const hosts = Object.keys(px.HOSTS);
    const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => {
      const host = hosts[i % hosts.length];
      return px.tunnelGet(s.ports.proxy, host, '/health', { ca: s.caPem, ms: 15_000 })
        .then((r) => ({ host, r }));
    }));
    const failed = results.filter((x) => x.status === 'rejected').map((x) => x.reason.message);
    assert.deepEqual(failed, [], `${failed.length} of 200 failed`);
    for (const { value: { host, r } } of results) px.assertHealth(r, px.HOSTS[host], host);
    await assertProxyHealthy(s);
  });

  describe('bad input, each followed by a health check through the proxy', () => {
    it('garbage instead of a request line', async () => {
      for (const g of ['GARBAGE\r\n\r\n', '\x00\x01\x02\x03\r\n\r\n', 'CONNECT\r\n\r\n',
        'CONNECT  HTTP/1.1\r\n\r\n', '\r\n\r\n', 'GET http://169.254.169.254/health\x00 HTTP/1.1\r\n\r\n']) {
        const r = await px.proxyExchange(s.ports.proxy, g);
        assertRefusal(r, 400, JSON.stringify(g));
      }
      // Random bytes with a header terminator somewhere.
      const junk = Buffer.concat([az.pseudoRandomBytes(2_000, 'frontdoor'), Buffer.from('\r\n\r\n')]);
      const r = await px.proxyExchange(s.ports.proxy, junk);
      assert.ok(r.closed, 'closed');
      if (r.head) assert.equal(r.head.status, 400);
      await assertProxyHealthy(s);
    });

    it('CONNECT without a port', async () => {
      for (const host of ['management.azure.com', 'myvault.vault.azure.net', 'example.com']) {
        const r = await px.proxyExchange(s.ports.proxy, `CONNECT ${host} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
        assertRefusal(r, 400, host);
      }
      await assertProxyHealthy(s);
    });

    it('a client that disconnects in the middle of the TLS handshake', async () => {
      const hello = await px.clientHello('management.azure.com');
      assert.equal(hello[0], 0x16);
      // (a) half a ClientHello, then gone; (b) a whole one, gone once the ServerHello arrives;
      // (c) a whole one sent with the header, gone at once.
      for (let i = 0; i < 5; i++) {
        const a = await px.tcpConnect(s.ports.proxy);
        a.write(px.connectHead('management.azure.com'));
        const { head } = await px.readHead(a);
        assert.equal(px.parseHead(head).status, 200);
        a.write(hello.subarray(0, 60));
        await az.sleep(20);
        a.destroy();

        const b = await px.tcpConnect(s.ports.proxy);
        b.write(px.connectHead('myvault.vault.azure.net'));
        assert.equal(px.parseHead((await px.readHead(b)).head).status, 200);
        b.resume();
        const serverHello = az.once(b, 'data', 5_000, 'ServerHello');
        b.write(await px.clientHello('myvault.vault.azure.net'));
        const [d] = await serverHello;
        assert.equal(d[0], 0x16, 'the module answered with a handshake record');
        b.destroy();

        const c = await px.tcpConnect(s.ports.proxy);
        c.write(Buffer.concat([Buffer.from(px.connectHead('login.microsoftonline.com')),
          await px.clientHello('login.microsoftonline.com')]));
        c.destroy();
      }
      await assertProxyHealthy(s);
    });

    it('a header block over 64 KiB gets 431 or a closed connection', async () => {
      const big = 'x'.repeat(70 * 1024);
      const cases = [
        `CONNECT management.azure.com:443 HTTP/1.1\r\nHost: management.azure.com:443\r\nX-Big: ${big}\r\n\r\n`,
        `CONNECT management.azure.com:443 HTTP/1.1\r\nX-Big: ${big}`, // never terminated
        `GET http://169.254.169.254/health HTTP/1.1\r\nX-Big: ${big}\r\n\r\n`,
        `GET /health HTTP/1.1\r\n${Array.from({ length: 1_500 }, (_, i) => `X-H${i}: ${'b'.repeat(50)}\r\n`).join('')}\r\n`,
        `CONNECT ${'m'.repeat(70 * 1024)}:443 HTTP/1.1\r\n\r\n`,
      ];
      for (const req of cases) {
        const r = await px.proxyExchange(s.ports.proxy, req);
        const what = `${req.slice(0, 40)}... (${req.length} bytes)`;
        assert.ok(r.closed, `${what}: closed`);
        if (r.head) {
          assert.equal(r.head.status, 431, what);
          assert.equal(r.head.headers.connection?.toLowerCase(), 'close', what);
        }
      }
      await assertProxyHealthy(s);
    });

    it('a CONNECT header sent one byte at a time works', async () => {
      const sock = await px.tcpConnect(s.ports.proxy);
      try {
        const header = Buffer.from(px.connectHead('graph.microsoft.com', 443, 'User-Agent: slow\r\n'));
        for (const byte of header) {
          sock.write(Buffer.from([byte]));
          await new Promise((r) => setImmediate(r));
        }
        const { head, rest } = await px.readHead(sock);
        assert.equal(head, 'HTTP/1.1 200 Connection Established\r\n\r\n');
        assert.equal(rest.length, 0);
        const t = tls.connect({ socket: sock, servername: 'graph.microsoft.com', ca: s.caPem });
        await px.handshake(t);
        px.assertHealth(await px.get(t, new px.ResponseReader(t), '/health', 'graph.microsoft.com'), 'aad');
        t.destroy();
        // The same for an absolute-form request.
        const plain = await px.tcpConnect(s.ports.proxy);
        const reader = new px.ResponseReader(plain);
        for (const byte of Buffer.from('GET http://169.254.169.254/health HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n')) {
          plain.write(Buffer.from([byte]));
          await new Promise((r) => setImmediate(r));
        }
        px.assertHealth(await reader.next(), 'imds');
        plain.destroy();
      } finally {
        sock.destroy();
      }
      await assertProxyHealthy(s);
    });
  });

  // Regression: the front door used to treat the client's FIN as the end of the whole exchange
  // and drop the request or the response; it now passes the half-close on to the module.
  it('an absolute-form request followed at once by a half-close still gets its response', async () => {
    const halfClosed = async (port, target) => {
      const sock = await px.tcpConnect(port);
      const chunks = [];
      sock.on('data', (d) => chunks.push(d));
      sock.on('error', () => {});
      const closed = new Promise((r) => sock.on('close', r));
      sock.end(`GET ${target} HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n\r\n`);
      await Promise.race([closed, az.sleep(3_000)]);
      sock.destroy();
      return Buffer.concat(chunks).toString('latin1');
    };
    for (let i = 0; i < 10; i++) {
      // imds itself answers a client that half-closes after its request...
      assert.match(await halfClosed(s.ports.imds, '/health'), /^HTTP\/1\.1 200 /, 'imds directly');
      // ...and so must the front door, which only passes the bytes on.
      const via = await halfClosed(s.ports.proxy, 'http://169.254.169.254/health');
      assert.match(via, /^HTTP\/1\.1 200 /, `through the front door, attempt ${i + 1}: ${JSON.stringify(via)}`);
    }
  });

  it('leaves no descriptors behind after all of the above', async () => {
    const n = await px.settledFdCount(s.pid, fdBaseline, 3_000);
    assert.equal(n, fdBaseline, `descriptors: ${fdBaseline} before, ${n} after\n${px.fdList(s.pid).join('\n')}`);
    // The count does see tunnels: one open tunnel holds three (the client's, the front door's
    // connection to the module, and the module's end of it).
    const t = await px.openTunnel(s.ports.proxy, 'management.azure.com', { ca: s.caPem });
    try {
      assert.equal(await px.settledFdCount(s.pid, fdBaseline + 3, 3_000), fdBaseline + 3);
    } finally {
      t.destroy();
    }
    assert.equal(await px.settledFdCount(s.pid, fdBaseline, 3_000), fdBaseline);
  });
});

describe('front door with --idle-timeout 1', () => {
  let s;
  let fdBaseline;

  before(async () => {
    s = await az.start({ args: ['--idle-timeout', '1'] });
    await assertProxyHealthy(s);
    for (const [host, m] of Object.entries(px.HOSTS)) {
      px.assertHealth(await px.tunnelGet(s.ports.proxy, host, '/health', { ca: s.caPem }), m, host);
    }
    fdBaseline = await px.stableFdCount(s.pid);
  });
  after(() => az.finish(s));

  it('silent clients are closed by the server within a few seconds', async () => {
    const started = performance.now();
    const conns = {};
    // A tunnel that never starts TLS, one per TLS module.
    for (const host of ['management.azure.com', 'login.microsoftonline.com', 'myvault.vault.azure.net',
      'myaccount.blob.core.windows.net']) {
      const sock = await px.tcpConnect(s.ports.proxy);
      sock.write(px.connectHead(host));
      const { head } = await px.readHead(sock);
      assert.equal(px.parseHead(head).status, 200, host);
      conns[`CONNECT ${host}, then silence`] = sock;
    }
    // An absolute-form connection after its response (kept alive, then idle).
    const imds = await px.tcpConnect(s.ports.proxy);
    px.assertHealth(await px.get(imds, new px.ResponseReader(imds), 'http://169.254.169.254/health',
      '169.254.169.254'), 'imds');
    conns['absolute-form, idle after one response'] = imds;
    // Nothing at all, and half a CONNECT header.
    conns['nothing sent'] = await px.tcpConnect(s.ports.proxy);
    const half = await px.tcpConnect(s.ports.proxy);
    half.write('CONNECT management.azure.com:44');
    conns['half a CONNECT header'] = half;

    try {
      const closed = await Promise.all(Object.values(conns).map((sock) => new Promise((resolve) => {
        if (sock.destroyed) return resolve(true);
        sock.resume();
        sock.on('error', () => {});
        const timer = setTimeout(() => resolve(false), 6_000);
        sock.on('close', () => {
          clearTimeout(timer);
          resolve(true);
        });
      })));
      const open = Object.keys(conns).filter((_, i) => !closed[i]);
      assert.deepEqual(open, [], `still open after ${Math.round(performance.now() - started)} ms`);
    } finally {
      Object.values(conns).forEach((c) => c.destroy());
    }
    await assertProxyHealthy(s);
  });

  it('leaves no descriptors behind', async () => {
    const n = await px.settledFdCount(s.pid, fdBaseline, 3_000);
    assert.equal(n, fdBaseline, `descriptors: ${fdBaseline} before, ${n} after\n${px.fdList(s.pid).join('\n')}`);
  });
});

// Graceful shutdown: SIGTERM and SIGINT stop the server with exit code 0, remove the run file and
// close the listeners, even with connections open in every state.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';

import * as az from './lib/azsim.mjs';

function refused(port) {
  return new Promise((res) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.on('connect', () => {
      sock.destroy();
      res(false);
    });
    sock.on('error', (err) => res(err.code === 'ECONNREFUSED'));
  });
}

test('SIGTERM: exit 0, azsim.run.json removed, listeners closed', async (t) => {
  const s = await az.startFor(t);
  const runFile = join(s.dataDir, 'azsim.run.json');
  assert.ok(existsSync(runFile), 'run file while running');
  assert.equal(JSON.parse(readFileSync(runFile, 'utf8')).pid, s.pid);
  await az.assertHealthy(s);
  const result = await az.stopClean(s);
  assert.ok(!existsSync(runFile), 'run file removed');
  assert.match(result.stderr, /stopped/);
  for (const m of az.MODULES) assert.ok(await refused(s.ports[m]), `${m} port no longer accepts`);
});

test('SIGINT: exit 0, azsim.run.json removed', async (t) => {
  const s = await az.startFor(t, { args: ['--only', 'imds,arm'] });
  await az.assertHealthy(s);
  const result = await s.interrupt();
  az.assertCleanExit(result);
  assert.ok(!existsSync(join(s.dataDir, 'azsim.run.json')));
});

test('SIGTERM right after start-up: exit 0', async (t) => {
  const s = await az.startFor(t);
  await az.stopClean(s);
  assert.ok(!existsSync(join(s.dataDir, 'azsim.run.json')));
});

test('SIGTERM with idle, stalled and half-finished connections open: exit 0 promptly', async (t) => {
  const s = await az.startFor(t, { inMemory: false });
  const conns = [];
  t.after(() => conns.forEach((c) => c.destroy()));
  for (const m of az.MODULES) {
    const tlsOpts = !az.TLS_MODULES.includes(m) ? undefined : { ca: s.caPem };
    // Keep-alive connection that has had one response.
    const idle = await az.connect(s.ports[m], { tls: tlsOpts });
    const answered = az.once(idle.sock, 'data', 5_000, `${m} keep-alive response`);
    idle.sock.write('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await answered;
    assert.match(idle.received.toString(), /^HTTP\/1\.1 200 /);
    conns.push(idle);
    // Half a request line.
    const half = await az.connect(s.ports[m], { tls: tlsOpts });
    half.sock.write('GET /hea');
    conns.push(half);
    // Half a body.
    const body = await az.connect(s.ports[m], { tls: tlsOpts });
    body.sock.write('POST /health HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n0123');
    conns.push(body);
    // TCP only: no TLS handshake (or no bytes at all on imds).
    conns.push(await az.connect(s.ports[m]));
  }
  await az.assertHealthy(s);
  const t0 = performance.now();
  await az.stopClean(s);
  t.diagnostic(`stopped ${(performance.now() - t0).toFixed(1)} ms after SIGTERM with ${conns.length} connections open`);
  assert.ok(!existsSync(join(s.dataDir, 'azsim.run.json')));
  const stillOpen = (await Promise.all(conns.map((c) => c.waitClosed(2_000)))).filter((closed) => !closed);
  assert.equal(stillOpen.length, 0, 'the server closed every connection');
});

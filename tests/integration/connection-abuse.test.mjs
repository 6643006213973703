// Connection abuse: many idle connections, on the modules and through the front door, do not stop
// other clients from being served; a client trickling its header block does not block others (the
// front door cuts it off; the modules' listeners only when it stops sending for --idle-timeout,
// see the README's limits); running out of descriptors pauses accepting instead of spinning, and azsim serves
// again once they are free. Generous timeouts: these are not benchmarks.
//
// azsim raises its descriptor soft limit to the hard limit at start (common/main.c); a tunnel
// through the front door holds three descriptors in azsim (client, module side, module's accept).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, it, test } from 'node:test';

import * as az from './lib/azsim.mjs';
import * as px from './lib/proxy.mjs';

const IDLE = 1_000;
const PROMPT_MS = 10_000; // "promptly", generously: a sanitizer build on a shared 2-core machine

/** The soft limit on open files of process `pid`. */
function fdLimit(pid = 'self') {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  return Number(line.split(/\s+/)[3]);
}

/** CPU time (user + system) of process `pid`, in seconds. */
function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Open `n` plain TCP connections to `ports` (round robin), `batch` at a time; never throws. */
async function openIdle(ports, n, batch = 100) {
  const socks = [];
  for (let i = 0; i < n; i += batch) {
    const group = [];
    for (let j = i; j < Math.min(n, i + batch); j++) {
      group.push(new Promise((res) => {
        const sock = net.connect({ host: '127.0.0.1', port: ports[j % ports.length] });
        sock.on('error', () => {});
        sock.once('connect', () => res(sock));
        sock.once('error', () => res(sock));
        sock.setTimeout(10_000, () => res(sock));
      }));
    }
    socks.push(...await Promise.all(group));
  }
  return socks;
}

/** The front door's own /health, on a fresh connection. */
async function proxyHealth(s) {
  const r = await px.proxyExchange(s.ports.proxy, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n', { ms: PROMPT_MS });
  assert.equal(r.head?.status, 200, JSON.stringify(r.data.toString('latin1')));
}

/** Every module's /health and the front door's answer within PROMPT_MS. */
async function assertServed(s) {
  assert.ok(s.running, s.stderr);
  for (const m of Object.keys(s.urls)) {
    const r = await s.request(m, '/health', { timeoutMs: PROMPT_MS });
    assert.equal(r.status, 200, `${m}: ${r.status} ${r.text}`);
  }
  await proxyHealth(s);
}

describe('connection abuse', () => {
  let s;
  before(async () => {
    assert.ok(fdLimit() >= 3 * IDLE + 500, `this test needs ${3 * IDLE + 500} descriptors; the limit is ${fdLimit()}`);
    s = await az.start();
  });
  after(() => az.finish(s));

  it(`${IDLE} idle TCP connections spread over every listener do not stop others from being served`, async (t) => {
    assert.ok(fdLimit(s.pid) >= 2 * IDLE, `azsim's descriptor limit is ${fdLimit(s.pid)}`);
    const before = px.fdCount(s.pid);
    const socks = await openIdle(Object.values(s.ports), IDLE);
    t.after(() => socks.forEach((c) => c.destroy()));
    assert.equal(socks.filter((c) => c.readyState !== 'open').length, 0, 'all connected');
    // azsim holds them (accepted, not just queued in the backlog).
    const held = await px.stableFdCount(s.pid, 5_000);
    assert.ok(held - before >= IDLE * 0.95, `azsim holds ${held - before} more descriptors, expected about ${IDLE}`);
    await assertServed(s);
    assert.equal(socks.filter((c) => c.destroyed).length, 0, 'the idle ones are still open');
  });

  it(`${IDLE} idle tunnels through the front door (three descriptors each) do not stop others from being served`, async (t) => {
    const hosts = Object.keys(px.HOSTS);
    const tunnels = [];
    t.after(() => tunnels.forEach((c) => c.destroy()));
    for (let i = 0; i < IDLE; i += 50) {
      const group = [];
      for (let j = i; j < Math.min(IDLE, i + 50); j++) {
        group.push((async () => {
          const sock = await px.tcpConnect(s.ports.proxy, PROMPT_MS);
          tunnels.push(sock);
          sock.write(px.connectHead(hosts[j % hosts.length]));
          const { head } = await px.readHead(sock, PROMPT_MS);
          assert.equal(px.parseHead(head).status, 200, head);
        })());
      }
      await Promise.all(group);
    }
    const held = await px.stableFdCount(s.pid, 5_000);
    assert.ok(held >= 2 * IDLE, `azsim holds ${held} descriptors with ${IDLE} tunnels open`);
    await assertServed(s);
    // And a new tunnel is served end to end.
    px.assertHealth(await px.tunnelGet(s.ports.proxy, 'management.azure.com', '/health', { ca: s.caPem, ms: PROMPT_MS }), 'arm');
  });
});

test('a client trickling its header block does not block others; the front door cuts it off', async (t) => {
  const s = await az.startFor(t, { args: ['--idle-timeout', '2'] });
  const trickle = async (port) => {
    const c = await az.connect(port);
    const text = `GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(40)}`;
    (async () => {
      for (let i = 0; i < text.length && !c.state.closed; i++) {
        c.sock.write(text[i]);
        await az.sleep(1_000);
      }
    })();
    return c;
  };
  const front = await trickle(s.ports.proxy);
  const imds = await trickle(s.ports.imds);
  t.after(() => [front, imds].forEach((c) => c.destroy()));
  const started = performance.now();
  await assertServed(s);
  // The idle timeout restarts with every byte; the front door also bounds the whole header block
  // by it: cut off with 408 after about 2 s, though a byte came every second.
  assert.ok(await front.waitClosed(8_000), 'the front door closes the trickling client');
  assert.ok(performance.now() - started < 8_000);
  assert.match(front.received.toString('latin1'), /^HTTP\/1\.1 408 /);
  await assertServed(s);
  await az.stopClean(s);
});

test('out of descriptors: accepting pauses (no busy loop, no log flood) and azsim serves again once they are free', async (t) => {
  const s = await az.startFor(t);
  // Lower azsim's limit to just above what it holds, then open more connections than that.
  const limit = px.fdCount(s.pid) + 40;
  const r = spawnSync('prlimit', ['--pid', String(s.pid), `--nofile=${limit}:${limit}`], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    t.skip(`prlimit is not available: ${r.error?.message ?? r.stderr}`);
    return;
  }
  const cpu0 = cpuSeconds(s.pid);
  const t0 = performance.now();
  const flood = await openIdle([s.ports.arm, s.ports.imds, s.ports.proxy], 300);
  t.after(() => flood.forEach((c) => c.destroy()));
  await az.sleep(2_000);
  const busy = (cpuSeconds(s.pid) - cpu0) / ((performance.now() - t0) / 1000);
  // libevent alone retries accept() at once, for ever: one core at 100% and a warning per try.
  assert.ok(busy < 0.5, `azsim used ${(busy * 100).toFixed(0)}% of a core while out of descriptors`);
  const warnings = s.stderr.split('\n').filter((l) => /accept/i.test(l));
  assert.ok(warnings.length >= 1 && warnings.length <= 10, `${warnings.length} lines about accept:\n${warnings.slice(0, 5).join('\n')}`);
  assert.ok(!s.stderr.includes('Error from accept() call'), 'libevent\'s own warning loop');
  flood.forEach((c) => c.destroy());
  await assertServed(s);
  await az.stopClean(s);
});

// The command line: help, version, bad flags, --only, environment variables, log formats.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';

import * as az from './lib/azsim.mjs';

const ALL_PORTS_ZERO = Object.fromEntries(
  [...az.MODULES, 'proxy'].map((m) => [`AZSIM_${m.toUpperCase()}_PORT`, '0']),
);

test('--help, -h and `help` print the usage and exit 0', () => {
  for (const args of [['--help'], ['-h'], ['help'], ['serve', '--help']]) {
    const r = az.run(args);
    az.assertNoSanitizerReport(r.stderr);
    assert.equal(r.code, 0, `${args}: ${r.stderr}`);
    assert.match(r.stdout, /^usage: azsim /, args.join(' '));
    for (const word of ['serve', 'health', 'ca', 'version', '--data-dir', '--in-memory', '--bind',
      '--only', '--log-level', '--log-format', '--idle-timeout', 'AZSIM_DATA_DIR', 'AZSIM_IN_MEMORY',
      'AZSIM_ONLY', 'AZSIM_LOG_LEVEL', 'AZSIM_LOG_FORMAT', 'AZSIM_IDLE_TIMEOUT']) {
      assert.ok(r.stdout.includes(word), `${args.join(' ')}: usage lacks ${word}`);
    }
    for (const m of az.MODULES) {
      assert.ok(r.stdout.includes(`--${m}-port`), `usage lacks --${m}-port`);
      assert.ok(r.stdout.includes(`AZSIM_${m.toUpperCase()}_PORT`), `usage lacks AZSIM_${m.toUpperCase()}_PORT`);
    }
  }
});

test('`version`, --version and -V print "azsim 0.1.0"', () => {
  for (const args of [['version'], ['--version'], ['-V']]) {
    const r = az.run(args);
    az.assertNoSanitizerReport(r.stderr);
    assert.equal(r.code, 0, `${args}: ${r.stderr}`);
    assert.equal(r.stdout, `azsim ${az.VERSION}\n`);
  }
});

test('bad flags, values and commands exit 2 with a message and start nothing', (t) => {
  const { dir, cleanup } = az.tempDir();
  t.after(cleanup);
  const cases = [
    ['--no-such-flag'],
    ['serve', '--no-such-flag'],
    ['frobnicate'],
    ['version', 'extra'],
    ['--data-dir'],
    ['--data-dir', ''],
    ['--arm-port', '70000'],
    ['--arm-port', '-1'],
    ['--imds-port', 'abc'],
    ['--storage-port', ''],
    ['--only', 'bogus'],
    ['--only', 'imds,bogus'],
    ['--only', ''],
    ['--only', ','],
    ['--log-level', 'loud'],
    ['--log-format', 'xml'],
    ['--idle-timeout', '0'],
    ['--idle-timeout', '-1'],
    ['--idle-timeout', '1x'],
  ];
  for (const args of cases) {
    const full = args.includes('--data-dir') ? args : [...args, '--data-dir', dir];
    const r = az.run(full);
    az.assertNoSanitizerReport(r.stderr);
    assert.equal(r.code, 2, `${JSON.stringify(full)} exited ${r.code} (signal ${r.signal}): ${r.stderr}`);
    assert.ok(r.stderr.length > 0, `${JSON.stringify(full)}: no message`);
    assert.equal(r.stdout, '', `${JSON.stringify(full)} printed to stdout`);
  }
  for (const [name, value] of [['AZSIM_ARM_PORT', 'abc'], ['AZSIM_LOG_FORMAT', 'xml'],
    ['AZSIM_ONLY', 'nothing'], ['AZSIM_IDLE_TIMEOUT', '0'], ['AZSIM_LOG_LEVEL', 'loud']]) {
    const r = az.run(['--data-dir', dir], { env: { [name]: value } });
    az.assertNoSanitizerReport(r.stderr);
    assert.equal(r.code, 2, `${name}=${value} exited ${r.code}: ${r.stderr}`);
    assert.ok(r.stderr.includes(name), `${name}=${value}: the message names the variable: ${r.stderr}`);
  }
  assert.ok(!existsSync(join(dir, 'azsim.run.json')), 'no server ran');
});

test('a port already in use fails the start with a message naming it', async (t) => {
  const { dir, cleanup } = az.tempDir();
  const blocker = net.createServer();
  t.after(() => {
    blocker.close();
    cleanup();
  });
  await new Promise((res) => blocker.listen(0, '127.0.0.1', res));
  const busy = blocker.address().port;
  const args = ['serve', '--data-dir', dir, '--in-memory'];
  for (const m of az.MODULES) args.push(`--${m}-port`, m === 'keyvault' ? String(busy) : '0');
  const r = az.run(args);
  az.assertNoSanitizerReport(r.stderr);
  assert.notEqual(r.code, 0, r.stderr);
  assert.notEqual(r.code, null, `did not exit by itself: ${r.stderr}`);
  assert.ok(r.stderr.includes(String(busy)), r.stderr);
  assert.ok(!existsSync(join(dir, 'azsim.run.json')), 'no run file for a server that never ran');
});

test('a port a running azsim holds fails a second azsim: its threads share the port, others may not', async (t) => {
  const first = await az.startFor(t, {});
  const { dir, cleanup } = az.tempDir();
  t.after(cleanup);
  const args = ['serve', '--data-dir', dir, '--in-memory', '--proxy-port', '0'];
  for (const m of az.MODULES) args.push(`--${m}-port`, m === 'aad' ? String(first.ports.aad) : '0');
  const r = az.run(args);
  az.assertNoSanitizerReport(r.stderr);
  assert.notEqual(r.code, 0, r.stderr);
  assert.ok(r.stderr.includes(`port ${first.ports.aad}`), r.stderr);
  await az.assertHealthy(first);
});

test('--only imds,aad starts only those two listeners', async (t) => {
  const s = await az.startFor(t, { args: ['--only', 'imds,aad'] });
  assert.deepEqual(Object.keys(s.urls).sort(), ['aad', 'imds']);
  // The front door always runs: it is how clients reach whichever modules do.
  assert.deepEqual(s.stdout.trimEnd().split('\n').map((l) => l.split(/\s+/)[0]),
    ['proxy', 'aad', 'imds', 'tenant', 'subscription', 'admin', 'admin', 'ca']);
  await az.assertHealthy(s, ['aad', 'imds']);
  const run = JSON.parse(readFileSync(join(s.dataDir, 'azsim.run.json'), 'utf8'));
  assert.deepEqual(Object.keys(run.listeners).sort(), ['aad', 'imds', 'proxy']);
  const health = az.run(['health', '--data-dir', s.dataDir]);
  assert.equal(health.code, 0, health.stdout + health.stderr);
  assert.deepEqual(health.stdout.trimEnd().split('\n').map((l) => l.split(/\s+/)[0]).sort(), ['aad', 'imds', 'proxy']);
  await az.stopClean(s);
});

test('--only is case-insensitive and takes spaces and commas', async (t) => {
  const s = await az.startFor(t, { args: ['--only', 'KeyVault, IMDS'] });
  assert.deepEqual(Object.keys(s.urls).sort(), ['imds', 'keyvault']);
  await az.assertHealthy(s);
  await az.stopClean(s);
});

test('options may follow the command', async (t) => {
  const s = await az.startFor(t, { args: ['--only', 'imds'] });
  const r = az.run(['health', '--data-dir', s.dataDir]);
  const r2 = az.run(['--data-dir', s.dataDir, 'health']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r2.code, 0, r2.stderr);
  await az.stopClean(s);
});

test('"--" ends the options: a key id that starts with "-" reaches `azsim keys retire`', () => {
  // Key ids are base64url, so one in 64 starts with '-'. Without "--" it reads as options.
  const dir = az.tempDir();
  try {
    const plain = az.run(['keys', 'retire', '-bXYZ', '--data-dir', dir.dir]);
    assert.equal(plain.code, 2, plain.stderr);
    const ended = az.run(['keys', '--data-dir', dir.dir, '--', 'retire', '-bXYZ']);
    assert.equal(ended.code, 1, ended.stderr); // the command ran: there is no store to change
    assert.match(ended.stderr, /no store in/);
    const late = az.run(['keys', '--', 'retire', '--data-dir']);
    assert.notEqual(late.code, 0);
    assert.doesNotMatch(late.stderr, /requires an argument/, 'after "--", "--data-dir" is a word');
  } finally {
    dir.cleanup();
  }
});

test('explicit ports from flags and from AZSIM_*_PORT are used', async (t) => {
  const [p1, p2] = [await az.freePort(), await az.freePort()];
  const s = await az.startFor(t, { ports: { imds: p1 }, args: ['--only', 'imds'] });
  assert.equal(s.urls.imds, `http://127.0.0.1:${p1}`);
  await az.assertHealthy(s);
  await az.stopClean(s);

  const { dir, cleanup } = az.tempDir();
  t.after(cleanup);
  const e = await az.startFor(t, {
    dataDir: dir,
    rawArgs: [],
    env: { AZSIM_DATA_DIR: dir, AZSIM_IN_MEMORY: '1', AZSIM_ONLY: 'imds', AZSIM_IMDS_PORT: String(p2) },
  });
  assert.equal(e.urls.imds, `http://127.0.0.1:${p2}`);
  await az.assertHealthy(e);
  await az.stopClean(e);
});

/** What a server configured one way or the other looks like from outside. */
async function observe(s) {
  const requestOk = (await s.request('imds', '/health')).status === 200;
  const c = await az.connect(s.ports.imds);
  const idleClosed = await c.waitClosed(5_000); // --idle-timeout 1
  c.destroy();
  const result = await az.stopClean(s);
  const lines = result.stderr.trimEnd().split('\n');
  return {
    modules: Object.keys(s.urls).sort(),
    requestOk,
    idleClosed,
    storeFile: existsSync(join(s.dataDir, 'azsim.db')),
    jsonLogs: lines.every((l) => {
      try {
        return typeof JSON.parse(l).level === 'string';
      } catch {
        return false;
      }
    }),
    accessLogged: lines.some((l) => l.includes('"path":"/health"')),
  };
}

test('AZSIM_* environment variables are equivalent to the flags', async (t) => {
  const flags = await az.startFor(t, {
    args: ['--only', 'arm,imds', '--log-format', 'json', '--log-level', 'info', '--idle-timeout', '1'],
  });
  const viaFlags = await observe(flags);

  const { dir, cleanup } = az.tempDir();
  t.after(cleanup);
  const env = await az.startFor(t, {
    dataDir: dir,
    rawArgs: [],
    env: {
      AZSIM_DATA_DIR: dir,
      AZSIM_IN_MEMORY: '1',
      ...ALL_PORTS_ZERO,
      AZSIM_ONLY: 'arm,imds',
      AZSIM_LOG_FORMAT: 'json',
      AZSIM_LOG_LEVEL: 'info',
      AZSIM_IDLE_TIMEOUT: '1',
    },
  });
  assert.equal(env.ca, join(dir, 'tls', 'ca.pem'));
  const viaEnv = await observe(env);

  const expected = {
    modules: ['arm', 'imds'],
    requestOk: true,
    idleClosed: true,
    storeFile: false,
    jsonLogs: true,
    accessLogged: true,
  };
  assert.deepEqual(viaFlags, expected);
  assert.deepEqual(viaEnv, expected);
});

test('flags win over environment variables', async (t) => {
  const s = await az.startFor(t, {
    env: { AZSIM_ONLY: 'arm', AZSIM_LOG_FORMAT: 'json' },
    args: ['--only', 'imds', '--log-format', 'text'],
  });
  assert.deepEqual(Object.keys(s.urls), ['imds']);
  const result = await az.stopClean(s);
  assert.ok(!result.stderr.trimStart().startsWith('{'), result.stderr);
});

test('without AZSIM_IN_MEMORY the store is a file in AZSIM_DATA_DIR', async (t) => {
  const { dir, cleanup } = az.tempDir();
  t.after(cleanup);
  const s = await az.startFor(t, { dataDir: dir, rawArgs: ['serve'], env: { AZSIM_DATA_DIR: dir, ...ALL_PORTS_ZERO } });
  assert.ok(existsSync(join(dir, 'azsim.db')));
  assert.match(az.instanceId(dir), az.UUID_RE);
  await az.stopClean(s);
});

const LEVELS = new Set(['debug', 'info', 'warn', 'error']);

function assertJsonLines(stderr) {
  const lines = stderr.trimEnd().split('\n');
  assert.ok(lines.length >= 3, stderr);
  for (const line of lines) {
    let rec;
    assert.doesNotThrow(() => {
      rec = JSON.parse(line);
    }, `not JSON: ${line}`);
    assert.equal(typeof rec, 'object', line);
    assert.ok(LEVELS.has(rec.level), `level: ${line}`);
    assert.equal(typeof rec.time, 'string', line);
    assert.equal(typeof rec.module, 'string', line);
    assert.equal(typeof rec.msg, 'string', line);
  }
  return lines.map((l) => JSON.parse(l));
}

test('--log-format json makes every stderr line a JSON object with a level', async (t) => {
  const s = await az.startFor(t, { args: ['--log-format', 'json'] });
  for (const m of az.MODULES) {
    await s.request(m, '/health', { headers: { 'x-ms-client-request-id': 'quote " and \\ backslash' } });
    await s.request(m, '/no/"such"/path\\?q=1');
    await s.request(m, '/he%zzalth');
  }
  await az.rawExchange(s.ports.imds, 'GARBAGE\r\n\r\n');
  const result = await az.stopClean(s);
  const recs = assertJsonLines(result.stderr);
  const access = recs.filter((r) => r.msg === 'request');
  assert.equal(access.length, az.MODULES.length * 3, result.stderr);
  for (const r of access) {
    assert.equal(typeof r.method, 'string');
    assert.equal(typeof r.path, 'string');
    assert.equal(typeof r.status, 'number');
    assert.match(r.request_id, az.UUID_RE);
  }
  assert.ok(access.some((r) => r.path === '/no/"such"/path\\'), 'quotes and backslashes survive');
});

test('--log-format json stays valid UTF-8 JSON when a request path has raw non-UTF-8 bytes', async (t) => {
  const s = await az.startFor(t, { args: ['--log-format', 'json', '--only', 'imds'] });
  const r = await az.rawExchange(s.ports.imds, Buffer.concat([Buffer.from('GET /a'),
    Buffer.from([0xff, 0xfe, 0x80]), Buffer.from('b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]));
  assert.equal(r.status, 400);
  await s.request('imds', '/health');
  const result = await az.stopClean(s);
  // Decode stderr strictly: JSON text must be valid UTF-8 (RFC 8259 §8.1); a lenient decoder
  // would hide bad bytes behind U+FFFD and let JSON.parse succeed.
  let text;
  assert.doesNotThrow(() => {
    text = new TextDecoder('utf-8', { fatal: true }).decode(result.stderrBytes);
  }, `stderr is not valid UTF-8:\n${result.stderr.split('\n').filter((l) => l.includes('\uFFFD')).join('\n')}`);
  assertJsonLines(text);
});

test('--log-level warn leaves out info lines and access lines', async (t) => {
  const s = await az.startFor(t, { args: ['--log-level', 'warn'] });
  await az.assertHealthy(s);
  const result = await az.stopClean(s);
  assert.equal(result.stderr, '', result.stderr);
});

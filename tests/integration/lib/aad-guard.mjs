// Preloaded (node --import) into every SDK child process of the AAD tests: refuses any TCP
// connection to a host other than the loopback, so a client that would reach out to the real
// login.microsoftonline.com (instance discovery, a proxy variable it ignores) fails at once instead
// of leaving the machine. The attempt is also reported on stderr, which the tests show on failure.
import net from 'node:net';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost', '::ffff:127.0.0.1']);
const connect = net.Socket.prototype.connect;

net.Socket.prototype.connect = function guardedConnect(...args) {
  // net.createConnection hands over its normalised [options, callback] pair as the first argument.
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  let host;
  let path;
  if (first && typeof first === 'object') {
    host = first.host ?? 'localhost';
    path = first.path; // null for TCP connections made by http(s) agents
  } else if (typeof first === 'string' && !/^\d+$/.test(first)) {
    path = first;
  } else {
    host = typeof args[1] === 'string' ? args[1] : 'localhost';
  }
  if (!path && !LOOPBACK.has(String(host).replace(/^\[|\]$/g, ''))) {
    const err = new Error(`aad-guard: connection to ${host} refused (only the loopback is allowed)`);
    err.code = 'EAADGUARD';
    process.stderr.write(`${err.message}\n`);
    process.nextTick(() => this.destroy(err));
    return this;
  }
  return connect.apply(this, args);
};

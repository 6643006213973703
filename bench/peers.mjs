// The servers azsim is compared with, started the same way every run: nginx answering a fixed
// body over http and https (the ceiling for a small answer), Azurite (Blob Storage, in memory or
// on disk) and oauth2-mock-server (client-credentials tokens).
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { freePort, startProcess, tempDir, waitHttp } from './lib.mjs';

const NODE_MODULES = fileURLToPath(new URL('./node_modules', import.meta.url));

/** A P-256 certificate like azsim's own (ECDSA): {cert, key} paths in `dir`. */
export function makeCertificate(dir) {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
  { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl req: ${r.stderr}`);
  return { cert, key };
}

/**
 * nginx with one worker per core, answering every request with `bodies[path]` (200,
 * application/json) over http and https: {http, https (base URLs), ca (its certificate, to
 * verify it by), pid, stop}.
 */
export async function startNginx(bodies) {
  const dir = tempDir('azsim-bench-nginx-');
  const { cert, key } = makeCertificate(dir);
  const [httpPort, httpsPort] = [await freePort(), await freePort()];
  const locations = Object.entries(bodies).map(([path, body]) =>
    `location = ${path} { default_type application/json; return 200 '${body.replace(/'/g, "\\'")}'; }`).join('\n    ');
  const conf = `
worker_processes auto;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${httpPort};
    listen 127.0.0.1:${httpsPort} ssl;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    ${locations}
  }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const p = await startProcess('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], {
    ready: () => true,
  });
  // nginx prints nothing when it starts: wait for its port.
  await waitHttp(`http://127.0.0.1:${httpPort}${Object.keys(bodies)[0]}`, performance.now());
  return { ...p, http: `http://127.0.0.1:${httpPort}`, https: `https://127.0.0.1:${httpsPort}`, ca: readFileSync(cert), dir };
}

/** Azurite's Blob service on a free port, in memory or with its files in a fresh directory. */
export async function startAzurite({ inMemory }) {
  const dir = tempDir('azsim-bench-azurite-');
  const port = await freePort();
  const args = [join(NODE_MODULES, 'azurite/dist/src/blob/main.js'), '--blobHost', '127.0.0.1', '--blobPort', String(port),
    '--silent', '--skipApiVersionCheck', '--loose', '--disableTelemetry'];
  args.push(...(inMemory ? ['--inMemoryPersistence'] : ['--location', dir]));
  const p = await startProcess(process.execPath, args, {
    cwd: dir,
    ready: (out) => /successfully listens on/i.test(out),
  });
  return { ...p, url: `http://127.0.0.1:${port}`, dir };
}

/** oauth2-mock-server over https (a P-256 certificate, as azsim's): {url, pid}. */
export async function startOauth2Mock() {
  const dir = tempDir('azsim-bench-oauth2-');
  const { cert, key } = makeCertificate(dir);
  const port = await freePort();
  const p = await startProcess(process.execPath, [join(NODE_MODULES, 'oauth2-mock-server/dist/oauth2-mock-server.mjs'),
    '-a', '127.0.0.1', '-p', String(port), '-c', cert, '-k', key], {
    ready: (out) => /listening/i.test(out),
  });
  return { ...p, url: `https://127.0.0.1:${port}`, dir };
}

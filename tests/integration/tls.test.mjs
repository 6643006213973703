// Server certificates chosen by SNI, all issued by the generated CA.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';

import * as az from './lib/azsim.mjs';

// Every name azsim serves; the wildcards are represented by one name each.
const SERVED = [
  'localhost',
  'login.microsoftonline.com',
  'login.windows.net',
  'management.azure.com',
  'management.core.windows.net',
  'graph.microsoft.com',
  'myvault.vault.azure.net',
  'myaccount.blob.core.windows.net',
  'raw.githubusercontent.com',
];

describe('TLS certificates by SNI', () => {
  let s;
  let ca;
  before(async () => {
    s = await az.start();
    ca = new X509Certificate(s.caPem);
  });
  after(() => az.finish(s));

  for (const name of SERVED) {
    it(`servername ${name}: authorized by the CA and matching the name`, async () => {
      // tls.connect verifies the chain against `ca` and runs checkServerIdentity(servername)
      // itself; a failure of either rejects.
      const { cert, authorized, authorizationError } = await az.peerCertificate(s.ports.arm, {
        ca: s.caPem,
        servername: name,
      });
      assert.equal(authorized, true, String(authorizationError));
      assert.equal(tls.checkServerIdentity(name, cert), undefined);
      assert.ok(new X509Certificate(cert.raw).checkIssued(ca), 'issued by the generated CA');
    });
  }

  it('without SNI on 127.0.0.1 the default certificate covers 127.0.0.1, localhost and ::1', async () => {
    const { cert, authorized } = await az.peerCertificate(s.ports.arm, { ca: s.caPem });
    assert.equal(authorized, true);
    assert.match(cert.subjectaltname, /(^|, )IP Address:127\.0\.0\.1(,|$)/, cert.subjectaltname);
    assert.equal(tls.checkServerIdentity('127.0.0.1', cert), undefined);
    assert.equal(tls.checkServerIdentity('localhost', cert), undefined);
    assert.equal(tls.checkServerIdentity('::1', cert), undefined);
  });

  for (const name of ['example.com', 'a.b.vault.azure.net', 'blob.core.windows.net.evil.example']) {
    it(`servername ${name} (not served): verification fails`, async () => {
      await assert.rejects(az.peerCertificate(s.ports.arm, { ca: s.caPem, servername: name }), (err) => {
        assert.equal(err.code, 'ERR_TLS_CERT_ALTNAME_INVALID', err.message);
        return true;
      });
    });
  }

  it('different names get different certificates from the same CA', async () => {
    const fps = new Map();
    for (const name of ['localhost', 'management.azure.com', 'login.microsoftonline.com',
      'myvault.vault.azure.net', 'myaccount.blob.core.windows.net']) {
      const { cert } = await az.peerCertificate(s.ports.arm, { ca: s.caPem, servername: name });
      fps.set(name, cert.fingerprint256);
      assert.equal(cert.issuerCertificate.fingerprint256, ca.fingerprint256, name);
    }
    assert.equal(new Set(fps.values()).size, fps.size, JSON.stringify([...fps]));
  });

  it('every TLS listener selects the certificate by SNI', async () => {
    for (const m of az.TLS_MODULES) {
      for (const name of ['management.azure.com', 'myvault.vault.azure.net']) {
        const { cert, authorized } = await az.peerCertificate(s.ports[m], {
          ca: s.caPem,
          servername: name,
        });
        assert.equal(authorized, true, `${m} ${name}`);
        assert.equal(tls.checkServerIdentity(name, cert), undefined, `${m} ${name}`);
      }
    }
  });

  it('an HTTPS request with a real Azure host name as servername succeeds', async () => {
    const r = await s.request('arm', '/health', { servername: 'management.azure.com' });
    assert.equal(r.status, 200);
    assert.equal(r.json().module, 'arm');
  });
});

"""Debian's Python Azure SDK (azure-identity 1.13.0b2, msal 1.21) against azsim's Entra ID:
client secret and certificate credentials through the front door with their default authority,
and directly against the aad listener with `authority=` and instance discovery switched off."""

import json
import os
import time
import unittest

import azsim

server = None


def setUpModule():
    global server
    server = azsim.Server().start()


def tearDownModule():
    try:
        server.stop_clean()
    finally:
        server.cleanup()


def check_app_token(test, token, audience, appidacr):
    """An Entra v1 app-only access token of the admin app for `audience`."""
    info = server.info
    header, claims = azsim.jwt_parts(token)
    test.assertEqual(header.get('typ'), 'JWT', header)
    test.assertEqual(header.get('alg'), 'RS256', header)
    test.assertEqual(claims.get('aud'), audience, claims)
    test.assertEqual(claims.get('tid'), info['tenantId'], claims)
    test.assertEqual(claims.get('appid'), info['clientId'], claims)
    test.assertEqual(claims.get('iss'), f'https://sts.windows.net/{info["tenantId"]}/', claims)
    test.assertEqual(claims.get('appidacr'), appidacr, claims)
    test.assertEqual(claims.get('idtyp'), 'app', claims)
    test.assertTrue(claims.get('oid'), claims)
    test.assertEqual(claims.get('sub'), claims.get('oid'), claims)
    test.assertNotIn('upn', claims)
    now = time.time()
    test.assertLessEqual(claims['nbf'], now + 120, claims)
    test.assertGreaterEqual(claims['exp'] - claims['iat'], 600, 'lifetime of 10 min or more')
    test.assertGreater(claims['exp'], now + 300, claims)
    return claims


class StartupAndInfo(unittest.TestCase):
    """What the suite builds on: the start-up lines, `azsim info --json`, `azsim env`."""

    def test_info_repeats_the_startup_lines(self):
        s, info = server.startup, server.info
        self.assertEqual(info['tenantId'], s['tenant_id'])
        self.assertEqual(info['tenantDomain'], s['tenant_domain'])
        self.assertEqual(info['clientId'], s['client_id'])
        self.assertEqual(info['username'], s['username'])
        # The secret and the password are only in `azsim info`: start-up output ends up in logs.
        self.assertTrue(info['clientSecret'] and info['password'])
        self.assertNotIn(info['clientSecret'], server.stdout)
        self.assertNotIn(info['password'], server.stdout)
        self.assertEqual(info['authority'], f'https://login.microsoftonline.com/{s["tenant_id"]}')
        self.assertEqual(info['directAuthority'], f'{s["urls"]["aad"]}/{s["tenant_id"]}')
        self.assertTrue(os.path.isabs(info['clientCertificatePath']))
        with open(info['clientCertificatePath'], encoding='ascii') as f:
            pem = f.read()
        self.assertIn('PRIVATE KEY-----', pem)
        self.assertIn('-----BEGIN CERTIFICATE-----', pem)

    def test_env_points_at_the_front_door(self):
        env = server.env
        self.assertEqual(env['HTTPS_PROXY'], server.startup['proxy'])
        self.assertEqual(env['HTTP_PROXY'], server.startup['proxy'])
        self.assertEqual(env['REQUESTS_CA_BUNDLE'], server.startup['ca'])
        self.assertEqual(env['AZURE_CORE_COLLECT_TELEMETRY'], 'false')


class ThroughTheFrontDoor(unittest.TestCase):
    """Unmodified credentials: login.microsoftonline.com reached through `azsim env`."""

    def test_client_secret_credential_vault(self):
        r = azsim.sdk_token(server, 'secret', 'https://vault.azure.net/.default')
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        claims = check_app_token(self, out['token'], 'https://vault.azure.net', '1')
        self.assertLessEqual(abs(out['expires_on'] - claims['exp']), 5)

    def test_certificate_credential_management(self):
        r = azsim.sdk_token(server, 'cert', 'https://management.azure.com/.default')
        self.assertEqual(r.returncode, 0, r.stderr)
        check_app_token(self, json.loads(r.stdout)['token'], 'https://management.azure.com',
                        '2')


class Direct(unittest.TestCase):
    """authority=<aad listener host:port> and instance_discovery=False. The only proxy is a
    socket that closes every connection, so a discovery request to login.microsoftonline.com
    would fail and be counted; the aad listener is reached directly (NO_PROXY)."""

    def setUp(self):
        self.trap = azsim.ClosedProxy()
        self.addCleanup(self.trap.close)
        self.env = server.client_env({
            'HTTPS_PROXY': self.trap.url,
            'HTTP_PROXY': self.trap.url,
            'NO_PROXY': '127.0.0.1,localhost',
        }, front_door=False)

    def token(self, kind, scope):
        r = azsim.sdk_token(server, kind, scope, authority=server.aad_host,
                            instance_discovery=False, env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.trap.connections, 0, 'a request went to the proxy')
        return json.loads(r.stdout)['token']

    def test_client_secret_credential_vault(self):
        check_app_token(self, self.token('secret', 'https://vault.azure.net/.default'),
                        'https://vault.azure.net', '1')

    def test_certificate_credential_management(self):
        check_app_token(self, self.token('cert', 'https://management.azure.com/.default'),
                        'https://management.azure.com', '2')


if __name__ == '__main__':
    unittest.main()

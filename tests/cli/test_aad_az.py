"""Debian's Azure CLI 2.45 against azsim's Entra ID through the front door, with the default
AzureCloud: service principal (secret and certificate) and user sign-in, tokens for Key Vault
and ARM, and the AADSTS codes of a wrong secret or password.

Every test uses its own fresh AZURE_CONFIG_DIR. The admin user and service principal are Owner on
azsim's default subscription, which is the account every login records."""

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


class AzTestCase(unittest.TestCase):
    def setUp(self):
        self.az = azsim.AzCli(server)
        self.addCleanup(self.az.cleanup)
        self.info = server.info

    def check_account(self, accounts, user_name, user_type):
        """`az login` output: the default subscription, on which the admins are Owner."""
        tid = self.info['tenantId']
        self.assertIsInstance(accounts, list, accounts)
        self.assertEqual(len(accounts), 1, accounts)
        a = accounts[0]
        self.assertEqual(a.get('cloudName'), 'AzureCloud', a)
        self.assertEqual(a.get('id'), self.info['subscriptionId'], a)
        self.assertEqual(a.get('tenantId'), tid, a)
        self.assertEqual(a.get('name'), 'azsim', a)
        self.assertEqual(a.get('state'), 'Enabled', a)
        self.assertIs(a.get('isDefault'), True, a)
        self.assertEqual(a.get('user'), {'name': user_name, 'type': user_type}, a)

    def get_token(self, *resource):
        """`az account get-access-token [--resource R]`: checks the envelope, returns the claims."""
        out = self.az.json('account', 'get-access-token', *(['--resource', *resource] if resource
                                                              else []))
        self.assertEqual(out.get('tokenType'), 'Bearer', out)
        self.assertEqual(out.get('tenant'), self.info['tenantId'], out)
        claims = azsim.jwt_payload(out['accessToken'])
        self.assertEqual(claims.get('tid'), self.info['tenantId'], claims)
        self.assertEqual(claims.get('iss'), f'https://sts.windows.net/{self.info["tenantId"]}/',
                         claims)
        self.assertGreater(claims['exp'], time.time() + 300, claims)
        return claims

    def login_fails(self, args, aadsts):
        r = self.az.run('login', *args)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn(aadsts, r.stderr)
        self.assertNotIn('Traceback', r.stderr)
        self.assertEqual(r.stdout.strip(), '', 'no account is printed')


class ServicePrincipal(AzTestCase):
    def test_secret_login_and_vault_token(self):
        accounts = self.az.json('login', '--service-principal', '-u', self.info['clientId'],
                                '-p', self.info['clientSecret'], '--tenant', self.info['tenantId'],
                                )
        self.check_account(accounts, self.info['clientId'], 'servicePrincipal')
        claims = self.get_token('https://vault.azure.net')
        self.assertEqual(claims.get('aud'), 'https://vault.azure.net', claims)
        self.assertEqual(claims.get('appid'), self.info['clientId'], claims)
        self.assertEqual(claims.get('appidacr'), '1', claims)
        self.assertEqual(claims.get('idtyp'), 'app', claims)

    def test_certificate_login_and_vault_token(self):
        # az 2.45 takes the PEM (key + certificate) path as the password.
        accounts = self.az.json('login', '--service-principal', '-u', self.info['clientId'],
                                '-p', self.info['clientCertificatePath'],
                                '--tenant', self.info['tenantId'])
        self.check_account(accounts, self.info['clientId'], 'servicePrincipal')
        claims = self.get_token('https://vault.azure.net')
        self.assertEqual(claims.get('aud'), 'https://vault.azure.net', claims)
        self.assertEqual(claims.get('appid'), self.info['clientId'], claims)
        self.assertEqual(claims.get('appidacr'), '2', claims)

    def test_wrong_secret_is_AADSTS7000215(self):
        self.login_fails(['--service-principal', '-u', self.info['clientId'],
                          '-p', 'not-the-secret', '--tenant', self.info['tenantId']],
                         'AADSTS7000215')


class User(AzTestCase):
    def test_password_login_vault_and_arm_tokens(self):
        accounts = self.az.json('login', '-u', self.info['username'], '-p', self.info['password'],
                                )
        self.check_account(accounts, self.info['username'], 'user')

        vault = self.get_token('https://vault.azure.net')
        self.assertEqual(vault.get('aud'), 'https://vault.azure.net', vault)
        self.assertEqual(vault.get('upn'), self.info['username'], vault)
        self.assertEqual(vault.get('oid'), self.info['userId'], vault)
        self.assertEqual(vault.get('appid'), azsim.AZURE_CLI_APP_ID, vault)

        arm = self.get_token()
        self.assertEqual(arm.get('aud'), 'https://management.core.windows.net/', arm)
        self.assertEqual(arm.get('upn'), self.info['username'], arm)
        self.assertEqual(arm.get('appid'), azsim.AZURE_CLI_APP_ID, arm)

    def test_wrong_password_is_AADSTS50126(self):
        self.login_fails(['-u', self.info['username'], '-p', 'not-the-password'], 'AADSTS50126')


if __name__ == '__main__':
    unittest.main()

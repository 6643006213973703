"""Debian's Azure CLI 2.45 against azsim's Microsoft Graph through the front door
(graph.microsoft.com): `az ad sp create-for-rbac --role Contributor --scopes <group>` as the admin
service principal, then the new principal signing in with the password it printed and finding its
role honoured by ARM (the group: yes; a new group at subscription scope: AuthorizationFailed); the
command run again on the same name (az patches the application and replaces its password); `az ad
app show/list/delete` and `az ad sp show/delete`; and the new principal refused by Graph when it
tries to register an application itself (no Application.ReadWrite.All).

create-for-rbac's role assignment goes through az's role module, which needs the client shim of
contracts/azure-cli.md §5 (shim/sitecustomize.py on PYTHONPATH, for those az runs only)."""

import json
import os
import re
import subprocess
import unittest

import azsim

SHIM = os.path.join(azsim.HERE, 'shim')
UUID_RE = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
RBAC_TIMEOUT = 120  # create-for-rbac makes ten requests, each az start costs ~2 s

server = None
admin = None


def az(cli, *args, shim=False, timeout=azsim.AZ_TIMEOUT):
    """az <args> in `cli`'s sign-in; with the shim on PYTHONPATH when `shim`."""
    env = dict(cli.env, PYTHONPATH=SHIM) if shim else cli.env
    return subprocess.run([azsim.AZ, *args], capture_output=True, text=True, timeout=timeout,
                          env=env, stdin=subprocess.DEVNULL)


def az_json(cli, *args, shim=False, timeout=azsim.AZ_TIMEOUT):
    r = az(cli, *args, shim=shim, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f'az {" ".join(azsim._redact(args))} exited {r.returncode}\n'
                             f'stdout:\n{r.stdout}\nstderr:\n{r.stderr}')
    return json.loads(r.stdout) if r.stdout.strip() else None


def create_for_rbac(name, scope=None):
    args = ['ad', 'sp', 'create-for-rbac', '--name', name]
    if scope:
        args += ['--role', 'Contributor', '--scopes', scope]
    return az_json(admin, *args, shim=True, timeout=RBAC_TIMEOUT)


def sign_in(app_id, password):
    """A fresh AzCli signed in as service principal `app_id`; (cli, CompletedProcess)."""
    cli = azsim.AzCli(server)
    r = az(cli, 'login', '--service-principal', '-u', app_id, '-p', password,
           '--tenant', server.info['tenantId'])
    return cli, r


def setUpModule():
    global server, admin
    server = azsim.Server().start()
    try:
        admin = azsim.AzCli(server)
        info = server.info
        az_json(admin, 'login', '--service-principal', '-u', info['clientId'],
                '-p', info['clientSecret'], '--tenant', info['tenantId'])
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    try:
        if admin is not None:
            admin.cleanup()
        server.stop_clean()
    finally:
        server.cleanup()


class CreateForRbac(unittest.TestCase):
    """One principal made by create-for-rbac with Contributor on group graph-rbac-rg."""

    @classmethod
    def setUpClass(cls):
        cls.sub = server.info['subscriptionId']
        cls.rg = 'graph-rbac-rg'
        cls.scope = f'/subscriptions/{cls.sub}/resourceGroups/{cls.rg}'
        az_json(admin, 'group', 'create', '-n', cls.rg, '-l', 'westus')
        cls.sp = create_for_rbac('graph-rbac-sp', cls.scope)
        cls.cli, cls.login = sign_in(cls.sp['appId'], cls.sp['password'])

    @classmethod
    def tearDownClass(cls):
        cls.cli.cleanup()

    def test_output_names_the_new_application_and_its_password(self):
        self.assertRegex(self.sp['appId'], UUID_RE)
        self.assertEqual(self.sp['displayName'], 'graph-rbac-sp')
        self.assertEqual(self.sp['tenant'], server.info['tenantId'])
        # An Entra-shaped client secret: 40 characters, never starting with '-'.
        self.assertEqual(len(self.sp['password']), 40, 'password length')
        self.assertRegex(self.sp['password'], r'^[A-Za-z0-9]{3}~')

    def test_the_password_is_never_logged(self):
        self.assertNotIn(self.sp['password'], server.stderr)
        self.assertNotIn(self.sp['password'], server.stdout)

    def test_new_principal_signs_in_with_the_printed_password(self):
        r = self.login
        self.assertEqual(r.returncode, 0, r.stderr)
        accounts = json.loads(r.stdout)
        self.assertEqual([a['id'] for a in accounts], [self.sub], accounts)
        self.assertEqual(accounts[0]['user'], {'name': self.sp['appId'],
                                               'type': 'servicePrincipal'})

    def test_contributor_on_the_group_reads_it(self):
        self.assertEqual(self.login.returncode, 0, self.login.stderr)
        shown = az_json(self.cli, 'group', 'show', '-n', self.rg)
        self.assertEqual(shown['id'], self.scope)

    def test_contributor_on_the_group_cannot_create_another_group(self):
        self.assertEqual(self.login.returncode, 0, self.login.stderr)
        r = az(self.cli, 'group', 'create', '-n', 'graph-rbac-other-rg', '-l', 'westus')
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn('AuthorizationFailed', r.stderr)
        self.assertIn('Microsoft.Resources/subscriptions/resourcegroups/write', r.stderr)

    def test_role_assignment_names_the_new_principal(self):
        sp = az_json(admin, 'ad', 'sp', 'show', '--id', self.sp['appId'])
        listed = az_json(admin, 'role', 'assignment', 'list', '--scope', self.scope, shim=True)
        self.assertEqual([(a['principalId'], a['roleDefinitionName'], a['principalType'])
                          for a in listed], [(sp['id'], 'Contributor', 'ServicePrincipal')], listed)

    def test_ad_sp_show(self):
        sp = az_json(admin, 'ad', 'sp', 'show', '--id', self.sp['appId'])
        self.assertRegex(sp['id'], UUID_RE)
        self.assertNotEqual(sp['id'], self.sp['appId'])
        self.assertEqual(sp['appId'], self.sp['appId'])
        self.assertEqual(sp['displayName'], 'graph-rbac-sp')
        self.assertEqual(sp['servicePrincipalType'], 'Application')
        self.assertEqual(sp['servicePrincipalNames'], [self.sp['appId']])
        self.assertIs(sp['accountEnabled'], True)
        self.assertEqual(sp['appOwnerOrganizationId'], server.info['tenantId'])

    def test_ad_app_show_keeps_the_password_hidden(self):
        app = az_json(admin, 'ad', 'app', 'show', '--id', self.sp['appId'])
        self.assertEqual(app['appId'], self.sp['appId'])
        self.assertEqual(app['displayName'], 'graph-rbac-sp')
        self.assertEqual(app['signInAudience'], 'AzureADMyOrg')
        self.assertEqual(app['identifierUris'], [])
        creds = app['passwordCredentials']
        self.assertEqual(len(creds), 1, creds)
        self.assertIsNone(creds[0]['secretText'])
        self.assertEqual(creds[0]['hint'], self.sp['password'][:3])
        self.assertRegex(creds[0]['keyId'], UUID_RE)
        self.assertNotIn(self.sp['password'], str(app))

    def test_ad_app_list_by_display_name(self):
        listed = az_json(admin, 'ad', 'app', 'list', '--display-name', 'graph-rbac')
        self.assertIn(self.sp['appId'], [a['appId'] for a in listed], listed)
        listed = az_json(admin, 'ad', 'app', 'list', '--app-id', self.sp['appId'])
        self.assertEqual([a['displayName'] for a in listed], ['graph-rbac-sp'], listed)
        self.assertEqual(az_json(admin, 'ad', 'app', 'list', '--display-name', 'no-such-app'), [])

    def test_new_principal_may_not_register_applications(self):
        self.assertEqual(self.login.returncode, 0, self.login.stderr)
        r = az(self.cli, 'ad', 'app', 'create', '--display-name', 'graph-rbac-intruder')
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn('Insufficient privileges to complete the operation', r.stderr)
        self.assertEqual(az_json(admin, 'ad', 'app', 'list', '--display-name',
                                 'graph-rbac-intruder'), [])


class CreateForRbacAgain(unittest.TestCase):
    """create-for-rbac on a name in use patches that application: same app id, a new password
    that replaces the old one, and the role assignment already there is kept."""

    def test_same_app_new_password_old_one_refused(self):
        first = create_for_rbac('graph-again-sp')
        second = create_for_rbac('graph-again-sp')
        self.assertEqual(second['appId'], first['appId'])
        self.assertNotEqual(second['password'], first['password'])
        app = az_json(admin, 'ad', 'app', 'show', '--id', first['appId'])
        self.assertEqual([c['hint'] for c in app['passwordCredentials']],
                         [second['password'][:3]])
        old, r = sign_in(first['appId'], first['password'])
        old.cleanup()
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn('AADSTS7000215', r.stderr)
        new, r = sign_in(second['appId'], second['password'])
        new.cleanup()
        # No role anywhere: signed in, but no subscription to show.
        self.assertIn('No subscriptions found', r.stderr + r.stdout)


class DeleteCommands(unittest.TestCase):
    def test_sp_delete_keeps_the_application_app_delete_removes_both(self):
        made = create_for_rbac('graph-delete-sp')
        app_id = made['appId']
        sp = az_json(admin, 'ad', 'sp', 'show', '--id', app_id)

        # Deleting the principal leaves the application; az ad sp create makes a new principal.
        self.assertIsNone(az_json(admin, 'ad', 'sp', 'delete', '--id', app_id))
        r = az(admin, 'ad', 'sp', 'show', '--id', sp['id'])
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn('does not exist', r.stderr)
        self.assertEqual(az_json(admin, 'ad', 'app', 'show', '--id', app_id)['appId'], app_id)
        again = az_json(admin, 'ad', 'sp', 'create', '--id', app_id)
        self.assertEqual(again['appId'], app_id)
        self.assertNotEqual(again['id'], sp['id'])

        # Deleting the application takes its principal and its password with it.
        self.assertIsNone(az_json(admin, 'ad', 'app', 'delete', '--id', app_id))
        r = az(admin, 'ad', 'app', 'show', '--id', app_id)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn('does not exist', r.stderr)
        self.assertEqual(az_json(admin, 'ad', 'sp', 'list', '--spn', app_id), [])
        cli, r = sign_in(app_id, made['password'])
        cli.cleanup()
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn('AADSTS700016', r.stderr)


if __name__ == '__main__':
    unittest.main()

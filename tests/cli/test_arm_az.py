"""Debian's Azure CLI 2.45 against azsim's Resource Manager through the front door (the default
AzureCloud, `azsim env` only), signed in as the admin service principal (Owner on the default
subscription): `az group create/show/list/exists/delete`, `az role definition list --name
Reader`, `az role assignment create` for a service principal made with `azsim app create` and
`az role assignment list --scope`; `az resource create/show/tag/list/delete` on a type served by
the generic resource machinery.

The role commands need the client shim of contracts/azure-cli.md §5 (shim/sitecustomize.py on
PYTHONPATH, for those az runs only); one test shows that without it az 2.45 still fails with its
AttributeError, so a fixed az would be noticed. One sign-in (one AZURE_CONFIG_DIR) serves every
command; each az command takes about 2 s."""

import json
import os
import ssl
import subprocess
import unittest
import urllib.parse
import urllib.request

import azsim

SHIM = os.path.join(azsim.HERE, 'shim')
READER = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'

server = None
cli = None


class FileBackedServer(azsim.Server):
    """A server that keeps its store in files, so `azsim app create` can add to it while it runs."""

    def __init__(self):
        super().__init__()
        self.args.remove('--in-memory')


def app_create(name):
    """`azsim app create NAME`: {appId, clientSecret, ...} plus `oid`, its service principal's
    object id, read from a client-credentials token got straight from the aad listener."""
    r = azsim.run_azsim('app', 'create', name, '--data-dir', server.data_dir)
    if r.returncode != 0:
        raise AssertionError(f'azsim app create {name} exited {r.returncode}: {r.stderr}')
    app = json.loads(r.stdout)
    tenant = server.info['tenantId']
    body = urllib.parse.urlencode({'grant_type': 'client_credentials', 'client_id': app['appId'],
                                   'client_secret': app['clientSecret'],
                                   'scope': 'https://management.azure.com/.default'}).encode()
    url = f'{server.startup["urls"]["aad"]}/{tenant}/oauth2/v2.0/token'
    context = ssl.create_default_context(cafile=server.startup['ca'])
    # The aad listener on 127.0.0.1, not through any proxy.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPSHandler(context=context))
    with opener.open(urllib.request.Request(url, data=body), timeout=10) as resp:
        token = json.load(resp)['access_token']
    app['oid'] = azsim.jwt_payload(token)['oid']
    return app


def az(*args, shim=False):
    """az <args> in the shared sign-in; with the shim on PYTHONPATH when `shim`."""
    env = dict(cli.env, PYTHONPATH=SHIM) if shim else cli.env
    return subprocess.run([azsim.AZ, *args], capture_output=True, text=True,
                          timeout=azsim.AZ_TIMEOUT, env=env, stdin=subprocess.DEVNULL)


def az_json(*args, shim=False):
    r = az(*args, shim=shim)
    if r.returncode != 0:
        raise AssertionError(f'az {" ".join(args)} exited {r.returncode}\nstdout:\n{r.stdout}\n'
                             f'stderr:\n{r.stderr}')
    return json.loads(r.stdout) if r.stdout.strip() else None


def setUpModule():
    global server, cli
    server = FileBackedServer().start()
    try:
        cli = azsim.AzCli(server)
        cli.login_admin()
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    try:
        if cli is not None:
            cli.cleanup()
        server.stop_clean()
    finally:
        server.cleanup()


class GroupCommands(unittest.TestCase):
    def test_create_show_list_exists_delete(self):
        sub = server.info['subscriptionId']
        rg = 'az-group-rg'
        expected_id = f'/subscriptions/{sub}/resourceGroups/{rg}'

        created = az_json('group', 'create', '-n', rg, '-l', 'westus', '--tags', 'by=az')
        self.assertEqual(created.get('id'), expected_id, created)
        self.assertEqual(created.get('name'), rg, created)
        self.assertEqual(created.get('location'), 'westus', created)
        self.assertEqual(created.get('tags'), {'by': 'az'}, created)
        self.assertEqual(created.get('properties'), {'provisioningState': 'Succeeded'}, created)

        shown = az_json('group', 'show', '-n', rg)
        self.assertEqual(shown, created)

        listed = az_json('group', 'list')
        self.assertEqual([g for g in listed if g.get('name') == rg], [created], listed)

        self.assertIs(az_json('group', 'exists', '-n', rg), True)
        self.assertIsNone(az_json('group', 'delete', '-n', rg, '--yes'))
        self.assertIs(az_json('group', 'exists', '-n', rg), False)


class ResourceCommands(unittest.TestCase):
    """The generic `az resource` commands on network security groups, served by azsim's generic
    resource machinery. (`az network ...` itself cannot run on Debian's 2.45 with the default
    `latest` profile: its own argument loader fails with "'NoneType' object has no attribute
    'standard_medium'" before sending anything — contracts/azure-cli.md, profiles.)"""

    @classmethod
    def setUpClass(cls):
        cls.rg = 'az-resource-rg'
        az_json('group', 'create', '-n', cls.rg, '-l', 'westus')
        sub = server.info['subscriptionId']
        cls.prefix = (f'/subscriptions/{sub}/resourceGroups/{cls.rg}/providers/'
                      'Microsoft.Network/networkSecurityGroups')

    def test_az_resource_create_show_list_tag_delete(self):
        rule = {'protocol': 'Tcp', 'access': 'Allow', 'direction': 'Inbound', 'priority': 100,
                'sourcePortRange': '*', 'destinationPortRange': '22',
                'sourceAddressPrefix': '*', 'destinationAddressPrefix': '*'}
        created = az_json('resource', 'create', '-g', self.rg, '-n', 'generic-nsg',
                          '--resource-type', 'Microsoft.Network/networkSecurityGroups',
                          '-l', 'westus', '-p',
                          json.dumps({'securityRules': [{'name': 'ssh', 'properties': rule}]}))
        self.assertEqual(created.get('id'), f'{self.prefix}/generic-nsg', created)
        self.assertEqual(created['properties']['provisioningState'], 'Succeeded', created)
        self.assertEqual([r['name'] for r in created['properties']['securityRules']], ['ssh'])

        shown = az_json('resource', 'show', '--ids', f'{self.prefix}/generic-nsg')
        self.assertEqual(shown['properties']['resourceGuid'],
                         created['properties']['resourceGuid'], shown)
        tagged = az_json('resource', 'tag', '--ids', f'{self.prefix}/generic-nsg',
                         '--tags', 'env=test')
        self.assertEqual(tagged.get('tags'), {'env': 'test'}, tagged)
        listed = az_json('resource', 'list', '-g', self.rg,
                         '--resource-type', 'Microsoft.Network/networkSecurityGroups')
        self.assertIn(f'{self.prefix}/generic-nsg', [r.get('id') for r in listed], listed)
        az_json('resource', 'delete', '--ids', f'{self.prefix}/generic-nsg')
        r = az('resource', 'show', '--ids', f'{self.prefix}/generic-nsg')
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn('ResourceNotFound', r.stderr)


class RoleCommands(unittest.TestCase):
    """`az role ...` with the shim; the assignee is a service principal of `azsim app create`."""

    @classmethod
    def setUpClass(cls):
        cls.sub = server.info['subscriptionId']
        cls.rg = 'az-role-rg'
        cls.scope = f'/subscriptions/{cls.sub}/resourceGroups/{cls.rg}'
        az_json('group', 'create', '-n', cls.rg, '-l', 'westus')
        cls.sp = app_create('az-role-assignee')
        # Made once here: the list test below needs it too.
        cls.create = az('role', 'assignment', 'create', '--assignee-object-id', cls.sp['oid'],
                        '--assignee-principal-type', 'ServicePrincipal', '--role', 'Reader',
                        '--scope', cls.scope, shim=True)

    def created(self):
        r = self.create
        if r.returncode != 0:
            self.fail(f'az role assignment create exited {r.returncode}\nstdout:\n{r.stdout}\n'
                      f'stderr:\n{r.stderr}')
        return json.loads(r.stdout)

    def test_definition_list_without_the_shim_still_fails_with_AttributeError(self):
        # If this starts passing, az no longer needs the shim (contracts/azure-cli.md §4).
        r = az('role', 'definition', 'list', '--name', 'Reader')
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn('AttributeError', r.stderr)
        self.assertIn("object has no attribute 'config'", r.stderr)

    def test_definition_list_reader(self):
        defs = az_json('role', 'definition', 'list', '--name', 'Reader', shim=True)
        self.assertEqual(len(defs), 1, defs)
        d = defs[0]
        self.assertEqual(d.get('name'), READER, d)
        self.assertEqual(d.get('id'), f'/subscriptions/{self.sub}/providers/Microsoft.Authorization'
                                      f'/roleDefinitions/{READER}', d)
        self.assertEqual(d.get('roleName'), 'Reader', d)
        self.assertEqual(d.get('roleType'), 'BuiltInRole', d)
        self.assertEqual(d.get('permissions', [{}])[0].get('actions'), ['*/read'], d)

    def test_assignment_create_for_an_object_id_of_type_ServicePrincipal(self):
        created = self.created()
        self.assertEqual(created.get('principalId'), self.sp['oid'], created)
        self.assertEqual(created.get('principalType'), 'ServicePrincipal', created)
        self.assertEqual(created.get('scope'), self.scope, created)
        # az builds the role definition id under the scope it was given (arm.md §1.5).
        self.assertTrue(created.get('roleDefinitionId', '').endswith(
            f'/providers/Microsoft.Authorization/roleDefinitions/{READER}'), created)
        self.assertEqual(created.get('id'), f'{self.scope}/providers/Microsoft.Authorization'
                                            f'/roleAssignments/{created.get("name")}', created)

    def test_assignment_list_at_the_scope(self):
        # az lists with atScope(), keeps the assignments exactly at the scope, names their roles
        # from the role definitions and asks Graph (getByIds) for the principals' names.
        created = self.created()
        listed = az_json('role', 'assignment', 'list', '--scope', self.scope, shim=True)
        self.assertEqual([a.get('name') for a in listed], [created['name']], listed)
        a = listed[0]
        self.assertEqual(a.get('principalId'), self.sp['oid'], a)
        self.assertEqual(a.get('roleDefinitionName'), 'Reader', a)
        self.assertEqual(a.get('scope'), self.scope, a)


if __name__ == '__main__':
    unittest.main()

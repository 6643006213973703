"""Managed identities of a simulated VM, used by real clients: Debian's Python SDK
(azure-identity's ManagedIdentityCredential) and Debian's Azure CLI 2.45 (`az login --identity`,
msrestazure), in a shell that *is* the VM (`azsim env --vm NAME`).

Setup, once: a file-backed server (`azsim env --vm` reads the store's files); as the admin
service principal, over plain HTTPS to the arm listener with a token from the aad listener: a
resource group, a virtual network with a subnet, a network interface, a user-assigned identity
(UAI) and a VM with identity "SystemAssigned, UserAssigned" that has the UAI; then the VM's
environment from `azsim env --vm <name> --format json`.

The VM is chosen by the connection, never by the request: through the front door the proxy
credentials of HTTP_PROXY (http://NAME:SECRET@127.0.0.1:P) name it, and on the per-VM endpoint
of AZURE_POD_IDENTITY_AUTHORITY_HOST (http://127.0.0.1:P/vms/SECRET) the path does.

What Debian's az 2.45 does with an identity that has no role (checked here, so a change is
noticed): `az login --identity` refuses to sign in ("No access was configured for the VM, hence no
subscriptions were found"); with --allow-no-subscriptions it signs in to a "tenant level account"
whose subscription id is the tenant id, so `az group list` asks ARM for
/subscriptions/<tenant id>/resourcegroups (404 SubscriptionNotFound), and both
`az group list --subscription <sub>` and `az rest --url .../subscriptions/<sub>/...` stop inside az
("Subscription '<sub>' not found") without sending anything, since <sub> is not in its profile.
The 403 AuthorizationFailed is therefore shown with `az rest` given the identity's own token (from
`az account get-access-token`) in an explicit Authorization header, which makes az skip its
subscription lookup. After the admin assigns Reader on the subscription to the VM's principal, a
new `az login --identity` lists the subscription and `az group list` lists the group.

Every az command takes about 2 s; the whole file about 40 s.
"""

import json
import subprocess
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid

import azsim

READER = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
NET = 'api-version=2022-07-01'
MSI = 'api-version=2023-01-31'
COMPUTE = 'api-version=2024-07-01'
RG = 'mi-rg'
VM = 'mi-vm'
UAI = 'mi-uai'
ARM_SCOPE = 'https://management.azure.com/.default'
# What az 2.45 asks IMDS for at login: AzureCloud's activeDirectoryResourceId, verbatim.
AZ_RESOURCE = 'https://management.core.windows.net/'

server = None
admin = None        # azsim.AdminArm: the admin's own requests
admin_token = None
sub_id = None       # the subscription's GUID
sub = None          # /subscriptions/<GUID>
vm = None           # the VM as ARM answered its PUT
vm_listed = None    # the VM as `azsim vm list --json` shows it (has the system identity's clientId)
uai = None          # the UAI as ARM answered its PUT
vm_env = None       # `azsim env --vm VM --format json`


class FileBackedServer(azsim.Server):
    """A server that keeps its store in files, so `azsim env --vm` can read the VMs."""

    def __init__(self):
        super().__init__()
        self.args.remove('--in-memory')


def arm(method, path, body=None):
    """The admin's request to the arm listener: (status, parsed JSON body or None)."""
    return admin.request(method, path, body)


def arm_ok(method, path, body=None, statuses=(200, 201)):
    return admin.ok(method, path, body, statuses)


def assign_reader(principal_id, scope):
    """The admin assigns Reader at `scope` to `principal_id` (a service principal)."""
    return arm_ok('PUT', f'{scope}/providers/Microsoft.Authorization/roleAssignments/'
                         f'{uuid.uuid4()}?api-version=2022-04-01',
                  {'properties': {'roleDefinitionId': f'{sub}/providers/Microsoft.Authorization/'
                                                      f'roleDefinitions/{READER}',
                                  'principalId': principal_id,
                                  'principalType': 'ServicePrincipal'}}, statuses=(201,))


def setUpModule():
    global server, admin, admin_token, sub_id, sub, vm, vm_listed, uai, vm_env
    server = FileBackedServer().start()
    try:
        admin = azsim.AdminArm(server)
        admin_token = admin.token
        sub_id = server.info['subscriptionId']
        sub = f'/subscriptions/{sub_id}'
        rg = f'{sub}/resourceGroups/{RG}'
        arm_ok('PUT', f'{rg}?api-version=2021-04-01', {'location': 'westus'})
        vnet = f'{rg}/providers/Microsoft.Network/virtualNetworks/mi-vnet'
        arm_ok('PUT', f'{vnet}?{NET}', {
            'location': 'westus',
            'properties': {'addressSpace': {'addressPrefixes': ['10.1.0.0/16']},
                           'subnets': [{'name': 'default',
                                        'properties': {'addressPrefix': '10.1.0.0/24'}}]}})
        nic_id = f'{rg}/providers/Microsoft.Network/networkInterfaces/mi-nic'
        nic = arm_ok('PUT', f'{nic_id}?{NET}', {
            'location': 'westus',
            'properties': {'ipConfigurations': [{
                'name': 'ipconfig1',
                'properties': {'subnet': {'id': f'{vnet}/subnets/default'}}}]}})
        if not nic['properties']['ipConfigurations'][0]['properties'].get('privateIPAddress'):
            raise AssertionError(f'the NIC has no private address: {nic}')
        uai = arm_ok('PUT', f'{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/'
                            f'{UAI}?{MSI}', {'location': 'westus'})
        vm = arm_ok('PUT', f'{rg}/providers/Microsoft.Compute/virtualMachines/{VM}?{COMPUTE}', {
            'location': 'westus',
            'identity': {'type': 'SystemAssigned, UserAssigned',
                         'userAssignedIdentities': {uai['id']: {}}},
            'properties': {'hardwareProfile': {'vmSize': 'Standard_B1s'},
                           'networkProfile': {'networkInterfaces': [{'id': nic_id}]}}})
        if not vm.get('identity', {}).get('principalId'):
            raise AssertionError(f'the VM has no system-assigned identity: {vm}')
        listed = _azsim_json('vm', 'list', '--json', '--data-dir', server.data_dir)
        vm_listed = next(v for v in listed if v.get('id') == vm['id'])
        vm_env = _azsim_json('env', '--vm', VM, '--format', 'json', '--data-dir', server.data_dir)
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    try:
        server.stop_clean()
    finally:
        server.cleanup()


def _azsim_json(*args):
    r = azsim.run_azsim(*args)
    if r.returncode != 0:
        raise AssertionError(f'azsim {" ".join(args)} exited {r.returncode}: {r.stderr}')
    return json.loads(r.stdout)


def shell_of_the_vm(pod_identity=True, extra=None):
    """The environment of a process on the VM: the client environment of azsim.Server (ours
    without any proxy, CA or Azure setting), then everything `azsim env --vm` printed; without
    AZURE_POD_IDENTITY_AUTHORITY_HOST unless `pod_identity`."""
    env = server.client_env()
    env.update(vm_env)
    if not pod_identity:
        env.pop('AZURE_POD_IDENTITY_AUTHORITY_HOST', None)
    env.update(extra or {})
    for name in ('HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy',
                 'AZURE_POD_IDENTITY_AUTHORITY_HOST'):
        if name in env and urllib.parse.urlsplit(env[name]).hostname != '127.0.0.1':
            raise AssertionError(f'{name}={env[name]}: clients must only reach 127.0.0.1')
    return env


# -- Python: ManagedIdentityCredential ----------------------------------------------------------

# The child: reads {"scope", "client_id"?} on stdin, gets one token with ManagedIdentityCredential
# and prints {"token", "expires_on", "requests": [{"method", "url", "status"}]}, or exits 1 with
# {"error": "<type>: <message>", "requests": [...]}.
MI_CHILD = r'''
import json, sys
from azure.identity import ManagedIdentityCredential

cfg = json.load(sys.stdin)
requests = []

def hook(response):
    r = response.http_request
    requests.append({"method": r.method, "url": r.url,
                     "status": response.http_response.status_code})

kwargs = {"client_id": cfg["client_id"]} if cfg.get("client_id") else {}
credential = ManagedIdentityCredential(raw_response_hook=hook, **kwargs)
try:
    token = credential.get_token(cfg["scope"])
except Exception as err:
    print(json.dumps({"error": "%s: %s" % (type(err).__name__, err), "requests": requests}))
    sys.exit(1)
print(json.dumps({"token": token.token, "expires_on": token.expires_on, "requests": requests}))
'''


def mi_token(env, client_id=None):
    """Run MI_CHILD with `env`; returns (exit code, its JSON output)."""
    r = subprocess.run([azsim.PYTHON, '-c', MI_CHILD], capture_output=True, text=True,
                       timeout=azsim.SDK_TIMEOUT, env=env,
                       input=json.dumps({'scope': ARM_SCOPE, 'client_id': client_id}))
    try:
        return r.returncode, json.loads(r.stdout)
    except ValueError:
        raise AssertionError(f'SDK child exited {r.returncode} without JSON\nstdout:\n{r.stdout}\n'
                             f'stderr:\n{r.stderr}')


class PythonManagedIdentityCredential(unittest.TestCase):
    def got(self, env, client_id=None):
        code, out = mi_token(env, client_id)
        self.assertEqual(code, 0, out)
        return out, azsim.jwt_payload(out['token'])

    def assert_system_assigned(self, claims):
        info = server.info
        self.assertEqual(claims.get('oid'), vm['identity']['principalId'], claims)
        self.assertEqual(claims.get('sub'), vm['identity']['principalId'], claims)
        self.assertEqual(claims.get('appid'), vm_listed['systemAssignedIdentity']['clientId'],
                         claims)
        self.assertEqual(claims.get('xms_mirid'), vm['id'], claims)
        self.assertEqual(claims.get('tid'), info['tenantId'], claims)
        self.assertEqual(claims.get('aud'), 'https://management.azure.com', claims)

    def test_system_assigned_through_the_front_door(self):
        out, claims = self.got(shell_of_the_vm(pod_identity=False))
        self.assert_system_assigned(claims)
        # The fixed IMDS address, reached through HTTP_PROXY (with the VM's proxy credentials);
        # the availability probe (no Metadata header) first, answered 400.
        urls = [urllib.parse.urlsplit(r['url']) for r in out['requests']]
        self.assertEqual({(u.scheme, u.netloc, u.path) for u in urls},
                         {('http', '169.254.169.254', '/metadata/identity/oauth2/token')},
                         out['requests'])
        self.assertEqual([r['status'] for r in out['requests']], [400, 200], out['requests'])

    def test_system_assigned_on_the_pod_identity_endpoint(self):
        out, claims = self.got(shell_of_the_vm(pod_identity=True))
        self.assert_system_assigned(claims)
        # No probe, and the VM's own endpoint, not the fixed address.
        host = vm_env['AZURE_POD_IDENTITY_AUTHORITY_HOST'].rstrip('/')
        self.assertEqual(len(out['requests']), 1, out['requests'])
        self.assertTrue(out['requests'][0]['url'].startswith(
            f'{host}/metadata/identity/oauth2/token?'), out['requests'])
        self.assertEqual(out['requests'][0]['status'], 200)

    def test_user_assigned_by_client_id(self):
        props = uai['properties']
        for pod_identity in (False, True):
            with self.subTest(pod_identity=pod_identity):
                out, claims = self.got(shell_of_the_vm(pod_identity=pod_identity),
                                       client_id=props['clientId'])
                self.assertEqual(claims.get('oid'), props['principalId'], claims)
                self.assertEqual(claims.get('appid'), props['clientId'], claims)
                self.assertEqual(claims.get('xms_mirid'), uai['id'], claims)
                self.assertEqual(claims.get('tid'), props['tenantId'], claims)
                self.assertIn('client_id=' + props['clientId'], out['requests'][-1]['url'])

    def test_a_client_id_the_vm_does_not_have_is_unavailable(self):
        code, out = mi_token(shell_of_the_vm(pod_identity=True), client_id=str(uuid.uuid4()))
        self.assertEqual(code, 1, out)
        # azure-identity's own wording for a 400 to a user-assigned request.
        self.assertTrue(out['error'].startswith('CredentialUnavailableError'), out)
        self.assertIn('The requested identity has not been assigned to this resource', out['error'])
        self.assertEqual([r['status'] for r in out['requests']], [400], out['requests'])

    def test_a_shell_that_is_no_vm_gets_no_token(self):
        # The plain `azsim env`: the front door without proxy credentials is no VM.
        code, out = mi_token(server.client_env())
        self.assertEqual(code, 1, out)
        self.assertTrue(out['error'].startswith('CredentialUnavailableError'), out)


class ImdsAnswers(unittest.TestCase):
    """What az relies on (imds.md §1.2, §5.6): an identity the VM does not have is answered 400
    with the reason phrase exactly "Bad Request" and a JSON body; asked through the front door
    with the VM's proxy credentials, as az does."""

    def get(self, query):
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({'http': vm_env['HTTP_PROXY']}))
        url = ('http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01'
               f'&resource={urllib.parse.quote(AZ_RESOURCE, safe="")}{query}')
        try:
            with opener.open(urllib.request.Request(url, headers={'Metadata': 'true'}),
                             timeout=10) as resp:
                return resp.status, resp.reason, json.load(resp)
        except urllib.error.HTTPError as err:
            return err.code, err.reason, json.loads(err.read())

    def test_unknown_client_id_and_object_id_are_400_bad_request(self):
        for selector in ('client_id', 'object_id'):
            with self.subTest(selector=selector):
                status, reason, body = self.get(f'&{selector}={uuid.uuid4()}')
                self.assertEqual((status, reason), (400, 'Bad Request'), body)
                self.assertEqual(body, {'error': 'invalid_request',
                                        'error_description': 'Identity not found'})

    def test_the_uai_by_object_id_and_by_resource_id(self):
        props = uai['properties']
        for query in (f'&object_id={props["principalId"]}',
                      f'&msi_res_id={urllib.parse.quote(uai["id"], safe="")}'):
            with self.subTest(query=query):
                status, reason, body = self.get(query)
                self.assertEqual(status, 200, body)
                self.assertEqual(body.get('resource'), AZ_RESOURCE, body)
                self.assertEqual(body.get('token_type'), 'Bearer', body)
                self.assertEqual(body.get('client_id'), props['clientId'], body)
                claims = azsim.jwt_payload(body['access_token'])
                self.assertEqual(claims.get('oid'), props['principalId'], claims)
                self.assertEqual(claims.get('aud'), AZ_RESOURCE, claims)


# -- Azure CLI 2.45: az login --identity -----------------------------------------------------------

def vm_az_cli():
    """az in a shell of the VM (its `azsim env --vm` environment, the proxies carrying the VM's
    credentials; az never reads AZURE_POD_IDENTITY_AUTHORITY_HOST) with a fresh
    AZURE_CONFIG_DIR."""
    return azsim.AzCli(server, env=shell_of_the_vm())


def ok_json(test, r, what):
    test.assertEqual(r.returncode, 0, f'az {what} exited {r.returncode}\nstdout:\n{r.stdout}\n'
                                      f'stderr:\n{r.stderr}')
    return json.loads(r.stdout) if r.stdout.strip() else None


class AzLoginSystemAssigned(unittest.TestCase):
    """The VM's system-assigned identity, before and after it is given Reader on the
    subscription. The steps run in order in setUpClass; each test checks one of them."""

    @classmethod
    def setUpClass(cls):
        cls.cli = vm_az_cli()
        run = cls.cli.run
        cls.login_no_role = run('login', '--identity')
        cls.login_tenant_level = run('login', '--identity', '--allow-no-subscriptions')
        cls.token_no_role = run('account', 'get-access-token')
        cls.group_list_tenant_level = run('group', 'list')
        cls.group_list_with_sub = run('group', 'list', '--subscription', sub_id)
        cls.rest_unknown_sub = run('rest', '--method', 'get', '--url',
                                   f'https://management.azure.com{sub}/resourcegroups'
                                   '?api-version=2021-04-01')
        cls.rest_forbidden = None
        if cls.token_no_role.returncode == 0:
            token = json.loads(cls.token_no_role.stdout)['accessToken']
            cls.rest_forbidden = run('rest', '--method', 'get', '--url',
                                     f'https://management.azure.com{sub}/resourcegroups'
                                     '?api-version=2021-04-01',
                                     '--headers', f'Authorization=Bearer {token}')
        cls.assignment = assign_reader(vm['identity']['principalId'], sub)
        cls.login_reader = run('login', '--identity')
        cls.group_list_reader = run('group', 'list')
        cls.group_create_reader = run('group', 'create', '-n', 'mi-forbidden-rg', '-l', 'westus')

    @classmethod
    def tearDownClass(cls):
        cls.cli.cleanup()

    def test_1_without_a_role_login_finds_no_subscription_and_refuses(self):
        r = self.login_no_role
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn('No access was configured for the VM, hence no subscriptions were found',
                      r.stderr)

    def test_2_allow_no_subscriptions_signs_in_to_the_tenant(self):
        accounts = ok_json(self, self.login_tenant_level,
                           'login --identity --allow-no-subscriptions')
        tenant = server.info['tenantId']
        self.assertEqual(len(accounts), 1, accounts)
        a = accounts[0]
        self.assertEqual(a.get('id'), tenant, a)
        self.assertEqual(a.get('tenantId'), tenant, a)
        self.assertEqual(a.get('name'), 'N/A(tenant level account)', a)
        self.assertEqual(a.get('user'), {'assignedIdentityInfo': 'MSI',
                                         'name': 'systemAssignedIdentity',
                                         'type': 'servicePrincipal'}, a)

    def test_3_the_token_is_the_vms_identity(self):
        token = ok_json(self, self.token_no_role, 'account get-access-token')
        claims = azsim.jwt_payload(token['accessToken'])
        self.assertEqual(claims.get('oid'), vm['identity']['principalId'], claims)
        self.assertEqual(claims.get('xms_mirid'), vm['id'], claims)
        self.assertEqual(claims.get('aud'), AZ_RESOURCE, claims)
        self.assertEqual(claims.get('tid'), server.info['tenantId'], claims)

    def test_4_az_cannot_aim_at_the_subscription_it_does_not_know(self):
        # The tenant-level account's subscription id is the tenant id: ARM says so.
        r = self.group_list_tenant_level
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn(f"(SubscriptionNotFound) The subscription '{server.info['tenantId']}' "
                      'could not be found', r.stderr)
        # The real subscription is refused by az itself, before any request.
        for r in (self.group_list_with_sub, self.rest_unknown_sub):
            self.assertNotEqual(r.returncode, 0, r.stdout)
            self.assertIn(f"Subscription '{sub_id}' not found", r.stderr)

    def test_5_without_a_role_arm_answers_403_AuthorizationFailed(self):
        r = self.rest_forbidden
        self.assertIsNotNone(r, 'no token to send')
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn('Forbidden(', r.stderr)
        body = json.loads(r.stderr[r.stderr.index('Forbidden(') + len('Forbidden('):]
                          .strip().rstrip(')'))
        self.assertEqual(body['error']['code'], 'AuthorizationFailed', body)
        message = body['error']['message']
        self.assertIn(f"object id '{vm['identity']['principalId']}'", message)
        self.assertIn("'Microsoft.Resources/subscriptions/resourcegroups/read'", message)
        self.assertIn(f"over scope '{sub}'", message)

    def test_6_reader_assigned(self):
        a = self.assignment
        self.assertEqual(a['properties']['principalId'], vm['identity']['principalId'], a)
        self.assertEqual(a['properties']['scope'], sub, a)

    def test_7_with_reader_login_lists_the_subscription(self):
        accounts = ok_json(self, self.login_reader, 'login --identity (after Reader)')
        self.assertEqual([(a.get('id'), a.get('tenantId'), a.get('isDefault'))
                          for a in accounts],
                         [(sub_id, server.info['tenantId'], True)], accounts)
        self.assertEqual(accounts[0].get('user'), {'assignedIdentityInfo': 'MSI',
                                                   'name': 'systemAssignedIdentity',
                                                   'type': 'servicePrincipal'}, accounts)

    def test_8_with_reader_group_list_lists_the_group(self):
        groups = ok_json(self, self.group_list_reader, 'group list (after Reader)')
        self.assertIn(f'{sub}/resourceGroups/{RG}', [g.get('id') for g in groups], groups)

    def test_9_reader_may_not_write(self):
        r = self.group_create_reader
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn('AuthorizationFailed', r.stderr)
        self.assertIn('Microsoft.Resources/subscriptions/resourcegroups/write', r.stderr)


class AzLoginUserAssigned(unittest.TestCase):
    """`az login --identity --username X` for the UAI (no role anywhere, so
    --allow-no-subscriptions): X its clientId (IMDS client_id=X), its principalId (client_id=X
    answered 400 "Bad Request", then object_id=X) and its resource id (msi_res_id=X)."""

    @classmethod
    def setUpClass(cls):
        cls.cli = vm_az_cli()
        props = uai['properties']
        cls.results = {}
        for kind, username in (('MSIClient', props['clientId']),
                               ('MSIObject', props['principalId']),
                               ('MSIResource', uai['id'])):
            login = cls.cli.run('login', '--identity', '--allow-no-subscriptions',
                                '--username', username)
            token = cls.cli.run('account', 'get-access-token') if login.returncode == 0 else None
            cls.results[kind] = (username, login, token)

    @classmethod
    def tearDownClass(cls):
        cls.cli.cleanup()

    def check(self, kind):
        username, login, token = self.results[kind]
        accounts = ok_json(self, login, f'login --identity --username {username}')
        self.assertEqual(len(accounts), 1, accounts)
        self.assertEqual(accounts[0].get('id'), server.info['tenantId'], accounts)
        self.assertEqual(accounts[0].get('user'), {'assignedIdentityInfo': f'{kind}-{username}',
                                                   'name': 'userAssignedIdentity',
                                                   'type': 'servicePrincipal'}, accounts)
        claims = azsim.jwt_payload(ok_json(self, token, 'account get-access-token')['accessToken'])
        props = uai['properties']
        self.assertEqual(claims.get('oid'), props['principalId'], claims)
        self.assertEqual(claims.get('appid'), props['clientId'], claims)
        self.assertEqual(claims.get('xms_mirid'), uai['id'], claims)
        self.assertEqual(claims.get('aud'), AZ_RESOURCE, claims)

    def test_username_client_id(self):
        self.check('MSIClient')

    def test_username_object_id_after_the_400_bad_request_on_client_id(self):
        # az records MSIObject- only when IMDS answered its client_id= request with 400 whose
        # reason phrase is exactly "Bad Request" (msrestazure) and the object_id= retry worked.
        self.check('MSIObject')

    def test_username_resource_id(self):
        self.check('MSIResource')


if __name__ == '__main__':
    unittest.main()

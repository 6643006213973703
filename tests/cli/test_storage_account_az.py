"""Storage accounts (Microsoft.Storage/storageAccounts) in azsim's Resource Manager with Debian's
clients, through the front door (the default AzureCloud, `azsim env` only), signed in as the admin
service principal:

- az 2.45 (api-version 2022-09-01): `az storage account create -n <name> -g <rg> -l westus --sku
  Standard_LRS` (az accepts only 200/202 for this PUT, contracts/arm.md §2.3), `show`, `list -g`,
  `keys list`, `keys renew --key key1`, `check-name` (taken, free, invalid), `delete --yes`, and
  `show` after the delete. Every one of these works on Debian's az 2.45: no client-side failure to
  document (contracts/azure-cli.md §4 lists none for storage accounts).
  az always sends `properties.encryption = {"services": {"blob": {}}, "keySource":
  "Microsoft.Storage"}` (arm.md §1.5); Azure answers with blob encryption enabled
  (`"enabled": true, "keyType": "Account"`) whatever the request says, since it cannot be turned
  off. test_create_reports_blob_encryption_enabled checks that on its own.
- Python azure-mgmt-storage 21.0.0 (python3-azure, api-version 2022-09-01): begin_create(...)
  .result() (one PUT answered 200, no polling: a poll would wait 30 s, arm.md §2.4),
  list_keys, check_name_availability, delete, in a child /usr/bin/python3 (SDK_CHILD below) with
  exactly the environment of `azsim env`.

One sign-in (one AZURE_CONFIG_DIR) serves every az command; each takes about 1-2 s."""

import base64
import json
import subprocess
import time
import unittest

import azsim

server = None
cli = None

LOCATION = 'westus'
TYPE = 'Microsoft.Storage/storageAccounts'


def invalid_name_message(name):
    return (f'{name} is not a valid storage account name. Storage account name must be between 3 '
            'and 24 characters in length and use numbers and lower-case letters only.')


def az(*args):
    return cli.run(*args)


def az_json(*args):
    r = az(*args)
    if r.returncode != 0:
        raise AssertionError(f'az {" ".join(args)} exited {r.returncode}\nstdout:\n{r.stdout}\n'
                             f'stderr:\n{r.stderr}')
    return json.loads(r.stdout) if r.stdout.strip() else None


def setUpModule():
    global server, cli
    server = azsim.Server().start()
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


def check_keys(test, keys):
    test.assertEqual([k.get('keyName') for k in keys], ['key1', 'key2'], keys)
    for k in keys:
        test.assertEqual(k.get('permissions'), 'FULL', k)
        test.assertEqual(len(base64.b64decode(k['value'], validate=True)), 64, k)
        test.assertRegex(k.get('creationTime', ''), r'^\d{4}-\d\d-\d\dT', k)
    test.assertNotEqual(keys[0]['value'], keys[1]['value'])


class StorageAccountCommands(unittest.TestCase):
    """The az storage account commands, in order, on one account."""

    RG = 'az-storage-rg'
    NAME = 'azstacct1'

    @classmethod
    def setUpClass(cls):
        cls.sub = server.info['subscriptionId']
        cls.id = (f'/subscriptions/{cls.sub}/resourceGroups/{cls.RG}/providers/{TYPE}/{cls.NAME}')
        az_json('group', 'create', '-n', cls.RG, '-l', LOCATION)
        started = time.monotonic()
        cls.create = az('storage', 'account', 'create', '-n', cls.NAME, '-g', cls.RG,
                        '-l', LOCATION, '--sku', 'Standard_LRS')
        cls.create_seconds = time.monotonic() - started

    def created(self):
        r = self.create
        if r.returncode != 0:
            self.fail(f'az storage account create exited {r.returncode}\nstdout:\n{r.stdout}\n'
                      f'stderr:\n{r.stderr}')
        return json.loads(r.stdout)

    def check_account(self, a):
        self.assertEqual(a.get('id'), self.id, a)
        self.assertEqual(a.get('name'), self.NAME, a)
        self.assertEqual(a.get('type'), TYPE, a)
        self.assertEqual(a.get('resourceGroup'), self.RG, a)
        self.assertEqual(a.get('location'), LOCATION, a)
        self.assertEqual(a.get('kind'), 'StorageV2', a)
        self.assertEqual(a.get('sku'), {'name': 'Standard_LRS', 'tier': 'Standard'}, a)
        self.assertEqual(a.get('provisioningState'), 'Succeeded', a)
        self.assertEqual(a.get('primaryEndpoints', {}).get('blob'),
                         f'https://{self.NAME}.blob.core.windows.net/', a)
        self.assertEqual(a.get('primaryLocation'), LOCATION, a)
        self.assertEqual(a.get('statusOfPrimary'), 'available', a)
        self.assertEqual(a.get('accessTier'), 'Hot', a)
        self.assertIs(a.get('enableHttpsTrafficOnly'), True, a)
        self.assertIs(a.get('allowBlobPublicAccess'), False, a)
        self.assertIs(a.get('allowSharedKeyAccess'), True, a)
        self.assertEqual(a.get('minimumTlsVersion'), 'TLS1_2', a)
        self.assertEqual(a.get('encryption', {}).get('keySource'), 'Microsoft.Storage', a)
        self.assertRegex(a.get('creationTime', ''), r'^\d{4}-\d\d-\d\dT', a)
        self.assertNotIn('keys', json.dumps(a))

    def test_1_create(self):
        self.check_account(self.created())
        self.assertLess(self.create_seconds, 20, 'answered at once: no polling (30 s, arm.md §2.4)')

    def test_create_reports_blob_encryption_enabled(self):
        # az sends {"services": {"blob": {}}, ...}; Azure answers that blob encryption is on.
        services = self.created().get('encryption', {}).get('services', {})
        self.assertIs(services.get('blob', {}).get('enabled'), True, services)
        self.assertEqual(services.get('blob', {}).get('keyType'), 'Account', services)

    def test_2_show_and_list(self):
        created = self.created()
        shown = az_json('storage', 'account', 'show', '-n', self.NAME, '-g', self.RG)
        self.check_account(shown)
        self.assertEqual(shown.get('creationTime'), created.get('creationTime'))
        listed = az_json('storage', 'account', 'list', '-g', self.RG)
        self.assertEqual([a.get('id') for a in listed], [self.id], listed)
        self.check_account(listed[0])

    def test_3_keys_list_and_renew(self):
        self.created()
        keys = az_json('storage', 'account', 'keys', 'list', '-n', self.NAME, '-g', self.RG)
        check_keys(self, keys)
        renewed = az_json('storage', 'account', 'keys', 'renew', '-n', self.NAME, '-g', self.RG,
                          '--key', 'key1')
        check_keys(self, renewed)
        self.assertNotEqual(renewed[0]['value'], keys[0]['value'])
        self.assertEqual(renewed[1]['value'], keys[1]['value'])
        again = az_json('storage', 'account', 'keys', 'list', '-n', self.NAME, '-g', self.RG)
        self.assertEqual([k['value'] for k in again], [k['value'] for k in renewed])

    def test_3b_containers_through_arm(self):
        # az storage container-rm: Blob containers through Resource Manager.
        self.created()
        made = az_json('storage', 'container-rm', 'create', '--storage-account', self.NAME,
                       '-g', self.RG, '-n', 'armmade', '--metadata', 'owner=az')
        self.assertEqual(made.get('id'),
                         f'{self.id}/blobServices/default/containers/armmade', made)
        self.assertEqual(made.get('metadata'), {'owner': 'az'}, made)
        self.assertEqual(made.get('publicAccess'), 'None', made)
        shown = az_json('storage', 'container-rm', 'show', '--storage-account', self.NAME,
                        '-g', self.RG, '-n', 'armmade')
        self.assertEqual(shown.get('leaseState'), 'Available', shown)
        self.assertIs(az_json('storage', 'container-rm', 'exists', '--storage-account', self.NAME,
                              '-g', self.RG, '-n', 'armmade').get('exists'), True)
        listed = az_json('storage', 'container-rm', 'list', '--storage-account', self.NAME,
                         '-g', self.RG)
        self.assertEqual([c.get('name') for c in listed], ['armmade'], listed)
        r = az('storage', 'container-rm', 'delete', '--storage-account', self.NAME,
               '-g', self.RG, '-n', 'armmade', '--yes')
        self.assertEqual(r.returncode, 0, f'stdout:\n{r.stdout}\nstderr:\n{r.stderr}')
        self.assertIs(az_json('storage', 'container-rm', 'exists', '--storage-account', self.NAME,
                              '-g', self.RG, '-n', 'armmade').get('exists'), False)

    def test_4_check_name(self):
        self.created()
        taken = az_json('storage', 'account', 'check-name', '-n', self.NAME)
        self.assertEqual(taken, {'nameAvailable': False, 'reason': 'AlreadyExists',
                                 'message': f'The storage account named {self.NAME} is already taken.'})
        free = az_json('storage', 'account', 'check-name', '-n', 'azfreename9')
        self.assertIs(free.get('nameAvailable'), True, free)
        self.assertIsNone(free.get('reason'), free)
        invalid = az_json('storage', 'account', 'check-name', '-n', 'Bad_Name')
        self.assertEqual(invalid, {'nameAvailable': False, 'reason': 'AccountNameInvalid',
                                   'message': invalid_name_message('Bad_Name')})

    def test_5_delete(self):
        self.created()
        self.assertIsNone(az_json('storage', 'account', 'delete', '-n', self.NAME, '-g', self.RG,
                                  '--yes'))
        r = az('storage', 'account', 'show', '-n', self.NAME, '-g', self.RG)
        self.assertEqual(r.returncode, 3, f'stdout:\n{r.stdout}\nstderr:\n{r.stderr}')
        self.assertIn('(ResourceNotFound)', r.stderr)
        self.assertEqual(az_json('storage', 'account', 'list', '-g', self.RG), [])
        free = az_json('storage', 'account', 'check-name', '-n', self.NAME)
        self.assertIs(free.get('nameAvailable'), True, free)


# The child: reads {tenantId, clientId, clientSecret, subscriptionId, group, account} on stdin,
# runs the steps in order (each on its own: a failure is recorded, the next step runs) and prints
# {"steps": {name: {"ok", "value" | "error", "statuses"}}, "requests": [{"method", "url", "status"}]}.
SDK_CHILD = r'''
import json, sys
from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.mgmt.resource import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient

cfg = json.load(sys.stdin)
requests = []

def hook(response):
    r = response.http_request
    requests.append({"method": r.method, "url": r.url, "status": response.http_response.status_code})

credential = ClientSecretCredential(cfg["tenantId"], cfg["clientId"], cfg["clientSecret"])
resources = ResourceManagementClient(credential, cfg["subscriptionId"], raw_response_hook=hook)
storage = StorageManagementClient(credential, cfg["subscriptionId"], raw_response_hook=hook)
group, account = cfg["group"], cfg["account"]
steps = {}

def step(name, fn):
    first = len(requests)
    try:
        steps[name] = {"ok": True, "value": fn()}
    except HttpResponseError as err:
        steps[name] = {"ok": False, "status": err.status_code,
                       "code": err.error.code if err.error else None, "error": str(err)}
    except Exception as err:
        steps[name] = {"ok": False, "error": "%s: %s" % (type(err).__name__, err)}
    steps[name]["statuses"] = [r["status"] for r in requests[first:]]

step("group", lambda: resources.resource_groups.create_or_update(group, {"location": "westus"}).as_dict())
step("checkFree", lambda: storage.storage_accounts.check_name_availability(
    {"name": account, "type": "Microsoft.Storage/storageAccounts"}).as_dict())
step("create", lambda: storage.storage_accounts.begin_create(group, account, {
    "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "location": "westus",
    "tags": {"by": "python"}}).result().as_dict())
step("get", lambda: storage.storage_accounts.get_properties(group, account).as_dict())
step("listKeys", lambda: storage.storage_accounts.list_keys(group, account).as_dict())
step("regenerateKey", lambda: storage.storage_accounts.regenerate_key(
    group, account, {"key_name": "key2"}).as_dict())
step("checkTaken", lambda: storage.storage_accounts.check_name_availability(
    {"name": account, "type": "Microsoft.Storage/storageAccounts"}).as_dict())
step("listByGroup", lambda: [a.as_dict() for a in storage.storage_accounts.list_by_resource_group(group)])
step("delete", lambda: storage.storage_accounts.delete(group, account))
step("getAfterDelete", lambda: storage.storage_accounts.get_properties(group, account).as_dict())
credential.close()
print(json.dumps({"steps": steps, "requests": requests}))
'''


class PythonStorageManagementClient(unittest.TestCase):
    GROUP = 'python-storage-rg'
    ACCOUNT = 'pystacct1'

    @classmethod
    def setUpClass(cls):
        info = server.info
        started = time.monotonic()
        r = subprocess.run([azsim.PYTHON, '-c', SDK_CHILD], capture_output=True, text=True,
                           timeout=azsim.SDK_TIMEOUT, env=server.client_env(),
                           input=json.dumps({'tenantId': info['tenantId'],
                                             'clientId': info['clientId'],
                                             'clientSecret': info['clientSecret'],
                                             'subscriptionId': info['subscriptionId'],
                                             'group': cls.GROUP, 'account': cls.ACCOUNT}))
        cls.elapsed = time.monotonic() - started
        if r.returncode != 0:
            raise AssertionError(f'SDK child exited {r.returncode}\nstdout:\n{r.stdout}\n'
                                 f'stderr:\n{r.stderr}')
        out = json.loads(r.stdout)
        cls.steps, cls.requests, cls.stderr = out['steps'], out['requests'], r.stderr
        cls.id = (f'/subscriptions/{info["subscriptionId"]}/resourceGroups/{cls.GROUP}'
                  f'/providers/{TYPE}/{cls.ACCOUNT}')

    def step(self, name):
        s = self.steps[name]
        self.assertTrue(s['ok'], f'{name}: {s.get("error")}\nchild stderr:\n{self.stderr}')
        return s

    def check_account(self, a, tags):
        self.assertEqual(a.get('id'), self.id, a)
        self.assertEqual(a.get('name'), self.ACCOUNT, a)
        self.assertEqual(a.get('type'), TYPE, a)
        self.assertEqual(a.get('location'), LOCATION, a)
        self.assertEqual(a.get('tags'), tags, a)
        self.assertEqual(a.get('kind'), 'StorageV2', a)
        self.assertEqual(a.get('sku'), {'name': 'Standard_LRS', 'tier': 'Standard'}, a)
        self.assertEqual(a.get('provisioning_state'), 'Succeeded', a)
        self.assertEqual(a.get('primary_endpoints', {}).get('blob'),
                         f'https://{self.ACCOUNT}.blob.core.windows.net/', a)

    def test_requests_went_to_the_public_arm_host_with_api_version_2022_09_01(self):
        self.assertTrue(self.requests)
        for r in self.requests:
            self.assertTrue(r['url'].startswith('https://management.azure.com/subscriptions/'), r)
            if '/Microsoft.Storage/' in r['url']:
                self.assertIn('api-version=2022-09-01', r['url'], r)

    def test_begin_create_result_one_put_answered_200(self):
        self.assertEqual(self.step('group')['statuses'], [201])
        self.assertEqual(self.step('checkFree')['value'], {'name_available': True})
        s = self.step('create')
        self.assertEqual(s['statuses'], [200])
        self.check_account(s['value'], {'by': 'python'})
        self.check_account(self.step('get')['value'], {'by': 'python'})

    def test_list_keys_and_regenerate_key(self):
        s = self.step('listKeys')
        self.assertEqual(s['statuses'], [200])
        keys = s['value']['keys']
        self.assertEqual([k.get('key_name') for k in keys], ['key1', 'key2'], keys)
        for k in keys:
            self.assertEqual(k.get('permissions'), 'FULL', k)
            self.assertEqual(len(base64.b64decode(k['value'], validate=True)), 64, k)
        regenerated = self.step('regenerateKey')['value']['keys']
        self.assertEqual(regenerated[0]['value'], keys[0]['value'])
        self.assertNotEqual(regenerated[1]['value'], keys[1]['value'])

    def test_check_name_taken_and_list(self):
        self.assertEqual(self.step('checkTaken')['value'], {
            'name_available': False, 'reason': 'AlreadyExists',
            'message': f'The storage account named {self.ACCOUNT} is already taken.'})
        self.assertEqual([a.get('id') for a in self.step('listByGroup')['value']], [self.id])

    def test_delete_then_404(self):
        self.assertEqual(self.step('delete')['statuses'], [200])
        gone = self.steps['getAfterDelete']
        self.assertFalse(gone['ok'], gone)
        self.assertEqual((gone.get('status'), gone.get('code')), (404, 'ResourceNotFound'), gone)

    def test_fast(self):
        self.assertLess(self.elapsed, 20, 'no client retries or polling waits')


if __name__ == '__main__':
    unittest.main()

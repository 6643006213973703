"""Key Vault with Debian's Python SDK and Azure CLI 2.45, through the front door (`azsim env`
only: HTTPS_PROXY for <vault>.vault.azure.net, management.azure.com, graph.microsoft.com and
login.microsoftonline.com; REQUESTS_CA_BUNDLE for the CA).

Python: azure-keyvault-secrets 4.7.0b1's SecretClient with the admin's ClientSecretCredential, in a
child /usr/bin/python3, against a vault whose access policy grants the admin every secret
permission: set (content type, tags, a second version), get (latest and by version), list the
secrets and the versions, delete (poller), get and list deleted, purge, and SecretNotFound as
ResourceNotFoundError.

az: `az keyvault create/show/list/delete/show-deleted/list-deleted/purge` are control plane
(Resource Manager, and Graph for the creator's access policy) and must work. `az keyvault secret
...` cannot run on Debian's 2.45 (contracts/azure-cli.md §4: it imports the track-1
azure.keyvault.v7_0 SDK, which Debian does not ship), so that failure is asserted, client-side,
rather than skipped.

Every az command takes about 2 s; the whole file about 40 s.
"""

import json
import subprocess
import unittest

import azsim

KV = 'api-version=2023-07-01'
RG = 'kv-cli-rg'

server = None
cli = None
admin = None        # azsim.AdminArm: the admin's own requests
admin_token = None
admin_oid = None
sub = None


def arm(method, path, body=None):
    """The admin's request to the arm listener: (status, parsed JSON body or None)."""
    return admin.request(method, path, body)


def arm_ok(method, path, body=None):
    return admin.ok(method, path, body)


def az(*args):
    return cli.run(*args)


def az_json(*args):
    return cli.json(*args)


def setUpModule():
    global server, admin, cli, admin_token, admin_oid, sub
    server = azsim.Server().start()
    try:
        admin = azsim.AdminArm(server)
        admin_token = admin.token
        admin_oid = azsim.jwt_payload(admin_token)['oid']
        sub = f'/subscriptions/{server.info["subscriptionId"]}'
        arm_ok('PUT', f'{sub}/resourceGroups/{RG}?api-version=2021-04-01', {'location': 'westus'})
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


# -- Python: azure-keyvault-secrets ---------------------------------------------------------------

# The child: reads {"tenantId", "clientId", "clientSecret", "vaultUrl"} on stdin and runs the
# secrets scenario with SecretClient(vaultUrl, ClientSecretCredential(...)) and no other option;
# prints {"results": {...}, "requests": [{"method", "url", "status"}]} or exits 1 with the error.
SECRETS_CHILD = r'''
import json, sys
from azure.core.exceptions import ResourceNotFoundError
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient

cfg = json.load(sys.stdin)
requests = []

class Recorder(SansIOHTTPPolicy):
    def on_response(self, request, response):
        requests.append({"method": request.http_request.method, "url": request.http_request.url,
                         "status": response.http_response.status_code})

credential = ClientSecretCredential(cfg["tenantId"], cfg["clientId"], cfg["clientSecret"])
client = SecretClient(cfg["vaultUrl"], credential, per_retry_policies=[Recorder()])

def props(p):
    return {"name": p.name, "version": p.version, "id": p.id, "vault_url": p.vault_url,
            "content_type": p.content_type, "tags": p.tags, "enabled": p.enabled,
            "recovery_level": p.recovery_level}

def secret(s):
    return {"value": s.value, "properties": props(s.properties)}

def not_found(call):
    try:
        call()
    except ResourceNotFoundError as err:
        return {"status": err.status_code, "code": err.error.code if err.error else None,
                "message": err.message}
    return None

out = {}
out["set1"] = secret(client.set_secret("py-secret", "v1", content_type="text/plain",
                                       tags={"by": "python"}))
out["set2"] = secret(client.set_secret("py-secret", "v2"))
out["setOther"] = secret(client.set_secret("py-other", "o"))
out["latest"] = secret(client.get_secret("py-secret"))
out["byVersion"] = secret(client.get_secret("py-secret", out["set1"]["properties"]["version"]))
out["list"] = sorted(p.name for p in client.list_properties_of_secrets())
out["versions"] = sorted(p.version for p in client.list_properties_of_secret_versions("py-secret"))
deleted = client.begin_delete_secret("py-secret").result()
out["deleted"] = {"name": deleted.name, "recovery_id": deleted.recovery_id,
                  "deleted_date": deleted.deleted_date.isoformat() if deleted.deleted_date else None,
                  "scheduled_purge_date": deleted.scheduled_purge_date.isoformat()
                  if deleted.scheduled_purge_date else None}
out["getAfterDelete"] = not_found(lambda: client.get_secret("py-secret"))
out["getDeleted"] = client.get_deleted_secret("py-secret").recovery_id
out["listDeleted"] = sorted(d.name for d in client.list_deleted_secrets())
client.purge_deleted_secret("py-secret")
out["getDeletedAfterPurge"] = not_found(lambda: client.get_deleted_secret("py-secret"))
out["missing"] = not_found(lambda: client.get_secret("no-such-secret"))
print(json.dumps({"results": out, "requests": requests}))
'''


class PythonSecretClient(unittest.TestCase):
    def test_set_get_list_delete_purge(self):
        vault = 'kv-cli-python'
        created = arm_ok('PUT', f'{sub}/resourceGroups/{RG}/providers/Microsoft.KeyVault/vaults/'
                                f'{vault}?{KV}', {
            'location': 'westus',
            'properties': {'tenantId': server.info['tenantId'],
                           'sku': {'family': 'A', 'name': 'standard'},
                           'accessPolicies': [{'tenantId': server.info['tenantId'],
                                               'objectId': admin_oid,
                                               'permissions': {'secrets': ['all']}}]}})
        self.assertEqual(created['properties']['vaultUri'], f'https://{vault}.vault.azure.net/')
        info = server.info
        r = subprocess.run([azsim.PYTHON, '-c', SECRETS_CHILD], capture_output=True, text=True,
                           timeout=azsim.SDK_TIMEOUT, env=server.client_env(),
                           input=json.dumps({'tenantId': info['tenantId'],
                                             'clientId': info['clientId'],
                                             'clientSecret': info['clientSecret'],
                                             'vaultUrl': f'https://{vault}.vault.azure.net'}))
        self.assertEqual(r.returncode, 0, f'stdout:\n{r.stdout}\nstderr:\n{r.stderr}')
        answer = json.loads(r.stdout)
        out, requests = answer['results'], answer['requests']
        origin = f'https://{vault}.vault.azure.net'

        set1 = out['set1']
        self.assertEqual(set1['value'], 'v1')
        self.assertEqual(set1['properties']['name'], 'py-secret')
        self.assertEqual(set1['properties']['content_type'], 'text/plain')
        self.assertEqual(set1['properties']['tags'], {'by': 'python'})
        self.assertIs(set1['properties']['enabled'], True)
        self.assertEqual(set1['properties']['vault_url'], origin)
        self.assertRegex(set1['properties']['version'], r'^[0-9a-f]{32}$')
        self.assertEqual(set1['properties']['id'],
                         f'{origin}/secrets/py-secret/{set1["properties"]["version"]}')
        self.assertEqual(set1['properties']['recovery_level'], 'Recoverable+Purgeable')
        v2 = out['set2']['properties']['version']
        self.assertNotEqual(v2, set1['properties']['version'])

        self.assertEqual(out['latest']['value'], 'v2')
        self.assertEqual(out['latest']['properties']['version'], v2)
        self.assertEqual(out['byVersion']['value'], 'v1')
        self.assertEqual(out['byVersion']['properties']['content_type'], 'text/plain')
        self.assertEqual(out['list'], ['py-other', 'py-secret'])
        self.assertEqual(out['versions'], sorted([set1['properties']['version'], v2]))

        self.assertEqual(out['deleted']['name'], 'py-secret')
        self.assertEqual(out['deleted']['recovery_id'], f'{origin}/deletedsecrets/py-secret')
        self.assertIsNotNone(out['deleted']['deleted_date'])
        self.assertIsNotNone(out['deleted']['scheduled_purge_date'])
        self.assertEqual(out['getAfterDelete']['status'], 404, out['getAfterDelete'])
        self.assertEqual(out['getAfterDelete']['code'], 'SecretNotFound', out['getAfterDelete'])
        self.assertEqual(out['getDeleted'], f'{origin}/deletedsecrets/py-secret')
        self.assertEqual(out['listDeleted'], ['py-secret'])
        self.assertEqual(out['getDeletedAfterPurge']['status'], 404, out['getDeletedAfterPurge'])
        self.assertEqual(out['missing']['status'], 404, out['missing'])
        self.assertEqual(out['missing']['code'], 'SecretNotFound', out['missing'])
        self.assertIn('no-such-secret', out['missing']['message'])

        # Every request went to the public vault host (through the front door): the challenge
        # round first (401), api-version 7.3, the purge answered 204.
        self.assertTrue(requests)
        for req in requests:
            self.assertTrue(req['url'].startswith(f'{origin}/'), req)
            self.assertIn('api-version=7.3', req['url'], req)
        self.assertEqual(requests[0]['status'], 401, requests[:2])
        purges = [q for q in requests if q['method'] == 'DELETE' and '/deletedsecrets/' in q['url']]
        self.assertEqual([q['status'] for q in purges], [204], purges)


# -- az keyvault (control plane) ------------------------------------------------------------------

class AzKeyVault(unittest.TestCase):
    def test_create_show_list_delete_purge(self):
        name = 'kv-cli-rbac'
        created = az_json('keyvault', 'create', '-g', RG, '-n', name, '-l', 'westus',
                          '--enable-rbac-authorization')
        expected_id = f'{sub}/resourceGroups/{RG}/providers/Microsoft.KeyVault/vaults/{name}'
        self.assertEqual(created.get('id'), expected_id, created)
        self.assertEqual(created.get('name'), name)
        self.assertEqual(created.get('location'), 'westus')
        props = created['properties']
        self.assertEqual(props['vaultUri'], f'https://{name}.vault.azure.net/')
        self.assertEqual(props['tenantId'], server.info['tenantId'])
        self.assertIs(props['enableRbacAuthorization'], True)
        self.assertEqual(props['sku']['name'].lower(), 'standard')
        self.assertEqual(props['accessPolicies'], [])

        shown = az_json('keyvault', 'show', '-n', name)
        self.assertEqual(shown['id'], expected_id)
        self.assertEqual(shown['properties']['vaultUri'], props['vaultUri'])
        listed = az_json('keyvault', 'list', '-g', RG)
        self.assertIn(name, [v.get('name') for v in listed], listed)
        everywhere = az_json('keyvault', 'list')
        self.assertIn(name, [v.get('name') for v in everywhere], everywhere)

        # Globally unique: the same name in another group is refused by Resource Manager.
        az_json('group', 'create', '-n', 'kv-cli-other', '-l', 'westus')
        taken = az('keyvault', 'create', '-g', 'kv-cli-other', '-n', name, '-l', 'westus',
                   '--enable-rbac-authorization')
        self.assertNotEqual(taken.returncode, 0, taken.stdout)
        self.assertIn('VaultAlreadyExists', taken.stderr)

        delete = az('keyvault', 'delete', '-n', name)
        self.assertEqual(delete.returncode, 0, delete.stderr)
        gone = az('keyvault', 'show', '-n', name)
        self.assertNotEqual(gone.returncode, 0, gone.stdout)
        deleted = az_json('keyvault', 'show-deleted', '-n', name)
        self.assertEqual(deleted.get('name'), name, deleted)
        self.assertEqual(deleted['properties']['vaultId'], expected_id, deleted)
        self.assertEqual(deleted['properties']['location'], 'westus', deleted)
        only_vaults = az_json('keyvault', 'list-deleted', '--resource-type', 'vault')
        self.assertIn(name, [d.get('name') for d in only_vaults], only_vaults)

        purge = az('keyvault', 'purge', '-n', name)
        self.assertEqual(purge.returncode, 0, purge.stderr)
        after = az('keyvault', 'show-deleted', '-n', name)
        self.assertNotEqual(after.returncode, 0, after.stdout)
        self.assertIn(f'No deleted Vault or HSM was found with name {name}', after.stderr)
        # The name is free again.
        again = az_json('keyvault', 'create', '-g', 'kv-cli-other', '-n', name, '-l', 'westus',
                        '--enable-rbac-authorization')
        self.assertEqual(again['properties']['vaultUri'], f'https://{name}.vault.azure.net/')

    def test_create_gives_the_creator_an_access_policy(self):
        """Without --enable-rbac-authorization az looks the signed-in principal up in Graph
        (/v1.0/me, which answers 400 to an application token, then
        /v1.0/servicePrincipals?$filter=servicePrincipalNames/any(c:c eq '<appId>')) and writes
        its object id into the vault's access policy (contracts/graph.md)."""
        name = 'kv-cli-policy'
        r = az('keyvault', 'create', '-g', RG, '-n', name, '-l', 'westus')
        self.assertEqual(r.returncode, 0, f'stdout:\n{r.stdout}\nstderr:\n{r.stderr[-3000:]}')
        created = json.loads(r.stdout)
        policies = created['properties']['accessPolicies']
        self.assertEqual([p['objectId'] for p in policies], [admin_oid], policies)
        self.assertEqual(policies[0]['tenantId'], server.info['tenantId'])
        # az 2.45 grants its creator everything, kind by kind.
        self.assertEqual(policies[0]['permissions']['secrets'], ['all'], policies)
        self.assertEqual(policies[0]['permissions']['keys'], ['all'], policies)

    def test_list_deleted_lists_vaults_and_managed_hsms(self):
        """`az keyvault list-deleted` without --resource-type asks for deleted vaults and for
        deleted managed HSMs (GET .../providers/Microsoft.KeyVault/deletedManagedHSMs); a
        subscription without any answers that with an empty list."""
        name = 'kv-cli-listdel'
        az_json('keyvault', 'create', '-g', RG, '-n', name, '-l', 'westus',
                '--enable-rbac-authorization')
        self.assertEqual(az('keyvault', 'delete', '-n', name).returncode, 0)
        r = az('keyvault', 'list-deleted')
        self.assertEqual(r.returncode, 0, f'stdout:\n{r.stdout}\nstderr:\n{r.stderr}')
        self.assertIn(name, [d.get('name') for d in json.loads(r.stdout)], r.stdout)

    def test_secret_commands_cannot_run_on_debian(self):
        """az 2.45's data-plane commands import the track-1 azure.keyvault.v7_0 SDK, which Debian
        does not ship: they fail inside az, before any request (contracts/azure-cli.md §4). If this
        starts to pass, az was fixed and the data plane can be tested with az too."""
        name = 'kv-cli-data'
        az_json('keyvault', 'create', '-g', RG, '-n', name, '-l', 'westus',
                '--enable-rbac-authorization')
        for args in (['secret', 'set', '--vault-name', name, '-n', 's1', '--value', 'v'],
                     ['secret', 'show', '--vault-name', name, '-n', 's1'],
                     ['secret', 'list', '--vault-name', name]):
            r = az('keyvault', *args)
            self.assertNotEqual(r.returncode, 0, f'az keyvault {" ".join(args)}: {r.stdout}')
            self.assertIn("No module named 'azure.keyvault.v7_0'", r.stderr, r.stderr[-2000:])
        # Nothing reached the vault: no Key Vault decision on it was audited.
        status, audit = arm('GET', '/_azsim/audit?top=500')
        self.assertEqual(status, 200, audit)
        self.assertEqual([e for e in audit['value'] if f'/vaults/{name}/' in e.get('scope', '')],
                         [], audit['value'][:5])

if __name__ == '__main__':
    unittest.main()

"""Debian's Azure CLI 2.45 and Microsoft.Compute through the front door (AzureCloud with
`az cloud update --profile 2020-09-01-hybrid`, the profile `az vm create` needs —
contracts/azure-cli.md §2.1), signed in as the admin service principal:

- the image alias document az fetches from raw.githubusercontent.com, and the platform image
  operations (`az vm image list --all`, `list-publishers`, `list-offers`, `list-skus`, `show`), all
  from one catalog (arm/images.c): every alias the document names resolves to an image;
- `az vm show`, `az vm list` and `az vm identity assign/show/remove`, system-assigned and with
  `--identities <user-assigned identity>`, on a VM the admin made with a REST PUT;
- `az vm create --image Ubuntu2204`: az gets through the resource group, alias document, image
  and virtual network lookups to its deployment PUT (the deployment itself is the template
  engine's, tested elsewhere; this file only checks what az asked before it).

Each az command takes about 2 s; the whole file about a minute."""

import json
import os
import re
import ssl
import tempfile
import unittest
import urllib.error
import urllib.request

import azsim

PROFILE = '2020-09-01-hybrid'
NET = 'api-version=2022-07-01'
MSI = 'api-version=2018-11-30'
COMPUTE = 'api-version=2020-06-01'
RG = 'compute-az-rg'
VM = 'compute-az-vm'
UAI = 'compute-az-uai'
UAI2 = 'Compute-Az-Uai2'
LOCATION = 'westus'
ALIAS_URL = ('https://raw.githubusercontent.com/Azure/azure-rest-api-specs/main/arm-compute/'
             'quickstart-templates/aliases.json')
JAMMY = ('Canonical', '0001-com-ubuntu-server-jammy', '22_04-lts-gen2')
# The aliases az 2.45's own bundled copy lacks: seeing them proves the served document was used.
NOT_BUNDLED = {'Ubuntu2204', 'Debian11', 'CentOS85Gen2'}

server = None
cli = None
admin = None        # azsim.AdminArm: the admin's own requests
admin_token = None
sub = None       # /subscriptions/<GUID>
rg = None        # the resource group's id
uai = None       # the UAI as ARM answered its PUT
uai2 = None      # a second one
vm = None        # the VM as ARM answered its PUT


def _through_front_door():
    """HTTPS to the real host names through the front door, trusting azsim's CA."""
    context = ssl.create_default_context(cafile=server.startup['ca'])
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({'https': server.startup['proxy']}),
        urllib.request.HTTPSHandler(context=context))


def _fetch(opener, url, token=None):
    """(status, headers, body bytes) of a GET."""
    headers = {'Authorization': f'Bearer {token}'} if token else {}
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def arm(method, path, body=None):
    """The admin's request to the arm listener: (status, parsed JSON body or None)."""
    return admin.request(method, path, body)


def arm_ok(method, path, body=None, statuses=(200, 201)):
    return admin.ok(method, path, body, statuses)


def versions_path(publisher, offer, sku):
    """…/locations/westus/publishers/{p}/artifacttypes/vmimage/offers/{o}/skus/{s}/versions"""
    return (f'{sub}/providers/Microsoft.Compute/locations/{LOCATION}/publishers/{publisher}/'
            f'artifacttypes/vmimage/offers/{offer}/skus/{sku}/versions')


def az(*args):
    return cli.run(*args)


def az_json(*args):
    return cli.json(*args)


def setUpModule():
    global server, admin, cli, admin_token, sub, rg, uai, uai2, vm
    server = azsim.Server().start()
    try:
        info = server.info
        admin = azsim.AdminArm(server)
        admin_token = admin.token
        sub = f'/subscriptions/{info["subscriptionId"]}'
        rg = f'{sub}/resourceGroups/{RG}'
        arm_ok('PUT', f'{sub}/resourcegroups/{RG}?api-version=2019-10-01', {'location': LOCATION})
        vnet = f'{rg}/providers/Microsoft.Network/virtualNetworks/compute-az-vnet'
        arm_ok('PUT', f'{vnet}?{NET}', {
            'location': LOCATION,
            'properties': {'addressSpace': {'addressPrefixes': ['10.3.0.0/16']},
                           'subnets': [{'name': 'default',
                                        'properties': {'addressPrefix': '10.3.0.0/24'}}]}})
        nic_id = f'{rg}/providers/Microsoft.Network/networkInterfaces/compute-az-nic'
        arm_ok('PUT', f'{nic_id}?{NET}', {
            'location': LOCATION,
            'properties': {'ipConfigurations': [{
                'name': 'ipconfig1',
                'properties': {'subnet': {'id': f'{vnet}/subnets/default'}}}]}})
        uai, uai2 = (arm_ok('PUT', f'{rg}/providers/Microsoft.ManagedIdentity/'
                                   f'userAssignedIdentities/{name}?{MSI}', {'location': LOCATION})
                     for name in (UAI, UAI2))
        # No identity to begin with: the identity commands add and remove them.
        vm = arm_ok('PUT', f'{rg}/providers/Microsoft.Compute/virtualMachines/{VM}?{COMPUTE}', {
            'location': LOCATION,
            'properties': {
                'hardwareProfile': {'vmSize': 'Standard_DS1_v2'},
                'storageProfile': {'imageReference': {
                    'publisher': JAMMY[0], 'offer': JAMMY[1], 'sku': JAMMY[2],
                    'version': 'latest'}},
                'osProfile': {'computerName': VM, 'adminUsername': 'azureuser',
                              'adminPassword': 'Secret-123456789!'},
                'networkProfile': {'networkInterfaces': [{'id': nic_id}]}}})

        cli = azsim.AzCli(server)
        r = az('cloud', 'update', '--profile', PROFILE)
        if r.returncode != 0:
            raise AssertionError(f'az cloud update: {r.returncode}\n{r.stderr}')
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


class AliasDocument(unittest.TestCase):
    def test_served_under_github_and_nothing_else_there(self):
        status, headers, body = _fetch(_through_front_door(), ALIAS_URL)
        self.assertEqual(status, 200, body)
        self.assertTrue(headers['Content-Type'].startswith('text/plain'), headers)
        doc = json.loads(body)
        self.assertEqual(doc['contentVersion'], '1.0.0.0')
        self.assertEqual((doc['parameters'], doc['variables'], doc['resources']), ({}, {}, []))
        aliases = doc['outputs']['aliases']
        self.assertEqual(aliases['type'], 'object')
        self.assertEqual(set(aliases['value']), {'Linux', 'Windows'})
        for name in ['Ubuntu2204', 'UbuntuLTS', 'Debian11', 'CentOS85Gen2']:
            self.assertIn(name, aliases['value']['Linux'])
        for name in ['Win2022Datacenter', 'Win2019Datacenter', 'Win2016Datacenter',
                     'Win2012R2Datacenter']:
            self.assertIn(name, aliases['value']['Windows'])
        self.assertEqual(aliases['value']['Linux']['Ubuntu2204'],
                         {'publisher': JAMMY[0], 'offer': JAMMY[1], 'sku': JAMMY[2],
                          'version': 'latest', 'architecture': 'x64'})
        # Any other path on that host, Resource Manager's included, is not there.
        for path in ['/Azure/azure-rest-api-specs/main/README.md',
                     f'{sub}/resourcegroups?api-version=2019-10-01',
                     '/metadata/endpoints?api-version=2015-01-01']:
            status, _, body = _fetch(_through_front_door(),
                                     f'https://raw.githubusercontent.com{path}', admin_token)
            self.assertEqual(status, 404, f'{path}: {body}')
        # And management.azure.com has no such file.
        status, _, _ = _fetch(_through_front_door(), ALIAS_URL.replace(
            'raw.githubusercontent.com', 'management.azure.com'))
        self.assertEqual(status, 404)

    def test_every_alias_names_an_image_of_its_os(self):
        """The document and the image operations come from one catalog: every alias resolves,
        through the same calls az vm create makes, to an image of the alias's own OS."""
        _, _, body = _fetch(_through_front_door(), ALIAS_URL)
        groups = json.loads(body)['outputs']['aliases']['value']
        for os_type, aliases in groups.items():
            for alias, ref in aliases.items():
                path = versions_path(ref['publisher'], ref['offer'], ref['sku'])
                versions = arm_ok('GET', f'{path}?$top=1&$orderby=name%20desc&{COMPUTE}')
                self.assertEqual(len(versions), 1, f'{alias}: {versions}')
                image = arm_ok('GET', f'{path}/{versions[0]["name"]}?{COMPUTE}')
                self.assertEqual(image['properties']['osDiskImage']['operatingSystem'], os_type,
                                 alias)
                self.assertEqual(image['properties']['architecture'], ref['architecture'], alias)

    def test_az_vm_image_list_uses_it(self):
        """Without --all az lists the alias document: the served one, since its own bundled
        copy has no Ubuntu2204."""
        images = az_json('vm', 'image', 'list')
        aliases = {i['urnAlias'] for i in images}
        self.assertTrue(NOT_BUNDLED <= aliases, aliases)
        jammy = next(i for i in images if i['urnAlias'] == 'Ubuntu2204')
        self.assertEqual(jammy['urn'], ':'.join(JAMMY) + ':latest')


class ImageCommands(unittest.TestCase):
    def test_list_all_for_a_publisher(self):
        images = az_json('vm', 'image', 'list', '--publisher', 'Canonical', '--all',
                         '-l', LOCATION)
        urns = {i['urn'] for i in images}
        self.assertIn(':'.join(JAMMY) + ':22.04.202301140', urns)
        self.assertIn('Canonical:UbuntuServer:18.04-LTS:18.04.202301100', urns)
        self.assertEqual({i['publisher'] for i in images}, {'Canonical'})
        # $expand=properties carries each version's architecture.
        self.assertEqual({i['architecture'] for i in images}, {'x64'})

    def test_list_publishers_offers_skus(self):
        publishers = az_json('vm', 'image', 'list-publishers', '-l', LOCATION)
        self.assertTrue({'Canonical', 'MicrosoftWindowsServer', 'Debian', 'OpenLogic'}
                        <= {p['name'] for p in publishers}, publishers)
        self.assertEqual({p['location'] for p in publishers}, {LOCATION})
        offers = az_json('vm', 'image', 'list-offers', '-l', LOCATION, '-p',
                         'MicrosoftWindowsServer')
        self.assertEqual([o['name'] for o in offers], ['WindowsServer'])
        skus = az_json('vm', 'image', 'list-skus', '-l', LOCATION, '-p', 'MicrosoftWindowsServer',
                       '-f', 'WindowsServer')
        self.assertTrue({'2022-Datacenter', '2019-Datacenter', '2016-Datacenter',
                         '2012-R2-Datacenter'} <= {s['name'] for s in skus}, skus)

    def test_show_latest(self):
        image = az_json('vm', 'image', 'show', '-l', LOCATION, '--urn',
                        ':'.join(JAMMY) + ':latest')
        self.assertEqual(image['name'], '22.04.202301140')
        self.assertEqual(image['location'], LOCATION)
        self.assertEqual(image['osDiskImage'], {'operatingSystem': 'Linux'})
        self.assertEqual(image['hyperVGeneration'], 'V2')
        self.assertEqual(image['dataDiskImages'], [])
        self.assertTrue(image['id'].endswith('/Skus/22_04-lts-gen2/Versions/22.04.202301140'),
                        image['id'])
        windows = az_json('vm', 'image', 'show', '-l', LOCATION, '--urn',
                          'MicrosoftWindowsServer:WindowsServer:2016-Datacenter:14393.5648.230111')
        self.assertEqual(windows['osDiskImage'], {'operatingSystem': 'Windows'})

    def test_unknown_image(self):
        r = az('vm', 'image', 'show', '-l', LOCATION, '--urn', 'Canonical:NoSuchOffer:1:latest')
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('Artifact: VMImage was not found', r.stderr)
        r = az('vm', 'image', 'list-offers', '-l', LOCATION, '-p', 'NoSuchPublisher')
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('Publisher: NoSuchPublisher was not found', r.stderr)


class VmCommands(unittest.TestCase):
    """`az vm identity` on one VM, in order: system, then user-assigned, then each removed."""

    def identity(self):
        r = az('vm', 'identity', 'show', '-g', RG, '-n', VM)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout) if r.stdout.strip() else None

    def test_show_and_list(self):
        shown = az_json('vm', 'show', '-g', RG, '-n', VM)
        self.assertEqual(shown['id'], vm['id'])
        self.assertEqual(shown['hardwareProfile']['vmSize'], 'Standard_DS1_v2')
        self.assertEqual(shown['storageProfile']['imageReference']['offer'], JAMMY[1])
        self.assertIsNone(shown['osProfile'].get('adminPassword'))
        listed = az_json('vm', 'list', '-g', RG)
        self.assertEqual([v['id'] for v in listed], [vm['id']])
        self.assertIn(vm['id'], [v['id'] for v in az_json('vm', 'list')])
        with_view = az_json('vm', 'get-instance-view', '-g', RG, '-n', VM)
        codes = [s['code'] for s in with_view['instanceView']['statuses']]
        self.assertIn('PowerState/running', codes)

    def test_identity_assign_show_remove(self):
        self.assertIsNone(self.identity())

        # System-assigned.
        assigned = az_json('vm', 'identity', 'assign', '-g', RG, '-n', VM)
        system_principal = assigned['systemAssignedIdentity']
        self.assertRegex(system_principal, r'^[0-9a-f-]{36}$')
        shown = self.identity()
        self.assertEqual(shown['type'], 'SystemAssigned')
        self.assertEqual(shown['principalId'], system_principal)
        self.assertEqual(shown['tenantId'], server.info['tenantId'])

        # Plus a user-assigned one, named as az users name it.
        assigned = az_json('vm', 'identity', 'assign', '-g', RG, '-n', VM,
                           '--identities', UAI)
        self.assertEqual(assigned['systemAssignedIdentity'], system_principal)
        shown = self.identity()
        self.assertEqual(shown['type'], 'SystemAssigned, UserAssigned')
        self.assertEqual(shown['principalId'], system_principal, 'the system identity is kept')
        self.assertEqual(shown['userAssignedIdentities'],
                         {uai['id']: {'principalId': uai['properties']['principalId'],
                                      'clientId': uai['properties']['clientId']}})
        self.assertEqual(list(az_json('vm', 'show', '-g', RG, '-n', VM)['identity']
                              ['userAssignedIdentities']), [uai['id']])

        # A second one joins the first.
        az_json('vm', 'identity', 'assign', '-g', RG, '-n', VM, '--identities', UAI2)
        shown = self.identity()
        self.assertEqual(sorted(shown['userAssignedIdentities']), sorted([uai['id'], uai2['id']]))

        # Regression: az sends the removed id lower-cased ({"<lower-cased id>": null}), which a
        # plain JSON merge patch did not match, so the identity silently stayed attached.
        removed = az_json('vm', 'identity', 'remove', '-g', RG, '-n', VM, '--identities', UAI2)
        self.assertEqual(removed['type'], 'SystemAssigned, UserAssigned', removed)
        shown = self.identity()
        self.assertEqual(shown['type'], 'SystemAssigned, UserAssigned')
        self.assertEqual(list(shown['userAssignedIdentities']), [uai['id']])

        # The last one: the type says so.
        removed = az_json('vm', 'identity', 'remove', '-g', RG, '-n', VM, '--identities', UAI)
        self.assertEqual(removed['type'], 'SystemAssigned', removed)
        shown = self.identity()
        self.assertEqual(shown['type'], 'SystemAssigned')
        self.assertFalse(shown.get('userAssignedIdentities'), shown)
        self.assertEqual(shown['principalId'], system_principal)

        # By full id, then the system one: nothing left.
        az_json('vm', 'identity', 'assign', '-g', RG, '-n', VM, '--identities', uai['id'])
        self.assertEqual(self.identity()['type'], 'SystemAssigned, UserAssigned')
        removed = az_json('vm', 'identity', 'remove', '-g', RG, '-n', VM)
        self.assertEqual(removed['type'], 'UserAssigned', removed)
        self.assertEqual(list(removed['userAssignedIdentities']), [uai['id']])
        r = az('vm', 'identity', 'remove', '-g', RG, '-n', VM, '--identities', uai['id'])
        self.assertEqual((r.returncode, r.stdout.strip()), (0, ''), r.stderr)
        self.assertIsNone(self.identity())

        # A new system identity is a new principal: the old one was deleted with it.
        again = az_json('vm', 'identity', 'assign', '-g', RG, '-n', VM)
        self.assertNotEqual(again['systemAssignedIdentity'], system_principal)
        r = az('vm', 'identity', 'remove', '-g', RG, '-n', VM)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, ''), r.stderr)  # identity None
        self.assertIsNone(self.identity())


class VmCreateLookups(unittest.TestCase):
    def test_vm_create_gets_to_the_deployment(self):
        """What az asks before its deployment PUT, in order (contracts/azure-cli.md §2.1):
        the group, the alias document, the newest image version and that version, the virtual
        networks. Whatever the deployment answers is the template engine's business."""
        with tempfile.TemporaryDirectory() as keys:
            key = os.path.join(keys, 'id_rsa.pub')
            with open(key, 'w', encoding='utf-8') as f:
                f.write('ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 azureuser@azsim\n')
            before = len(server.stderr)
            az('vm', 'create', '-g', RG, '-n', 'created-vm', '--image', 'Ubuntu2204',
               '--admin-username', 'azureuser', '--ssh-key-values', key)
            log = server.stderr[before:]
        lines = [m.group(1, 2, 3) for m in
                 re.finditer(r' info  arm\s+(\w+) (\S+) (\d{3}) ', log)]
        steps = [
            ('GET', f'{sub}/resourcegroups/{RG}', '200'),
            ('GET', '/Azure/azure-rest-api-specs/main/arm-compute/quickstart-templates/'
                    'aliases.json', '200'),
            ('GET', versions_path(*JAMMY), '200'),
            ('GET', versions_path(*JAMMY) + '/22.04.202301140', '200'),
            ('GET', f'{rg}/providers/Microsoft.Network/virtualNetworks', '200'),
        ]
        at = 0
        for step in steps:
            found = [i for i in range(at, len(lines))
                     if lines[i][0] == step[0] and lines[i][1].lower() == step[1].lower()]
            self.assertTrue(found, f'{step} not asked after request {at}: {lines}')
            self.assertEqual(lines[found[0]][2], step[2], lines[found[0]])
            at = found[0] + 1
        puts = [l for l in lines[at:] if l[0] == 'PUT' and
                '/providers/Microsoft.Resources/deployments/vm_deploy_' in l[1]]
        self.assertTrue(puts, f'no deployment PUT after the lookups: {lines}')


if __name__ == '__main__':
    unittest.main()

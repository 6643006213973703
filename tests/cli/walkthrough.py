"""The managed-identities walkthrough with the real Azure CLI, command by command, as the README
tells users to type it: Debian 12's az 2.45 with the default AzureCloud, through azsim's front
door (`azsim env`), nothing else configured.

Run by `make cli`. It prints one line per command with its result and ends with
"N passed, N failed"; the exit status is 1 when any failed. A failed command does not stop the
walk: the commands after it run (and usually fail for the same reason, which the lines show).

Two things are set up as the README says (contracts/azure-cli.md §4, Debian 2.45's own defects):
`az cloud update --profile 2020-09-01-hybrid`, without which `az vm create` crashes inside az, and
PYTHONPATH=tests/cli/shim for the commands that create role assignments (`az ad sp
create-for-rbac`), which crash inside az with AttributeError otherwise.
"""

import json
import os
import re
import shutil
import sys
import tempfile
import traceback
import uuid

import azsim

RG = 'myResourceGroup'
UAI = 'myUserAssignedIdentity'
SHIM = os.path.join(azsim.HERE, 'shim')
# ARM's guid() namespace: guid(a, b) is the version 5 UUID of "a-b" in it.
ARM_GUID_NAMESPACE = uuid.UUID('11fb06fb-712d-4ddd-98c7-e71bbd588830')

# A template that uses each function the issue lists, with a copy loop of identities and one
# identity whose principal id comes back through reference().
FUNCTIONS_TEMPLATE = {
    '$schema': 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#',
    'contentVersion': '1.0.0.0',
    'parameters': {
        'prefix': {'type': 'string', 'minLength': 2},
        'count': {'type': 'int', 'defaultValue': 2, 'allowedValues': [1, 2, 3]},
        'location': {'type': 'string', 'defaultValue': '[resourceGroup().location]'},
    },
    'variables': {
        'mainName': "[format('{0}-main', parameters('prefix'))]",
        'mainId': "[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', "
                  "variables('mainName'))]",
        'copy': [{'name': 'labels', 'count': "[parameters('count')]",
                  'input': "[concat('label-', string(copyIndex('labels')))]"}],
    },
    'resources': [
        {
            'type': 'Microsoft.ManagedIdentity/userAssignedIdentities',
            'apiVersion': '2018-11-30',
            'name': "[concat(parameters('prefix'), '-worker-', copyIndex(1))]",
            'location': "[parameters('location')]",
            'copy': {'name': 'workers', 'count': "[parameters('count')]"},
        },
        {
            'type': 'Microsoft.ManagedIdentity/userAssignedIdentities',
            'apiVersion': '2018-11-30',
            'name': "[variables('mainName')]",
            'location': "[parameters('location')]",
            'tags': {'unique': "[uniqueString(resourceGroup().id)]",
                     'tier': "[if(equals(parameters('count'), 2), 'two', 'other')]"},
            'dependsOn': ['workers'],
        },
    ],
    'outputs': {
        'concat': {'type': 'string', 'value': "[concat('a-', parameters('prefix'))]"},
        'format': {'type': 'string', 'value': "[variables('mainName')]"},
        'resourceId': {'type': 'string', 'value': "[variables('mainId')]"},
        'principalId': {'type': 'string',
                        'value': "[reference(variables('mainId'), '2018-11-30').principalId]"},
        'fullId': {'type': 'string',
                   'value': "[reference(variables('mainId'), '2018-11-30', 'Full').id]"},
        'group': {'type': 'string', 'value': '[resourceGroup().name]'},
        'subscription': {'type': 'string', 'value': '[subscription().subscriptionId]'},
        'unique': {'type': 'string', 'value': '[uniqueString(resourceGroup().id)]'},
        'guid': {'type': 'string', 'value': "[guid(resourceGroup().id, 'walkthrough')]"},
        'if': {'type': 'string', 'value': "[if(greater(parameters('count'), 5), 'many', 'few')]"},
        'labels': {'type': 'array', 'value': "[variables('labels')]"},
    },
}

GROUP_TEMPLATE = {
    '$schema': 'https://schema.management.azure.com/schemas/2018-05-01/'
               'subscriptionDeploymentTemplate.json#',
    'contentVersion': '1.0.0.0',
    'parameters': {'name': {'type': 'string'}},
    'resources': [{
        'type': 'Microsoft.Resources/resourceGroups', 'apiVersion': '2021-04-01',
        'name': "[parameters('name')]", 'location': 'eastus',
        'tags': {'made-by': '[deployment().name]'},
    }],
}


class Walk:
    """Runs the steps, printing one line each, and counts them."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def step(self, title, fn):
        try:
            detail = fn()
        except Exception as err:  # any failure is this step's, reported and counted
            self.failed += 1
            reason = str(err).strip().splitlines() or [type(err).__name__]
            print(f'FAIL  {title}\n      {" | ".join(reason[-6:])}', flush=True)
            if os.environ.get('WALKTHROUGH_TRACE'):
                traceback.print_exc()
            return None
        self.passed += 1
        print(f'ok    {title}' + (f'  ({detail})' if detail else ''), flush=True)
        return detail


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


class FileBackedServer(azsim.Server):
    """`azsim env --vm` reads the store's files: keep them on disk."""

    def __init__(self):
        super().__init__()
        self.args.remove('--in-memory')


def main():
    server = FileBackedServer().start()
    home = tempfile.mkdtemp(prefix='azsim-walk-home-')  # az vm create writes ~/.ssh keys
    clis = []

    def cli(env=None):
        c = azsim.AzCli(server, env)
        c.env['HOME'] = home
        clis.append(c)
        return c

    walk = Walk()
    info = server.info
    sub = info['subscriptionId']
    admin = cli()
    state = {}

    def shimmed():
        """The administrator's az with the role commands' workaround on PYTHONPATH."""
        c = azsim.AzCli(server, dict(admin.env, PYTHONPATH=SHIM))
        shutil.rmtree(c.config_dir)
        c.config_dir = c.env['AZURE_CONFIG_DIR'] = admin.config_dir  # the same sign-in
        return c

    def az(c, *args, ok=True):
        r = c.run(*args)
        if ok and r.returncode != 0:
            raise AssertionError(f'exit {r.returncode}: {r.stderr.strip() or r.stdout.strip()}')
        return r

    def az_json(c, *args):
        return json.loads(az(c, *args).stdout or 'null')

    try:
        # -- as the administrator --------------------------------------------------------------
        walk.step('az cloud update --profile 2020-09-01-hybrid',
                  lambda: az(admin, 'cloud', 'update', '--profile', '2020-09-01-hybrid') and None)

        def login():
            accounts = az_json(admin, 'login', '--service-principal', '-u', info['clientId'],
                               '-p', info['clientSecret'], '--tenant', info['tenantId'])
            expect(accounts[0]['id'] == sub, f'subscriptions {accounts}')
            return f'subscription {sub}'
        walk.step('az login --service-principal -u <app id> -p <secret> --tenant <tenant>', login)

        def group():
            g = az_json(admin, 'group', 'create', '-n', RG, '-l', 'westus')
            expect(g['properties']['provisioningState'] == 'Succeeded', g)
        walk.step(f'az group create -n {RG} -l westus', group)

        def identity():
            i = az_json(admin, 'identity', 'create', '-g', RG, '-n', UAI)
            expect(uuid.UUID(i['clientId']) and uuid.UUID(i['principalId']), i)
            state['uai'] = i
            return f'clientId {i["clientId"]}'
        walk.step(f'az identity create -g {RG} -n {UAI}', identity)

        def vm_system():
            vm = az_json(admin, 'vm', 'create', '--resource-group', RG, '--name', 'myVM',
                         '--image', 'win2016datacenter', '--generate-ssh-keys',
                         '--assign-identity', '--role', 'contributor', '--scope',
                         f'/subscriptions/{sub}', '--admin-username', 'azureuser',
                         '--admin-password', 'myPassword12')
            ident = vm['identity']
            expect(uuid.UUID(ident['systemAssignedIdentity']) and
                   ident['role'] == 'contributor', vm)
            expect(vm['powerState'] == 'VM running', vm)
            state['vm_principal'] = ident['systemAssignedIdentity']
            return f'principal {ident["systemAssignedIdentity"]}'
        walk.step('az vm create --resource-group myResourceGroup --name myVM --image '
                  'win2016datacenter --generate-ssh-keys --assign-identity --role contributor '
                  '--scope <subscription id> --admin-username azureuser --admin-password ***',
                  vm_system)

        def role_created():
            listed = az_json(admin, 'rest', '--method', 'get', '--url',
                             f'https://management.azure.com/subscriptions/{sub}/providers/'
                             'Microsoft.Authorization/roleAssignments?api-version=2022-04-01'
                             f"&$filter=principalId eq '{state['vm_principal']}'")
            scopes = [a['properties']['scope'] for a in listed['value']]
            expect(scopes == [f'/subscriptions/{sub}'], listed)
            return 'Contributor at the subscription'
        walk.step("az rest --url .../roleAssignments?$filter=principalId eq '<VM principal>'",
                  role_created)

        def refused_form():
            r = az(admin, 'vm', 'create', '--resource-group', RG, '--name', 'myVM3', '--image',
                   'Ubuntu2204', '--admin-username', 'azureuser', '--admin-password',
                   'myPassword12!', '--assign-identity', UAI, '--role', 'reader', '--scope',
                   f'/subscriptions/{sub}', ok=False)
            expect(r.returncode != 0 and 'only applicable when assign system identity' in r.stderr,
                   f'exit {r.returncode}: {r.stderr}')
            return 'refused by az itself, as documented'
        walk.step('az vm create ... --assign-identity myUserAssignedIdentity --role --scope '
                  '(az 2.45 refuses)', refused_form)

        def vm_user():
            vm = az_json(admin, 'vm', 'create', '--resource-group', RG, '--name', 'myVM2',
                         '--image', 'Ubuntu2204', '--admin-username', 'azureuser',
                         '--admin-password', 'myPassword12!', '--assign-identity', UAI)
            assigned = vm['identity']['userAssignedIdentities']
            expect(any(k.lower().endswith(UAI.lower()) for k in assigned), vm)
        walk.step('az vm create --resource-group myResourceGroup --name myVM2 --image Ubuntu2204 '
                  '--admin-username azureuser --admin-password *** --assign-identity '
                  'myUserAssignedIdentity', vm_user)

        # -- as the VMs ---------------------------------------------------------------------
        def vm_cli(name):
            r = azsim.run_azsim('env', '--data-dir', server.data_dir, '--vm', name, '--format',
                                'json')
            expect(r.returncode == 0, r.stderr)
            env = server.client_env()
            env.update(json.loads(r.stdout))
            return cli(env)

        as_vm = None

        def login_identity():
            nonlocal as_vm
            as_vm = vm_cli('myVM')
            accounts = az_json(as_vm, 'login', '--identity')
            expect(accounts[0]['id'] == sub and
                   accounts[0]['user']['assignedIdentityInfo'] == 'MSI', accounts)
            return 'signed in as systemAssignedIdentity'
        walk.step('(on myVM) az login --identity', login_identity)

        def vm_token():
            t = az_json(as_vm, 'account', 'get-access-token')
            expect(t['accessToken'].count('.') == 2 and t['tenant'] == info['tenantId'], t)
            return 'a signed JWT'
        walk.step('(on myVM) az account get-access-token', vm_token)

        def vm_arm_call():
            g = az_json(as_vm, 'group', 'create', '-n', 'createdByMyVM', '-l', 'westus')
            expect(g['name'] == 'createdByMyVM', g)
            return 'allowed by Contributor on the subscription'
        walk.step('(on myVM) az group create -n createdByMyVM -l westus', vm_arm_call)

        def login_user_assigned():
            c = vm_cli('myVM2')
            accounts = az_json(c, 'login', '--identity', '--username', state['uai']['clientId'])
            expect(accounts[0]['user']['assignedIdentityInfo'] ==
                   f'MSIClient-{state["uai"]["clientId"]}', accounts)
            t = az_json(c, 'account', 'get-access-token')
            expect(t['accessToken'].count('.') == 2, t)
            return 'signed in as the user-assigned identity'
        def reader_for_uai():
            a = az_json(shimmed(), 'role', 'assignment', 'create', '--assignee',
                        state['uai']['principalId'], '--role', 'Reader', '--scope',
                        f'/subscriptions/{sub}')
            # The hybrid profile's api-version (2015-07-01) nests it under properties.
            expect(a['properties']['principalId'] == state['uai']['principalId'], a)
        # Without a role az refuses to sign in ("No access was configured for the VM").
        walk.step(f'az role assignment create --assignee <{UAI} principalId> --role Reader '
                  '--scope <subscription id>', reader_for_uai)
        walk.step('(on myVM2) az login --identity --username <clientId>', login_user_assigned)

        # -- identities on an existing VM ------------------------------------------------------
        def identity_assign():
            out = az_json(admin, 'vm', 'identity', 'assign', '-g', RG, '-n', 'myVM',
                          '--identities', UAI)
            expect(out['systemAssignedIdentity'] == state['vm_principal'] and
                   any(k.lower().endswith(UAI.lower()) for k in out['userAssignedIdentities']),
                   out)
        walk.step(f'az vm identity assign -g {RG} -n myVM --identities {UAI}', identity_assign)

        def identity_show():
            out = az_json(admin, 'vm', 'identity', 'show', '-g', RG, '-n', 'myVM')
            expect(out['principalId'] == state['vm_principal'] and
                   len(out['userAssignedIdentities']) == 1, out)
        walk.step(f'az vm identity show -g {RG} -n myVM', identity_show)

        def identity_remove():
            az(admin, 'vm', 'identity', 'remove', '-g', RG, '-n', 'myVM', '--identities', UAI)
            out = az_json(admin, 'vm', 'identity', 'show', '-g', RG, '-n', 'myVM')
            expect(out['type'] == 'SystemAssigned' and not out.get('userAssignedIdentities'),
                   out)
        walk.step(f'az vm identity remove -g {RG} -n myVM --identities {UAI}', identity_remove)

        # -- a service principal for automation ------------------------------------------------
        def create_for_rbac():
            sp = az_json(shimmed(), 'ad', 'sp', 'create-for-rbac', '--name', 'walkthrough-sp',
                         '--role', 'Contributor', '--scopes',
                         f'/subscriptions/{sub}/resourceGroups/{RG}')
            expect(uuid.UUID(sp['appId']) and sp['password'] and sp['tenant'] == info['tenantId'],
                   {k: v for k, v in sp.items() if k != 'password'})
            state['sp'] = sp
            return f'appId {sp["appId"]}'
        walk.step(f'az ad sp create-for-rbac --name walkthrough-sp --role Contributor --scopes '
                  f'<{RG} id>', create_for_rbac)

        def login_new_sp():
            sp = state['sp']
            c = cli()
            az(c, 'login', '--service-principal', '-u', sp['appId'], '-p', sp['password'],
               '--tenant', sp['tenant'])
            g = az_json(c, 'group', 'show', '-n', RG)
            expect(g['name'] == RG, g)
            r = az(c, 'group', 'create', '-n', 'notAllowed', '-l', 'westus', ok=False)
            expect(r.returncode != 0 and 'AuthorizationFailed' in r.stderr, r.stderr)
            return 'group show allowed, group create at the subscription refused'
        walk.step('az login --service-principal with its output; az group show', login_new_sp)

        # -- templates ----------------------------------------------------------------------
        def deployment():
            path = os.path.join(home, 'functions.json')
            with open(path, 'w', encoding='utf-8') as f:
                json.dump(FUNCTIONS_TEMPLATE, f)
            d = az_json(admin, 'deployment', 'group', 'create', '-g', RG, '-n', 'functions',
                        '--template-file', path, '--parameters', 'prefix=demo')
            props = d['properties']
            expect(props['provisioningState'] == 'Succeeded', props)
            out = {k: v['value'] for k, v in props['outputs'].items()}
            rg_id = f'/subscriptions/{sub}/resourceGroups/{RG}'
            main_id = f'{rg_id}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/demo-main'
            main = az_json(admin, 'identity', 'show', '--ids', main_id)
            want = {
                'concat': 'a-demo', 'format': 'demo-main', 'resourceId': main_id,
                'principalId': main['principalId'], 'fullId': main_id, 'group': RG,
                'subscription': sub, 'unique': out['unique'],
                'guid': str(uuid.uuid5(ARM_GUID_NAMESPACE, f'{rg_id}-walkthrough')),
                'if': 'few', 'labels': ['label-0', 'label-1'],
            }
            expect(out == want, f'outputs {out}\n   want {want}')
            expect(re.fullmatch('[a-z2-7]{13}', out['unique']) and
                   main['tags'] == {'unique': out['unique'], 'tier': 'two'}, main)
            names = sorted(i['name'] for i in az_json(admin, 'identity', 'list', '-g', RG))
            expect(names == ['demo-main', 'demo-worker-1', 'demo-worker-2', UAI], names)
            ops = az_json(admin, 'deployment', 'operation', 'group', 'list', '-g', RG, '-n',
                          'functions')
            expect(len(ops) == 3, ops)
            return f'{len(out)} outputs as expected, 3 identities made'
        walk.step('az deployment group create -g myResourceGroup --template-file functions.json '
                  '--parameters prefix=demo', deployment)

        def deployment_invalid():
            path = os.path.join(home, 'functions.json')
            r = az(admin, 'deployment', 'group', 'create', '-g', RG, '-n', 'bad',
                   '--template-file', path, '--parameters', 'prefix=demo', 'count=7', ok=False)
            expect(r.returncode != 0 and 'InvalidTemplate' in r.stderr, r.stderr)
            return 'InvalidTemplate: count=7 is not an allowed value'
        walk.step('az deployment group create ... --parameters count=7 (refused)',
                  deployment_invalid)

        def subscription_deployment():
            # On the default `latest` profile, in a config directory of its own.
            c = cli()
            az(c, 'login', '--service-principal', '-u', info['clientId'], '-p',
               info['clientSecret'], '--tenant', info['tenantId'])
            path = os.path.join(home, 'group.json')
            with open(path, 'w', encoding='utf-8') as f:
                json.dump(GROUP_TEMPLATE, f)
            d = az_json(c, 'deployment', 'sub', 'create', '-l', 'westus', '-n', 'groups',
                        '--template-file', path, '--parameters', 'name=fromATemplate')
            expect(d['properties']['provisioningState'] == 'Succeeded', d)
            g = az_json(c, 'group', 'show', '-n', 'fromATemplate')
            expect(g['location'] == 'eastus' and g['tags'] == {'made-by': 'groups'}, g)
            return 'a resource group, made by a subscription-scope template'
        walk.step('az deployment sub create -l westus --template-file group.json '
                  '--parameters name=fromATemplate (latest profile)', subscription_deployment)
    finally:
        for c in clis:
            c.cleanup()
        shutil.rmtree(home, ignore_errors=True)
        try:
            server.stop_clean()
        except AssertionError as err:
            walk.failed += 1
            print(f'FAIL  azsim stopped cleanly\n      {err}')
        server.cleanup()
    print(f'{walk.passed} passed, {walk.failed} failed')
    return 1 if walk.failed else 0


if __name__ == '__main__':
    sys.exit(main())

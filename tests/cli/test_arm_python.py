"""Debian's Python Azure SDK (azure-mgmt-resource from python3-azure, azure-identity) against
azsim's Resource Manager through the front door: a ResourceManagementClient and a
SubscriptionClient with the admin application's ClientSecretCredential and no option in code,
only `azsim env`. Resource groups: create_or_update (201, then 200), get, list, check_existence,
begin_delete(...).result(); subscriptions.list shows the default subscription; the generic
resources operations (begin_create_or_update, get, list_by_resource_group with $filter,
begin_delete, check_existence) on a network security group.

The SDK runs in a child /usr/bin/python3 (SDK_CHILD below) with exactly the environment of the
case, as the other suites of this directory do."""

import json
import subprocess
import time
import unittest

import azsim

server = None

# The child: reads {tenantId, clientId, clientSecret, subscriptionId, group} on stdin, runs the
# steps in order (each on its own: a failure is recorded, the next step runs) and prints
# {"steps": {name: {"ok", "value" | "error"}}, "requests": [{"method", "url", "status"}]}.
SDK_CHILD = r'''
import json, sys
from azure.core.exceptions import ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.resource import ResourceManagementClient, SubscriptionClient

cfg = json.load(sys.stdin)
requests = []

def hook(response):
    r = response.http_request
    requests.append({"method": r.method, "url": r.url, "status": response.http_response.status_code})

credential = ClientSecretCredential(cfg["tenantId"], cfg["clientId"], cfg["clientSecret"])
resources = ResourceManagementClient(credential, cfg["subscriptionId"], raw_response_hook=hook)
subscriptions = SubscriptionClient(credential, raw_response_hook=hook)
group = cfg["group"]
steps = {}

def step(name, fn):
    first = len(requests)
    try:
        steps[name] = {"ok": True, "value": fn()}
    except Exception as err:
        steps[name] = {"ok": False, "error": "%s: %s" % (type(err).__name__, err)}
    steps[name]["statuses"] = [r["status"] for r in requests[first:]]

def not_found():
    try:
        resources.resource_groups.get(group)
    except ResourceNotFoundError as err:
        return {"code": err.error.code if err.error else None, "status": err.status_code}
    return "found"

step("subscriptions", lambda: [s.as_dict() for s in subscriptions.subscriptions.list()])
step("create", lambda: resources.resource_groups.create_or_update(
    group, {"location": "westus", "tags": {"created": "python"}}).as_dict())
step("createAgain", lambda: resources.resource_groups.create_or_update(
    group, {"location": "westus", "tags": {"created": "again"}}).as_dict())
step("get", lambda: resources.resource_groups.get(group).as_dict())
step("list", lambda: [g.as_dict() for g in resources.resource_groups.list()])
step("exists", lambda: resources.resource_groups.check_existence(group))
NSG = ("Microsoft.Network", "", "networkSecurityGroups", "py-nsg", "2022-07-01")
RULE = {"protocol": "Tcp", "access": "Allow", "direction": "Inbound", "priority": 100,
        "sourcePortRange": "*", "destinationPortRange": "22", "sourceAddressPrefix": "*",
        "destinationAddressPrefix": "*"}
step("nsgCreate", lambda: resources.resources.begin_create_or_update(group, *NSG, {
    "location": "westus", "tags": {"by": "python"},
    "properties": {"securityRules": [{"name": "ssh", "properties": RULE}]}}).result().as_dict())
step("nsgGet", lambda: resources.resources.get(group, *NSG).as_dict())
step("nsgList", lambda: [r.as_dict() for r in resources.resources.list_by_resource_group(
    group, filter="resourceType eq 'Microsoft.Network/networkSecurityGroups'")])
step("nsgDelete", lambda: resources.resources.begin_delete(group, *NSG).result())
step("nsgExistsAfterDelete", lambda: resources.resources.check_existence(group, *NSG))
step("delete", lambda: resources.resource_groups.begin_delete(group).result())
step("existsAfterDelete", lambda: resources.resource_groups.check_existence(group))
step("getAfterDelete", not_found)
credential.close()
print(json.dumps({"steps": steps, "requests": requests}))
'''


def setUpModule():
    global server
    server = azsim.Server().start()


def tearDownModule():
    try:
        server.stop_clean()
    finally:
        server.cleanup()


class ResourceManagementThroughTheFrontDoor(unittest.TestCase):
    GROUP = 'python-sdk-rg'

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
                                             'group': cls.GROUP}))
        cls.elapsed = time.monotonic() - started
        if r.returncode != 0:
            raise AssertionError(f'SDK child exited {r.returncode}\nstdout:\n{r.stdout}\n'
                                 f'stderr:\n{r.stderr}')
        out = json.loads(r.stdout)
        cls.steps, cls.requests, cls.stderr = out['steps'], out['requests'], r.stderr

    def step(self, name):
        s = self.steps[name]
        self.assertTrue(s['ok'], f'{name}: {s.get("error")}\nchild stderr:\n{self.stderr}')
        return s

    def check_group(self, g, tags):
        sub = server.info['subscriptionId']
        self.assertEqual(g.get('id'), f'/subscriptions/{sub}/resourceGroups/{self.GROUP}', g)
        self.assertEqual(g.get('name'), self.GROUP, g)
        self.assertEqual(g.get('type'), 'Microsoft.Resources/resourceGroups', g)
        self.assertEqual(g.get('location'), 'westus', g)
        self.assertEqual(g.get('tags'), tags, g)
        self.assertEqual(g.get('properties', {}).get('provisioning_state'), 'Succeeded', g)

    def test_requests_went_to_the_public_arm_host_through_the_front_door(self):
        self.assertTrue(self.requests)
        for r in self.requests:
            self.assertTrue(r['url'].startswith('https://management.azure.com/'), r)

    def test_subscriptions_list_shows_the_default_subscription(self):
        s = self.step('subscriptions')
        self.assertEqual(s['statuses'], [200])
        info = server.info
        subs = s['value']
        self.assertEqual(len(subs), 1, subs)
        self.assertEqual(subs[0].get('subscription_id'), info['subscriptionId'], subs)
        self.assertEqual(subs[0].get('id'), f'/subscriptions/{info["subscriptionId"]}', subs)
        self.assertEqual(subs[0].get('tenant_id'), info['tenantId'], subs)
        self.assertEqual(subs[0].get('display_name'), 'azsim', subs)
        self.assertEqual(subs[0].get('state'), 'Enabled', subs)

    def test_create_or_update_201_then_200(self):
        first = self.step('create')
        self.assertEqual(first['statuses'], [201])
        self.check_group(first['value'], {'created': 'python'})
        again = self.step('createAgain')
        self.assertEqual(again['statuses'], [200])
        self.check_group(again['value'], {'created': 'again'})

    def test_generic_resources_create_get_list_delete(self):
        sub = server.info['subscriptionId']
        nsg_id = (f'/subscriptions/{sub}/resourceGroups/{self.GROUP}/providers/'
                  'Microsoft.Network/networkSecurityGroups/py-nsg')
        created = self.step('nsgCreate')
        self.assertEqual(created['statuses'], [201])
        self.assertEqual(created['value'].get('id'), nsg_id, created)
        self.assertEqual(created['value']['properties']['provisioningState'], 'Succeeded')
        self.assertEqual([r['name'] for r in created['value']['properties']['securityRules']],
                         ['ssh'])
        got = self.step('nsgGet')['value']
        self.assertEqual(got.get('tags'), {'by': 'python'}, got)
        self.assertEqual([r.get('id') for r in self.step('nsgList')['value']], [nsg_id])
        self.assertEqual(self.step('nsgDelete')['statuses'], [200])
        self.assertIs(self.step('nsgExistsAfterDelete')['value'], False)

    def test_get(self):
        self.check_group(self.step('get')['value'], {'created': 'again'})

    def test_list_includes_the_group(self):
        groups = [g for g in self.step('list')['value'] if g.get('name') == self.GROUP]
        self.assertEqual(len(groups), 1, self.steps['list'])
        self.check_group(groups[0], {'created': 'again'})

    def test_check_existence(self):
        s = self.step('exists')
        self.assertIs(s['value'], True)
        self.assertEqual(s['statuses'], [204])

    def test_begin_delete_result_then_gone(self):
        s = self.step('delete')
        self.assertIsNone(s['value'])
        # Answered at once: one DELETE, no polling (a poll would wait 30 s, arm.md §2.4).
        self.assertEqual(s['statuses'], [200])
        self.assertIs(self.step('existsAfterDelete')['value'], False)
        self.assertEqual(self.step('getAfterDelete')['value'],
                         {'code': 'ResourceGroupNotFound', 'status': 404})

    def test_fast(self):
        self.assertLess(self.elapsed, 20, 'no client retries or polling waits')


if __name__ == '__main__':
    unittest.main()

# azsim demo — the managed-identity flow in its seven steps (DESIGN §1), narrated.
#
# Run by `azsim demo system-assigned|user-assigned [--step]`, which embeds this file and hands it
# to python3 with: the mode, the azsim binary, the data directory, and whether to pause. It uses
# only what any client has: HTTP through azsim's front door with the real Azure host names (the
# CA from the data directory), IMDS as the VM (its proxy credentials, from `azsim env --vm`), and
# the admin's credentials from `azsim info`. Against a running azsim in the data directory, or
# one it starts in memory for the occasion. Standard library only.
import atexit
import base64
import http.client
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import urllib.parse
import uuid

MODE, AZSIM, DATA_DIR, STEP = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
COLOR = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
ARM = "https://management.azure.com"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"


def paint(code, text):
    return f"\033[{code}m{text}\033[0m" if COLOR else text


def bold(t): return paint("1", t)
def dim(t): return paint("2", t)
def green(t): return paint("32", t)
def red(t): return paint("31", t)
def cyan(t): return paint("36", t)
def yellow(t): return paint("33", t)


def say(text="", indent=2):
    for line in text.split("\n"):
        print(" " * indent + line if line else "")
    sys.stdout.flush()


def show(label, value, indent=4):
    text = json.dumps(value, indent=2) if not isinstance(value, str) else value
    lines = text.split("\n")
    say(f"{dim(label)} {lines[0]}", indent)
    for line in lines[1:]:
        say(" " * (len(label) + 1) + line, indent)


# ---- azsim: running, or started here ----------------------------------------------------------

def azsim(*args):
    r = subprocess.run([AZSIM, *args, "--data-dir", DATA_DIR], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"azsim {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def stop_own_server():
    """The azsim this demo started goes with it, however the demo ends (a closed pipe, ^C, kill)."""
    if server and server.poll() is None:
        server.terminate()
        server.wait()
        shutil.rmtree(DATA_DIR, ignore_errors=True)


server = None
if subprocess.run([AZSIM, "health", "--data-dir", DATA_DIR], capture_output=True).returncode != 0:
    DATA_DIR = tempfile.mkdtemp(prefix="azsim-demo-")
    ports = [a for m in ("proxy", "arm", "aad", "imds", "keyvault", "storage", "azurite")
             for a in (f"--{m}-port", "0")]
    server = subprocess.Popen([AZSIM, "serve", "--data-dir", DATA_DIR, *ports,
                               "--log-level", "warn"], stdout=subprocess.PIPE, text=True)
    atexit.register(stop_own_server)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for line in server.stdout:
        if line.startswith("ca "):
            break
    where = f"started for this demo in {DATA_DIR}"
else:
    where = f"running, data directory {DATA_DIR}"

info = json.loads(azsim("info", "--json"))
run = json.load(open(os.path.join(DATA_DIR, "azsim.run.json")))
proxy = urllib.parse.urlsplit(run["listeners"]["proxy"])
tls = ssl.create_default_context(cafile=run["ca"])
sub = f"/subscriptions/{info['subscriptionId']}"


def call(method, url, body=None, headers=None, proxy_auth=None, quiet=False):
    """One request through the front door, printed as the arrow pair; returns (status, json|text)."""
    u = urllib.parse.urlsplit(url)
    headers = dict(headers or {})
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(proxy.hostname, proxy.port, context=tls, timeout=30)
        conn.set_tunnel(u.hostname, 443, {"Proxy-Authorization": proxy_auth} if proxy_auth else None)
        target = u.path + (f"?{u.query}" if u.query else "")
    else:  # IMDS: plain http, absolute form to the proxy, as clients with HTTP_PROXY send it
        conn = http.client.HTTPConnection(proxy.hostname, proxy.port, timeout=30)
        target = url
        if proxy_auth:
            headers["Proxy-Authorization"] = proxy_auth
    data = None
    if body is not None:
        data = body if isinstance(body, str) else json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    conn.request(method, target, body=data, headers=headers)
    r = conn.getresponse()
    text = r.read().decode()
    conn.close()
    if not quiet:
        say(f"{cyan('→')} {method} {url}", 4)
        ok = r.status < 400
        say(f"{cyan('←')} {(green if ok else red)(f'{r.status} {r.reason}')}", 4)
    try:
        return r.status, json.loads(text)
    except ValueError:
        return r.status, text


def must(result, what):
    status, body = result
    if status >= 400:
        raise SystemExit(f"{what} failed: {status} {body}")
    return body


def token_for(resource_scope):
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": info["clientId"],
                                   "client_secret": info["clientSecret"], "scope": resource_scope})
    return must(call("POST", f"https://login.microsoftonline.com/{info['tenantId']}/oauth2/v2.0/token",
                     form, {"Content-Type": "application/x-www-form-urlencoded"}, quiet=True),
                "the admin's sign-in")["access_token"]


admin = {"Authorization": f"Bearer {token_for(f'{ARM}/.default')}"}
graph = {"Authorization": f"Bearer {token_for('https://graph.microsoft.com/.default')}"}


def arm(method, path, body=None, api="2023-07-01", quiet=False):
    sep = "&" if "?" in path else "?"
    return call(method, f"{ARM}{path}{sep}api-version={api}", body, admin, quiet=quiet)


def audit(principal, denied=False):
    q = f"principal={principal}&top=1" + ("&denied=true" if denied else "")
    entries = must(arm("GET", f"/_azsim/audit?{q}", api="2024-01-01", quiet=True), "the audit log")["value"]
    if entries:
        e = entries[0]
        verdict = green("allowed") if e["allowed"] else red("DENIED")
        say(f"{dim('audit:')} {verdict} {e['module']} {e['action']}", 4)
        say(f"       {dim('at')} {e['scope']}", 4)
        say(f"       {dim(e['reason'])}", 4)


def decode(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def section(title, actor):
    if STEP:
        try:
            with open("/dev/tty") as tty:
                print(dim("  [Enter] for the next step "), end="", flush=True)
                tty.readline()
        except OSError:
            pass
    print()
    say(bold(title), 0)
    say(f"{dim('by')} {actor}", 2)


def step(n, title, actor):
    section(f"Step {n} — {title}", actor)


def show_error(body):
    e = body.get("error", {}) if isinstance(body, dict) else {}
    inner = e.get("innererror", {}).get("code")
    first = str(e.get("message", body)).split("\r\n")[0].split("\n")[0]
    show("error:", f"{e.get('code')}{f' ({inner})' if inner else ''}: {first}")


# ---- the flow ---------------------------------------------------------------------------------

user = MODE == "user-assigned"
suffix = secrets.token_hex(3)
rg = f"{sub}/resourceGroups/azsim-demo-{suffix}"
vm_name, vault, uai_name = f"demo-vm-{suffix}", f"azsim-demo-{suffix}", f"demo-identity-{suffix}"
vm_path = f"{rg}/providers/Microsoft.Compute/virtualMachines/{vm_name}"
vault_path = f"{rg}/providers/Microsoft.KeyVault/vaults/{vault}"
nic = f"{rg}/providers/Microsoft.Network/networkInterfaces/{vm_name}-nic"

print(bold(f"azsim demo — a {MODE} managed identity, in the seven steps of the flow"))
say(f"azsim {where}; tenant {info['tenantId']}", 0)
say(dim("Every call below is plain HTTP(S) through azsim's front door with the real Azure host"), 0)
say(dim("names: what any client sees."), 0)
print()
say(bold("Before we start: a resource group, a network for the VM, a vault with one secret"), 0)
must(arm("PUT", rg, {"location": "westeurope"}, api="2021-04-01", quiet=True), "the resource group")
must(arm("PUT", f"{rg}/providers/Microsoft.Network/virtualNetworks/{vm_name}-vnet", {
    "location": "westeurope", "properties": {"addressSpace": {"addressPrefixes": ["10.42.0.0/24"]},
                                             "subnets": [{"name": "default", "properties": {"addressPrefix": "10.42.0.0/24"}}]}},
    api="2023-09-01", quiet=True), "the virtual network")
must(arm("PUT", nic, {"location": "westeurope", "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": {
    "subnet": {"id": f"{rg}/providers/Microsoft.Network/virtualNetworks/{vm_name}-vnet/subnets/default"}}}]}},
    api="2023-09-01", quiet=True), "the network interface")
must(arm("PUT", vault_path, {"location": "westeurope", "properties": {
    "tenantId": info["tenantId"], "sku": {"family": "A", "name": "standard"}, "enableRbacAuthorization": True}},
    quiet=True), "the vault")
must(arm("PUT", f"{vault_path}/secrets/greeting", {"properties": {"value": "hello from Key Vault"}}, quiet=True),
     "the secret")
say(f"{rg}", 2)
say(f"vault https://{vault}.vault.azure.net (RBAC) with secret 'greeting'", 2)

vm_body = {"location": "westeurope", "properties": {
    "hardwareProfile": {"vmSize": "Standard_B1s"},
    "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy",
                                          "sku": "22_04-lts-gen2", "version": "latest"}},
    "osProfile": {"computerName": vm_name, "adminUsername": "azureuser"},
    "networkProfile": {"networkInterfaces": [{"id": nic}]}}}

if user:
    step(1, "ARM receives a PUT of a user-assigned identity", f"the admin (client {info['clientId']})")
    uai = must(arm("PUT", f"{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{uai_name}",
                   {"location": "westeurope"}, api="2023-01-31"), "the identity")
    principal, client_id = uai["properties"]["principalId"], uai["properties"]["clientId"]
    show("properties:", {k: uai["properties"][k] for k in ("principalId", "clientId", "tenantId")})
else:
    step(1, "ARM receives a request to enable the identity on a VM", f"the admin (client {info['clientId']})")
    vm = must(arm("PUT", vm_path, {**vm_body, "identity": {"type": "SystemAssigned"}}, api="2024-03-01"), "the VM")
    principal = vm["identity"]["principalId"]
    show("identity:", vm["identity"])

step(2, "ARM created a service principal in the directory of the subscription's tenant", "ARM")
sp = must(call("POST", "https://graph.microsoft.com/v1.0/directoryObjects/getByIds", {"ids": [principal]}, graph),
          "Graph")["value"][0]
client_id = sp["appId"]
show("servicePrincipal:", {k: sp[k] for k in ("id", "appId", "displayName", "servicePrincipalType")})
say(dim("its object id is the identity's principalId, its app id the clientId"), 4)

if user:
    step(3, "attached to a VM, the identity's certificate goes with the VM's IMDS", f"the admin, then ARM")
    vm = must(arm("PUT", vm_path, {**vm_body, "identity": {"type": "UserAssigned", "userAssignedIdentities": {
        uai["id"]: {}}}}, api="2024-03-01"), "the VM")
    show("identity:", vm["identity"])
else:
    step(3, "ARM registered a certificate on the principal; its private key is the VM's IMDS's", "ARM")
cert = sp["keyCredentials"][0]
show("keyCredentials[0]:", {k: cert[k] for k in ("type", "usage", "displayName", "customKeyIdentifier", "endDateTime")})
say(dim("only IMDS holds the private key: nobody else can sign in as this identity"), 4)

vm_env = json.loads(azsim("env", "--vm", vm_name, "--format", "json"))
vm_proxy = urllib.parse.urlsplit(vm_env["HTTP_PROXY"])
as_vm = "Basic " + base64.b64encode(
    f"{urllib.parse.unquote(vm_proxy.username)}:{urllib.parse.unquote(vm_proxy.password)}".encode()).decode()
selector = f"&client_id={client_id}" if user else ""
imds_url = ("http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01"
            f"&resource=https%3A%2F%2Fvault.azure.net{selector}")
secret_url = f"https://{vault}.vault.azure.net/secrets/greeting?api-version=7.4"


def imds_token(quiet=False):
    return must(call("GET", imds_url, headers={"Metadata": "true"}, proxy_auth=as_vm, quiet=quiet), "IMDS")


section("Before step 4 — the VM has a token but no role: Key Vault says no",
        f"code on the VM ({vm_name}; its proxy credentials from `azsim env --vm`)")
early = imds_token()
status, body = call("GET", secret_url, headers={"Authorization": f"Bearer {early['access_token']}"}, proxy_auth=as_vm)
show_error(body)
audit(principal, denied=True)

step(4, "someone grants the principal access: a role assignment", f"the admin (client {info['clientId']})")
assignment = must(arm("PUT", f"{vault_path}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}",
                      {"properties": {"roleDefinitionId": f"{sub}/providers/Microsoft.Authorization/roleDefinitions/{KEY_VAULT_SECRETS_USER}",
                                      "principalId": principal, "principalType": "ServicePrincipal"}}, api="2022-04-01"),
                  "the role assignment")
show("role:", f"Key Vault Secrets User ({KEY_VAULT_SECRETS_USER})")
show("scope:", assignment["properties"]["scope"])
audit(info["clientObjectId"])

step(5, "code on the VM asks IMDS for a token", f"code on the VM ({vm_name})")
say(dim(f"Metadata: true{'; client_id names the user-assigned identity' if user else ''}; the VM is told apart by the connection, never by a header"), 4)
answer = imds_token()
say(dim("(the same token as before step 4: IMDS keeps it until shortly before it expires)"), 4)
show("answer:", {k: answer[k] for k in ("token_type", "resource", "client_id", "expires_in", "expires_on")})

step(6, "IMDS signed in to Entra ID as the identity; Entra ID signed the token", "IMDS → Entra ID")
say(dim("IMDS sent a client-credentials request with a client assertion signed by the"), 4)
say(dim("identity's certificate (step 3); Entra ID checked it and answered an RS256 JWT:"), 4)
head, claims = decode(answer["access_token"].split(".")[0]), decode(answer["access_token"].split(".")[1])
show("header:", head)
show("claims:", {k: claims[k] for k in ("aud", "iss", "tid", "oid", "appid", "idtyp", "xms_mirid", "nbf", "exp") if k in claims})
keys = must(call("GET", f"https://login.microsoftonline.com/{info['tenantId']}/discovery/v2.0/keys"), "the keys")
published = any(k["kid"] == head["kid"] for k in keys["keys"])
say(f"{dim('kid')} {head['kid']} {green('is published by Entra ID') if published else red('is NOT published')}", 4)
say(f"{dim('oid')} {claims['oid']} {green('= the principalId of step 1') if claims['oid'] == principal else red('≠ principalId')}", 4)

step(7, "the VM sends the token to Key Vault; Key Vault validates it and asks RBAC", f"code on the VM ({vm_name})")
status, body = call("GET", secret_url, headers={"Authorization": f"Bearer {answer['access_token']}"}, proxy_auth=as_vm)
if status == 200:
    show("value:", body["value"])
else:
    show_error(body)
audit(principal)
print()
if status == 200:
    say(green(bold("The flow ran end to end: denied before the role assignment, allowed after it.")), 0)
else:
    say(red(bold(f"The last call failed ({status}).")), 0)
if server:
    stop_own_server()
else:
    say(dim(f"The resources stay in {rg};"), 0)
    say(dim(f"`azsim audit {principal}` replays the decisions."), 0)
sys.exit(0 if status == 200 else 1)

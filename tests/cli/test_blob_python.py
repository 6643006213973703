"""Blob Storage's data plane with Debian's Python SDK and Azure CLI 2.45, through the front door
(`azsim env` only: HTTPS_PROXY for <account>.blob.core.windows.net and login.microsoftonline.com;
REQUESTS_CA_BUNDLE for the CA).

Python: azure-storage-blob 12.15.0b1's BlobServiceClient("https://<account>.blob.core.windows.net",
ClientSecretCredential of the admin) in a child /usr/bin/python3 (BLOB_CHILD below), the admin
holding "Storage Blob Data Contributor" on the account: create a container (and 409
ContainerAlreadyExists as ResourceExistsError), upload with content settings and metadata,
download whole and ranged (the SDK needs 206 + Content-Range, contracts/storage.md §2.2, even for
the whole blob: it asks for bytes=0-33554431), properties, list (prefix, walk_blobs with "/"),
upload with overwrite=False on an existing blob (ResourceExistsError), delete, delete container.

az: `az storage blob upload/download --auth-mode login --account-name <acct> -c <c> -n <b> -f
<file>` (contracts/azure-cli.md §2: a token for https://storage.azure.com, then the data plane,
no ARM call), upload again without --overwrite (az 2.45 sends If-None-Match: *: 409
BlobAlreadyExists, so the command fails), with --overwrite (succeeds), `az storage blob list` and
`az storage blob show`.

The whole file takes about 20 s.
"""

import json
import os
import ssl
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid

import azsim

ST = 'api-version=2023-05-01'
AUTHZ = 'api-version=2022-04-01'
RG = 'blob-py-rg'
ACCOUNT = 'pyblobacct'
CONTRIBUTOR = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'  # Storage Blob Data Contributor

server = None
admin_token = None
sub = None


def _opener():
    """HTTPS to azsim's own listeners on 127.0.0.1, trusting its CA, through no proxy."""
    context = ssl.create_default_context(cafile=server.startup['ca'])
    return urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                       urllib.request.HTTPSHandler(context=context))


def _admin_token(scope='https://management.azure.com/.default'):
    info = server.info
    body = urllib.parse.urlencode({'grant_type': 'client_credentials',
                                   'client_id': info['clientId'],
                                   'client_secret': info['clientSecret'],
                                   'scope': scope}).encode()
    url = f'{server.startup["urls"]["aad"]}/{info["tenantId"]}/oauth2/v2.0/token'
    with _opener().open(urllib.request.Request(url, data=body), timeout=10) as resp:
        return json.load(resp)['access_token']


def arm_ok(method, path, body=None):
    """The admin's request to the arm listener; asserts 200/201 and returns the JSON answer."""
    req = urllib.request.Request(
        server.startup['urls']['arm'] + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={'Authorization': f'Bearer {admin_token}', 'Content-Type': 'application/json'})
    try:
        with _opener().open(req, timeout=10) as resp:
            status, text = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read()
    if status not in (200, 201):
        raise AssertionError(f'{method} {path}: {status} {text!r}')
    return json.loads(text) if text.strip() else None


def setUpModule():
    global server, admin_token, sub
    server = azsim.Server().start()
    try:
        admin_token = _admin_token()
        sub = f'/subscriptions/{server.info["subscriptionId"]}'
        arm_ok('PUT', f'{sub}/resourcegroups/{RG}?api-version=2021-04-01', {'location': 'westus'})
        account_id = f'{sub}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/{ACCOUNT}'
        a = arm_ok('PUT', f'{account_id}?{ST}', {'location': 'westus', 'sku': {'name': 'Standard_LRS'},
                                                 'kind': 'StorageV2'})
        if a['properties']['primaryEndpoints']['blob'] != f'https://{ACCOUNT}.blob.core.windows.net/':
            raise AssertionError(a)
        arm_ok('PUT', f'{account_id}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}?{AUTHZ}', {
            'properties': {
                'roleDefinitionId': f'{sub}/providers/Microsoft.Authorization/roleDefinitions/{CONTRIBUTOR}',
                'principalId': azsim.jwt_payload(admin_token)['oid'],
                'principalType': 'ServicePrincipal',
            }})
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    try:
        server.stop_clean()
    finally:
        server.cleanup()


BLOB_CHILD = r'''
import json, sys
from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.storage.blob import BlobServiceClient, ContentSettings

cfg = json.load(sys.stdin)
requests = []

def hook(response):
    r = response.http_request
    requests.append({"method": r.method, "url": r.url, "status": response.http_response.status_code,
                     "range": r.headers.get("x-ms-range"),
                     "contentRange": response.http_response.headers.get("Content-Range")})

credential = ClientSecretCredential(cfg["tenantId"], cfg["clientId"], cfg["clientSecret"])
service = BlobServiceClient(cfg["accountUrl"], credential=credential, raw_response_hook=hook)
container = service.get_container_client(cfg["container"])
blob = container.get_blob_client("docs/hello.txt")
steps = {}

def step(name, fn):
    first = len(requests)
    try:
        steps[name] = {"ok": True, "value": fn()}
    except HttpResponseError as err:
        steps[name] = {"ok": False, "type": type(err).__name__, "status": err.status_code,
                       "code": err.error_code, "error": str(err)}
    except Exception as err:
        steps[name] = {"ok": False, "type": type(err).__name__, "error": "%s: %s" % (type(err).__name__, err)}
    steps[name]["requests"] = requests[first:]

def props(p):
    return {"name": p.name, "size": p.size, "content_type": p.content_settings.content_type,
            "cache_control": p.content_settings.cache_control, "metadata": p.metadata,
            "etag": p.etag, "blob_type": str(p.blob_type)}

step("create", lambda: dict(container.create_container(metadata={"by": "python"})))
step("createAgain", lambda: dict(container.create_container()))
step("upload", lambda: {k: (v if isinstance(v, (str, int, bool, type(None))) else str(v))
                        for k, v in blob.upload_blob(b"hello from python", metadata={"lang": "py"},
                            content_settings=ContentSettings(content_type="text/plain", cache_control="no-cache")).items()})
step("uploadMore", lambda: [container.upload_blob(n, ("content of " + n).encode()) and n
                            for n in ["docs/a.txt", "docs/sub/b.txt", "top.txt"]])
step("download", lambda: blob.download_blob().readall().decode())
step("ranged", lambda: blob.download_blob(offset=6, length=4).readall().decode())
step("rangedToEnd", lambda: blob.download_blob(offset=11).readall().decode())
step("properties", lambda: props(blob.get_blob_properties()))
step("list", lambda: [b.name for b in container.list_blobs()])
step("listPrefix", lambda: [props(b) for b in container.list_blobs(name_starts_with="docs/", include=["metadata"])])
step("walk", lambda: [b.name for b in container.walk_blobs(delimiter="/")])
step("noOverwrite", lambda: blob.upload_blob(b"again", overwrite=False) and None)
step("delete", lambda: blob.delete_blob() and None)
step("exists", lambda: blob.exists())
step("downloadGone", lambda: blob.download_blob().readall().decode())
step("listAfter", lambda: [b.name for b in container.list_blobs()])
step("deleteContainer", lambda: container.delete_container() and None)
step("containerGone", lambda: container.exists())
credential.close()
print(json.dumps({"steps": steps}, default=str))
'''


class PythonBlobServiceClient(unittest.TestCase):
    CONTAINER = 'pycontainer'

    @classmethod
    def setUpClass(cls):
        info = server.info
        r = subprocess.run([azsim.PYTHON, '-c', BLOB_CHILD], capture_output=True, text=True,
                           timeout=azsim.SDK_TIMEOUT, env=server.client_env(),
                           input=json.dumps({'tenantId': info['tenantId'], 'clientId': info['clientId'],
                                             'clientSecret': info['clientSecret'],
                                             'accountUrl': f'https://{ACCOUNT}.blob.core.windows.net',
                                             'container': cls.CONTAINER}))
        if r.returncode != 0:
            raise AssertionError(f'SDK child exited {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}')
        cls.steps, cls.stderr = json.loads(r.stdout)['steps'], r.stderr

    def ok(self, name):
        s = self.steps[name]
        self.assertTrue(s['ok'], f'{name}: {json.dumps(s, indent=1)}\nchild stderr:\n{self.stderr}')
        return s

    def failed(self, name, status, code, type_name=None):
        s = self.steps[name]
        self.assertFalse(s['ok'], f'{name} succeeded: {s}')
        self.assertEqual(s.get('status'), status, s)
        self.assertEqual(s.get('code'), code, s)
        if type_name:
            self.assertEqual(s.get('type'), type_name, s)
        return s

    def test_create_container(self):
        s = self.ok('create')
        self.assertEqual([r['status'] for r in s['requests']], [201], s)
        self.assertTrue(all(r['url'].startswith(f'https://{ACCOUNT}.blob.core.windows.net/{self.CONTAINER}')
                            for r in s['requests']), s)
        self.failed('createAgain', 409, 'ContainerAlreadyExists', 'ResourceExistsError')

    def test_upload(self):
        s = self.ok('upload')
        self.assertEqual([r['status'] for r in s['requests']], [201], s)
        self.assertRegex(s['value']['etag'], r'^"0x[0-9A-F]+"$')
        self.assertTrue(s['value'].get('request_server_encrypted'), s)
        self.assertEqual(self.ok('uploadMore')['value'], ['docs/a.txt', 'docs/sub/b.txt', 'top.txt'])

    def test_download_whole_asks_for_a_range(self):
        s = self.ok('download')
        self.assertEqual(s['value'], 'hello from python')
        first = s['requests'][0]
        self.assertEqual(first['range'], 'bytes=0-33554431', s)
        self.assertEqual(first['status'], 206, s)
        self.assertEqual(first['contentRange'], 'bytes 0-16/17', s)

    def test_download_ranged(self):
        s = self.ok('ranged')
        self.assertEqual(s['value'], 'from')
        self.assertEqual([(r['status'], r['range'], r['contentRange']) for r in s['requests']],
                         [(206, 'bytes=6-9', 'bytes 6-9/17')], s)
        self.assertEqual(self.ok('rangedToEnd')['value'], 'python')

    def test_properties(self):
        p = self.ok('properties')['value']
        self.assertEqual(p['size'], len('hello from python'))
        self.assertEqual(p['content_type'], 'text/plain')
        self.assertEqual(p['cache_control'], 'no-cache')
        self.assertEqual(p['metadata'], {'lang': 'py'})
        self.assertEqual(p['blob_type'], 'BlobType.BLOCKBLOB')

    def test_list(self):
        self.assertEqual(self.ok('list')['value'],
                         ['docs/a.txt', 'docs/hello.txt', 'docs/sub/b.txt', 'top.txt'])
        listed = self.ok('listPrefix')['value']
        self.assertEqual([b['name'] for b in listed], ['docs/a.txt', 'docs/hello.txt', 'docs/sub/b.txt'])
        self.assertEqual(listed[1]['metadata'], {'lang': 'py'})
        self.assertEqual(listed[1]['content_type'], 'text/plain')
        self.assertEqual(self.ok('walk')['value'], ['docs/', 'top.txt'])

    def test_no_overwrite(self):
        self.failed('noOverwrite', 409, 'BlobAlreadyExists', 'ResourceExistsError')

    def test_delete(self):
        s = self.ok('delete')
        self.assertEqual([r['status'] for r in s['requests']], [202], s)
        self.assertIs(self.ok('exists')['value'], False)
        self.failed('downloadGone', 404, 'BlobNotFound', 'ResourceNotFoundError')
        self.assertEqual(self.ok('listAfter')['value'], ['docs/a.txt', 'docs/sub/b.txt', 'top.txt'])
        s = self.ok('deleteContainer')
        self.assertEqual([r['status'] for r in s['requests']], [202], s)
        self.assertIs(self.ok('containerGone')['value'], False)


class AzStorageBlobLogin(unittest.TestCase):
    """`az storage blob ... --auth-mode login`, signed in as the admin service principal."""

    CONTAINER = 'azcontainer'

    @classmethod
    def setUpClass(cls):
        cls.cli = azsim.AzCli(server)
        cls.tmp = tempfile.mkdtemp(prefix='azsim-blob-az-')
        info = server.info
        r = cls.cli.run('login', '--service-principal', '-u', info['clientId'], '-p', info['clientSecret'],
                        '--tenant', info['tenantId'])
        if r.returncode != 0:
            raise AssertionError(f'az login: {r.stdout}\n{r.stderr}')
        # The container, made with the SDK's data plane: `az storage container create --auth-mode
        # login` is not what this file is about.
        r = subprocess.run([azsim.PYTHON, '-c', (
            'import sys\n'
            'from azure.identity import ClientSecretCredential\n'
            'from azure.storage.blob import BlobServiceClient\n'
            'c = ClientSecretCredential(*sys.argv[1:4])\n'
            'BlobServiceClient(sys.argv[4], credential=c).create_container(sys.argv[5])\n'),
            info['tenantId'], info['clientId'], info['clientSecret'],
            f'https://{ACCOUNT}.blob.core.windows.net', cls.CONTAINER],
            capture_output=True, text=True, timeout=azsim.SDK_TIMEOUT, env=server.client_env())
        if r.returncode != 0:
            raise AssertionError(f'create container: {r.stderr}')

    @classmethod
    def tearDownClass(cls):
        cls.cli.cleanup()
        import shutil
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def blob(self, *args):
        return self.cli.run('storage', 'blob', *args, '--auth-mode', 'login', '--account-name', ACCOUNT,
                            '-c', self.CONTAINER)

    def test_upload_download(self):
        src = os.path.join(self.tmp, 'in.txt')
        dst = os.path.join(self.tmp, 'out.txt')
        payload = 'uploaded by az 2.45\n' * 50
        with open(src, 'w', encoding='utf-8') as f:
            f.write(payload)
        r = self.blob('upload', '-n', 'dir/az.txt', '-f', src)
        self.assertEqual(r.returncode, 0, f'az storage blob upload:\n{r.stdout}\n{r.stderr}')
        up = json.loads(r.stdout)
        self.assertRegex(up.get('etag', ''), r'^"0x[0-9A-F]+"$', up)

        r = self.blob('download', '-n', 'dir/az.txt', '-f', dst)
        self.assertEqual(r.returncode, 0, f'az storage blob download:\n{r.stdout}\n{r.stderr}')
        with open(dst, encoding='utf-8') as f:
            self.assertEqual(f.read(), payload)

        # Without --overwrite az 2.45 sends If-None-Match: *: 409 BlobAlreadyExists.
        r = self.blob('upload', '-n', 'dir/az.txt', '-f', src)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn('BlobAlreadyExists', r.stderr)
        r = self.blob('upload', '-n', 'dir/az.txt', '-f', src, '--overwrite')
        self.assertEqual(r.returncode, 0, f'az storage blob upload --overwrite:\n{r.stdout}\n{r.stderr}')

        r = self.cli.run('storage', 'blob', 'list', '--auth-mode', 'login', '--account-name', ACCOUNT,
                         '-c', self.CONTAINER)
        self.assertEqual(r.returncode, 0, f'az storage blob list:\n{r.stdout}\n{r.stderr}')
        self.assertEqual([b['name'] for b in json.loads(r.stdout)], ['dir/az.txt'])
        r = self.blob('show', '-n', 'dir/az.txt')
        self.assertEqual(r.returncode, 0, f'az storage blob show:\n{r.stdout}\n{r.stderr}')
        shown = json.loads(r.stdout)
        self.assertEqual(shown['properties']['contentLength'], len(payload.encode()), shown)
        self.assertEqual(shown['properties']['blobType'], 'BlockBlob', shown)


if __name__ == '__main__':
    unittest.main()

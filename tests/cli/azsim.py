"""Helpers for the Python SDK / Azure CLI suite: start and stop azsim, read `azsim info` and
`azsim env`, run Debian's Python Azure SDK and `az` against it, decode tokens.

The binary is $AZSIM_BIN (the sanitizer build runs the same suite), else build/azsim relative to
the repository. Every server gets a fresh temporary data directory, every port is 0 and the
store is in memory. Clients only ever talk to 127.0.0.1: they reach the real Azure host names
through azsim's front door (the proxy variables of `azsim env`), or azsim's listeners directly.

Standard library only; the SDK runs in child processes of /usr/bin/python3 (sdk_token.py) so
each case gets exactly the environment it asks for.
"""

import atexit
import base64
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
AZSIM_BIN = os.path.abspath(os.environ.get('AZSIM_BIN') or os.path.join(REPO, 'build', 'azsim'))
# Debian's interpreter: the one with python3-azure. A pyenv python3 may come first on PATH.
PYTHON = '/usr/bin/python3'
AZ = shutil.which('az', path='/usr/bin:/bin') or '/usr/bin/az'
SDK_TOKEN = os.path.join(HERE, 'sdk_token.py')

MODULES = ['arm', 'aad', 'imds', 'keyvault', 'storage', 'azurite']
START_TIMEOUT = 30   # key generation is slow in the sanitizer build
STOP_TIMEOUT = 15    # SIGTERM drains requests for up to 5 s, then leak reports
AZ_TIMEOUT = 60      # per az command
SDK_TIMEOUT = 60

AZURE_CLI_APP_ID = '04b07795-8ddb-461a-bbee-02f9e1bf7b46'
SANITIZER_MARKERS = ('AddressSanitizer', 'LeakSanitizer', 'runtime error')

_live = set()


@atexit.register
def _kill_leftovers():
    """Servers still running when the test process exits are killed, whatever went wrong."""
    for proc in list(_live):
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def assert_no_sanitizer_report(text, what='azsim'):
    for marker in SANITIZER_MARKERS:
        if marker in text:
            raise AssertionError(f'{what}: stderr contains "{marker}":\n{text}')


def run_azsim(*args, timeout=10):
    """Run an azsim command to completion; returns the CompletedProcess (text)."""
    r = subprocess.run([AZSIM_BIN, *args], capture_output=True, text=True, timeout=timeout,
                       env=_without(os.environ, lambda k: k.startswith('AZSIM_')))
    assert_no_sanitizer_report(r.stderr, f'azsim {" ".join(args)}')
    return r


def parse_startup(text):
    """azsim's start-up lines: "proxy <url>", "<module> <url>" ..., "tenant <id> (<domain>)",
    "admin client id <id> (secret: azsim info)", "admin user <upn> (password: azsim info)",
    "ca <path>". The secret and the password are only in `azsim info`."""
    out = {'urls': {}}
    for line in text.splitlines():
        words = line.split(None, 1)
        if len(words) != 2:
            continue
        key, rest = words
        if key == 'proxy':
            out['proxy'] = rest.strip()
        elif key in MODULES:
            out['urls'][key] = rest.strip()
        elif key == 'tenant':
            tid, _, domain = rest.partition(' ')
            out['tenant_id'] = tid
            out['tenant_domain'] = domain.strip().strip('()')
        elif key == 'admin' and rest.startswith('client id '):
            out['client_id'] = rest[len('client id '):].split()[0]
        elif key == 'admin' and rest.startswith('user '):
            out['username'] = rest[len('user '):].split()[0]
        elif key == 'ca':
            out['ca'] = rest.strip()
    return out


class Server:
    """One azsim process with its own temporary data directory."""

    def __init__(self):
        self.data_dir = tempfile.mkdtemp(prefix='azsim-cli-')
        self.stdout = ''
        self._stderr_file = tempfile.TemporaryFile(mode='w+b')
        self.args = [AZSIM_BIN, '--in-memory', '--data-dir', self.data_dir]
        for m in ['proxy', *MODULES]:
            self.args += [f'--{m}-port', '0']
        self.proc = None
        self.startup = {}
        self._seen_ca = threading.Event()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self):
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._stderr_file,
                                     env=_without(os.environ, lambda k: k.startswith('AZSIM_')))
        _live.add(self.proc)
        threading.Thread(target=self._drain_stdout, daemon=True).start()
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not self._seen_ca.wait(0.05):
                if self.proc.poll() is not None:
                    raise AssertionError(f'azsim exited during start-up with {self.proc.returncode}'
                                         f'\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}')
                if time.monotonic() > deadline:
                    raise AssertionError(f'azsim printed no "ca" line within {START_TIMEOUT} s'
                                         f'\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}')
            # `azsim env` and `azsim info` read the run file, written just after the "ca" line.
            run_file = os.path.join(self.data_dir, 'azsim.run.json')
            while True:
                try:
                    with open(run_file, encoding='utf-8') as f:
                        if json.load(f).get('pid') == self.proc.pid:
                            break
                except (OSError, ValueError):
                    pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f'azsim wrote no {run_file}\nstderr:\n{self.stderr}')
                time.sleep(0.01)
            self.startup = parse_startup(self.stdout)
            self.info = self._json('info', '--data-dir', self.data_dir, '--json')
            self.env = self._json('env', '--data-dir', self.data_dir, '--format', 'json')
        except BaseException:
            self.cleanup()
            raise
        return self

    def _drain_stdout(self):
        for raw in iter(self.proc.stdout.readline, b''):
            self.stdout += raw.decode('utf-8', 'replace')
            if any(line.startswith('ca ') for line in self.stdout.splitlines()):
                self._seen_ca.set()

    def _json(self, *args):
        r = run_azsim(*args)
        if r.returncode != 0:
            raise AssertionError(f'azsim {" ".join(args)} exited {r.returncode}: {r.stderr}')
        return json.loads(r.stdout)

    @property
    def stderr(self):
        self._stderr_file.flush()
        self._stderr_file.seek(0)
        return self._stderr_file.read().decode('utf-8', 'replace')

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM and wait; returns (exit code, stderr). Kills after STOP_TIMEOUT."""
        if self.running:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f'azsim did not stop within {STOP_TIMEOUT} s after SIGTERM\n'
                                 f'{self.stderr}')
        finally:
            _live.discard(self.proc)
        return code, self.stderr

    def stop_clean(self):
        """Stop with SIGTERM and assert exit code 0 and no sanitizer report."""
        code, stderr = self.stop()
        if code != 0:
            raise AssertionError(f'azsim exited with {code} after SIGTERM\n{stderr}')
        assert_no_sanitizer_report(stderr)

    def cleanup(self):
        """Kill if still running and remove the data directory. Never raises."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if self.proc is not None:
                _live.discard(self.proc)
        finally:
            self._stderr_file.close()
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- clients -------------------------------------------------------------------------------

    @property
    def aad_host(self):
        """host:port of the aad listener, the form azure-identity's `authority` takes."""
        return self.startup['urls']['aad'].split('://', 1)[1].rstrip('/')

    def client_env(self, extra=None, front_door=True):
        """The environment of a client process: ours without any proxy, CA, Azure or Python path
        setting, then `azsim env` (front_door) or only its CA (direct), then `extra`."""
        drop = {'https_proxy', 'http_proxy', 'all_proxy', 'no_proxy', 'requests_ca_bundle',
                'ssl_cert_file', 'curl_ca_bundle', 'node_extra_ca_certs', 'pythonpath',
                'pythonhome', 'pythonstartup'}
        env = _without(os.environ, lambda k: k.lower() in drop or k.startswith('AZURE_')
                       or k.startswith('AZSIM_') or k.startswith('MSAL_'))
        if front_door:
            env.update(self.env)
        else:
            env['REQUESTS_CA_BUNDLE'] = self.env['REQUESTS_CA_BUNDLE']
        env.update(extra or {})
        _assert_local_only(env)
        return env


def sdk_token(server, kind, scope, authority=None, instance_discovery=None, env=None):
    """Run sdk_token.py: a ClientSecretCredential ('secret') or CertificateCredential ('cert') of
    the admin app asks for `scope`. Returns the CompletedProcess; stdout is {"token", "expires_on"}
    on success."""
    args = [PYTHON, SDK_TOKEN, '--kind', kind, '--scope', scope]
    if authority:
        args += ['--authority', authority]
    if instance_discovery is False:
        args += ['--no-instance-discovery']
    return subprocess.run(args, input=json.dumps(server.info), capture_output=True, text=True,
                          timeout=SDK_TIMEOUT, env=env if env is not None else server.client_env())



class AdminArm:
    """The admin application's own requests, the way the suites set up what they test: HTTPS
    straight to azsim's listeners on 127.0.0.1 (no proxy, azsim's CA), a client-credentials token
    from the aad listener, ARM calls on the arm listener."""

    def __init__(self, server):
        self.server = server
        context = ssl.create_default_context(cafile=server.startup['ca'])
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                  urllib.request.HTTPSHandler(context=context))
        self.token = self.token_for('https://management.azure.com/.default')

    def token_for(self, scope):
        info = self.server.info
        body = urllib.parse.urlencode({'grant_type': 'client_credentials',
                                       'client_id': info['clientId'],
                                       'client_secret': info['clientSecret'],
                                       'scope': scope}).encode()
        url = f'{self.server.startup["urls"]["aad"]}/{info["tenantId"]}/oauth2/v2.0/token'
        with self.opener.open(urllib.request.Request(url, data=body), timeout=10) as resp:
            return json.load(resp)['access_token']

    def request(self, method, path, body=None):
        """An ARM request: (status, parsed JSON body or None)."""
        req = urllib.request.Request(
            self.server.startup['urls']['arm'] + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={'Authorization': f'Bearer {self.token}', 'Content-Type': 'application/json'})
        try:
            with self.opener.open(req, timeout=10) as resp:
                status, text = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, text = err.code, err.read()
        return status, (json.loads(text) if text.strip() else None)

    def ok(self, method, path, body=None, statuses=(200, 201)):
        """An ARM request that must answer one of `statuses`: its parsed body."""
        status, answer = self.request(method, path, body)
        if status not in statuses:
            raise AssertionError(f'{method} {path}: {status} {answer}')
        return answer

class AzCli:
    """Runs az commands with one fresh AZURE_CONFIG_DIR (a temporary directory) and the front
    door's environment. `config_dir` is removed by cleanup()."""

    def __init__(self, server, env=None):
        """`env`: the environment to run az in instead of the server's front-door one (a shell
        of a VM's, from `azsim env --vm`)."""
        self.config_dir = tempfile.mkdtemp(prefix='azsim-az-')
        own = {
            'AZURE_CONFIG_DIR': self.config_dir,
            'AZURE_CORE_USE_MSAL_HTTP_CACHE': 'false',
            'AZURE_CORE_COLLECT_TELEMETRY': 'false',
            'AZURE_CORE_OUTPUT': 'json',
            'AZURE_CORE_NO_COLOR': 'true',
        }
        self.env = dict(env, **own) if env is not None else server.client_env(own)
        self.server = server

    def run(self, *args):
        """az <args>; returns the CompletedProcess (text). Times out after AZ_TIMEOUT."""
        return subprocess.run([AZ, *args], capture_output=True, text=True, timeout=AZ_TIMEOUT,
                              env=self.env, stdin=subprocess.DEVNULL)

    def json(self, *args):
        """az <args> that must succeed; returns its JSON output."""
        r = self.run(*args)
        if r.returncode != 0:
            raise AssertionError(f'az {" ".join(_redact(args))} exited {r.returncode}\n'
                                 f'stdout:\n{r.stdout}\nstderr:\n{r.stderr}')
        try:
            return json.loads(r.stdout)
        except ValueError as err:
            raise AssertionError(f'az {" ".join(_redact(args))}: no JSON ({err}):\n{r.stdout}')

    def login_admin(self):
        """`az login --service-principal` as the server's admin application, which must see the
        server's one subscription; returns az's account list."""
        info = self.server.info
        accounts = self.json('login', '--service-principal', '-u', info['clientId'],
                             '-p', info['clientSecret'], '--tenant', info['tenantId'])
        if [a.get('id') for a in accounts] != [info['subscriptionId']]:
            raise AssertionError(f'az login: {accounts}')
        return accounts

    def cleanup(self):
        shutil.rmtree(self.config_dir, ignore_errors=True)


class ClosedProxy:
    """A listening socket on 127.0.0.1 that accepts and closes every connection and counts them:
    the proxy of a "direct" client, so a request that should not be sent (instance discovery
    towards login.microsoftonline.com) fails fast and is noticed, and nothing leaves the host."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.url = f'http://127.0.0.1:{self.sock.getsockname()[1]}'
        self.connections = 0
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self._stop:
                conn.close()
                return
            self.connections += 1
            conn.close()

    def close(self):
        self._stop = True
        # Wake the accept() up, then close.
        try:
            socket.create_connection(self.sock.getsockname(), timeout=1).close()
        except OSError:
            pass
        self._thread.join(5)
        self.sock.close()


def jwt_parts(token):
    """(header, payload) of a compact JWT, without verifying anything (the Node suite verifies
    signatures)."""
    parts = token.split('.')
    if len(parts) != 3:
        raise AssertionError(f'not a 3-part JWT: {token!r}')
    return tuple(json.loads(_b64url(p)) for p in parts[:2])


def jwt_payload(token):
    return jwt_parts(token)[1]


def _b64url(s):
    return base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))


def _without(env, drop):
    return {k: v for k, v in env.items() if not drop(k)}


def _assert_local_only(env):
    """Clients may only reach 127.0.0.1: every name they resolve goes to a proxy there (azsim's
    front door, or a ClosedProxy), so refuse an environment without both proxy variables or
    with one that points elsewhere."""
    for name in ('HTTPS_PROXY', 'HTTP_PROXY'):
        if not env.get(name):
            raise AssertionError(f'{name} is not set: clients must only reach 127.0.0.1')
    for name in ('HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy'):
        value = env.get(name)
        if value is not None and not value.startswith('http://127.0.0.1:'):
            raise AssertionError(f'{name}={value}: clients must only reach 127.0.0.1')


def _redact(args):
    out, hide = [], False
    for a in args:
        out.append('***' if hide else a)
        hide = a in ('-p', '--password')
    return out

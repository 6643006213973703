"""Client-side shim for Debian's Azure CLI 2.45 role commands (contracts/azure-cli.md §4-§5).

az 2.45's role module reads `<operations>.config.subscription_id`, but the track-2
azure-mgmt-authorization 3.0.0 that python3-azure ships keeps that object only as the private
`_config`, so `az role definition list`, `az role assignment create` and `az role assignment
list` die with AttributeError: '...Operations' object has no attribute 'config' before sending
anything. Put this directory on PYTHONPATH for `az` runs only: Python imports sitecustomize at
start-up, and this one makes the client's `role_assignments` and `role_definitions` accessors
also expose `_config` as `config`. Nothing changes on the wire and no system file is touched.

(It shadows Debian's own sitecustomize, which only installs apport's crash hook.)
"""

try:
    from azure.mgmt.authorization import _authorization_management_client as _client
except ImportError:  # no azure-mgmt-authorization: nothing to mend
    _client = None


def _exposing_config(accessor):
    def get(self):
        operations = accessor.fget(self)
        if not hasattr(operations, 'config'):
            operations.config = operations._config  # pylint: disable=protected-access
        return operations
    return property(get, doc=accessor.__doc__)


if _client is not None:
    _cls = _client.AuthorizationManagementClient
    for _name in ('role_assignments', 'role_definitions'):
        setattr(_cls, _name, _exposing_config(getattr(_cls, _name)))

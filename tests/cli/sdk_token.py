"""Child process of the CLI suite: one azure-identity credential of the admin app gets one token.

    /usr/bin/python3 sdk_token.py --kind secret|cert --scope S [--authority HOST]
                                  [--no-instance-discovery]  < `azsim info --json`

Prints {"token": ..., "expires_on": ...} and exits 0, or prints the exception and exits 1.
The environment (proxy, CA) is the caller's; nothing here talks to a network by itself.
"""

import argparse
import json
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--kind', choices=['secret', 'cert'], required=True)
    parser.add_argument('--scope', required=True)
    parser.add_argument('--authority')
    parser.add_argument('--no-instance-discovery', action='store_true')
    args = parser.parse_args()
    info = json.load(sys.stdin)

    from azure.identity import CertificateCredential, ClientSecretCredential

    kwargs = {}
    if args.authority:
        kwargs['authority'] = args.authority
    if args.no_instance_discovery:
        # azure-identity 1.13.0b2 passes this on to msal 1.21 (_internal/msal_credentials.py).
        kwargs['instance_discovery'] = False
    if args.kind == 'secret':
        credential = ClientSecretCredential(info['tenantId'], info['clientId'],
                                            info['clientSecret'], **kwargs)
    else:
        credential = CertificateCredential(info['tenantId'], info['clientId'],
                                           certificate_path=info['clientCertificatePath'],
                                           **kwargs)
    try:
        token = credential.get_token(args.scope)
    except Exception as err:  # the test shows what the SDK said
        print(f'{type(err).__name__}: {err}', file=sys.stderr)
        return 1
    finally:
        credential.close()
    print(json.dumps({'token': token.token, 'expires_on': token.expires_on}))
    return 0


if __name__ == '__main__':
    sys.exit(main())

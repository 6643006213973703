#!/usr/bin/env bash
# tests/e2e/netns.sh — the docker-compose environment (docker/compose.yaml) without Docker: one
# network namespace for azsim and one per "VM", joined by a bridge on azsim's side.
#
#   azsim  169.254.169.254  IMDS on port 80, the front door on 4700, seeded with docker/seed.json
#   vm-system  169.254.169.10  runs docker/app with its system-assigned identity
#   vm-user    169.254.169.11  runs docker/app with the user-assigned identity (AZURE_CLIENT_ID)
#
# The seed file binds each address to its VM resource; the sample app is unmodified
# (DefaultAzureCredential, real Azure URLs). Each VM must read the secret and the blob with its own
# identity and must fail to get the other's. Needs root (CI has it). Every namespace and process
# is removed on exit, whatever happened. Prints one line per check and "N passed, N failed".
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
AZSIM_BIN=${AZSIM_BIN:-$ROOT/build/azsim}
SEED=$ROOT/docker/seed.json
APP=$ROOT/docker/app
TAG=e2e$$
NS_AZ=$TAG-azsim NS_SYS=$TAG-vm-system NS_USR=$TAG-vm-user
IMDS=169.254.169.254
WORK=$(mktemp -d /tmp/azsim-e2e-XXXXXX)
AZSIM_PID=
passed=0 failed=0

# Values the seed file fixes.
UAI_CLIENT_ID=6c3f6a8e-2d8b-4b7e-9d7e-0b7c1f3a9e51
SYSTEM_PRINCIPAL_ID=4d8f2c61-7a3e-4b9d-8c15-2e6a0f9b3d47
SECRET_VALUE="hello from Key Vault"
BLOB_TEXT="hello from Blob Storage"

cleanup() {
    [ -n "$AZSIM_PID" ] && kill "$AZSIM_PID" 2>/dev/null && wait "$AZSIM_PID" 2>/dev/null
    for ns in "$NS_SYS" "$NS_USR" "$NS_AZ"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

check() { # check NAME COMMAND...: run it, count and print the outcome
    local name=$1
    shift
    if out=$("$@" 2>&1); then
        passed=$((passed + 1))
        echo "ok    $name"
    else
        failed=$((failed + 1))
        echo "FAIL  $name"
    fi
    printf '%s\n' "$out" | sed 's/^/      /' # what the VM saw, either way
}

if [ "$(id -u)" != 0 ]; then
    echo "tests/e2e/netns.sh needs root (network namespaces)" >&2
    exit 1
fi

# ---- the network ----
set -e
ip netns add "$NS_AZ"
ip netns add "$NS_SYS"
ip netns add "$NS_USR"
ip -n "$NS_AZ" link set lo up
ip -n "$NS_AZ" link add br0 type bridge
ip -n "$NS_AZ" addr add "$IMDS/24" dev br0
ip -n "$NS_AZ" link set br0 up
attach() { # attach NAMESPACE ADDRESS INDEX
    ip -n "$NS_AZ" link add "veth$3" type veth peer name eth0 netns "$1"
    ip -n "$NS_AZ" link set "veth$3" master br0 up
    ip -n "$1" link set lo up
    ip -n "$1" addr add "$2/24" dev eth0
    ip -n "$1" link set eth0 up
}
attach "$NS_SYS" 169.254.169.10 1
attach "$NS_USR" 169.254.169.11 2
set +e

# ---- azsim, owning 169.254.169.254 in its namespace ----
ip netns exec "$NS_AZ" "$AZSIM_BIN" serve --data-dir "$WORK/data" --bind 0.0.0.0 --imds-port 80 \
    --seed "$SEED" >"$WORK/azsim.out" 2>"$WORK/azsim.log" &
AZSIM_PID=$!
healthy=
for _ in $(seq 1 100); do
    if ip netns exec "$NS_AZ" "$AZSIM_BIN" health --data-dir "$WORK/data" >/dev/null 2>&1; then
        healthy=1
        break
    fi
    kill -0 "$AZSIM_PID" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$healthy" ]; then
    echo "FAIL  azsim did not become healthy"
    sed 's/^/      /' "$WORK/azsim.log"
    echo "0 passed, 1 failed"
    exit 1
fi
echo "ok    azsim healthy at $IMDS with docker/seed.json applied"

# ---- the VMs ----
vm() { # vm NAMESPACE NAME [VAR=VALUE...] COMMAND...: run as that VM, with only this environment
    local ns=$1 name=$2
    shift 2
    ip netns exec "$ns" timeout 60 env -i PATH="$PATH" HOME="$WORK" TMPDIR="$WORK" \
        APP_NAME="$name" HTTPS_PROXY="http://$IMDS:4700" NO_PROXY="$IMDS" \
        KEY_VAULT_URL=https://azsim-demo-kv.vault.azure.net SECRET_NAME=greeting \
        BLOB_URL=https://azsimdemostore.blob.core.windows.net/data/hello.txt "$@"
}

app_reads() { # app_reads NAMESPACE NAME [VAR=VALUE...]: the app reads both with its identity
    local out
    out=$(vm "$@" sh "$APP/start.sh") || {
        echo "$out"
        return 1
    }
    echo "$out"
    grep -qx "$2: secret: $SECRET_VALUE" <<<"$out" && grep -qx "$2: blob: $BLOB_TEXT" <<<"$out"
}

app_refused() { # app_refused NAMESPACE NAME [VAR=VALUE...]: the app fails to read either
    local out
    out=$(vm "$@" sh "$APP/start.sh")
    local rc=$?
    echo "$out"
    [ "$rc" != 0 ] && ! grep -q "$SECRET_VALUE\|$BLOB_TEXT" <<<"$out"
}

imds_refuses() { # imds_refuses NAMESPACE NAME SELECTOR: IMDS will not give this VM that identity
    local ns=$1 name=$2 selector=$3
    vm "$ns" "$name" node -e '
        const url = `http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net&${process.argv[1]}`;
        fetch(url, { headers: { Metadata: "true" } }).then(async (r) => {
          const body = await r.text();
          console.log(r.status, body.slice(0, 200));
          process.exit(r.status === 400 && !body.includes("access_token") ? 0 : 1);
        }, (e) => { console.log(e.message); process.exit(1); });' "$selector"
}

check "vm-system reads the secret and the blob with its system-assigned identity" \
    app_reads "$NS_SYS" vm-system
check "vm-user reads the secret and the blob with the user-assigned identity" \
    app_reads "$NS_USR" vm-user AZURE_CLIENT_ID="$UAI_CLIENT_ID"
check "vm-system cannot get the user-assigned identity (client_id)" \
    imds_refuses "$NS_SYS" vm-system "client_id=$UAI_CLIENT_ID"
check "vm-system cannot get the user-assigned identity (msi_res_id)" \
    imds_refuses "$NS_SYS" vm-system "msi_res_id=%2Fsubscriptions%2F$(sed -n 's/.*"subscriptionId": *"\([^"]*\)".*/\1/p' "$WORK/data/credentials.json")%2FresourceGroups%2Fdemo%2Fproviders%2FMicrosoft.ManagedIdentity%2FuserAssignedIdentities%2Forders-identity"
check "vm-user cannot get vm-system's identity (object_id)" \
    imds_refuses "$NS_USR" vm-user "object_id=$SYSTEM_PRINCIPAL_ID"
check "vm-user cannot get an identity no VM has (client_id)" \
    imds_refuses "$NS_USR" vm-user "client_id=00000000-0000-4000-8000-000000000000"
# The app with the other VM's user-assigned client id, from vm-system: refused end to end.
check "the app on vm-system, told to use vm-user's identity, is refused" \
    app_refused "$NS_SYS" vm-system AZURE_CLIENT_ID="$UAI_CLIENT_ID"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

#!/bin/sh
# How a "VM" starts its app: trust azsim's CA (IMDS serves it over plain http, at the address
# every VM already reaches), then run the app unchanged. The HTTPS services are reached through
# azsim's front door (HTTPS_PROXY), IMDS directly at 169.254.169.254.
set -e
ca=${TMPDIR:-/tmp}/azsim-ca-$$.pem
node -e 'fetch(process.argv[1]).then(async (r) => {
  if (!r.ok) throw new Error(`${r.status} from ${process.argv[1]}`);
  require("fs").writeFileSync(process.argv[2], await r.text());
})' "${AZSIM_CA_URL:-http://169.254.169.254/azsim/ca.pem}" "$ca"
export NODE_EXTRA_CA_CERTS="$ca"
exec node "$(dirname "$0")/app.mjs"

# Child process for frontdoor-clients.test.mjs, run with Debian's /usr/bin/python3: GET each URL
# given on the command line with `requests` and its defaults, configured by nothing but the
# environment (HTTPS_PROXY / HTTP_PROXY, REQUESTS_CA_BUNDLE). Prints a JSON list of
# {url, status, body} or {url, error}.
import json
import sys

import requests

results = []
for url in sys.argv[1:]:
    try:
        r = requests.get(url, timeout=10)
        results.append({"url": url, "status": r.status_code, "body": r.text})
    except Exception as e:  # noqa: BLE001 - reported to the test
        results.append({"url": url, "error": f"{type(e).__name__}: {e}"})
json.dump({"requests": requests.__version__, "results": results}, sys.stdout)

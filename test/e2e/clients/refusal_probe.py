"""One Python for every case of test/e2e/partner-table.test.ts: reads a JSON list of cases
({id, cert or null, tls: "TLSv1.2" | "TLSv1.3"}) on stdin, runs urllib with an ssl context per
case (concurrently) and prints {id: what the client reported} as JSON."""

import json
import re
import ssl
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

folder, url = sys.argv[1], sys.argv[2]


def probe(case):
    ctx = ssl.create_default_context(cafile=f"{folder}/root-ca.pem")
    version = ssl.TLSVersion.TLSv1_2 if case["tls"] == "TLSv1.2" else ssl.TLSVersion.TLSv1_3
    ctx.minimum_version = ctx.maximum_version = version
    if case["cert"]:
        ctx.load_cert_chain(f"{folder}/{case['cert']}.pem", f"{folder}/{case['cert']}-key.pem")
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=10) as res:
            return f"{res.status}"
    except urllib.error.HTTPError as e:
        found = re.search(r'"error"\s*:\s*"([^"]*)"', e.read().decode("utf-8", "replace"))
        return f"HTTPError {e.code}: {e.reason}" + (f" · {found.group(1)}" if found else "")
    except Exception as e:  # what a partner's script would print: the exception and its message
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


cases = json.load(sys.stdin)
with ThreadPoolExecutor(max_workers=len(cases) or 1) as pool:
    print(json.dumps(dict(zip([c["id"] for c in cases], pool.map(probe, cases)))))

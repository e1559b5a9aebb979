"""A client pod's loop: GET one URL over a fresh connection every ``--every`` seconds.

Prints ``OK <body>`` or ``FAIL <error>`` per request (with a timestamp), until the file
``/tmp/stop`` exists or ``--limit`` seconds pass, then ``DONE``; the test reads them with
``kubectl logs``.
"""

import argparse
import http.client
import os
import sys
import time
import urllib.parse

p = argparse.ArgumentParser()
p.add_argument("url")
p.add_argument("--every", type=float, default=0.05)
p.add_argument("--limit", type=float, default=900.0)
a = p.parse_args()
u = urllib.parse.urlsplit(a.url)
end = time.monotonic() + a.limit
while time.monotonic() < end and not os.path.exists("/tmp/stop"):
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=5)
    try:
        conn.request("GET", u.path or "/", headers={"Connection": "close"})
        response = conn.getresponse()
        body = response.read().decode(errors="replace").strip()
        ok = response.status == 200
        print(f"{time.time():.3f} {'OK' if ok else 'FAIL'} {response.status} {body}", flush=True)
    except Exception as error:
        print(f"{time.time():.3f} FAIL {type(error).__name__}: {error}", flush=True)
    finally:
        conn.close()
    time.sleep(a.every)
print("DONE", flush=True)
sys.exit(0)

"""The script `testbed cluster check` runs on each server (and here): one JSON line of facts.

It is sent over ssh on stdin to the server's Python and uses the standard library only, so it works
before testbed is even installed there (then it says so). Kept free of testbed imports on purpose.
"""

from __future__ import annotations

SCRIPT = r'''
import hashlib, json, pathlib, platform, re, subprocess, sys
tunnel, peer, mtu = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = {"kernel": platform.release()}

def run(argv, timeout=15):
    try:
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        return cp.returncode, (cp.stdout + cp.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return -1, str(e)

from importlib import metadata
for pkg in ("testbed", "mininet"):
    try:
        out[pkg] = metadata.version(pkg)
    except Exception:
        out[pkg] = None
try:
    import testbed
    root = pathlib.Path(testbed.__file__).parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes())
    out["testbed_source"] = h.hexdigest()[:12]
except Exception:
    out["testbed_source"] = None
rc, text = run(["/usr/lib/frr/zebra", "--version"])
m = re.search(r"version (\S+)", text)
out["frr"] = m.group(1) if rc == 0 and m else None
args = {"gretap": ["local", "192.0.2.1", "remote", "192.0.2.2", "key", "1"],
        "vxlan": ["id", "1", "local", "192.0.2.1", "remote", "192.0.2.2", "dstport", "4789"]}[tunnel]
# in a throwaway network namespace: nothing to delete afterwards, nothing left if this is killed
rc, text = run(["unshare", "--net", "ip", "link", "add", "tbcheck0", "type", tunnel] + args)
out["tunnel"] = {"ok": rc == 0, "output": text[-300:]}
if peer:
    rc, text = run(["ip", "-j", "route", "get", peer])
    dev = None
    try:
        dev = json.loads(text)[0].get("dev")
        rc, text = run(["ip", "-j", "link", "show", "dev", dev])   # netlink, not /sys: that is the mounter's netns
        out["underlay"] = {"dev": dev, "mtu": int(json.loads(text)[0]["mtu"])}
    except Exception:
        out["underlay"] = {"dev": dev, "mtu": None, "output": text[-300:]}
    rc, text = run(["ping", "-n", "-M", "do", "-c", "1", "-W", "2", "-s", str(mtu - 28), peer])
    out["ping"] = {"ok": rc == 0, "output": text[-300:]}
rc, text = run(["sshd", "-T"])
if rc != 0:
    rc, text = run(["/usr/sbin/sshd", "-T"])
conf = dict(line.split(" ", 1) for line in text.splitlines() if " " in line) if rc == 0 else {}
out["sshd"] = {"maxsessions": conf.get("maxsessions"), "maxstartups": conf.get("maxstartups"),
               "output": "" if rc == 0 else text[-300:]}
print(json.dumps(out))
'''

"""Loads rendered ZTPServer data into the real ztpserver (PyPI 2.1.0) and
drives its WSGI application the way a leaf's bootstrap does.

usage: python ztpserver_check.py CONF CASES_JSON
CASES_JSON: [{"serial": ..., "neighbors": {"Ethernet49": [{"device": ..., "port": ...}]}}]
Prints one JSON object: neighbordb validity and, per case, the HTTP statuses,
the definition served and the startup-config its action points to.
"""
import json
import os
import sys

os.environ["ZTPS_CONFIG"] = sys.argv[1]
from webob import Request  # noqa: E402

from ztpserver import app, config, topology, validators  # noqa: E402

application = app.start_wsgiapp(sys.argv[1])
data_root = config.runtime.default.data_root

with open(os.path.join(data_root, "neighbordb"), encoding="utf8") as fd:
    import yaml

    contents = yaml.safe_load(fd)
result = {
    "neighbordb_valid": bool(validators.validate_neighbordb(contents, "check")),
    "patterns": len(topology.load_neighbordb("check").patterns["globals"])
    + len(topology.load_neighbordb("check").patterns["nodes"]),
    "cases": [],
}


def call(method, path, body=None):
    req = Request.blank(path, method=method)
    if body is not None:
        req.body = json.dumps(body).encode()
        req.content_type = "application/json"
    resp = req.get_response(application)
    return resp.status_int, resp.body.decode("utf8", "replace")


for case in json.loads(sys.argv[2]):
    node = {
        "model": "vEOS",
        "serialnumber": case["serial"],
        "systemmac": case.get("systemmac", "00:1c:73:00:00:01"),
        "version": "4.30.0F",
        "neighbors": case["neighbors"],
    }
    out = {"serial": case["serial"]}
    out["post_status"], _ = call("POST", "/nodes", node)
    out["get_status"], body = call("GET", f"/nodes/{case['serial']}")
    if out["get_status"] == 200:
        definition = json.loads(body)
        out["definition_name"] = definition.get("name")
        urls = [
            a.get("attributes", {}).get("url")
            for a in definition.get("actions", [])
            if a.get("action") == "replace_config"
        ]
        out["config_urls"] = urls
        # Every action as served, whether ZTPServer has its code (the
        # bootstrap fetches /actions/<name>), and what each file URL serves.
        out["actions"] = [
            {"action": a.get("action"), "attributes": a.get("attributes", {})}
            for a in definition.get("actions", [])
        ]
        out["action_status"] = {
            a["action"]: call("GET", "/actions/" + a["action"])[0] for a in out["actions"]
        }
        out["files"] = {}
        for a in out["actions"]:
            url = a["attributes"].get("url")
            if a["action"] in ("install_image", "install_extension") and url:
                status, text = call("GET", "/" + url)
                out["files"][url] = {"status": status, "length": len(text)}
        if urls:
            status, text = call("GET", "/" + urls[0])
            out["config_status"] = status
            out["config"] = text
    result["cases"].append(out)

print(json.dumps(result))

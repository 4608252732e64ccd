"""Prints the emulator's admin JSON (read from stdin) for the demo, one view per argument."""
import datetime
import json
import sys


def is_mark(h):
    """An in-edge mark (edge/mark.go): inactive, on an edge's target, naming its source; it delivers nothing."""
    return h["name"].startswith("autodeploy-in-") and not h["active"] and "in-edge.auto-deploy.invalid" in h["payloadUrl"]


def webhooks(data):
    marks = [h for h in data if is_mark(h)]
    for h in data:
        if is_mark(h):
            continue
        source = "%s/%s" % (h["projectName"], h["stackName"])
        print("  %-22s --%s--> %-22s on %s  (%s)" % (
            source, h["format"], h["payloadUrl"], ",".join(h.get("filters") or ["every event"]), h["name"]))
    print("  %d webhooks, and %d in-edge marks (one on each edge's target, delivering nothing)" % (
        len(data) - len(marks), len(marks)))


def cascade(data):
    for d in data["deployments"]:
        src = d["cause"]["webhook"]
        print("  deployment #%d of %s/%s: %s %s  <- webhook on %s/%s" % (
            d["version"], d["projectName"], d["stackName"], d["operation"], d["status"],
            src["projectName"], src["stackName"]))
    print("  %d deployments, %d failed deliveries" % (len(data["deployments"]), len(data["failedDeliveries"])))


def stats(data):
    print("  API requests: %d, writes: %d" % (data["total"], data["writes"]))


def writes(data):
    m = data["byMethod"]
    print("  webhook writes: %d created (POST), %d changed (PATCH), %d deleted (DELETE)" % (
        m.get("POST", 0), m.get("PATCH", 0), m.get("DELETE", 0)))


def deployments(data, since):
    """The deployments after the first `since`, in the order they started, timed from the first start."""
    ds = sorted(data[int(since):], key=lambda d: d["startOrder"])
    t0 = min((_time(d["started"]) for d in ds), default=0)
    count = {}
    for d in ds:
        cause = d["cause"]
        why = "webhook on " + cause["webhook"]["stackName"] if cause["kind"] == "webhook" else "the relay (API request)"
        print("  %s deployment #%d  %5.2fs to %5.2fs  %s  <- %s" % (
            d["stackName"], d["version"], _time(d["started"]) - t0, _time(d["finished"]) - t0, d["status"], why))
        count[d["stackName"]] = count.get(d["stackName"], 0) + 1
    print("  deployments per stack: " + (", ".join("%s %d" % kv for kv in sorted(count.items())) or "none"))


def _time(stamp):
    """Seconds since the epoch of an RFC 3339 time with up to nanoseconds."""
    day, _, rest = stamp.rstrip("Z").partition("T")
    clock, _, fraction = rest.partition(".")
    whole = datetime.datetime.fromisoformat(day + "T" + clock).replace(tzinfo=datetime.timezone.utc)
    return whole.timestamp() + float("0." + (fraction or "0"))


def relay_cascade(data):
    """The relay's newest cascade (GET /v1/cascades) and the state of each stack in it."""
    c = data["cascades"][0]
    print("  cascade %d of %s version %d: %s" % (c["id"], c["root"], c["version"], c["state"]))
    for s in c["stacks"]:
        print("    %-32s %-18s after %s" % (s["stack"], s["state"], ", ".join(p.rsplit("/", 1)[1] for p in s["parents"])))


VIEWS = {"webhooks": webhooks, "cascade": cascade, "stats": stats, "writes": writes, "deployments": deployments,
         "relay-cascade": relay_cascade}
VIEWS[sys.argv[1]](json.load(sys.stdin), *sys.argv[2:])

"""Prints the emulator's admin JSON (read from stdin) for the demo, one view per argument."""
import json
import sys


def webhooks(data):
    for h in data:
        source = "%s/%s" % (h["projectName"], h["stackName"])
        print("  %-22s --%s--> %-22s on %s  (%s)" % (
            source, h["format"], h["payloadUrl"], ",".join(h.get("filters") or ["every event"]), h["name"]))
    print("  %d webhooks" % len(data))


def cascade(data):
    for d in data["deployments"]:
        src = d["cause"]["webhook"]
        print("  deployment #%d of %s/%s: %s %s  <- webhook on %s/%s" % (
            d["version"], d["projectName"], d["stackName"], d["operation"], d["status"],
            src["projectName"], src["stackName"]))
    print("  %d deployments, %d failed deliveries" % (len(data["deployments"]), len(data["failedDeliveries"])))


def stats(data):
    print("  API requests: %d, writes: %d" % (data["total"], data["writes"]))


{"webhooks": webhooks, "cascade": cascade, "stats": stats}[sys.argv[1]](json.load(sys.stdin))

"""The template's function roles, enforced on the local stack and checked for unused grants.

usage:
  local_iam.py users template.yaml   creates one IAM user per function on moto (AWS_ENDPOINT_URL,
                                     operator keys from the environment) whose inline policies
                                     are the function's role policies after the SAM transform;
                                     prints `AWS_KEYS_<FUNCTION>=<key id>:<secret>` lines
  local_iam.py check template.yaml record.jsonl
                                     compares, per function, the actions its role grants with the
                                     actions it was allowed under enforcement (moto_server.py's
                                     record); fails on a grant no scenario used, and on an
                                     index ARN granted but unused or used but not granted

moto matches neither resource ARNs nor conditions (a statement with a specific Resource would
never match, and a Condition is evaluated without request context), so the local users get
every statement with Resource "*" and no Condition. The ARNs and conditions themselves are
checked statically against the expanded template (tests/integration/tests/template.rs).
"""
import json
import os
import sys

import boto3

from sam_expand import as_packaged, expand
from samtranslator.yaml_helper import yaml_parse

# Granted to every function for the Lambda service's own use, not the code's.
EXEMPT_ACTIONS = {
    "sqs:SendMessage": "the on-failure destination SAM adds for EventInvokeConfig (Lambda sends)",
}
EXEMPT_MANAGED = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": "logs:* (Lambda writes the function's log)",
}


def functions(path: str) -> dict:
    """binary name -> (logical id, expanded role resource)."""
    with open(path, encoding="utf-8") as f:
        source = yaml_parse(f.read())
    with open(path, encoding="utf-8") as f:
        expanded = expand(as_packaged(yaml_parse(f.read())))
    out = {}
    for logical_id, resource in source["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        binary = resource["Metadata"]["BuildProperties"]["Binary"]
        out[binary] = (logical_id, expanded["Resources"][f"{logical_id}Role"])
    return out


def statements(role: dict) -> list:
    return [
        s
        for p in role["Properties"].get("Policies", [])
        for s in p["PolicyDocument"]["Statement"]
    ]


def actions_of(statement: dict) -> list:
    a = statement.get("Action", [])
    return [a] if isinstance(a, str) else list(a)


def widened(role: dict) -> list:
    """Each inline policy with Resource "*" and no Condition (what moto can match)."""
    out = []
    for p in role["Properties"].get("Policies", []):
        doc = {"Version": "2012-10-17", "Statement": []}
        for s in p["PolicyDocument"]["Statement"]:
            s = {k: v for k, v in s.items() if k not in ("Condition", "Resource")}
            s["Resource"] = "*"
            doc["Statement"].append(s)
        out.append((p["PolicyName"], json.dumps(doc)))
    return out


def users(template: str) -> int:
    iam = boto3.client(
        "iam",
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        region_name=os.environ.get("AWS_REGION", "eu-west-1"),
    )
    for binary, (_, role) in sorted(functions(template).items()):
        iam.create_user(UserName=binary)
        for name, doc in widened(role):
            iam.put_user_policy(UserName=binary, PolicyName=name, PolicyDocument=doc)
        key = iam.create_access_key(UserName=binary)["AccessKey"]
        var = "AWS_KEYS_" + binary.upper().replace("-", "_")
        print(f"{var}={key['AccessKeyId']}:{key['SecretAccessKey']}")
    return 0


def check(template: str, record: str) -> int:
    allowed, denied, indexed = {}, {}, set()
    with open(record, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            (allowed if r["allowed"] else denied).setdefault(r["user"], set()).add(r["action"])
            if r["allowed"] and r.get("index"):
                indexed.add(r["user"])
    unused_total, checked = 0, 0
    print("Permissions: each function's template role against what it did under enforcement")
    for binary, (logical_id, role) in sorted(functions(template).items()):
        granted = {a for s in statements(role) if s.get("Effect") == "Allow" for a in actions_of(s)}
        exempt = granted & EXEMPT_ACTIONS.keys()
        checked_here = sorted(granted - exempt)
        used = allowed.get(binary, set())
        unused = [a for a in checked_here if a not in used]
        checked += len(checked_here)
        unused_total += len(unused)
        print(f"  {binary} ({logical_id}): {len(checked_here)} granted, {len(checked_here) - len(unused)} used")
        for a in unused:
            print(f"    UNUSED {a}: granted but no scenario used it; remove it from template.yaml or add the scenario")
        # moto grants a query of the index on the table's grant; AWS wants the index's ARN.
        index_granted = any("/index/" in json.dumps(s.get("Resource")) for s in statements(role))
        checked += int(index_granted)
        if index_granted and binary not in indexed:
            print("    UNUSED the index ARN: no scenario queried the index; remove it from template.yaml")
            unused_total += 1
        elif binary in indexed and not index_granted:
            print("    MISSING the index ARN: the function queries the index, which AWS would deny")
            unused_total += 1
        for a in sorted(denied.get(binary, set())):
            print(f"    denied {a} (a scenario was refused it)")
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            if arn not in EXEMPT_MANAGED:
                print(f"    MANAGED {arn}: not allowed; write the actions inline")
                unused_total += 1
    print(f"  exempt, used by the Lambda service rather than the code: "
          + "; ".join(f"{k}: {v}" for k, v in {**EXEMPT_ACTIONS, **EXEMPT_MANAGED}.items()))
    print(f"{checked} grants checked (actions, and index ARNs), {unused_total} unused or missing")
    return 1 if unused_total else 0


def main(argv: list) -> int:
    if len(argv) == 3 and argv[1] == "users":
        return users(argv[2])
    if len(argv) == 4 and argv[1] == "check":
        return check(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

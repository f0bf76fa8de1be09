"""Expands the SAM transform offline (no AWS account, no network) and prints the
CloudFormation template as JSON, so that cfn-lint can check what SAM really generates.

usage: sam_expand.py template.yaml > expanded.json
"""
import json
import sys

import boto3

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse


# What `sam package` does to local code before the transform sees it: a local CodeUri (a
# folder, built by `sam build`) becomes an S3 location. The transform only accepts the latter.
PACKAGED_TYPES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
    "AWS::Serverless::Api": "DefinitionUri",
    "AWS::Serverless::HttpApi": "DefinitionUri",
}


def as_packaged(template: dict) -> dict:
    def s3(value, key: str):
        if isinstance(value, str) and not value.startswith("s3://"):
            return f"s3://sam-expand-offline/{key}.zip"
        return value

    function_globals = (template.get("Globals") or {}).get("Function") or {}
    if "CodeUri" in function_globals:
        function_globals["CodeUri"] = s3(function_globals["CodeUri"], "globals")
    for name, resource in (template.get("Resources") or {}).items():
        prop = PACKAGED_TYPES.get(resource.get("Type")) if isinstance(resource, dict) else None
        props = resource.get("Properties") if prop else None
        if isinstance(props, dict) and prop in props:
            props[prop] = s3(props[prop], name)
    return template


class ExpandError(Exception):
    pass


def expand(template: dict) -> dict:
    """The CloudFormation template the SAM transform makes of `template` (already packaged)."""
    # A session with a region but no credentials: nothing here calls AWS.
    session = boto3.session.Session(region_name="eu-west-1")
    translator = Translator(managed_policy_map={}, sam_parser=Parser(), boto_session=session)
    try:
        return translator.translate(
            sam_template=template,
            parameter_values={"AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"},
            get_managed_policy_map=lambda: {},
        )
    except InvalidDocumentException as e:
        raise ExpandError("\n".join(f"SAM error: {cause.message}" for cause in e.causes)) from e


def main(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        template = as_packaged(yaml_parse(f.read()))
    try:
        expanded = expand(template)
    except ExpandError as e:
        print(e, file=sys.stderr)
        return 1
    json.dump(expanded, sys.stdout, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

"""Load what the API, notifier and sweeper functions import, so the layer's build compiles exactly that to bytecode.

``python cold_imports.py LAYER_DIR SERVICE...`` imports the modules below and creates a boto3 client for each
service from the layer in LAYER_DIR, then prints the file of every module it loaded from there, one per line, for
``compileall -i -``. Lambda mounts layers read-only, so a module without bytecode is compiled again on every cold
start; bytecode for the whole layer would double its size for modules nothing loads. tests/unit/test_layers.py
checks that these imports load every module the handlers' own import loads.
"""

from __future__ import annotations

import importlib
import sys

MODULES = [
    # The functions on this layer (API, notifier, sweeper) and what their requests load.
    "fastapi",
    "fastapi.responses",
    "fastapi.security",
    "starlette.middleware",
    "mangum",
    "pydantic",
    "pydantic_settings",
    "pydantic.functional_serializers",
    "pydantic.v1",  # FastAPI's compatibility layer imports it
    "itsdangerous",
    "python_multipart",
    "aws_lambda_powertools",
    "aws_lambda_powertools.logging.utils",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.data_classes.sqs_event",
    "boto3",
    "boto3.dynamodb.conditions",
]


def warm(services: list[str]) -> None:
    for name in MODULES:
        importlib.import_module(name)
    import boto3

    # Credentials only so that clients can be built; nothing is called.
    session = boto3.session.Session(
        region_name="us-east-1",
        aws_access_key_id="build",
        aws_secret_access_key="build",  # noqa: S106 - a placeholder: no request is ever signed with it
    )
    for service in services:
        session.client(service)  # type: ignore[call-overload]  # names come from the Makefile
    session.resource("dynamodb")


def main(layer_dir: str, services: list[str]) -> None:
    sys.path.insert(0, layer_dir)
    warm(services)
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None) or ""
        if path.startswith(layer_dir) and path.endswith(".py"):
            print(path)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])

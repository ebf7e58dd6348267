"""Validates an SBOM written by `strata audit --sbom` with its spec's own tooling.

usage: python3 tests/sbom_check.py spdx-json|cyclonedx-json FILE

spdx-json: parsed as SPDX 2.3 JSON and checked by the SPDX project's validator
(PyPI spdx-tools); cyclonedx-json: checked against the CycloneDX 1.5 JSON schema in
its strict form (PyPI cyclonedx-python-lib[json-validation]). Exits 1 with the
problems found, 0 when the document is valid.
"""

import sys


def check_spdx(path):
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    return [m.validation_message for m in validate_full_spdx_document(parse_file(path))]


def check_cyclonedx(path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    with open(path) as f:
        error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(f.read())
    return [str(error)] if error else []


def main():
    checks = {"spdx-json": check_spdx, "cyclonedx-json": check_cyclonedx}
    if len(sys.argv) != 3 or sys.argv[1] not in checks:
        sys.exit(__doc__)
    problems = checks[sys.argv[1]](sys.argv[2])
    if problems:
        sys.exit("\n".join(problems))


if __name__ == "__main__":
    main()

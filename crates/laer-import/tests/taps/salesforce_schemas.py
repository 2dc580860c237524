"""Prints the JSON schema tap-salesforce gives each object of salesforce_describe.json.

tap-salesforce ships no schema files: its discovery reads Salesforce's describe of each
object and turns every field into a JSON schema with `field_to_property_schema`. This runs
that same function (tap-salesforce installed in the Python that runs this) on the fields
of the standard objects the shipped mapping reads. Output: {"Account": schema, ...}.
"""

import json
import sys

from tap_salesforce.salesforce import field_to_property_schema


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        describe = json.load(f)
    schemas = {}
    for sobject, fields in describe.items():
        if sobject.startswith("_"):
            continue
        properties = {}
        for name, sf_type in fields.items():
            field = {"name": name, "type": sf_type, "nillable": True}
            schema, _ = field_to_property_schema(field, {})
            properties[name] = schema
        schemas[sobject] = {"type": "object", "properties": properties}
    json.dump(schemas, sys.stdout)


if __name__ == "__main__":
    main()

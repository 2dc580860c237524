"""A Singer stream for a shipped mapping, its records generated from the tap's own schemas.

For each stream the mapping reads, the stream's JSON schema (from the tap's source
distribution, or from a file of schemas) goes to hypothesis-jsonschema, which generates
records that the schema allows: nulls, empty strings, odd numbers, long texts, and dates
of every kind the format admits. Every other record is then pointed at what the test has
stored (links.json): its account rules, `when` conditions, contacts and team members get
values that find something, so that the records are mapped and written, not only refused
for want of an account. The output is SCHEMA, then RECORD lines, per stream.

    python records.py --mapping tap-zendesk.toml --sdist tap_zendesk-2.8.2.tar.gz \
        --links links.json --count 60 > stream.jsonl
"""

import argparse
import json
import re
import sys
import tarfile
import tomllib
import warnings

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import NonInteractiveExampleWarning
from hypothesis_jsonschema import from_schema

warnings.simplefilter("ignore", NonInteractiveExampleWarning)

# tap-hubspot discovers a company's, deal's or contact's properties from HubSpot at run
# time (tap_hubspot.load_schema): each becomes `get_field_schema(type, extras)`, an object
# of value, timestamp, source and sourceId for companies and deals, the bare value for
# contacts. These are HubSpot's types of the default properties the mapping reads.
HUBSPOT_PROPERTIES = {
    "companies": {"name": "string", "domain": "string", "country": "string", "industry": "enumeration",
                  "hubspot_owner_id": "enumeration", "hs_lastmodifieddate": "datetime"},
    "deals": {"dealtype": "enumeration", "hs_is_closed": "bool", "closedate": "datetime",
              "amount": "number", "dealname": "string"},
    "contacts": {"email": "string", "firstname": "string", "lastname": "string", "phone": "string",
                 "jobtitle": "string", "hs_buying_role": "enumeration", "associatedcompanyid": "number"},
}


# Each stream's key_properties, as the tap declares them: a record sent again in a batch
# is written once, as last sent.
KEYS = {
    "tap-hubspot": {"companies": ["companyId"], "deals": ["dealId"], "contacts": ["id"], "owners": ["id"],
                    "engagements": ["engagement_id"]},
    "tap-salesforce": {},  # "Id" for every object
    "tap-zendesk": {},  # "id" for every stream
    "tap-intercom": {},
    "tap-freshdesk": {},
}


def key_properties(tap, stream):
    default = ["Id"] if tap == "tap-salesforce" else ["id"]
    return KEYS.get(tap, {}).get(stream, default)


def hubspot_type(field_type):
    """tap_hubspot.get_field_type_schema, as the tap writes it."""
    if field_type == "bool":
        return {"type": ["null", "boolean"]}
    if field_type == "datetime":
        return {"type": ["null", "string"], "format": "date-time"}
    if field_type == "number":
        return {"type": ["null", "number", "string"]}
    return {"type": ["null", "string"]}


def hubspot_properties(stream, schema):
    props = HUBSPOT_PROPERTIES.get(stream)
    if not props:
        return schema
    if stream == "contacts":
        custom = {name: hubspot_type(t) for name, t in props.items()}
    else:
        custom = {
            name: {
                "type": ["null", "object"],
                "properties": {
                    "value": hubspot_type(t),
                    "timestamp": hubspot_type("datetime"),
                    "source": hubspot_type("string"),
                    "sourceId": hubspot_type("string"),
                },
            }
            for name, t in props.items()
        }
    schema["properties"]["properties"] = {"type": ["null", "object"], "properties": custom}
    return schema


def sdist_schemas(path, streams):
    schemas = {}
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            m = re.search(r"/schemas/([^/]+)\.json$", member.name)
            if m and m.group(1) in streams:
                schema = json.load(tar.extractfile(member))
                if "$ref" in json.dumps(schema):
                    sys.exit(f"{member.name}: $ref is not resolved here")
                schemas[m.group(1)] = schema
    return schemas


def closed(schema):
    """Records with the schema's properties only, as the tap's transformer leaves them."""
    if isinstance(schema, dict):
        if "properties" in schema:
            schema["additionalProperties"] = False
        for value in schema.values():
            closed(value)
    elif isinstance(schema, list):
        for value in schema:
            closed(value)
    return schema


def generate(schema, count):
    # A RECORD's record is an object, though some schemas also allow null at the top.
    schema = dict(schema, type="object")
    records = []

    @settings(max_examples=count, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    @given(from_schema(schema))
    def collect(record):
        records.append(record)

    collect()
    return records[:count]


def steps(path):
    """`a.b[0].c` as ("a"), ("b"), (0), ("c")."""
    out = []
    for part in path.split("."):
        m = re.fullmatch(r"([^\[]+)((?:\[\d+\])*)", part)
        out.append(m.group(1))
        out.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return out


def types_at(schema, path):
    node = schema
    for step in steps(path):
        if node is None:
            return set()
        if isinstance(step, int):
            node = node.get("items")
        else:
            node = (node.get("properties") or {}).get(step)
    if node is None:
        return set()
    found = set()
    for option in [node] + node.get("anyOf", []):
        t = option.get("type", [])
        found.update([t] if isinstance(t, str) else t)
    return found


def typed(value, types):
    """The link's text as the schema types the field, so that records stay valid."""
    if isinstance(value, list):
        return value
    if "integer" in types and re.fullmatch(r"-?\d+", value):
        return int(value)
    if "number" in types and re.fullmatch(r"-?\d+", value) and "string" not in types:
        return int(value)
    if "boolean" in types and value in ("true", "false"):
        return value == "true"
    return value


def put(record, path, value):
    node = record
    path_steps = steps(path)
    for i, step in enumerate(path_steps):
        last = i == len(path_steps) - 1
        nxt = None if last else path_steps[i + 1]
        blank = [] if isinstance(nxt, int) else {}
        if isinstance(step, int):
            while len(node) <= step:
                node.append(None)
            if last:
                node[step] = value
            else:
                if not isinstance(node[step], (dict, list)):
                    node[step] = blank
                node = node[step]
        else:
            if last:
                node[step] = value
            else:
                if not isinstance(node.get(step), (dict, list)):
                    node[step] = blank
                node = node[step]


def field_path(spec):
    if isinstance(spec, str):
        return spec, None
    return spec.get("path"), spec.get("prefix")


def value_at(record, path):
    node = record
    for step in steps(path):
        if isinstance(step, int):
            node = node[step] if isinstance(node, list) and len(node) > step else None
        else:
            node = node.get(step) if isinstance(node, dict) else None
    return node


# Columns every record of a kind has in the source (its id, when it happened): a linked
# record without one gets one, as the tap's key properties and timestamps guarantee.
REQUIRED = {"external_id", "opened_at", "held_at", "responded_at"}


def link(record, entry, schema, links, index):
    """Points one record at what the test stored."""
    def set_text(path, text):
        types = types_at(schema, path)
        if "array" in types and not {"string", "integer", "number"} & types:
            put(record, path, [typed(text, types_at(schema, path + "[0]"))])
        else:
            put(record, path, typed(text, types))

    whens = entry.get("when", [])
    for when in whens if isinstance(whens, list) else [whens]:
        if "in" in when:
            set_text(when["path"], when["in"][0])
        elif when.get("present"):
            set_text(when["path"], "1")
    rules = entry.get("account", [])
    rules = rules if isinstance(rules, list) else [rules]
    if rules:
        rule = rules[0]
        by = rule["by"]
        if by == "external_id":
            text = links["account"]["external_id"]
        elif by == "attribute":
            text = links["account"]["attributes"][rule["attribute"]]
        elif by == "domain":
            text = links["website"]
        elif by == "email_domain":
            text = links["email"]
        else:
            text = links["contacts"][rule["prefix"]]
        set_text(rule["path"], text)
    for column, spec in entry.get("fields", {}).items():
        path, prefix = field_path(spec)
        if path and column in REQUIRED and value_at(record, path) in (None, ""):
            is_id = column == "external_id"
            set_text(path, str(100000 + index) if is_id else "2026-11-02T10:00:00Z")
        if path and isinstance(spec, dict) and spec.get("map"):
            # An enumeration's first value, so that the rest of the record is tried.
            set_text(path, next(k for k in spec["map"] if k != "_"))
        if not path or not prefix:
            continue
        if column in ("team_member_id", "team_members") and prefix in links["members"]:
            set_text(path, links["members"][prefix])
        elif column in ("contact_id", "contacts") and prefix in links["contacts"]:
            set_text(path, links["contacts"][prefix])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mapping", required=True)
    parser.add_argument("--sdist")
    parser.add_argument("--schemas")
    parser.add_argument("--links", required=True)
    parser.add_argument("--count", type=int, default=60)
    args = parser.parse_args()
    with open(args.mapping, "rb") as f:
        mapping = tomllib.load(f)
    with open(args.links, encoding="utf-8") as f:
        links = json.load(f)
    streams = []
    for entry in mapping["streams"]:
        if entry["stream"] not in streams:
            streams.append(entry["stream"])
    if args.sdist:
        schemas = sdist_schemas(args.sdist, streams)
        schemas = {name: hubspot_properties(name, s) for name, s in schemas.items()} \
            if mapping.get("tap") == "tap-hubspot" else schemas
    else:
        with open(args.schemas, encoding="utf-8") as f:
            schemas = json.load(f)
    out = sys.stdout
    for stream in streams:
        if stream not in schemas:
            sys.exit(f"the tap ships no schema for stream {stream}")
        schema = schemas[stream]
        out.write(json.dumps({"type": "SCHEMA", "stream": stream, "schema": schema,
                              "key_properties": key_properties(mapping.get("tap"), stream)}) + "\n")
        entries = [e for e in mapping["streams"] if e["stream"] == stream]
        for i, record in enumerate(generate(closed(json.loads(json.dumps(schema))), args.count)):
            if i % 2 == 0:
                link(record, entries[(i // 2) % len(entries)], schema, links, i)
            out.write(json.dumps({"type": "RECORD", "stream": stream, "record": record}) + "\n")


if __name__ == "__main__":
    main()

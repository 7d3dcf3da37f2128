#!/usr/bin/env python3
"""Reads Sluice change topics as a Python user does: confluent-kafka's
Consumer, read_committed, from the beginning, keys and values decoded
through the schema registry by confluent_kafka.schema_registry.avro's
AvroDeserializer (fastavro), with its default settings.

Prints one JSON line per record:

  {"topic": T, "partition": P, "offset": O, "key": K, "value": V}

or, when the key or the value does not decode:

  {"topic": T, "partition": P, "offset": O, "key": K|null, "error": "value: <exception>: <message>"}

and stops after --count records, or when no record arrived for --quiet
seconds. A summary goes to stderr. Exit code 0 unless the client itself
fails (2).

Decoded values are written as JSON: bytes as base64, decimal.Decimal in
plain notation with every digit of its scale, dates and times (only where a
schema carries an Avro logicalType) in ISO-8601, non-finite floats as the
strings "NaN", "Infinity", "-Infinity".

  consume.py --bootstrap 127.0.0.1:9092 --registry http://127.0.0.1:8081 \
      --count 24 --quiet 20 TOPIC...
"""

import argparse
import base64
import datetime
import decimal
import json
import math
import os
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def plain(v):
    """Returns v as a value json.dumps writes losslessly."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(v).decode("ascii")
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, uuid.UUID):
        return str(v)
    return repr(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", required=True, help="host:port[,host:port...]")
    ap.add_argument("--registry", required=True, help="schema registry URL")
    ap.add_argument("--count", type=int, default=0, help="stop after this many records (0: no limit)")
    ap.add_argument("--quiet", type=float, default=10, help="stop after this many seconds without a record")
    ap.add_argument("topics", nargs="+")
    args = ap.parse_args()

    registry = SchemaRegistryClient({"url": args.registry})
    key_deserializer = AvroDeserializer(registry)
    value_deserializer = AvroDeserializer(registry)
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": "sluice-consume-py-%d-%d" % (os.getpid(), time.time_ns()),
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe(args.topics)

    records = errors = 0
    last = time.monotonic()
    try:
        while args.count == 0 or records < args.count:
            msg = consumer.poll(0.2)
            if msg is None:
                if time.monotonic() - last >= args.quiet:
                    break
                continue
            err = msg.error()
            if err is not None:
                if err.fatal():
                    print("consume.py: %s" % err, file=sys.stderr)
                    return 2
                if err.code() != KafkaError._PARTITION_EOF:
                    print("consume.py: %s" % err, file=sys.stderr)
                continue
            last = time.monotonic()
            records += 1
            out = {"topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset(), "key": None}
            part = "key"
            try:
                if msg.key() is not None:
                    ctx = SerializationContext(msg.topic(), MessageField.KEY, msg.headers())
                    out["key"] = plain(key_deserializer(msg.key(), ctx))
                part = "value"
                value = None
                if msg.value() is not None:
                    ctx = SerializationContext(msg.topic(), MessageField.VALUE, msg.headers())
                    value = plain(value_deserializer(msg.value(), ctx))
                out["value"] = value
            except Exception as e:  # every decode failure is reported, none stops the reader
                errors += 1
                out["error"] = "%s: %s: %s" % (part, type(e).__name__, e)
            print(json.dumps(out, ensure_ascii=False, allow_nan=False), flush=True)
    finally:
        consumer.close()
    print("consume.py: %d records, %d decode errors" % (records, errors), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

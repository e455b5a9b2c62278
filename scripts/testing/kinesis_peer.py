#!/usr/bin/env python3
"""An independent second client for the integration tests: boto3 for Kinesis, and the
aws-kinesis-agg package (PyPI) for the KPL aggregated-record format.

Every command reads JSON on stdin (when it needs input) and prints JSON on stdout. Bytes travel as
base64; hash keys as decimal strings.

  write --endpoint URL --stream NAME   stdin: {"plain": [rec...], "aggregated": [[rec...], ...]}
                                       rec: {"pk", "data", "ehk"?}; writes them with boto3
                                       (aggregates built with aws-kinesis-agg) and prints the
                                       PutRecord results in order.
  read --endpoint URL --stream NAME    every record of every shard from TRIM_HORIZON with boto3,
                                       raw and deaggregated with aws-kinesis-agg.
  aggregate                            stdin: [[rec...], ...]: each list becomes one aggregated
                                       record with aws-kinesis-agg; prints their bytes.
  deaggregate                          stdin: ["base64 bytes", ...]: the user records of each,
                                       parsed with aws-kinesis-agg (explicit hash key only when the
                                       record has the field, read from the protobuf itself).
"""
import argparse
import base64
import hashlib
import json
import sys

import boto3
from aws_kinesis_agg import MAGIC, DIGEST_SIZE
from aws_kinesis_agg.aggregator import RecordAggregator
from aws_kinesis_agg.deaggregator import iter_deaggregate_records
from aws_kinesis_agg import messages_pb2


def client(endpoint):
    return boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="peer-key", aws_secret_access_key="peer-secret")


def b64(data):
    return base64.b64encode(data).decode("ascii")


def aggregate(records):
    aggregator = RecordAggregator(max_size=1024 * 1024)
    for rec in records:
        complete = aggregator.add_user_record(rec["pk"], base64.b64decode(rec["data"]), rec.get("ehk"))
        if complete is not None:
            raise SystemExit("records do not fit in one aggregated record")
    return aggregator.clear_and_get()


def user_records(data, partition_key="outer"):
    """aws-kinesis-agg's deaggregation, with the explicit hash key read from the protobuf (the
    package reports table entry 0 for records that have no explicit hash key index)."""
    boto_style = {"SequenceNumber": "1", "PartitionKey": partition_key, "ApproximateArrivalTimestamp": 0, "Data": data}
    users = list(iter_deaggregate_records([boto_style], data_format="Boto3"))
    aggregated = users and users[0]["kinesis"].get("aggregated", False)
    present = []
    if aggregated:
        message = messages_pb2.AggregatedRecord()
        message.ParseFromString(data[len(MAGIC):-DIGEST_SIZE])
        present = [r.HasField("explicit_hash_key_index") for r in message.records]
    out = []
    for index, user in enumerate(users):
        k = user["kinesis"]
        out.append({
            "pk": k["partitionKey"],
            "ehk": (k.get("explicitHashKey") if present and present[index] else None),
            "sub": k.get("subSequenceNumber", 0),
            # The package base64-encodes the data of user records it unpacked, and passes a plain
            # record's data through as it came.
            "data": k["data"].decode("ascii") if aggregated else b64(k["data"]),
            "aggregated": bool(k.get("aggregated", False)),
        })
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command")
    parser.add_argument("--endpoint")
    parser.add_argument("--stream")
    args = parser.parse_args()

    if args.command == "write":
        spec = json.load(sys.stdin)
        kinesis = client(args.endpoint)
        results = []
        for rec in spec.get("plain", []):
            extra = {"ExplicitHashKey": rec["ehk"]} if rec.get("ehk") else {}
            r = kinesis.put_record(StreamName=args.stream, Data=base64.b64decode(rec["data"]), PartitionKey=rec["pk"], **extra)
            results.append({"shardId": r["ShardId"], "seq": r["SequenceNumber"]})
        for group in spec.get("aggregated", []):
            pk, ehk, data = aggregate(group).get_contents()
            extra = {"ExplicitHashKey": ehk} if ehk else {}
            r = kinesis.put_record(StreamName=args.stream, Data=data, PartitionKey=pk, **extra)
            results.append({"shardId": r["ShardId"], "seq": r["SequenceNumber"]})
        json.dump(results, sys.stdout)
    elif args.command == "read":
        kinesis = client(args.endpoint)
        out = []
        for shard in kinesis.list_shards(StreamName=args.stream)["Shards"]:
            iterator = kinesis.get_shard_iterator(StreamName=args.stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            for _ in range(1000):
                response = kinesis.get_records(ShardIterator=iterator, Limit=10000)
                for r in response["Records"]:
                    out.append({
                        "shardId": shard["ShardId"], "seq": r["SequenceNumber"], "pk": r["PartitionKey"],
                        "data": b64(r["Data"]), "arrival": r["ApproximateArrivalTimestamp"].timestamp(),
                        "encryption": r.get("EncryptionType"),
                        "users": user_records(r["Data"], r["PartitionKey"]),
                    })
                if not response["Records"]:
                    break
                iterator = response["NextShardIterator"]
        json.dump(out, sys.stdout)
    elif args.command == "aggregate":
        json.dump([b64(aggregate(group).get_contents()[2]) for group in json.load(sys.stdin)], sys.stdout)
    elif args.command == "deaggregate":
        json.dump([user_records(base64.b64decode(item)) for item in json.load(sys.stdin)], sys.stdout)
    else:
        raise SystemExit("unknown command " + args.command)


if __name__ == "__main__":
    main()

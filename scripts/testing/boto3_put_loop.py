#!/usr/bin/env python3
"""The baseline for scripts/bench-put: a plain boto3 PutRecords loop, as a user would write it.

Writes COUNT records of SIZE bytes (the same bytes `kinesis put --generate` makes) with random
partition keys, 500 per call, one call at a time, sending failed entries again until none fail.
Prints {"records": n, "calls": n, "retried": n, "seconds": s} on stdout.
"""
import argparse
import json
import string
import sys
import time
import uuid

import boto3


def generated(index, size):
    head = f"{index} ".encode()[:size]
    letters = string.ascii_lowercase.encode()
    body = bytearray(head)
    while len(body) < size:
        body.append(letters[(len(body) + index) % 26])
    return bytes(body)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--stream", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--size", type=int, default=100)
    args = parser.parse_args()
    client = boto3.client("kinesis", endpoint_url=args.endpoint, region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench")
    started = time.monotonic()
    calls = retried = 0
    for start in range(0, args.count, 500):
        entries = [{"Data": generated(index, args.size), "PartitionKey": str(uuid.uuid4())}
                   for index in range(start, min(args.count, start + 500))]
        while entries:
            calls += 1
            answer = client.put_records(StreamName=args.stream, Records=entries)
            entries = [entry for entry, result in zip(entries, answer["Records"]) if "ErrorCode" in result]
            retried += len(entries)
    json.dump({"records": args.count, "calls": calls, "retried": retried, "seconds": time.monotonic() - started}, sys.stdout)


if __name__ == "__main__":
    main()

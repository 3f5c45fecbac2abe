"""Prepares a moto_server for the tests of piecefs's s3 origins (s3/ and test/e2e).

    moto.py setup ENDPOINT
        creates an IAM user allowed s3:* with an access key, then turns on
        moto's request authentication (every later request must be signed by a
        known key), and prints {"id": ..., "secret": ...} on stdout.
    moto.py upload ENDPOINT ID SECRET BUCKET PREFIX DIR
        creates BUCKET if missing and uploads every file under DIR to
        BUCKET/PREFIX/<path relative to DIR>, signed with ID and SECRET, as
        `aws s3 sync DIR s3://BUCKET/PREFIX` would.
"""
import json
import os
import sys
import urllib.request

import boto3

REGION = "us-east-1"
POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


def client(service, endpoint, key_id, secret):
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id=key_id, aws_secret_access_key=secret)


def setup(endpoint):
    # Until authentication is on, moto takes any key.
    iam = client("iam", endpoint, "setup", "setup")
    iam.create_user(UserName="reader")
    iam.put_user_policy(UserName="reader", PolicyName="s3", PolicyDocument=json.dumps(POLICY))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    # INITIAL_NO_AUTH_ACTION_COUNT, set to 0 at run time.
    req = urllib.request.Request(endpoint + "/moto-api/reset-auth", data=b"0", method="POST",
                                 headers={"Content-Type": "text/plain"})
    urllib.request.urlopen(req, timeout=30).read()
    print(json.dumps({"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}))


def upload(endpoint, key_id, secret, bucket, prefix, root):
    s3 = client("s3", endpoint, key_id, secret)
    if bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=bucket)
    n = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            key = os.path.relpath(path, root).replace(os.sep, "/")
            if prefix:
                key = prefix.strip("/") + "/" + key
            s3.upload_file(path, bucket, key)
            n += 1
    print(n)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"setup": setup, "upload": upload}[cmd](*args)

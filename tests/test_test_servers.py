"""The S3 test server itself, driven by the ``minio`` client.

The fake KFP API server has its own tests: ``test_kfp_api_server.py``.
"""

import io

from minio.commonconfig import CopySource
from support.s3_server import S3Endpoint, create_bucket


def test_minio_round_trip(s3_server: S3Endpoint) -> None:
    client = create_bucket(s3_server, "mlpipeline")
    data = bytes(range(256)) * 64
    client.put_object("mlpipeline", "users/u1/xy train.bin", io.BytesIO(data), len(data))
    client.copy_object(
        "mlpipeline", "runs/r1/xy.bin", CopySource("mlpipeline", "users/u1/xy train.bin")
    )
    response = client.get_object("mlpipeline", "runs/r1/xy.bin")
    try:
        assert response.read() == data
    finally:
        response.close()
        response.release_conn()
    names = [o.object_name for o in client.list_objects("mlpipeline", recursive=True)]
    assert names == ["runs/r1/xy.bin", "users/u1/xy train.bin"]
    assert s3_server.env()["AWS_ACCESS_KEY_ID"] == s3_server.access_key


def test_s3_server_is_reset_between_tests(s3_server: S3Endpoint) -> None:
    assert not s3_server.minio().bucket_exists("mlpipeline")

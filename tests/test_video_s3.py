"""A video task's MP4 in an S3-compatible bucket (moto's server, as tests/test_s3_storage.py):
stored as ``{task_id}/0.mp4`` with the content type video/mp4, so the presigned URL the task
query hands out (and the API's /files when it serves the bucket) answers video/mp4."""

from __future__ import annotations

import requests

from test_s3_storage import PREFIX, moto, s3_server  # noqa: F401 - fixtures: moto's S3 and a server on it
from test_video_api import VIDEO_PATH, run

T2V = {"model": "wan2.1-t2v-turbo", "input": {"prompt": "harbour"}, "parameters": {"size": "832*480"}}


def test_the_mp4_is_stored_in_the_bucket_as_video_mp4_and_served_so(s3_server, moto):  # noqa: F811
    server, bucket = s3_server()
    done = run(server, VIDEO_PATH, T2V)
    assert done["output"]["task_status"] == "SUCCEEDED", done
    key = f"{PREFIX}/files/{done['output']['task_id']}/0.mp4"
    assert moto.client.head_object(Bucket=bucket, Key=key)["ContentType"] == "video/mp4"
    r = requests.get(done["output"]["video_url"], timeout=10)
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"


def test_the_mp4_served_through_the_api_from_the_bucket_is_video_mp4(s3_server):  # noqa: F811
    server, _ = s3_server(IMAGESCOPE_S3_SERVE_THROUGH_API="true")
    done = run(server, VIDEO_PATH, T2V)
    assert done["output"]["video_url"].startswith(server.url + "/files/")
    r = requests.get(done["output"]["video_url"], timeout=10)
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4" and r.content[4:8] == b"ftyp"

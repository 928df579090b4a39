"""Results and uploads in an S3-compatible bucket (``IMAGESCOPE_STORAGE_URL=s3://BUCKET/PREFIX``).

The store is moto's S3 server mode on a free port (no MinIO binary can be installed on these
machines); the server under test is a real ``imagescope serve`` pointed at it through the
variables an operator sets, driven by the dashscope SDK and plain HTTP. Every check reads the
bucket back through boto3, as another machine of the deployment would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import boto3
import dashscope
import pytest
import requests
from dashscope import ImageSynthesis
from moto.server import ThreadedMotoServer

from conftest import Server, download, free_port
from imagescope.config import Settings, SettingsError
from imagescope.errors import INTERNAL_ERROR_MESSAGE
from imagescope.storage.local import LocalStorage
from imagescope.storage.s3 import S3Storage, s3_client
from imagescope.storage.uploads import Uploads
from imagescope.tasks.faults import SERVICE_FAULTS
from test_image2image import EDIT_PATH, imageedit, pattern, png_uri

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
FLASH = {"model": "wan2.2-t2i-flash", "input": {"prompt": "a lighthouse"}, "parameters": {"n": 1, "size": "512*512"}}
PREFIX = "deploy/a"


class MotoS3:
    """moto's S3 server in this process; its buckets outlive a stop and a restart on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server: ThreadedMotoServer | None = None
        self.start()
        self.client = boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )  # fmt: skip

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        """Gone: the port refuses connections until ``start``."""
        assert self.server is not None
        self.server.stop()
        self.server._server.server_close()  # type: ignore[union-attr]  # stop() leaves the socket listening

    def bucket(self) -> str:
        name = f"imagescope-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        return sorted(o["Key"] for o in self.client.list_objects_v2(Bucket=bucket).get("Contents", []))


@pytest.fixture(autouse=True)
def _sdk_base_url():
    """Tests point the SDK at their own server: the only change a user makes."""
    previous = dashscope.base_http_api_url
    yield
    dashscope.base_http_api_url = previous


@pytest.fixture(scope="module")
def moto() -> MotoS3:
    store = MotoS3()
    yield store
    store.stop()


@pytest.fixture
def s3_server(moto, tmp_path):
    """A server whose results and uploads go to a fresh bucket of ``moto``: ``make(**env)``."""
    started: list[Server] = []

    def make(**env: str) -> tuple[Server, str]:
        bucket = moto.bucket()
        variables = {
            "IMAGESCOPE_STORAGE_URL": f"s3://{bucket}/{PREFIX}",
            "IMAGESCOPE_S3_ENDPOINT_URL": moto.endpoint,
            "IMAGESCOPE_WORKERS": "2",
            **CREDENTIALS,
            **env,
        }
        server = Server(tmp_path / f"data{len(started)}", env=variables).start()
        started.append(server)
        return server, bucket

    yield make
    for server in started:
        server.stop()


def files_on_disk(data_dir: Path) -> list[Path]:
    """What the server keeps on its own disk besides its database and signing key."""
    own = {"url-signing.key"}
    return [
        p for p in data_dir.rglob("*") if p.is_file() and p.name not in own and not p.name.startswith("imagescope.db")
    ]


def test_result_url_is_a_presigned_get_of_the_bucket_valid_24h_and_no_file_lands_on_the_server(s3_server, moto):
    server, bucket = s3_server()
    dashscope.base_http_api_url = server.api
    rsp = ImageSynthesis.call(api_key=server.key, model="wan2.2-t2i-flash", prompt="a lighthouse", n=2, size="512*512")
    assert rsp.status_code == 200 and rsp.output.task_status == "SUCCEEDED", rsp
    task_id = rsp.output.task_id
    assert moto.keys(bucket) == [f"{PREFIX}/files/{task_id}/0.png", f"{PREFIX}/files/{task_id}/1.png"]
    for i, result in enumerate(rsp.output.results):
        url = urlparse(result.url)
        assert f"{url.scheme}://{url.netloc}" == moto.endpoint
        assert url.path == f"/{bucket}/{PREFIX}/files/{task_id}/{i}.png"
        query = parse_qs(url.query)
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and "X-Amz-Signature" in query
        assert abs(int(query["X-Amz-Expires"][0]) - 24 * 3600) < 60  # the hosted service's 24 h
        assert download(result.url).size == (512, 512)
    assert files_on_disk(server.data_dir) == []


def test_sdk_file_upload_goes_to_the_bucket_the_edit_reads_it_and_other_accounts_cannot(s3_server, moto, tmp_path):
    server, bucket = s3_server()
    path = tmp_path / "local.png"
    pattern("ramp").save(path)
    dashscope.base_http_api_url = server.api
    rsp = ImageSynthesis.call(
        api_key=server.key,
        model="wanx2.1-imageedit",
        function="colorization",
        prompt="colour it",
        base_image_url=f"file://{path}",
    )
    assert rsp.status_code == 200 and rsp.output.task_status == "SUCCEEDED", rsp
    download(rsp.output.results[0].url)
    [upload] = [k for k in moto.keys(bucket) if k.startswith(f"{PREFIX}/uploads/")]
    assert upload.startswith(f"{PREFIX}/uploads/imagescope/") and upload.endswith("/local.png")
    assert moto.client.get_object(Bucket=bucket, Key=upload)["Body"].read() == path.read_bytes()
    assert files_on_disk(server.data_dir) == []  # neither the upload nor the results

    oss = "oss://" + upload.removeprefix(f"{PREFIX}/uploads/")
    mine = requests.post(
        server.api + EDIT_PATH,
        json=imageedit("colorization", oss),
        headers={**server.headers(), "X-DashScope-OssResourceResolve": "enable"},
        timeout=10,
    )
    assert mine.status_code == 200, mine.text
    stranger = requests.post(
        server.api + EDIT_PATH,
        json=imageedit("colorization", oss),
        headers={**server.headers(server.new_key("stranger")), "X-DashScope-OssResourceResolve": "enable"},
        timeout=10,
    )
    assert stranger.status_code == 400 and stranger.json()["code"] == "BadRequest.InputDownloadFailed"
    assert bucket not in stranger.text and "s3" not in stranger.json()["message"].lower()


def test_upload_policy_keeps_keys_confined_and_refuses_overwrites_on_the_bucket(s3_server, moto):
    server, bucket = s3_server()
    policy = requests.get(
        f"{server.api}/uploads",
        params={"action": "getPolicy", "model": "wanx2.1-imageedit"},
        headers=server.headers(asynchronous=False),
        timeout=10,
    ).json()["output"]
    form = {"OSSAccessKeyId": policy["oss_access_key_id"], "Signature": policy["signature"], "policy": policy["policy"]}

    def upload(key: str) -> requests.Response:
        return requests.post(policy["upload_host"], data={**form, "key": key}, files={"file": ("x", b"x")}, timeout=10)

    assert upload(policy["upload_dir"] + "/a.png").status_code == 200
    assert upload(policy["upload_dir"] + "/a.png").status_code == 409  # no overwrite, the bucket asked
    assert upload(policy["upload_dir"] + "/../escape.png").status_code == 403
    assert upload("imagescope/999/other/x.png").status_code == 403
    assert moto.keys(bucket) == [f"{PREFIX}/uploads/{policy['upload_dir']}/a.png"]


def test_purge_deletes_the_task_objects_from_the_bucket(s3_server, moto):
    server, bucket = s3_server(IMAGESCOPE_TASK_TTL_SECONDS="2", IMAGESCOPE_PURGE_INTERVAL_SECONDS="0.3")
    task_id = server.run({**FLASH, "parameters": {"n": 2}})["output"]["task_id"]
    assert len(moto.keys(bucket)) == 2
    deadline = time.time() + 10
    while moto.keys(bucket) and time.time() < deadline:
        time.sleep(0.2)
    assert moto.keys(bucket) == []
    assert server.task(task_id)["output"]["task_status"] == "UNKNOWN"


def test_uploads_older_than_their_lifetime_are_purged_from_the_bucket_and_fresh_ones_kept(moto, monkeypatch):
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    bucket = moto.bucket()
    storage = S3Storage(s3_client(moto.endpoint), bucket, "uploads/")
    uploads = Uploads(storage, b"secret")
    uploads.save("imagescope/1/d/kept.png", b"kept")
    assert uploads.purge(older_than=time.time() - 3600) == 0  # written just now
    assert moto.keys(bucket) == ["uploads/imagescope/1/d/kept.png"]
    storage.save("t1/0.png", b"a result, not an upload")
    assert uploads.purge(older_than=time.time() + 60) == 1
    assert moto.keys(bucket) == ["uploads/t1/0.png"]


def test_serve_through_api_option_gives_signed_files_urls_that_serve_the_objects(s3_server, moto):
    server, bucket = s3_server(IMAGESCOPE_S3_SERVE_THROUGH_API="true")
    done = server.run(FLASH)["output"]
    url = done["results"][0]["url"]
    assert url.startswith(f"{server.url}/files/{done['task_id']}/0.png?Expires=")
    assert download(url).size == (512, 512)
    head = requests.head(url, timeout=10)
    assert head.status_code == 200 and head.headers["content-type"] == "image/png"
    assert requests.get(url.replace("Signature=", "Signature=x"), timeout=10).status_code == 403
    assert moto.keys(bucket) == [f"{PREFIX}/files/{done['task_id']}/0.png"]
    assert files_on_disk(server.data_dir) == []


def test_store_outage_puts_tasks_back_submissions_answer_503_and_all_finish_when_it_returns(tmp_path):
    store = MotoS3()  # its own: this test stops it
    bucket = store.bucket()
    env = {
        "IMAGESCOPE_STORAGE_URL": f"s3://{bucket}",
        "IMAGESCOPE_S3_ENDPOINT_URL": store.endpoint,
        **CREDENTIALS,
    }
    server = Server(tmp_path / "data", env=env).start()
    try:
        assert server.run(FLASH)["output"]["task_status"] == "SUCCEEDED"
        store.stop()
        ids = [server.submit(FLASH).json()["output"]["task_id"] for _ in range(3)]  # rows only: accepted
        edit = requests.post(
            server.api + EDIT_PATH,
            json=imageedit("colorization", png_uri(pattern("ramp"))),
            headers=server.headers(),
            timeout=30,
        )
        assert edit.status_code == 503 and edit.json()["code"] == "ServiceUnavailable"  # its input cannot be kept
        assert "127.0.0.1" not in edit.text and "Errno" not in edit.text  # no exception text
        deadline = time.time() + 4
        while time.time() < deadline:  # nothing fails while the store is away, nothing can succeed
            assert {server.task(i)["output"]["task_status"] for i in ids} <= {"PENDING", "RUNNING"}
            time.sleep(0.3)
        store.start()
        done = [server.wait(i, timeout=60)["output"] for i in ids]
        assert [d["task_status"] for d in done] == ["SUCCEEDED"] * 3
        download(done[0]["results"][0]["url"])
        assert "workers stop claiming" in "".join(server.output)
    finally:
        server.stop()
        store.stop()


def test_a_bucket_denying_writes_fails_the_task_with_internal_error_unbilled_and_the_next_one_runs(s3_server, moto):
    server, bucket = s3_server(IMAGESCOPE_FAULT_RETRY_SECONDS="1")
    moto.client.delete_bucket(Bucket=bucket)  # every write answers NoSuchBucket now
    out = server.run(FLASH)
    assert out["output"]["task_status"] == "FAILED", out
    assert (out["output"]["code"], out["output"]["message"]) == ("InternalError", INTERNAL_ERROR_MESSAGE)
    assert not out.get("usage", {}).get("image_count")  # no image billed
    moto.client.create_bucket(Bucket=bucket)
    assert server.run(FLASH)["output"]["task_status"] == "SUCCEEDED"


@pytest.fixture(params=["local", "s3"])
def backend(request, tmp_path, moto, monkeypatch):
    """Each storage backend, empty: the S3 one over moto with a key prefix, as deployed."""
    if request.param == "local":
        return LocalStorage(tmp_path / "files")
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return S3Storage(s3_client(moto.endpoint), moto.bucket(), "p/files/")


def test_both_backends_keep_the_same_contract(backend):
    assert backend.read("t1/0.png") is None and not backend.exists("t1/0.png")
    backend.save("t1/inputs/image.png", b"input")
    backend.save("t1/0.png", b"first run")
    backend.save("t1/0.png", b"second run")  # replaced whole
    assert backend.read("t1/0.png") == b"second run" and backend.exists("t1/0.png")
    backend.save("t2/0.png", b"another task")
    backend.probe()

    backend.discard_outputs("t1")  # a run given back: its inputs stay for the next
    assert backend.read("t1/0.png") is None and backend.read("t1/inputs/image.png") == b"input"
    backend.delete_task("t1")
    assert backend.read("t1/inputs/image.png") is None and backend.read("t2/0.png") == b"another task"
    assert backend.sweep_temporary(older_than=time.time() + 60) == 0
    for bad in ("../t2/0.png", "t1/../../x"):  # out of the root on disk; the same keys refused in a bucket
        with pytest.raises(ValueError):
            backend.save(bad, b"x")
    url = backend.presigned_url("t2/0.png", int(time.time()) + 600)
    if isinstance(backend, LocalStorage):
        assert url is None  # the API serves files at its signed /files URLs
    else:
        assert url is not None and "/p/files/t2/0.png?" in url
        assert 590 <= int(parse_qs(urlparse(url).query)["X-Amz-Expires"][0]) <= 600
        assert requests.get(url, timeout=10).content == b"another task"


@pytest.mark.parametrize(
    "where, message",
    [("missing-bucket", "bucket 'nowhere' does not exist at"), ("closed-port", "cannot reach bucket 'nowhere' at")],
)
def test_a_bucket_that_cannot_be_used_stops_the_start_with_one_line_naming_the_variable(moto, tmp_path, where, message):
    endpoint = moto.endpoint if where == "missing-bucket" else f"http://127.0.0.1:{free_port()}"
    env = {
        "IMAGESCOPE_DATA_DIR": str(tmp_path),
        "IMAGESCOPE_STORAGE_URL": "s3://nowhere/x",
        "IMAGESCOPE_S3_ENDPOINT_URL": endpoint,
        **CREDENTIALS,
    }
    result = subprocess.run(
        [sys.executable, "-m", "imagescope", "serve", "--port", str(free_port())],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error:")]  # besides the INFO logs
    assert line.startswith("error: IMAGESCOPE_STORAGE_URL: ") and message in line and endpoint in line


@pytest.mark.parametrize("url", ["gs://bucket/x", "s3://", "s3:///prefix", "bucket/prefix", "s3://b/p?versionId=1"])
def test_a_storage_url_that_is_not_s3_bucket_prefix_is_refused_naming_the_variable(url):
    with pytest.raises(SettingsError, match="^IMAGESCOPE_STORAGE_URL: must be s3://BUCKET"):
        Settings.from_env({"IMAGESCOPE_STORAGE_URL": url})


def test_storage_url_names_the_bucket_and_a_prefix_ending_in_a_slash():
    assert Settings(storage_url="s3://b").s3_location == ("b", "")
    assert Settings(storage_url="s3://b/").s3_location == ("b", "")
    assert Settings(storage_url="s3://b/deploy/a/").s3_location == ("b", "deploy/a/")


def test_botocore_connection_errors_are_service_faults():
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

    assert isinstance(EndpointConnectionError(endpoint_url="http://x"), SERVICE_FAULTS)
    assert isinstance(ConnectionClosedError(endpoint_url="http://x"), SERVICE_FAULTS)
    assert isinstance(ReadTimeoutError(endpoint_url="http://x"), SERVICE_FAULTS)

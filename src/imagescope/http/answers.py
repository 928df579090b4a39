"""The success bodies, as ``/openapi.json`` documents them.

The routes build these bodies themselves (their bytes are pinned by the tests and the SDK
reads them), so the models are documentation, checked against the real answers by the schema
fuzz (tests/test_schema_fuzz.py). Every object may carry more fields than named here, as the
hosted service's do.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"]


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class Created(Answer):
    task_id: str
    task_status: Status


class TaskCreated(Answer):
    """An asynchronous call's answer: the task, PENDING."""

    request_id: str
    output: Created


class ContentPart(Answer):
    image: str | None = Field(None, description="The signed URL of a result image.")
    text: str | None = Field(None, description="A text part of an interleaved answer.")
    type: Literal["image", "text"] | None = None


class ChoiceMessage(Answer):
    role: Literal["assistant"]
    content: list[ContentPart]


class Choice(Answer):
    finish_reason: str = Field(description='"stop" at the end; "null" on a streamed part.')
    message: ChoiceMessage


class Result(Answer):
    """One image of a task: its URL (and prompts), or why it could not be made."""

    url: str | None = None
    orig_prompt: str | None = None
    actual_prompt: str | None = None
    code: str | None = None
    message: str | None = None


class TaskOutput(Answer):
    task_id: str
    task_status: Status
    submit_time: str | None = Field(None, description="UTC+8, YYYY-MM-DD HH:mm:ss.SSS")
    scheduled_time: str | None = None
    end_time: str | None = None
    results: list[Result] | None = None
    video_url: str | None = Field(None, description="A video task's MP4 (signed, valid 24 h).")
    orig_prompt: str | None = Field(None, description="A video task's prompt.")
    actual_prompt: str | None = Field(None, description="A video task's rewritten prompt (prompt_extend).")
    audio: bool | None = Field(
        None, description="Our addition: false when a model that makes sound was asked for it and the engine made none."
    )
    task_metrics: dict[str, int] | None = None
    code: str | None = None
    message: str | None = None
    progress: dict[str, int] | None = Field(
        None, description="While RUNNING (our addition): image, image_count, step, total_steps."
    )
    finished: bool | None = None
    choices: list[Choice] | None = None


class TaskAnswer(Answer):
    """``GET /api/v1/tasks/{task_id}``: an unknown or expired task reads UNKNOWN."""

    request_id: str
    output: TaskOutput
    usage: dict[str, Any] | None = Field(
        None, description="Images: image_count. Videos: video_duration (seconds), video_count, video_ratio (W*H)."
    )


class TaskListItem(Answer):
    task_id: str
    status: Status
    model_name: str
    request_id: str
    gmt_create: int | None = Field(None, description="Unix milliseconds")
    start_time: int | None = None
    end_time: int | None = None


class TaskList(Answer):
    request_id: str
    data: list[TaskListItem]
    total: int
    total_page: int
    page_no: int
    page_size: int


class Acknowledged(Answer):
    request_id: str


class MessagesOutput(Answer):
    choices: list[Choice]
    task_metric: dict[str, int] | None = Field(None, description="qwen models: TOTAL, SUCCEEDED, FAILED.")
    finished: bool | None = Field(None, description="wan2.6 models.")


class MessagesAnswer(Answer):
    """A synchronous call's answer (or, streamed, each event's data)."""

    request_id: str
    output: MessagesOutput
    usage: dict[str, Any]


class UploadPolicy(Answer):
    policy: str
    signature: str
    upload_dir: str
    upload_host: str
    expire_in_seconds: int
    max_file_size_mb: int


class PolicyAnswer(Answer):
    request_id: str
    data: UploadPolicy
    output: UploadPolicy


class ModelsAnswer(Answer):
    request_id: str
    data: list[dict[str, Any]]


class RequestInput(Answer):
    """The request's ``input``; image fields carry signed URLs of the kept inputs (or the URLs given)."""

    prompt: str
    negative_prompt: str | None = None
    function: str | None = None
    base_image_url: str | None = Field(None, description="wanx2.1-imageedit's input image.")
    mask_image_url: str | None = None
    images: list[str] | None = Field(None, description="The other editing models' input images, in order.")


class TaskRequest(Answer):
    """The request as submitted, in the shape of the async image-synthesis body."""

    model: str
    input: RequestInput
    parameters: dict[str, Any] = Field(
        description="size (width*height; absent when it followed the input image), n, seed (as drawn when the "
        "request gave none: image i used seed + i), prompt_extend, watermark, and the function's own "
        "parameters (strength, top_scale…, upscale_factor, is_sketch) or max_images (enable_interleave)."
    )


class TaskRequestAnswer(Answer):
    """``GET /api/v1/tasks/{task_id}/request`` (our addition): an unknown, another account's or an
    expired task reads UNKNOWN, with no ``endpoint`` and no ``request``."""

    request_id: str
    task_id: str
    task_status: Status
    endpoint: str | None = Field(
        None, description="The endpoint family it was submitted to: text2image, image2image, image-generation, …"
    )
    request: TaskRequest | None = None


class UsageDay(Answer):
    date: str = Field(
        description="The UTC date, YYYY-MM-DD: invocations count on the day they were submitted, "
        "spend and free images on the day they were charged (the task's end)."
    )
    model: str
    invocations: int
    succeeded: int
    failed: int
    canceled: int
    success_rate: float | None = Field(description="succeeded / (succeeded + failed); null with none finished.")
    images: int = Field(description="Images generated successfully.")
    free_images: int = Field(description="Images taken from the free quota.")
    spend: float = Field(description="USD charged, from the ledger.")
    video_seconds: int = Field(0, description="Video models: seconds of video generated successfully.")
    free_video_seconds: int = Field(0, description="Video models: seconds taken from the free quota.")


class FreeQuotaLeft(Answer):
    model: str
    free_quota: int = Field(
        description="Free images (video models: seconds): the account's own quota, else the model's."
    )
    used: int
    left: int = Field(description="0 once expired.")
    expires_at: float = Field(description="Unix seconds: the account's activation plus the model's free days.")
    unit: Literal["images", "seconds"] = Field("images", description="What the quota counts: video models' seconds.")


class OwnUsage(Answer):
    """``GET /api/v1/usage`` (our addition): the caller's own account, per model and UTC day."""

    request_id: str
    days: int
    start: float = Field(description="Unix seconds: the first reported UTC day's start.")
    end: float = Field(description="Unix seconds: the end of today (UTC).")
    usage: list[UsageDay] = Field(description="Days and models with activity only, oldest first.")
    free_quota: list[FreeQuotaLeft] = Field(description="Every model of the server.")


# --- /admin/v1 (our addition) -----------------------------------------------------------------


class AccountAnswer(Answer):
    id: int
    name: str
    activated_at: float = Field(description="Unix seconds: the free quota's days count from here.")
    free_only: bool
    settings: dict[str, dict[str, int | None]] = Field(
        description='Per model (or "*"): submit_rps, concurrency, free_quota overrides.'
    )


class KeyAnswer(Answer):
    id: int
    account: str
    workspace: str
    name: str
    prefix: str = Field(description="The key's first characters; the key itself is shown once, at creation.")
    created_at: float
    revoked: bool


class WorkspaceAnswer(Answer):
    id: str
    account: str
    name: str


class WebhookSecretAnswer(Answer):
    account: str
    secret: str = Field(description='The HMAC-SHA256 key of X-Imagescope-Signature, as text ("whsec_…").')
    created_at: float = Field(description="Unix seconds: when this secret was made (a rotation makes a new one).")


class Accounts(Answer):
    request_id: str
    accounts: list[AccountAnswer]


class OneAccount(Answer):
    request_id: str
    account: AccountAnswer


class NewKey(Answer):
    request_id: str
    key: str = Field(description="The new API key: shown this once.")
    key_info: KeyAnswer


class Keys(Answer):
    request_id: str
    keys: list[KeyAnswer]


class Revoked(Answer):
    request_id: str
    revoked: int


class OneWorkspace(Answer):
    request_id: str
    workspace: WorkspaceAnswer


class Workspaces(Answer):
    request_id: str
    workspaces: list[WorkspaceAnswer]


class OneWebhookSecret(Answer):
    request_id: str
    webhook_secret: WebhookSecretAnswer


class Usage(Answer):
    request_id: str
    granularity: Literal["hour", "day"]
    start: float
    end: float
    usage: list[dict[str, Any]] = Field(
        description="Per period, account and model: invocations, outcomes, images, spend."
    )


class Ledger(Answer):
    request_id: str
    entries: list[dict[str, Any]]
    total_images: int
    total_amount: float

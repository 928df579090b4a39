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
    usage: dict[str, Any] | None = None


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

"""prompt_extend: the rule-based default, and an OpenAI-compatible chat endpoint from configuration."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from imagescope.engines.rewriter import RuleBasedRewriter


def test_rule_based_rewriter_is_deterministic_and_keeps_the_prompt():
    rw = RuleBasedRewriter()
    assert rw.rewrite("a red fox", "qwen-image") == rw.rewrite("a red fox", "qwen-image")
    assert rw.rewrite("a red fox", "qwen-image").startswith("a red fox")
    chinese = rw.rewrite("一只红狐狸", "qwen-image")
    assert chinese.startswith("一只红狐狸") and chinese.endswith("。")


class ChatServer:
    """A small local server speaking the OpenAI chat-completions protocol."""

    def __init__(self, status: int = 200):
        self.requests: list[tuple[dict, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append((dict(self.headers), body))
                answer = json.dumps(
                    {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {
                                    "role": "assistant",
                                    "content": "REWRITTEN: " + body["messages"][-1]["content"],
                                },
                            }
                        ],
                    }
                ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/v1"


@pytest.fixture
def chat():
    server = ChatServer()
    yield server
    server.httpd.shutdown()


def test_configured_chat_endpoint_produces_actual_prompt(make_server, chat):
    s = make_server(
        IMAGESCOPE_REWRITER_URL=chat.url,
        IMAGESCOPE_REWRITER_MODEL="qwen-plus",
        IMAGESCOPE_REWRITER_API_KEY="sk-upstream",
    )
    out = s.run({"model": "qwen-image", "input": {"prompt": "a tiny house"}})["output"]
    assert out["results"][0]["actual_prompt"] == "REWRITTEN: a tiny house"
    assert out["results"][0]["orig_prompt"] == "a tiny house"
    headers, body = chat.requests[-1]
    assert headers["Authorization"] == "Bearer sk-upstream"
    assert body["model"] == "qwen-plus"
    assert body["messages"][0]["role"] == "system" and body["messages"][-1]["content"] == "a tiny house"


def test_chat_endpoint_is_not_called_when_prompt_extend_is_off(make_server, chat):
    s = make_server(IMAGESCOPE_REWRITER_URL=chat.url, IMAGESCOPE_REWRITER_MODEL="m")
    out = s.run({"model": "qwen-image", "input": {"prompt": "p"}, "parameters": {"prompt_extend": False}})
    assert "actual_prompt" not in out["output"]["results"][0]
    assert chat.requests == []


def test_failing_chat_endpoint_falls_back_to_the_rules_and_the_task_succeeds(make_server):
    broken = ChatServer(status=500)
    try:
        s = make_server(IMAGESCOPE_REWRITER_URL=broken.url, IMAGESCOPE_REWRITER_MODEL="m")
        out = s.run({"model": "qwen-image", "input": {"prompt": "a boat"}})["output"]
        assert out["task_status"] == "SUCCEEDED"
        assert out["results"][0]["actual_prompt"] == RuleBasedRewriter().rewrite("a boat", "qwen-image")
    finally:
        broken.httpd.shutdown()

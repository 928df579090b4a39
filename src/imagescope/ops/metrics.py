"""Prometheus metrics for operators (``GET /metrics``).

Counters and histograms count what this process saw (requests it answered, tasks it
ended); Prometheus sums them over processes. Queue depth and running tasks are read
from the database at scrape time, so they are the whole deployment's.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from imagescope.db import Database, Task
from imagescope.tasks.store import TaskEnd, TaskStatus

TASK_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800)


class _TaskGauges:
    """PENDING and RUNNING tasks per model, counted in the database when scraped."""

    def __init__(self, db: Database):
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        queued = GaugeMetricFamily("imagescope_queue_depth", "Tasks waiting (PENDING), by model.", labels=["model"])
        running = GaugeMetricFamily("imagescope_tasks_running", "Tasks RUNNING, by model.", labels=["model"])
        with Session(self.db) as session:
            counts = session.execute(
                select(Task.status, Task.model, func.count())
                .where(Task.status.in_((TaskStatus.PENDING, TaskStatus.RUNNING)))
                .group_by(Task.status, Task.model)
            ).all()
        for status, model, count in counts:
            (queued if status == TaskStatus.PENDING else running).add_metric([model], count)
        yield queued
        yield running


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, db: Database):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "imagescope_requests",
            "HTTP requests answered, by endpoint, method and status code.",
            ["endpoint", "method", "code"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "imagescope_request_duration_seconds",
            "Time to answer an HTTP request, by endpoint.",
            ["endpoint"],
            registry=self.registry,
        )
        self.task_seconds = Histogram(
            "imagescope_task_duration_seconds",
            "Task submission to end, by model and final status.",
            ["model", "status"],
            buckets=TASK_BUCKETS,
            registry=self.registry,
        )
        self.images = Counter(
            "imagescope_images_generated",
            "Images generated successfully, by model.",
            ["model"],
            registry=self.registry,
        )
        self.video_seconds = Counter(
            "imagescope_video_seconds_generated",
            "Seconds of video generated successfully, by model.",
            ["model"],
            registry=self.registry,
        )
        self.registry.register(_TaskGauges(db))

    def request_done(self, endpoint: str, method: str, code: int, seconds: float) -> None:
        self.requests.labels(endpoint, method, str(code)).inc()
        self.request_seconds.labels(endpoint).observe(seconds)

    def task_ended(self, end: TaskEnd) -> None:
        self.task_seconds.labels(end.model, end.status.value).observe(max(0.0, end.end_time - end.submit_time))
        if end.images:
            self.images.labels(end.model).inc(end.images)
        if end.video_seconds:
            self.video_seconds.labels(end.model).inc(end.video_seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

"""The worker's run of a video task: one MP4 from one ``VideoJob``.

check the duration (the hosted service accepts any at submission and fails the task) → load the
input frames, reference images and clips (content-inspected as the image inputs are) → the
output size (an image-to-video's follows its first frame: the tier's pixels in its proportions)
→ rewrite the prompt (prompt_extend) → the engine's ability for the request, checked before it
is given the job → the MP4, probed, into storage as ``{task_id}/0.mp4`` → one ``VideoPart``.
Progress is the engine's frames (or steps); a cancel stops it between them, as for images.
Anything the engine raises goes to the worker's own handling (``Worker._run``): JobRefused is
the user's InvalidParameter, anything else an InternalError whose words stay in the log.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING

import av
from PIL import Image

from imagescope.engines import Canceled, JobRefused
from imagescope.engines.video import ImageToVideoEngine, TextToVideoEngine, VideoEditEngine, VideoJob
from imagescope.models.catalog import ModelSpec
from imagescope.models.video import tier_size
from imagescope.tasks.spec import STORED, VideoPart, VideoSpec

if TYPE_CHECKING:  # the worker calls this module; at run time the object is all it needs
    from imagescope.tasks.run import TaskRun
    from imagescope.tasks.store import TaskRecord
    from imagescope.tasks.worker import Worker

log = logging.getLogger(__name__)

DURATION_UNSUPPORTED = "duration customization is not supported"  # the hosted words (video-notes §2, S7)


def video_key(task_id: str) -> str:
    return f"{task_id}/0.mp4"


def make_video(worker: Worker, task: TaskRecord, run: TaskRun) -> str | None:
    """Makes the task's MP4 into ``run``; returns the rewritten prompt (None: not rewritten)."""
    req = task.request
    video = req.options
    spec = worker.catalog.models[req.model]
    assert isinstance(video, VideoSpec) and spec.video is not None  # GenerationRequest's rule for videos
    if video.duration not in spec.video.durations:
        raise JobRefused(DURATION_UNSUPPORTED)
    engine = worker.engines[spec.engine_for(None)]
    job_inputs = _load(worker, spec, video)
    first = job_inputs.get("first_frame")
    size = req.size
    if size is None:
        assert isinstance(first, Image.Image)  # i2v and kf2v keep their first frame (protocol)
        size = tier_size(video.resolution, *first.size)
    actual_prompt = worker.rewriter.rewrite(req.prompt, req.model) if req.prompt_extend else None
    job = VideoJob(
        model=req.model,
        prompt=actual_prompt or req.prompt,
        negative_prompt=req.negative_prompt,
        width=size[0],
        height=size[1],
        fps=video.fps,
        duration_s=video.duration,
        seed=req.seed,
        function=video.function,
        vace=video.vace,
        watermark=spec.watermark_text if req.watermark else "",
        **job_inputs,  # type: ignore[arg-type]  # the VideoJob fields _load fills, by name
    )
    run.begin(0)
    if job.function is not None:
        if not isinstance(engine, VideoEditEngine) or job.function not in engine.functions:
            raise JobRefused(f"The engine of {req.model} cannot run {job.function.value}.")
        data = engine.edit_video(job, progress=run.step, should_stop=run.should_stop)
    elif job.first_frame is not None:
        if not isinstance(engine, ImageToVideoEngine) or (job.last_frame is not None and not engine.takes_last_frame):
            raise JobRefused(f"The engine of {req.model} cannot make videos from images.")
        data = engine.make(job, progress=run.step, should_stop=run.should_stop)
    else:
        if not isinstance(engine, TextToVideoEngine):
            raise JobRefused(f"The engine of {req.model} cannot make videos from text.")
        data = engine.make(job, progress=run.step, should_stop=run.should_stop)
    _probe(data, job)
    if run.should_stop():  # canceled (or the worker draining) as the last frame was made
        raise Canceled(task.id)
    key = video_key(task.id)
    worker.storage.save(key, data)
    run.add(VideoPart(len(run.results), key, job.width, job.height, job.fps, job.frames, video.duration))
    return actual_prompt


def _load(worker: Worker, spec: ModelSpec, video: VideoSpec) -> dict[str, object]:
    """The job's inputs by VideoJob field, decoded; every picture fetched now and each clip's
    first frame content-inspected (pictures kept at submission were inspected then; a mask is
    not content)."""
    inputs = worker.edit_inputs
    loaded: dict[str, object] = {}
    pictures: list[Image.Image] = []
    for field in ("first_frame", "last_frame"):
        if reference := getattr(video, field):
            image = inputs.load(reference, spec.image_rules).image
            loaded[field] = image
            if not reference.startswith(STORED):
                pictures.append(image)
    if video.reference_images:
        references = tuple(inputs.load(ref, spec.image_rules).image for ref in video.reference_images)
        loaded["reference_images"] = references
        pictures.extend(
            image for ref, image in zip(video.reference_images, references, strict=True) if not ref.startswith(STORED)
        )
    clip = video.video or video.last_clip  # video_extension into a clip only: lead into it
    if clip:
        frames = tuple(inputs.load_video(clip, "video_url" if video.video else "last_clip_url"))
        loaded["video"] = frames
        pictures.append(frames[0])
    if video.mask:
        if video.mask_is_video:
            loaded["mask"] = tuple(inputs.load_video(video.mask, "mask_video_url", mode="L"))
        else:
            loaded["mask"] = (inputs.load(video.mask, spec.image_rules, mode="L").image,)
    for picture in pictures:
        worker.inspector.check_image(picture)
    return loaded


def _probe(data: bytes, job: VideoJob) -> None:
    """What the engine made, read back from its container: the job's size and frame count, or
    the engine's bug (an InternalError, its words in the log)."""
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        frames = stream.frames or sum(1 for packet in container.demux(stream) if packet.size)
    if (width, height) != (job.width, job.height) or frames != job.frames:
        made, asked = f"{width}x{height}, {frames} frames", f"{job.width}x{job.height}, {job.frames} frames"
        raise RuntimeError(f"the engine made {made}, not {asked}")

"""diffusers weights in memory: one copy per process, shared by every pipeline built on it.

    pipe, lock = shared_pipeline("qwen-image", options)  # loads on first use; calls take ``lock``
    register_pipeline(options, pipe)                     # an already-built pipeline (benchmarks)

A weights directory (and dtype, device and fast path: ``fast_path.py``) is loaded once; further pipeline classes on it
(Qwen-Image's img2img, inpaint, ControlNet pipelines) are built with ``from_pipe`` on the same
modules. A ControlNet directory is loaded once too. Directories are checked before diffusers
sees them, so a missing or half-downloaded one is an :class:`EngineConfigError` naming it.
"""

from __future__ import annotations

import inspect
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import diffusers
import torch

from imagescope.engines.base import EngineConfigError
from imagescope.engines.diffusers.fast_path import apply_fast_path, check_lora, fast_path_key

if TYPE_CHECKING:
    from imagescope.engines.diffusers.options import DiffusersOptions

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}

# diffusers is untyped: its pipelines, pipeline classes and models are ``Any`` here.


class Loaded:
    """One weights directory in memory, and the pipelines built on its modules."""

    def __init__(self, pipe: Any, key: str | None = None) -> None:
        # Keyed by class name; CLASS:CONTROLNET-DIRECTORY for a pipeline with a ControlNet.
        self.pipelines: dict[str, Any] = {key or type(pipe).__name__: pipe}
        self.lock = threading.Lock()  # the modules (and the scheduler's state) are shared


registry: dict[tuple[str, str, str, str], Loaded] = {}
_controlnets: dict[tuple[str, str, str], Any] = {}  # (directory, dtype, device) → the model
_lock = threading.Lock()


def shared_pipeline(name: str, options: DiffusersOptions) -> tuple[Any, threading.Lock]:
    """The process's pipeline for these options, and the lock its calls take."""
    cls = pipeline_class(options.pipeline)
    device = torch_device(options.device)
    weights = Path(options.weights).expanduser()
    controlnet = controlnet_dir(options, cls)
    key = _registry_key(options)
    pipe_key = cls.__name__ if controlnet is None else f"{cls.__name__}:{controlnet.resolve()}"
    with _lock:
        loaded = registry.get(key)
        if loaded is None or pipe_key not in loaded.pipelines:
            check_pipeline_weights(name, options)
            dtype = DTYPES[options.dtype]
            parts: dict[str, Any] = {}
            if controlnet is not None:
                parts["controlnet"] = _shared_controlnet(name, controlnet, options.dtype, device)
            if loaded is None:
                pipe = apply_fast_path(name, _load(name, cls, weights, dtype, parts), options, device)
                loaded = registry[key] = Loaded(pipe, pipe_key)
            else:
                base = next(iter(loaded.pipelines.values()))
                try:
                    pipe = cls.from_pipe(base, dtype=dtype, **parts)
                except ValueError as exc:
                    raise EngineConfigError(f"{name}: cannot build {cls.__name__} on {weights}: {exc}") from exc
                pipe.set_progress_bar_config(disable=True)
                loaded.pipelines[pipe_key] = pipe
        return loaded.pipelines[pipe_key], loaded.lock


def _registry_key(options: DiffusersOptions) -> tuple[str, str, str, str]:
    """The registry's key for ``options``: one copy per weights directory, dtype, device and fast path."""
    weights = str(Path(options.weights).expanduser().resolve())
    return (weights, options.dtype, str(torch_device(options.device)), fast_path_key(options))


def _load(name: str, cls: type[Any], weights: Path, dtype: torch.dtype, parts: dict[str, Any]) -> Any:
    try:
        pipe = cls.from_pretrained(weights, dtype=dtype, local_files_only=True, **parts)
    except Exception as exc:  # a truncated file, another version's config, no torchvision, ...
        raise EngineConfigError(f"{name}: cannot load {cls.__name__} from {weights}: {exc}") from exc
    pipe.set_progress_bar_config(disable=True)
    return pipe


def controlnet_dir(options: DiffusersOptions, cls: type[Any]) -> Path | None:
    """The ControlNet directory a pipeline of ``cls`` gets; None for pipelines without one."""
    if options.controlnet is None or "controlnet" not in pipeline_modules(cls):
        return None
    return Path(options.controlnet).expanduser()


def _shared_controlnet(name: str, directory: Path, dtype: str, device: torch.device) -> Any:
    """The process's ControlNet model in ``directory`` (the caller holds the registry lock)."""
    key = (str(directory.resolve()), dtype, str(device))
    if key not in _controlnets:
        cls = check_controlnet(name, directory)
        try:
            model = cls.from_pretrained(directory, dtype=DTYPES[dtype], local_files_only=True)
        except Exception as exc:  # a truncated file, a config of another version, ...
            raise EngineConfigError(f"{name}: cannot load {cls.__name__} from {directory}: {exc}") from exc
        _controlnets[key] = model.to(device)
    return _controlnets[key]


def check_controlnet(name: str, directory: Path) -> type[Any]:
    """A clear error for a missing or half-downloaded ControlNet directory; its model class."""
    config = directory / "config.json"
    if not config.is_file():
        what = "not found" if not directory.is_dir() else "incomplete"
        raise EngineConfigError(f"{name} controlnet {what}: {directory} (expected config.json)")
    try:
        class_name = json.loads(config.read_text())["_class_name"]
    except (ValueError, KeyError, TypeError):
        raise EngineConfigError(f"{name} controlnet incomplete: {config} is not a diffusers model config") from None
    cls = getattr(diffusers, class_name, None) if isinstance(class_name, str) else None
    if not (isinstance(cls, type) and issubclass(cls, diffusers.ModelMixin)):
        raise EngineConfigError(
            f"{name} controlnet: diffusers {diffusers.__version__} has no model class {class_name!r} (in {config})"
        )
    problem = _component_problem(directory)
    if problem:
        raise EngineConfigError(f"{name} controlnet incomplete: {directory} {problem}")
    return cls


def saved_class(weights: Path) -> str:
    """The pipeline class the weights were saved as: model_index.json's ``_class_name``."""
    if not weights.is_dir():
        raise EngineConfigError(f"weights directory not found: {weights}")
    index = weights / "model_index.json"
    if not index.is_file():
        raise EngineConfigError(f"{weights} has no model_index.json: incomplete, or not a diffusers weights directory")
    try:
        class_name = json.loads(index.read_text())["_class_name"]
    except (ValueError, KeyError, TypeError):
        class_name = None
    if not isinstance(class_name, str):
        raise EngineConfigError(f"{index} is not a diffusers model index")
    return class_name


def check_pipeline_weights(name: str, options: DiffusersOptions) -> None:
    """:func:`check_weights` for the pipeline ``options`` name; a ControlNet it takes comes from
    its own directory."""
    cls = pipeline_class(options.pipeline)
    supplied = ("controlnet",) if controlnet_dir(options, cls) is not None else ()
    check_weights(name, Path(options.weights).expanduser(), cls, supplied)
    if options.lora is not None:
        check_lora(name, Path(options.lora).expanduser())


def check_weights(name: str, weights: Path, cls: type[Any], supplied: tuple[str, ...] = ()) -> None:
    """A clear error for a missing or half-downloaded weights directory, before diffusers' own;
    ``supplied``: parts that come from elsewhere (a ControlNet of its own directory)."""
    index = weights / "model_index.json"
    if not index.is_file():
        what = "not found" if not weights.is_dir() else "incomplete"
        raise EngineConfigError(f"{name} weights {what}: {weights} (expected model_index.json)")
    try:
        components = {
            key: spec
            for key, spec in json.loads(index.read_text()).items()
            if not key.startswith("_") and isinstance(spec, list) and spec[0] is not None
        }
    except (ValueError, IndexError, TypeError) as exc:
        raise EngineConfigError(f"{name} weights incomplete: {index} is not a diffusers model index") from exc
    missing = pipeline_modules(cls) - set(components) - set(cls._optional_components) - set(supplied)
    if missing:
        raise EngineConfigError(
            f"{name}: {cls.__name__} needs {', '.join(sorted(missing))}, which {weights} lacks "
            f"(it holds {', '.join(sorted(components))}): weights for another pipeline?"
        )
    for key in sorted(components):
        problem = _component_problem(weights / key)
        if problem:
            raise EngineConfigError(f"{name} weights incomplete: {weights / key} {problem}")


def _component_problem(folder: Path) -> str | None:
    if not folder.is_dir() or not any(folder.iterdir()):
        return "is missing or empty"
    if not (folder / "config.json").is_file():
        return None  # a tokenizer, processor or scheduler: config files only
    for shard_index in folder.glob("*.index.json"):
        shards = set(json.loads(shard_index.read_text()).get("weight_map", {}).values())
        absent = sorted(shard for shard in shards if not (folder / shard).is_file())
        if absent:
            return f"lacks {len(absent)} of {len(shards)} weight shards, e.g. {absent[0]}"
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
        return "has no weights (*.safetensors)"
    return None


def pipeline_class(name: str) -> type[Any]:
    """diffusers' pipeline class of that name."""
    cls = getattr(diffusers, name, None)
    if not (isinstance(cls, type) and issubclass(cls, diffusers.DiffusionPipeline)):
        raise EngineConfigError(f"diffusers {diffusers.__version__} has no pipeline class {name!r}")
    return cls


def pipeline_modules(cls: type[Any]) -> set[str]:
    """The modules a pipeline of ``cls`` is built of, as ``from_pretrained`` looks for them: the
    ``__init__`` parameters without a default, and those with one that the class names in
    ``_optional_components`` (a class attribute DiffusionPipeline documents). What diffusers'
    private ``DiffusionPipeline._get_signature_keys`` gives as its first list."""
    optional = set(cls._optional_components)
    return {
        name
        for name, parameter in inspect.signature(cls.__init__).parameters.items()
        if name != "self" and (parameter.default is inspect.Parameter.empty or name in optional)
    }


def torch_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EngineConfigError(f"device {device!r}: this torch sees no CUDA device")
    return torch.device(device)


def register_pipeline(options: DiffusersOptions, pipe: Any) -> None:
    """Use ``pipe`` as if it had been loaded from ``options.weights`` (a benchmark seam: a
    pipeline built in memory, e.g. with random full-size weights)."""
    key = _registry_key(options)
    with _lock:
        registry[key] = Loaded(pipe)

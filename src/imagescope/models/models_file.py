"""The models file: which engine serves each public model name, and each function.

    [engines.qwen]                  # a named engine; the models bound to it share one instance
    kind = "diffusers"              # preview | realesrgan | diffusers
    weights = "/models/Qwen-Image"  # relative paths are relative to this file
    dtype = "bf16"

    [engines.sr-anime]
    kind = "realesrgan"
    variant = "anime"

    [models]
    "qwen-image" = "qwen"

    [models."wanx2.1-imageedit"]    # a table: an engine per function
    default = "qwen-edit"
    super_resolution = "sr-anime"

Without a file every model runs on the built-in ``preview`` engine, and wanx2.1-imageedit's
super_resolution on the built-in ``realesrgan`` (variant photo). A file changes only what it
names: a model bound with a plain string keeps its other built-in function bindings
(super_resolution stays on realesrgan unless the table names it).

A ``diffusers`` engine runs one pipeline class (``pipeline``, by default the class the weights
were saved as: model_index.json's ``_class_name``). A text-to-image pipeline serves text-to-image
models, an editing pipeline editing models. Bound to wanx2.1-imageedit, the engine builds the
pipeline each function needs on the same weights (one copy in memory), unless its
``pipelines`` table names another: ``imagescope.engines.diffusers.pipelines``, and docs/models.md.
A Wan video pipeline serves the video models of its mode (``VIDEO_PIPELINES``: WanPipeline
text-to-video, and text-to-image models one frame at a time; WanImageToVideoPipeline
image-to-video, and first-and-last-frame where its weights can end on a frame;
WanVACEPipeline VACE editing), through the video engines of ``engines/diffusers/video.py``.

Mistakes are found when the file is read, each a :class:`ModelsFileError` naming the file and the
key. The file's shape is :class:`ModelsDocument` (``tables.py``): one pydantic model per engine kind, told apart
by ``kind``, no other keys allowed; the values of a diffusers engine's options are the engine's
to judge (``DiffusersOptions``), asked before the weights are looked at. Weights and ControlNet
directories are checked then too (present, model_index.json or config.json, the parts the
pipeline needs), while the weights themselves load at first use, or at start with
``preload = true``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from imagescope.engines import EngineConfigError, PreviewEngine, RealEsrganEngine, builtin_engines
from imagescope.engines.diffusers.pipelines import (
    EDIT_PIPELINES,
    EDIT_WEIGHTS,
    NOT_VIDEO_OPTIONS,
    VIDEO_MODES,
    VIDEO_ONLY_PIPELINES,
    VIDEO_PIPELINES,
    function_pipeline,
    function_problem,
)
from imagescope.models.catalog import Catalog, ModelSpec
from imagescope.models.tables import DiffusersTable, ModelsDocument, PreviewTable, RealEsrganTable, explain

BUILTIN = {"preview": "preview", "realesrgan": "realesrgan"}  # engine name → kind
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class ModelsFileError(Exception):
    """The models file cannot be used as written; the message names the file and the key."""


@dataclass
class Bindings:
    """The catalog with each model's engine names, and the engines under those names.

    Engine names are the file's, plus ``NAME:PIPELINE`` for the other pipelines a diffusers
    engine runs for wanx2.1-imageedit's functions, and ``NAME:video`` for a WanPipeline engine's
    text-to-video (its text-to-image models keep ``NAME``).
    """

    catalog: Catalog
    engines: dict[str, Any]
    kinds: dict[str, str] = field(default_factory=lambda: dict(BUILTIN))  # engine name → kind
    preload: tuple[str, ...] = ()  # engines of the file marked ``preload = true``
    source: Path | None = None

    def describe(self) -> list[dict[str, Any]]:
        """Each model and what serves it: GET /api/v1/models's ``data``."""
        listing = []
        for name, spec in self.catalog.models.items():
            entry: dict[str, Any] = {"model": name, "endpoints": sorted(spec.endpoints), **self._engine(spec.engine)}
            if spec.functions:
                entry["functions"] = {f: self._engine(spec.engine_for(f)) for f in sorted(spec.functions)}
            listing.append(entry)
        return listing

    def _engine(self, key: str) -> dict[str, Any]:
        kind = self.kinds.get(key, "unknown")
        info: dict[str, Any] = {"engine": key.partition(":")[0], "kind": kind}
        engine: Any = self.engines.get(key)
        if kind == "diffusers":
            info["pipeline"] = engine.options.pipeline
        elif kind == "realesrgan":
            info["variant"] = engine.variant
        info["preview"] = kind == "preview"
        return info

    def load(self, names: Iterable[str] | None = None) -> None:
        """Load the weights of the named engines now (default: those marked ``preload``),
        every pipeline their models use, rather than at first use."""
        wanted = set(self.preload if names is None else names)
        if unknown := wanted - {key.partition(":")[0] for key in self.engines}:
            raise ValueError(f"no engine named {', '.join(sorted(unknown))} serves a model")
        for key, engine in self.engines.items():
            if key.partition(":")[0] in wanted and hasattr(engine, "load"):
                try:
                    engine.load()
                except EngineConfigError as exc:
                    raise ModelsFileError(f"{self.source}: engines.{key.partition(':')[0]}: {exc}") from exc


def load_bindings(path: Path | None, catalog: Catalog) -> Bindings:
    """The bindings of the models file at ``path``; None: the built-in ones."""
    if path is None:
        return Bindings(catalog, builtin_engines())
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ModelsFileError(f"{path}: cannot read the models file: {exc.strerror or exc}") from None
    try:
        document = ModelsDocument.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise ModelsFileError(f"{path}: not valid TOML: {exc}") from None
    except ValidationError as exc:  # the first complaint: the one a reader meets first in the file
        key, message = explain(exc.errors(include_url=False)[0])
        raise ModelsFileError(f"{path}: {key}: {message}") from None
    return _ModelsFile(path, catalog).bind(document)


@dataclass
class _Entry:
    name: str
    table: PreviewTable | RealEsrganTable | DiffusersTable
    weights_class: str = ""  # diffusers: the class the weights were saved as

    @property
    def diffusers(self) -> DiffusersTable:
        assert isinstance(self.table, DiffusersTable)  # asked only of diffusers entries
        return self.table


class _ModelsFile:
    def __init__(self, path: Path, catalog: Catalog):
        self.path, self.catalog = path, catalog
        self.entries: dict[str, _Entry] = {}
        self.bindings = Bindings(catalog, builtin_engines(), source=path)

    def error(self, key: str, message: str) -> ModelsFileError:
        return ModelsFileError(f"{self.path}: {key}: {message}")

    def bind(self, document: ModelsDocument) -> Bindings:
        for name, table in document.engines.items():
            self.entries[name] = self._entry(name, table)
        models = dict(self.catalog.models)
        for model, binding in document.models.items():
            models[model] = self._model(model, binding)
        bound = {key.partition(":")[0] for key in self.bindings.engines}
        preload = tuple(
            name
            for name, entry in self.entries.items()
            if isinstance(entry.table, DiffusersTable) and entry.table.preload and name in bound
        )
        return replace(self.bindings, catalog=Catalog(models), preload=preload)

    # --- [engines.NAME] ----------------------------------------------------------------

    def _entry(self, name: str, table: PreviewTable | RealEsrganTable | DiffusersTable) -> _Entry:
        key = f"engines.{name}"
        if name in BUILTIN:
            raise self.error(key, f"{name!r} is a built-in engine; give yours another name")
        if not _NAME.fullmatch(name):
            raise self.error(key, "an engine name is letters, digits, '.', '_' and '-'")
        entry = _Entry(name, table)
        if isinstance(table, PreviewTable):
            self._add(name, "preview", PreviewEngine())
        elif isinstance(table, RealEsrganTable):
            self._add(name, "realesrgan", RealEsrganEngine(**table.model_dump(exclude_unset=True, exclude={"kind"})))
        else:
            self._check_diffusers(entry, table)
        return entry

    def _check_diffusers(self, entry: _Entry, table: DiffusersTable) -> None:
        """The pipelines exist in this diffusers; the option values suit the engine; the weights
        directory is there, saved as some pipeline."""
        key = f"engines.{entry.name}"
        engines = self._diffusers_module(entry)
        named = {"pipeline": table.pipeline, **{f"pipelines.{f}": pipeline for f, pipeline in table.pipelines.items()}}
        functions = {"edit"}.union(*(spec.functions for spec in self.catalog.models.values()))
        for option, pipeline in named.items():
            if option.startswith("pipelines.") and option.partition(".")[2] not in functions:
                raise self.error(f"{key}.{option}", f"unknown function; one of {', '.join(sorted(functions))}")
            if pipeline is None:
                continue
            try:
                engines.pipeline_class(pipeline)
            except EngineConfigError as exc:
                raise self.error(f"{key}.{option}", str(exc)) from None
        self._options(engines, entry, None)  # the values, before any file is looked at
        try:
            entry.weights_class = engines.saved_class(self._path(entry, "weights"))
        except EngineConfigError as exc:
            raise self.error(f"{key}.weights", str(exc)) from None
        if table.controlnet is not None:
            self._check_controlnet(engines, entry)
        self._options(engines, entry, table.pipeline or entry.weights_class)

    def _check_controlnet(self, engines: Any, entry: _Entry) -> None:
        """A ControlNet steers Qwen-Image's transformer: its directory is there, with weights."""
        key = f"engines.{entry.name}.controlnet"
        if entry.weights_class in EDIT_WEIGHTS:
            raise self.error(
                key, f"a ControlNet runs on Qwen-Image (text-to-image) weights, not on {entry.weights_class} ones"
            )
        try:
            engines.check_controlnet(entry.name, self._path(entry, "controlnet"))
        except EngineConfigError as exc:
            raise self.error(key, str(exc)) from None

    def _options(self, engines: Any, entry: _Entry, pipeline: str | None) -> Any:
        """The engine's ``DiffusersOptions`` running ``pipeline`` (None: its default, to check the
        values alone). The engine judges the values; its complaint names the option, here the key."""
        settings = entry.diffusers.engine_options()
        for option in ("controlnet", "lora"):  # directories, relative to the file's folder
            if option in settings:
                settings[option] = self._path(entry, option)
        if pipeline is not None:
            settings["pipeline"] = pipeline
        try:
            return engines.DiffusersOptions(self._path(entry, "weights"), **settings)
        except EngineConfigError as exc:
            option, _, rest = str(exc).partition(" ")  # "steps must be at least 2, not 1"
            if option in settings and option != "pipeline":
                raise self.error(f"engines.{entry.name}.{option}", rest) from None
            raise self.error(f"engines.{entry.name}", str(exc)) from None

    def _path(self, entry: _Entry, option: str) -> Path:
        """A directory option, relative to the models file's folder unless absolute."""
        path = Path(getattr(entry.table, option)).expanduser()
        return path if path.is_absolute() else self.path.parent / path

    def _diffusers_module(self, entry: _Entry) -> Any:
        try:
            from imagescope.engines.diffusers import engine as diffusers_engine
        except ImportError as exc:
            raise self.error(
                f"engines.{entry.name}.kind",
                f"diffusers engines need the diffusers extra: pip install 'imagescope[diffusers]' ({exc})",
            ) from None
        return diffusers_engine

    # --- [models] ------------------------------------------------------------------------

    def _model(self, model: str, binding: Any) -> ModelSpec:
        key = f'models."{model}"'
        spec = self.catalog.models.get(model)
        if spec is None:
            raise self.error(key, f"unknown model; models: {', '.join(self.catalog.models)}")
        if isinstance(binding, dict) and not spec.functions:
            raise self.error(key, f"{model} has no functions: bind it to an engine name, not a table")
        if not isinstance(binding, (str, dict)):
            raise self.error(key, f"must be an engine name{' or a table of functions' if spec.functions else ''}")
        named = {"default": binding} if isinstance(binding, str) else binding

        def at(function: str) -> str:
            return key if isinstance(binding, str) else f"{key}.{function}"

        for function, engine in named.items():
            if function != "default" and function not in spec.functions:
                functions = ", ".join(sorted(spec.functions))
                raise self.error(at(function), f"unknown function of {model}; one of {functions}")
            if not isinstance(engine, str) or engine not in {*BUILTIN, *self.entries}:
                engines = ", ".join([*BUILTIN, *self.entries])
                raise self.error(at(function), f"unknown engine {engine!r}; engines: {engines}")
        default = named.get("default", spec.engine)
        builtin = dict(spec.function_engines)  # kept unless the file names the function
        main = self._key(default, spec, "edit" if spec.input_rules is not None else "", at("default"))
        function_engines = []
        for function in sorted(spec.functions):
            name = named.get(function, builtin.get(function, default))
            engine_key = self._key(name, spec, function, at(function if function in named else "default"))
            if engine_key != main:
                function_engines.append((function, engine_key))
        return replace(spec, engine=main, function_engines=tuple(function_engines))

    def _key(self, name: str, spec: ModelSpec, function: str, where: str) -> str:
        """The name in the engines of what serves ``spec``'s ``function`` as engine ``name``."""
        kind = self.entries[name].table.kind if name in self.entries else self.bindings.kinds.get(name, "")
        if kind == "realesrgan" and function != "super_resolution":
            what = f"{spec.name}'s {function}" if function not in ("", "edit") else spec.name
            raise self.error(
                where, f"engine {name!r} is a realesrgan engine: it serves only super_resolution, not {what}"
            )
        return self._diffusers_key(self.entries[name], spec, function, where) if kind == "diffusers" else name

    def _diffusers_key(self, entry: _Entry, spec: ModelSpec, function: str, where: str) -> str:
        """The pipeline of ``entry`` serving ``spec``'s ``function``, made on first need."""
        name, engines = entry.name, self._diffusers_module(entry)
        main = entry.diffusers.pipeline or entry.weights_class
        if spec.video is not None or main in VIDEO_ONLY_PIPELINES:
            return self._video_key(entry, engines, spec, main, where)
        editing = spec.input_rules is not None
        if editing and main not in EDIT_PIPELINES:
            raise self.error(
                where,
                f"engine {name!r} runs {main}, a text-to-image pipeline, but {spec.name} is an "
                f"editing model: set its pipeline to one of {', '.join(EDIT_PIPELINES)}",
            )
        if not editing and main in EDIT_PIPELINES:
            raise self.error(
                where,
                f"engine {name!r} runs {main}, an editing pipeline, but {spec.name} is a "
                "text-to-image model: set its pipeline to a text-to-image one, "
                "e.g. QwenImagePipeline",
            )
        pipeline = main
        if editing:
            controlnet = entry.diffusers.controlnet is not None
            pipeline = entry.diffusers.pipelines.get(function) or function_pipeline(main, function, controlnet)
            if problem := function_problem(pipeline, function):
                raise self.error(f"engines.{name}", f"{pipeline}, for {spec.name}'s {function}, {problem}")
        key = name if pipeline == main else f"{name}:{pipeline}"
        if key not in self.bindings.engines:
            cls = engines.DiffusersEditEngine if editing else engines.DiffusersTextToImageEngine
            self._add(key, "diffusers", self._diffusers_engine(engines, entry, key, pipeline, cls))
        return key

    def _video_key(self, entry: _Entry, engines: Any, spec: ModelSpec, main: str, where: str) -> str:
        """``entry``'s video engine for the video model ``spec``: its pipeline makes the model's mode
        (``engines``: the diffusers engine module)."""
        name = entry.name
        if spec.video is None:
            raise self.error(
                where,
                f"engine {name!r} runs {main}, a video pipeline, but {spec.name} is an image model: "
                "bind it to an engine running an image pipeline",
            )
        mode = str(spec.video.mode)
        wanted = ", ".join(pipeline for pipeline, modes in VIDEO_PIPELINES.items() if mode in modes)
        if mode not in VIDEO_PIPELINES.get(main, frozenset()):
            makes = " and ".join(VIDEO_MODES[m] for m in sorted(VIDEO_PIPELINES.get(main, ())))
            what = f"which makes {makes}" if makes else "an image pipeline"
            raise self.error(
                where,
                f"engine {name!r} runs {main}, {what}, but {spec.name} makes {VIDEO_MODES[mode]}: "
                f"set its pipeline to {wanted}",
            )
        table = entry.diffusers
        for option in NOT_VIDEO_OPTIONS:
            if getattr(table, option) not in (None, {}):
                raise self.error(f"engines.{name}.{option}", f"is not an option of a video engine ({main})")
        # WanPipeline's text-to-image models keep the engine's own name (one frame a picture).
        key = name if main in VIDEO_ONLY_PIPELINES else f"{name}:video"
        if key not in self.bindings.engines:
            from imagescope.engines.diffusers.video import VIDEO_ENGINES

            self._add(key, "diffusers", self._diffusers_engine(engines, entry, key, main, VIDEO_ENGINES[main]))
        made: Any = self.bindings.engines[key]
        if mode == "kf2v" and not made.takes_last_frame:
            raise self.error(
                where,
                f"engine {name!r} runs {main} on weights that cannot end a video on a given frame "
                f"(Wan2.1 I2V, Wan2.2 TI2V-5B), but {spec.name} makes first-and-last-frame video: "
                "use FLF2V or Wan2.2 I2V weights",
            )
        if mode == "i2v" and made.needs_last_frame:
            raise self.error(
                where,
                f"engine {name!r} runs {main} on weights that make first-and-last-frame video only (FLF2V), "
                f"but {spec.name} makes image-to-video from one frame: use I2V weights",
            )
        return key

    def _diffusers_engine(self, engines: Any, entry: _Entry, key: str, pipeline: str, cls: Any) -> Any:
        """``cls(key, options)`` for ``entry`` running ``pipeline`` (``engines``: the diffusers engine module)."""
        options = self._options(engines, entry, pipeline)
        try:  # the parts this pipeline needs are there, and what it needs installed: cheap, no weights are read
            engines.check_pipeline_weights(key, options)
            return cls(key, options)
        except EngineConfigError as exc:
            raise self.error(f"engines.{entry.name}.weights", str(exc)) from None

    def _add(self, key: str, kind: str, engine: Any) -> None:
        self.bindings.engines[key] = engine
        self.bindings.kinds[key] = kind

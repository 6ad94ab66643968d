"""Typed, frozen view of params.yaml.

Every section of params.yaml is a frozen dataclass with a docstring per field. `load_params` builds
them with a strict loader: an unknown key, a missing key or a value of the wrong type stops with an
`InputError` naming the key path (e.g. `params.yaml: train.lr: expected float, got str 'fast'`).
Cross-field rules (a pair must go weak -> strong along the ladder, methods must exist) are checked
here too, so a stage never starts on a params file that cannot work.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

import yaml

from w2s.errors import InputError

KEY_PATTERN = re.compile(r"^[a-z0-9_]+$")


@dataclass(frozen=True)
class FileTaskParams:
    """A user's own binary task from one local file; no code needed."""

    path: str
    """jsonl / json / csv / parquet file (by suffix), relative to the repo root or absolute."""
    text_column: str
    """Column holding the input text."""
    label_column: str
    """Column holding the binary label (0/1, bool, or two values with `positive_value`)."""
    positive_value: str | int | bool | None = None
    """Which label value means 1, when labels are not already 0/1 or bool."""


@dataclass(frozen=True)
class DataParams:
    """Where task data comes from."""

    source: Literal["hub", "local"] = "hub"
    """`hub`: the Hugging Face dataset hub; `local`: a mirror folder `<local_dir>/<task>/<split>.jsonl`."""
    local_dir: str | None = None
    """The mirror folder for `source: local` (hub field names, one jsonl per split)."""
    file_tasks: dict[str, FileTaskParams] = field(default_factory=dict)
    """Extra tasks from local files, by name; a name here can be listed in `tasks`."""


@dataclass(frozen=True)
class Pair:
    """One weak -> strong pair of the ladder."""

    weak: str
    """Model key of the supervisor (trained on ground truth)."""
    strong: str
    """Model key of the student (trained on the supervisor's labels)."""

    @property
    def name(self) -> str:
        return f"{self.weak}-to-{self.strong}"


@dataclass(frozen=True)
class PrepareParams:
    """Section `prepare`: the pool of rows every seed draws from."""

    n_train: int
    """Training rows in the pool (even); each seed splits them into train_weak and train_transfer."""
    n_test: int
    """Test rows (even, label-balanced), the same for every seed."""
    seed: int = 0
    """Seed of the pool sampling (and of the formatters' random choices)."""


@dataclass(frozen=True)
class EmbedParams:
    """Section `embed`: frozen features of every pool row, once per (task, model)."""

    batch_size: int = 64
    """Texts per forward pass (batches are length-sorted, so padding is small)."""
    max_length: int = 256
    """Token limit; longer texts are truncated and counted in the stage's log."""
    pooling: Literal["auto", "mean", "last"] = "auto"
    """`auto`: mean over real tokens for encoders, last real token for decoders."""
    device: str = "cpu"
    """torch device for the forward passes (`cpu`, `cuda`, `cuda:1`)."""


@dataclass(frozen=True)
class TrainParams:
    """Section `train`: the one trainer shared by `train_gt` and `train_w2s`."""

    mode: Literal["probe"] = "probe"
    """`probe`: a linear head on cached frozen features."""
    weak_fraction: float = 0.5
    """Share of the pool's training rows that go to train_weak (the rest: train_transfer)."""
    epochs: int = 20
    """Passes over the training rows."""
    batch_size: int = 64
    """Rows per optimizer step; also the batch over which logconf picks its threshold."""
    lr: float = 1e-3
    """Adam learning rate."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    eval_every: int = 10
    """Evaluate test accuracy every this many steps (the accuracy-along-training curve)."""


@dataclass(frozen=True)
class AnalyzeParams:
    """Section `analyze`: the metrics table."""

    ci_level: float = 0.95
    """Confidence level of the bootstrap intervals over seeds."""
    n_resamples: int = 10_000
    """Bootstrap resamples per interval."""
    min_gap: float = 0.0
    """PGR is undefined (null, with a reason) when ceiling - weak <= min_gap."""


@dataclass(frozen=True)
class Params:
    """The whole params.yaml: shared keys at the top level, one section per stage."""

    data: DataParams
    """Where task data comes from."""
    tasks: list[str]
    """Task names to run (built-in or `data.file_tasks` keys)."""
    models: dict[str, str]
    """Short model key -> Hugging Face hub id."""
    ladder: list[str]
    """Model keys ordered weak -> strong; each is trained on ground truth (supervisor and ceiling)."""
    pairs: list[Pair]
    """Weak -> strong pairs to run; each must go up the ladder."""
    methods: list[str]
    """Loss names for the weak-to-strong runs (keys of `losses`)."""
    seeds: list[int]
    """Every cell runs once per seed."""
    losses: dict[str, dict[str, float]]
    """Per-method loss parameters (e.g. logconf's alpha_max, warmup_frac); `{}` for none."""
    prepare: PrepareParams
    embed: EmbedParams
    train: TrainParams
    analyze: AnalyzeParams

    def hub_id(self, model: str) -> str:
        if model not in self.models:
            raise InputError(f"params.yaml: unknown model key {model!r}; known: {', '.join(self.models)}")
        return self.models[model]


T = TypeVar("T")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check `value` against the annotation `tp`, recursing into containers and dataclasses."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            try:
                return _convert(value, arg, where)
            except InputError:
                continue
        raise InputError(f"{where}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")
    if origin is Literal:
        if value not in args:
            raise InputError(f"{where}: must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if tp is type(None):
        if value is not None:
            raise InputError(f"{where}: expected null, got {value!r}")
        return None
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)  # type: ignore[arg-type]
    if origin is list:
        if not isinstance(value, list):
            raise InputError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        return [_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise InputError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        return {_convert(k, args[0], where): _convert(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and isinstance(value, bool):
        raise InputError(f"{where}: expected {tp.__name__}, got bool {value!r}")
    if isinstance(tp, type) and not isinstance(value, tp):
        raise InputError(f"{where}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
    return value


def _build(cls: type[T], data: Any, where: str) -> T:
    """Build dataclass `cls` from a mapping, rejecting unknown and missing keys."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: expected a mapping, got {type(data).__name__} {data!r}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(fields)}")
    kwargs = {}
    for name, f in fields.items():
        key = f"{where}.{name}" if where else name
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise InputError(f"{key}: missing (required)")
    return cls(**kwargs)


def _check_key(key: str, where: str) -> None:
    if not KEY_PATTERN.match(key):
        raise InputError(f"{where}: key {key!r} must match [a-z0-9_]+ (it names files and stages)")


def validate(p: Params, known_tasks: tuple[str, ...], known_losses: tuple[str, ...]) -> None:
    """Cross-field checks that the types alone cannot express."""
    for name in p.data.file_tasks:
        _check_key(name, "data.file_tasks")
    for task in p.tasks:
        if task not in known_tasks and task not in p.data.file_tasks:
            raise InputError(
                f"tasks: unknown task {task!r}; built-in: {', '.join(known_tasks)}"
                + (f"; file tasks: {', '.join(p.data.file_tasks)}" if p.data.file_tasks else "")
            )
    if p.data.source == "local" and not p.data.local_dir:
        raise InputError("data.local_dir: required when data.source is 'local'")
    for key in p.models:
        _check_key(key, "models")
    for model in p.ladder:
        p.hub_id(model)
    if len(set(p.ladder)) != len(p.ladder):
        raise InputError(f"ladder: a model is listed twice: {p.ladder}")
    rank = {m: i for i, m in enumerate(p.ladder)}
    for i, pair in enumerate(p.pairs):
        for role in ("weak", "strong"):
            if getattr(pair, role) not in rank:
                raise InputError(f"pairs[{i}].{role}: {getattr(pair, role)!r} is not in the ladder {p.ladder}")
        if rank[pair.weak] >= rank[pair.strong]:
            raise InputError(f"pairs[{i}]: {pair.name} does not go up the ladder {p.ladder}")
    for method in p.methods:
        if method not in known_losses:
            raise InputError(f"methods: unknown method {method!r}; known: {', '.join(known_losses)}")
        if method not in p.losses:
            raise InputError(f"losses.{method}: missing (use {{}} for a loss without parameters)")
    for name in p.losses:
        if name not in known_losses:
            raise InputError(f"losses: unknown loss {name!r}; known: {', '.join(known_losses)}")
    if not p.seeds or len(set(p.seeds)) != len(p.seeds):
        raise InputError(f"seeds: need at least one seed and no repeats, got {p.seeds}")
    if not 0.0 < p.train.weak_fraction < 1.0:
        raise InputError(f"train.weak_fraction: must be in (0, 1), got {p.train.weak_fraction}")
    for key, value in [("prepare.n_train", p.prepare.n_train), ("prepare.n_test", p.prepare.n_test)]:
        if value <= 0 or value % 2:
            raise InputError(f"{key}: must be a positive even number (balanced classes), got {value}")
    for key, value in [("train.epochs", p.train.epochs), ("train.batch_size", p.train.batch_size),
                       ("train.eval_every", p.train.eval_every), ("embed.batch_size", p.embed.batch_size),
                       ("embed.max_length", p.embed.max_length)]:
        if value <= 0:
            raise InputError(f"{key}: must be positive, got {value}")


def parse_params(raw: Any, where: str = "params.yaml") -> Params:
    """Build and validate `Params` from an already-parsed YAML mapping."""
    from w2s.losses import LOSSES
    from w2s.tasks import TASK_NAMES

    try:
        params = _build(Params, raw, "")
    except InputError as err:
        raise InputError(f"{where}: {err}") from None
    try:
        validate(params, tuple(TASK_NAMES), tuple(LOSSES))
    except InputError as err:
        raise InputError(f"{where}: {err}") from None
    return params


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read, type-check and validate params.yaml."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: params file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise InputError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    return parse_params(raw, str(path))

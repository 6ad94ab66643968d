"""Typed, frozen view of params.yaml.

Every section of params.yaml is a frozen dataclass with a docstring per field. `load_params` builds
them with a strict loader: an unknown key, a missing key or a value of the wrong type stops with an
`InputError` naming the key path (e.g. `params.yaml: train.lr: expected float, got str 'fast'`).
Cross-field rules (a pair must go weak -> strong along the ladder, methods must exist) are checked
here too, so a stage never starts on a params file that cannot work.
"""

from __future__ import annotations

import dataclasses
import math
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
    group_column: str | None = None
    """Column whose equal values mark rows that share a context (e.g. a document id): such rows all go to
    train or all to test, never both. null: each text is its own group."""
    truncation: Literal["left", "right"] = "right"
    """Side cut from texts over the token limit: `right` keeps the start, `left` keeps the end."""


@dataclass(frozen=True)
class TaskOptions:
    """Per built-in task choices of `data.task_options.<task>`; null keeps the task's built-in default."""

    negatives: str | None = None
    """sciq only: the wrong answer is `other_answer` (another question's correct answer, drawn with the
    answers' real frequency; default, as the mirror's train split has no distractors) or `distractors`
    (the question's own; an error where a split lacks them). The same rule serves train and test."""
    truncation: str | None = None
    """`left` or `right`: the side cut from texts over the token limit (embed and finetune/lora
    tokenisation). Defaults keep the end that decides the label: `left` (keep the end) for boolq, sciq,
    cosmos_qa, anthropic_hh; `right` for sst2 and amazon_polarity."""


@dataclass(frozen=True)
class DataParams:
    """Where task data comes from."""

    source: Literal["hub", "local"] = "hub"
    """`hub`: the Hugging Face dataset hub; `local`: a mirror folder `<local_dir>/<task>/<split>.jsonl`."""
    local_dir: str | None = None
    """The mirror folder for `source: local` (hub field names, one jsonl per split)."""
    file_tasks: dict[str, FileTaskParams] = field(default_factory=dict)
    """Extra tasks from local files, by name; a name here can be listed in `tasks`."""
    task_options: dict[str, TaskOptions] = field(default_factory=dict)
    """Built-in task name -> its choices (wrong-answer rule, truncation side); absent: the defaults."""

    def negatives(self, task: str) -> str | None:
        """`task`'s wrong-answer rule from `task_options` (None: the task's default); for `load_task`."""
        options = self.task_options.get(task)
        return options.negatives if options else None

    def truncation_side(self, task: str) -> Literal["left", "right"]:
        """The side cut from `task`'s over-long texts: `task_options.<task>.truncation`, else the file
        task's `truncation`, else the built-in default (`w2s.tasks.TASKS[task].truncation`)."""
        from w2s.tasks import truncation_side

        options = self.task_options.get(task)
        return truncation_side(task, self.file_tasks, options.truncation if options else None)


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
class TaskSizes:
    """One task's pool sizes in `prepare.per_task`; null keeps the shared value."""

    n_train: int | None = None
    """Training rows of this task's pool (even)."""
    n_test: int | None = None
    """Test rows of this task's pool (even)."""


@dataclass(frozen=True)
class PrepareParams:
    """Section `prepare`: the pool of rows every seed draws from."""

    n_train: int
    """Training rows in the pool (even); each seed splits them into train_weak and train_transfer."""
    n_test: int
    """Test rows (even, label-balanced), the same for every seed."""
    seed: int = 0
    """Seed of the pool sampling (and of the formatters' random choices)."""
    per_task: dict[str, TaskSizes] = field(default_factory=dict)
    """Task name -> its own n_train / n_test, for tasks with more (or fewer) rows than the shared sizes."""

    def sizes(self, task: str) -> tuple[int, int]:
        """(n_train, n_test) of `task`: its `per_task` entry where set, else the shared sizes."""
        own = self.per_task.get(task)
        n_train = own.n_train if own and own.n_train is not None else self.n_train
        n_test = own.n_test if own and own.n_test is not None else self.n_test
        return n_train, n_test


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

    mode: Literal["probe", "finetune", "lora"] = "probe"
    """`probe`: a linear head on cached frozen features. `finetune`: every weight of the hub model plus a
    linear head on its pooled hidden states, trained on the pool's texts. `lora`: the hub model frozen,
    low-rank adapters (peft) on all its linear layers plus the head trained."""
    weak_fraction: float = 0.5
    """Share of the pool's training rows that go to train_weak (the rest: train_transfer)."""
    epochs: int = 20
    """Passes over the training rows. finetune/lora: the step budget, their regulariser. probe: the budget of
    the stepwise losses (logconf, product, entropy) only; xent/kl and gt probes are fitted to convergence."""
    batch_size: int = 64
    """Rows per forward pass (micro-batch); also the batch over which logconf picks its threshold. An
    optimizer step sees batch_size x grad_accum rows."""
    lr: float = 1e-3
    """Adam learning rate (finetune/lora, and the stepwise probe losses)."""
    weight_decay: float = 0.0
    """AdamW weight decay (finetune/lora; probes use the explicit L2 penalty of `probe_c` instead)."""
    eval_every: int = 10
    """Evaluate test accuracy every this many steps (probe L-BFGS fits: iterations), for the accuracy-along-
    training curve; it never influences training."""
    schedule: Literal["constant", "cosine"] = "constant"
    """Learning rate after the warm-up: `constant`, or `cosine` decay to 0 at the last step."""
    warmup_frac: float = 0.0
    """Share of the optimizer steps over which the learning rate ramps linearly from 0 to `lr`."""
    grad_accum: int = 1
    """Micro-batches whose gradients are summed into one optimizer step."""
    max_length: int = 256
    """finetune/lora: token limit per text; longer texts are truncated (and counted in the log)."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """finetune/lora: `auto` = bf16 autocast on CUDA, fp32 elsewhere; `bf16` = bf16 autocast anywhere
    (weights and optimizer state stay fp32); `fp32` = no autocast."""
    device: str = "auto"
    """torch device: `auto` (CUDA if present, else CPU; under `accelerate launch`, each process's own),
    `cpu`, `cuda`, `cuda:1`."""
    compile: bool = False
    """finetune/lora: `torch.compile` the backbone (dynamic shapes; pays a warm-up, wins on long GPU runs)."""
    gradient_checkpointing: bool = False
    """finetune/lora: recompute activations in the backward pass (less memory, ~30% more compute)."""
    lora_r: int = 8
    """lora: adapter rank."""
    lora_alpha: int = 16
    """lora: adapter scale numerator (the update is scaled by lora_alpha / lora_r)."""
    lora_dropout: float = 0.05
    """lora: dropout on the adapters' input."""
    weak_holdout: float = 0.0
    """Weak-to-strong runs: share of train_transfer held out of the student's training (seeded); its weak
    labels are scored at every eval point (`val_weak_agreement` in history.json) so the `overfitting`
    stage can early-stop without ground truth. 0: no hold-out."""
    probe_c: float | str = "cv"
    """probe mode: inverse L2 strength C of every probe (scikit-learn's C: the objective is the mean soft
    cross-entropy + ‖w‖²/(2·C·n) on standardised features, bias unpenalised). `cv`: chosen per run from
    `probe_c_grid` by `probe_cv_folds`-fold cross-validation on that run's own training labels (ground
    truth for gt runs, weak labels for students; never test rows)."""
    probe_c_grid: list[float] = field(default_factory=lambda: [0.001, 0.003, 0.01, 0.03])
    """probe mode, `probe_c: cv`: the Cs cross-validation chooses from."""
    probe_cv_folds: int = 5
    """probe mode, `probe_c: cv`: folds (stratified on the hard training labels; each class needs at
    least this many rows)."""
    probe_tol: float = 1e-6
    """probe mode: a fit has converged when the L2 norm of its objective's gradient is at most this
    (L-BFGS stops there; the stepwise losses report it). summary.json says whether it did."""
    probe_max_iter: int = 2000
    """probe mode: L-BFGS iteration limit (a fit that hits it is reported as not converged)."""


@dataclass(frozen=True)
class ReportParams:
    """Section `report`: how the Quarto reports in reports/ are rendered."""

    renderer: Literal["auto", "quarto", "offline"] = "auto"
    """`auto`: `quarto render` when quarto is on PATH, else the offline renderer (w2s/report.py);
    `quarto` / `offline`: force one."""
    formats: list[str] = field(default_factory=lambda: ["html", "pdf"])
    """Outputs per report: `html` (self-contained, interactive charts) and/or `pdf` (static charts)."""


@dataclass(frozen=True)
class AnalyzeParams:
    """Section `analyze`: the metrics table."""

    ci_level: float = 0.95
    """Confidence level of every interval (paired bootstrap over seeds and test rows,
    `w2s.metrics.pgr_interval`); a PGR is given only where the gap's interval at this level excludes 0."""
    n_resamples: int = 10_000
    """Bootstrap resamples per interval (>= 100)."""


@dataclass(frozen=True)
class BootstrapParams:
    """Section `bootstrap`: chains M1 -> M2 -> ... -> Mk, each model trained on its predecessor's labels."""

    chains: list[str] = field(default_factory=list)
    """Chains as ladder keys joined by `-to-` (e.g. `minilm_l3-to-minilm_l6-to-mpnet`), going up the
    ladder; each runs once per task and seed, beside the direct M1 -> Mk run."""
    method: str = "xent"
    """Loss of every hop and of the direct run (one of `methods`)."""
    folds: int = 5
    """Cross-fitting folds of train_transfer for every intermediate hop (>= 2): each row's label for the
    next hop comes from a student trained on the other folds, never on that row (`w2s.bootstrap.cross_fit`)."""

    def models(self, chain: str) -> list[str]:
        """The model keys of `chain`, weak to strong."""
        return chain.split(CHAIN_SEP)


CHAIN_SEP = "-to-"


@dataclass(frozen=True)
class GenftParams:
    """Section `genft`: generative finetuning (language modelling on the task's texts, no labels) of
    decoders before they serve as students; the adapted models are probed through their own keys."""

    models: dict[str, str] = field(default_factory=dict)
    """Adapted key -> key (in `models`) of the decoder it starts from, e.g. `{gemma_genft: gemma}`. The
    adapted key can then stand in `ladder` and `pairs` like any model (probe mode)."""
    epochs: int = 1
    """Passes over the texts."""
    max_steps: int = 0
    """Stop after this many optimizer steps (0: no cap, run every epoch)."""
    batch_size: int = 8
    """Texts per optimizer step."""
    lr: float = 5e-5
    """AdamW learning rate (constant)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    max_length: int = 64
    """Token limit per text; longer texts are truncated."""
    seed: int = 0
    """Seed of the batch order (and of dropout, if the model has any), and the split seed whose
    train_transfer texts are used with `texts: train_transfer`."""
    texts: Literal["train_transfer", "train"] = "train_transfer"
    """Which unlabelled texts: train_transfer of split seed `seed`, or every training row of the pool
    (never test rows, never labels)."""
    device: str = "cpu"
    """torch device of the language-modelling updates."""


@dataclass(frozen=True)
class SaliencyParams:
    """Section `saliency`: the five concept-saliency conditions (paper Fig. 11) on one strong model."""

    model: str | None = None
    """Strong model key (in the ladder). null: the ladder's strongest. Not in the ladder: the stage skips
    saliency (with a message) rather than fail."""
    weak: str | None = None
    """Supervisor key whose gt run's soft labels are the weak labels (below `model` in the ladder). null:
    the ladder's weakest."""
    seeds: list[int] | None = None
    """Seeds to run the five conditions with (each: the supervisor run of that seed, the train_transfer
    sample and the finetuning runs; the test rows are the same for all). null: every seed of `seeds`.
    Intervals are over these seeds and the test rows."""
    n_train: int = 400
    """train_transfer rows every condition trains on, per seed (fewer if train_transfer is smaller)."""
    n_test: int = 400
    """Test rows every condition is scored on (fewer if the test split is smaller)."""
    epochs: int = 3
    """Finetuning passes over the n_train rows."""
    batch_size: int = 32
    """Finetuning rows per optimizer step."""
    lr: float = 1e-4
    """Finetuning AdamW learning rate (cosine schedule after a linear warm-up)."""
    warmup_frac: float = 0.1
    """Share of the finetuning steps spent warming the learning rate up."""
    max_length: int = 128
    """Token limit per text of every condition: the frozen activations, finetuning and the activations of
    the finetuned model."""
    probe_c: float = 1.0
    """Inverse L2 strength (scikit-learn C) of every logistic-regression probe (on standardised inputs)."""
    device: str = "auto"
    """torch device of the finetuning runs (`auto`: CUDA if present, else CPU)."""

    def resolve(self, ladder: list[str], seeds: list[int]) -> tuple[str, str, list[int], str | None]:
        """(strong key, weak key, seeds, why saliency cannot run on this ladder or None), the null defaults
        filled from the ladder and seeds."""
        strong, weak = self.model or ladder[-1], self.weak or ladder[0]
        chosen = list(seeds) if self.seeds is None else list(self.seeds)
        absent = [s for s in chosen if s not in seeds]
        skip = None
        if strong not in ladder or weak not in ladder:
            skip = f"saliency.model {strong!r} and saliency.weak {weak!r} must both be in the ladder {ladder}"
        elif ladder.index(weak) >= ladder.index(strong):
            skip = f"saliency.weak {weak!r} must come before saliency.model {strong!r} in the ladder {ladder}"
        elif absent:
            skip = f"saliency.seeds {absent} not in seeds {seeds} (their supervisor runs do not exist)"
        return strong, weak, chosen, skip


@dataclass(frozen=True)
class SensitivityParams:
    """Section `sensitivity`: PGR against the probes' L2 strength, all heads at the same C (probe mode)."""

    c_grid: list[float] = field(default_factory=lambda: [1e-4, 1e-2, 1.0, 100.0])
    """Inverse L2 strengths to sweep (scikit-learn's C, on standardised features), log-spaced; empty: skip."""


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
    bootstrap: BootstrapParams = field(default_factory=BootstrapParams)
    """Bootstrapping chains (stage `bootstrap`)."""
    genft: GenftParams = field(default_factory=GenftParams)
    """Generative finetuning (stage `genft`, run by studies/decoder/dvc.yaml)."""
    saliency: SaliencyParams = field(default_factory=SaliencyParams)
    """Concept saliency (stage `saliency`)."""
    report: ReportParams = field(default_factory=ReportParams)
    """Rendering of the reports (stage `report`)."""
    sensitivity: SensitivityParams = field(default_factory=SensitivityParams)
    """PGR against the probes' regularisation (stage `sensitivity`)."""

    def hub_id(self, model: str) -> str:
        if model in self.genft.models:  # an adapted decoder: the tokenizer and architecture of its base
            return self.hub_id(self.genft.models[model])
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
    if tp is float and isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{where}: must be a finite number, got {value}")
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
    if not KEY_PATTERN.fullmatch(key):
        raise InputError(f"{where}: key {key!r} must match [a-z0-9_]+ (it names files and stages)")


def validate(p: Params, known_tasks: tuple[str, ...], known_losses: tuple[str, ...]) -> None:
    """Cross-field checks that the types alone cannot express."""
    from w2s.validate import check_params

    check_params(p, known_tasks)  # names, non-empty lists, devices, losses: before anything reaches DVC
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
    for i, model in enumerate(p.ladder):
        if model not in p.models and model not in p.genft.models:
            raise InputError(f"ladder[{i}]: unknown model key {model!r}; known (models): {', '.join(p.models)}")
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
    check_data(p)
    if not 0.0 < p.analyze.ci_level < 1.0:
        raise InputError(f"analyze.ci_level: must be in (0, 1), got {p.analyze.ci_level}")
    if p.analyze.n_resamples < 100:
        raise InputError(f"analyze.n_resamples: must be >= 100, got {p.analyze.n_resamples}")
    for c in p.sensitivity.c_grid:
        if not (math.isfinite(c) and c > 0):
            raise InputError(f"sensitivity.c_grid: every C must be a positive number, got {c!r}")
    check_train(p.train)
    check_bootstrap_genft(p)
    check_saliency(p)
    for key, value in [("train.epochs", p.train.epochs), ("train.batch_size", p.train.batch_size),
                       ("train.eval_every", p.train.eval_every), ("embed.batch_size", p.embed.batch_size),
                       ("embed.max_length", p.embed.max_length)]:
        if value <= 0:
            raise InputError(f"{key}: must be positive, got {value}")


def check_data(p: Params) -> None:
    """`data.task_options` and `data.file_tasks` name real tasks, sides and choices; `prepare` sizes are
    positive and even. (Whether a task has the rows is checked where its data is read.)"""
    from w2s.tasks import TASKS, TRUNCATION_SIDES

    for task, options in p.data.task_options.items():
        if task not in TASKS:
            is_file = task in p.data.file_tasks
            hint = f"; for file task {task!r} set data.file_tasks.{task}.truncation" if is_file else ""
            raise InputError(f"data.task_options: unknown built-in task {task!r}; built-in: {', '.join(TASKS)}{hint}")
        if options.truncation is not None and options.truncation not in TRUNCATION_SIDES:
            raise InputError(f"data.task_options.{task}.truncation: unknown {options.truncation!r}; "
                             f"allowed: {', '.join(TRUNCATION_SIDES)}")
        allowed = TASKS[task].negatives
        if options.negatives is not None and options.negatives not in allowed:
            choices = ", ".join(allowed) if allowed else "none (the task has one procedure; leave it unset)"
            raise InputError(f"data.task_options.{task}.negatives: unknown {options.negatives!r}; allowed: {choices}")
    for name, ft in p.data.file_tasks.items():
        if ft.group_column is not None and ft.group_column in (ft.text_column, ft.label_column):
            raise InputError(f"data.file_tasks.{name}.group_column: {ft.group_column!r} is the text or label "
                             "column; name a column that groups rows (e.g. a document id) or leave it null")
    sizes = [("prepare.n_train", p.prepare.n_train), ("prepare.n_test", p.prepare.n_test)]
    for task, own in p.prepare.per_task.items():
        if task not in p.tasks:
            raise InputError(f"prepare.per_task: {task!r} is not in tasks ({', '.join(p.tasks)})")
        sizes += [(f"prepare.per_task.{task}.{key}", v) for key, v in vars(own).items() if v is not None]
    for key, value in sizes:
        if value <= 0 or value % 2:
            raise InputError(f"{key}: must be a positive even number (balanced classes), got {value}")


def check_saliency(p: Params) -> None:
    """Section `saliency`: named models exist (a typo stops here); sizes positive. Whether the models are
    in the ladder is the stage's business: a study with another ladder skips saliency, it does not fail."""
    s = p.saliency
    for key, value in (("saliency.model", s.model), ("saliency.weak", s.weak)):
        if value is not None and value not in p.models:
            raise InputError(f"{key}: unknown model key {value!r}; known (models): {', '.join(p.models)}")
    for name, size in (("n_train", s.n_train), ("n_test", s.n_test), ("epochs", s.epochs),
                       ("batch_size", s.batch_size), ("max_length", s.max_length)):
        if size <= 0:
            raise InputError(f"saliency.{name}: must be positive, got {size}")
    if s.lr <= 0 or s.probe_c <= 0:
        raise InputError(f"saliency.lr and saliency.probe_c: must be positive, got {s.lr} and {s.probe_c}")
    if not 0.0 <= s.warmup_frac < 1.0:
        raise InputError(f"saliency.warmup_frac: must be in [0, 1), got {s.warmup_frac}")
    if s.seeds is not None and (not s.seeds or len(set(s.seeds)) != len(s.seeds)):
        raise InputError(f"saliency.seeds: a non-empty list without repeats, or null (every seed), got {s.seeds}")


def check_bootstrap_genft(p: Params) -> None:
    """Sections `bootstrap` and `genft`: chains go up the ladder, adapted keys start from known models."""
    rank = {m: i for i, m in enumerate(p.ladder)}
    for i, chain in enumerate(p.bootstrap.chains):
        models = p.bootstrap.models(chain)
        if len(models) < 2:
            raise InputError(f"bootstrap.chains[{i}]: {chain!r} needs at least two models joined by '{CHAIN_SEP}'")
        for model in models:
            if model not in rank:
                raise InputError(f"bootstrap.chains[{i}]: {model!r} is not in the ladder {p.ladder}")
        if any(rank[a] >= rank[b] for a, b in zip(models, models[1:], strict=False)):
            raise InputError(f"bootstrap.chains[{i}]: {chain!r} does not go up the ladder {p.ladder}")
    if p.bootstrap.chains and p.bootstrap.method not in p.methods:
        raise InputError(f"bootstrap.method: {p.bootstrap.method!r} is not one of methods {p.methods}")
    if p.bootstrap.folds < 2:
        raise InputError(f"bootstrap.folds: must be an integer >= 2 (cross-fitting folds), got {p.bootstrap.folds}")
    g = p.genft
    for key, base in g.models.items():
        _check_key(key, "genft.models")
        if key in p.models:
            raise InputError(f"genft.models: {key!r} is already a key of models; name the adapted model apart")
        if base not in p.models:
            raise InputError(f"genft.models.{key}: base {base!r} is not a key of models ({', '.join(p.models)})")
    for key, value in [("genft.epochs", g.epochs), ("genft.batch_size", g.batch_size),
                       ("genft.max_length", g.max_length)]:
        if value <= 0:
            raise InputError(f"{key}: must be positive, got {value}")
    if g.max_steps < 0 or g.lr <= 0 or g.weight_decay < 0:
        raise InputError(f"genft: max_steps must be >= 0, lr > 0 and weight_decay >= 0; got {g.max_steps}, "
                         f"{g.lr}, {g.weight_decay}")


def check_train(t: TrainParams) -> None:
    """Range checks of the trainer's knobs (also called by `w2s.train.fit`); errors name the key."""
    for key, value in [("train.grad_accum", t.grad_accum), ("train.max_length", t.max_length),
                       ("train.lora_r", t.lora_r)]:
        if value <= 0:
            raise InputError(f"{key}: must be positive, got {value}")
    if not 0.0 <= t.warmup_frac < 1.0:
        raise InputError(f"train.warmup_frac: must be in [0, 1), got {t.warmup_frac}")
    if not 0.0 <= t.weak_holdout < 1.0:
        raise InputError(f"train.weak_holdout: must be in [0, 1), got {t.weak_holdout}")
    if not 0.0 <= t.lora_dropout < 1.0:
        raise InputError(f"train.lora_dropout: must be in [0, 1), got {t.lora_dropout}")
    if t.lora_alpha <= 0:
        raise InputError(f"train.lora_alpha: must be positive, got {t.lora_alpha}")
    if t.lr <= 0:
        raise InputError(f"train.lr: must be positive, got {t.lr}")
    if t.probe_c != "cv" and not (isinstance(t.probe_c, int | float) and not isinstance(t.probe_c, bool)
                                  and math.isfinite(t.probe_c) and t.probe_c > 0):
        hint = ""
        if isinstance(t.probe_c, str):
            try:
                float(t.probe_c)
                hint = " (YAML reads 1e-2 as text: write 0.01 or 1.0e-2)"
            except ValueError:
                pass
        raise InputError(f"train.probe_c: must be a positive number or 'cv', got {t.probe_c!r}{hint}")
    if t.probe_c == "cv":
        from w2s.probe import check_grid

        check_grid(t.probe_c_grid, t.probe_cv_folds)
    if not (math.isfinite(t.probe_tol) and t.probe_tol > 0) or t.probe_max_iter < 1:
        raise InputError(f"train.probe_tol and train.probe_max_iter: must be positive, got {t.probe_tol} and "
                         f"{t.probe_max_iter}")
    if t.device != "auto":
        try:
            import torch

            torch.device(t.device)
        except (RuntimeError, ValueError):
            raise InputError(f"train.device: not a torch device: {t.device!r} (auto, cpu, cuda, cuda:1)") from None


def parse_params(raw: Any, where: str = "params.yaml") -> Params:
    """Build and validate `Params` from an already-parsed YAML mapping."""
    from w2s.loss_params import LOSS_PARAMS  # the names without the torch functions
    from w2s.tasks import TASK_NAMES

    try:
        params = _build(Params, raw, "")
    except InputError as err:
        raise InputError(f"{where}: {err}") from None
    try:
        validate(params, tuple(TASK_NAMES), tuple(LOSS_PARAMS))
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

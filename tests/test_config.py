"""params.yaml loading: the committed file is valid, and every kind of mistake names its key."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from w2s.config import TrainParams, load_params, parse_params
from w2s.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
RAW = yaml.safe_load((ROOT / "params.yaml").read_text())


def with_change(path: str, value: object) -> dict:
    """A copy of the committed params with one dotted key set (or deleted when value is ...)."""
    raw = copy.deepcopy(RAW)
    *parents, last = path.split(".")
    node = raw
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is ...:
        del node[int(last) if isinstance(node, list) else last]
    else:
        node[int(last) if isinstance(node, list) else last] = value
    return raw


def test_committed_params_load() -> None:
    p = load_params(ROOT / "params.yaml")
    assert p.ladder == ["minilm_l3", "minilm_l6", "mpnet"]
    assert [pair.name for pair in p.pairs] == ["minilm_l3-to-mpnet", "minilm_l6-to-mpnet"]
    assert p.hub_id("mpnet") == "sentence-transformers/all-mpnet-base-v2"
    assert isinstance(p.train.lr, float) and p.losses["logconf"]["alpha_max"] == 0.75


@pytest.mark.parametrize("name", ["gpt2", "qwen"])
def test_gpu_ladder_params_load_with_every_key_of_the_default(name: str) -> None:
    """The GPU ladder files of docs/scale-out.md stay valid (and complete) as the params evolve."""
    raw = yaml.safe_load((ROOT / "studies" / "gpu" / f"{name}.yaml").read_text())
    p = parse_params(raw, f"studies/gpu/{name}.yaml")
    assert p.train.mode == "finetune" and len(p.ladder) == 4
    assert all(p.ladder.index(pair.weak) < p.ladder.index(pair.strong) for pair in p.pairs)
    for section, keys in RAW.items():  # same sections and keys as params.yaml, so `cp` over it just works
        assert section in raw, section
        if isinstance(keys, dict) and section not in ("models", "losses"):
            assert set(raw[section]) == set(keys), section


def test_int_is_accepted_where_float_is_expected() -> None:
    assert parse_params(with_change("train.lr", 1)).train.lr == 1.0


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("train.lrr", 0.1, "train: unknown key 'lrr'"),
        ("train.lr", "fast", "train.lr: expected float, got str 'fast'"),
        ("train.epochs", 2.5, "train.epochs: expected int"),
        ("train.epochs", True, "train.epochs: expected int, got bool"),
        ("train.epochs", 0, "train.epochs: must be positive"),
        ("train.mode", "magic", "train.mode: must be one of"),
        ("tasks", ["sst2", "nope"], "tasks: unknown task 'nope'"),
        ("tasks", "sst2", "tasks: expected a list"),
        ("ladder", ["minilm_l3", "gpt5"], "unknown model key 'gpt5'"),
        ("pairs.0", "minilm_l3-to-minilm_l3", "pairs[0]: minilm_l3-to-minilm_l3 does not go up the ladder"),
        ("pairs.0", "minilm_l3-to-gpt5", "pairs[0].strong: 'gpt5' is not in the ladder"),
        ("pairs.0", "minilm_l3+mpnet", "pairs[0]: 'minilm_l3+mpnet' must be two model keys joined by '-to-'"),
        ("methods", ["xent", "magic"], "methods: unknown method 'magic'"),
        ("losses.logconf", ..., "losses.logconf: missing"),
        ("prepare.n_train", 101, "prepare.n_train: must be a positive even number"),
        ("prepare", ..., "prepare: missing (required)"),
        ("seeds", [0, 0], "seeds: need at least one seed and no repeats"),
        ("train.weak_fraction", 1.0, "train.weak_fraction: must be in (0, 1)"),
        ("data.source", "ftp", "data.source: must be one of 'hub', 'local'"),
        ("data", {"source": "local"}, "data.local_dir: required when data.source is 'local'"),
        ("models.MiniLM", "x/y", "models: key 'MiniLM' must match"),
        ("bogus_section", {}, "unknown key 'bogus_section'"),
        ("data.task_options", {"sciq": {"negatives": "random"}},
         "data.task_options.sciq.negatives: unknown 'random'; allowed: other_answer, distractors"),
        ("data.task_options", {"boolq": {"negatives": "distractors"}},
         "data.task_options.boolq.negatives: unknown 'distractors'; allowed: none"),
        ("data.task_options", {"boolq": {"truncation": "middle"}},
         "data.task_options.boolq.truncation: unknown 'middle'; allowed: left, right"),
        ("data.task_options", {"sst3": {}}, "data.task_options: unknown built-in task 'sst3'; built-in: sst2"),
        ("data.task_options", {"ag_news": {"positive": "Tech"}},
         "data.task_options.ag_news.positive: 'Tech' is not a class of ag_news; allowed: World, Sports, Business"),
        ("data.task_options", {"ag_news": {"negative": "Sci/Tech"}},
         "data.task_options.ag_news.negative: 'Sci/Tech' is not a class of ag_news other than the positive one"),
        ("data.task_options", {"piqa": {"positive": "1"}}, "data.task_options.piqa.positive: piqa is a binary task"),
        ("data.task_options", {"sciq": {"shuffle": True}}, "data.task_options.sciq: unknown key 'shuffle'"),
        ("data.file_tasks", {"mine": {"path": "x.csv", "text_column": "t", "label_column": "y",
                                      "truncation": "middle"}}, "data.file_tasks.mine.truncation: must be one of"),
        ("data.file_tasks", {"mine": {"path": "x.csv", "text_column": "t", "label_column": "y",
                                      "group_column": "t"}}, "data.file_tasks.mine.group_column: 't' is the text"),
        ("prepare.per_task", {"boolq": {"n_train": 100}}, "prepare.per_task: 'boolq' is not in tasks (sst2, sciq)"),
        ("prepare.per_task", {"sst2": {"n_test": 7}}, "prepare.per_task.sst2.n_test: must be a positive even"),
    ],
)
def test_bad_params_name_the_key(path: str, value: object, message: str) -> None:
    with pytest.raises(InputError) as err:
        parse_params(with_change(path, value))
    assert message in str(err.value)
    assert str(err.value).startswith("params.yaml: ")
    assert "\n" not in str(err.value)


def test_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_params(bad)


def test_file_task_is_a_known_task() -> None:
    raw = with_change("data.file_tasks", {"mine": {"path": "x.csv", "text_column": "t", "label_column": "y"}})
    raw["tasks"] = ["mine"]
    p = parse_params(raw)
    assert p.data.file_tasks["mine"].text_column == "t"


def test_task_options_resolve_to_the_defaults_or_the_override() -> None:
    raw = with_change("data.task_options", {"boolq": {"truncation": "right"}, "sciq": {"negatives": "distractors"}})
    raw["data"]["file_tasks"] = {"mine": {"path": "x.csv", "text_column": "t", "label_column": "y",
                                          "group_column": "doc", "truncation": "left"}}
    raw["prepare"]["per_task"] = {"sst2": {"n_train": 5000}}
    p = parse_params(raw)
    assert p.data.negatives("sciq") == "distractors" and p.data.negatives("boolq") is None
    sides = {t: p.data.truncation_side(t) for t in ("boolq", "cosmos_qa", "sst2", "mine")}
    assert sides == {"boolq": "right", "cosmos_qa": "left", "sst2": "right", "mine": "left"}
    assert p.data.file_tasks["mine"].group_column == "doc"
    assert p.prepare.sizes("sst2") == (5000, p.prepare.n_test) and p.prepare.sizes("sciq") == (2000, 800)
    assert p.data.classes("ag_news") == (None, None)  # w2s.tasks fills the default (Sci/Tech vs Business)


def test_ag_news_classes_and_the_size_cap_of_a_small_task() -> None:
    raw = with_change("data.task_options", {"ag_news": {"positive": "World", "negative": "rest"}})
    raw["tasks"] = ["ag_news", "winogrande", "quail"]
    raw["prepare"]["per_task"] = {"quail": {"n_train": 1200}}
    p = parse_params(raw)
    assert p.data.classes("ag_news") == ("World", "rest")
    # winogrande's mirror gives 800 / 400 (its TaskSpec.max_sizes): the shared 2000 / 800 are capped there;
    # per_task overrides the cap (a hub copy has more), field by field
    assert p.prepare.sizes("winogrande") == (800, 400) and p.prepare.sizes("quail") == (1200, 400)
    assert p.prepare.sizes("ag_news") == (2000, 800)


# --- the schema (issue 22 point 2) -----------------------------------------------------------------


def test_schema_file_is_fresh_and_params_yaml_names_it() -> None:
    """params.schema.json is what `python -m w2s.config --write-schema` writes today (rerun it after changing
    a section), and params.yaml's first line points editors (yaml-language-server) at it."""
    from w2s.config import json_schema

    assert (ROOT / "params.schema.json").read_text() == json_schema(), "run: python -m w2s.config --write-schema"
    assert (ROOT / "params.yaml").read_text().splitlines()[0] == "# yaml-language-server: $schema=params.schema.json"


def test_every_key_has_a_description_and_unknown_keys_are_closed() -> None:
    schema = json.loads((ROOT / "params.schema.json").read_text())
    sections = {"Params": schema, **schema["$defs"]}
    for name, section in sections.items():
        assert section.get("additionalProperties") is False, name
        assert section.get("description"), name
        for key, prop in section["properties"].items():
            assert prop.get("description"), f"{name}.{key} has no docstring (in w2s/config.py)"


@pytest.mark.parametrize("path", ["params.yaml", "studies/gpu/gpt2.yaml", "studies/gpu/qwen.yaml"])
def test_the_schema_accepts_what_the_loader_accepts(path: str) -> None:
    """An editor checking against the schema agrees with `load_params` on the shipped files and on a typo."""
    import jsonschema

    schema = json.loads((ROOT / "params.schema.json").read_text())
    raw = yaml.safe_load((ROOT / path).read_text())
    jsonschema.validate(raw, schema)
    raw["train"]["lrr"] = 0.1
    with pytest.raises(jsonschema.ValidationError, match="lrr"):
        jsonschema.validate(raw, schema)


def test_schema_command_prints_the_file(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "w2s.config", "--write-schema", str(tmp_path / "s.json")],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "s.json").read_text() == (ROOT / "params.schema.json").read_text()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("train.epochs", "3", "train.epochs: expected int, got str '3'"),
        ("train.probe_c", [1.0], "train.probe_c: expected float or str, got list [1.0]"),
        ("train.weight_decay", -0.1, "train.weight_decay: must be >= 0, got -0.1"),
        ("analyze.ci_level", 1.5, "analyze.ci_level: must be in (0, 1), got 1.5"),
        ("analyze.n_resamples", 50, "analyze.n_resamples: must be >= 100, got 50"),
        ("report.formats", [], "report.formats: must not be empty"),
        ("report.formats", ["docx"], "report.formats[0]: must be one of 'html', 'pdf', got 'docx'"),
        ("sensitivity.c_grid", [1.0, -2.0], "sensitivity.c_grid[1]: must be positive, got -2.0"),
        ("embed", None, None),  # an empty section: every default
        ("models.mpnet", {"id": "sentence-transformers/all-mpnet-base-v2", "rev": "x"},
         "models.mpnet: unknown key 'rev'; allowed: id, revision"),
        ("models.mpnet", {"id": "x/y", "revision": "../../../etc"}, "models.mpnet.revision: '../../../etc' must match"),
        ("models.mpnet", 3, "models.mpnet: expected str or a mapping, got int 3"),
        ("data.task_options", {"sciq": {"revision": "a/b"}}, "data.task_options.sciq.revision: 'a/b' must match"),
    ],
)
def test_types_and_ranges_name_the_key(path: str, value: object, message: str | None) -> None:
    if message is None:
        assert parse_params(with_change(path, value)).embed.batch_size == 64
        return
    with pytest.raises(InputError) as err:
        parse_params(with_change(path, value))
    assert str(err.value).startswith(f"params.yaml: {message}"), str(err.value)
    assert "\n" not in str(err.value)


def test_a_section_built_in_code_is_checked_too() -> None:
    """`TrainParams(lr=0)` in a stage or test stops like a params file would, naming `train.lr`."""
    with pytest.raises(InputError, match=r"^train.lr: must be positive, got 0$"):
        TrainParams(lr=0)
    with pytest.raises(InputError, match=r"^train: unknown key 'device'"):
        TrainParams(device="cpu")


def test_a_model_pinned_to_a_revision() -> None:
    raw = with_change("models.mpnet", {"id": "sentence-transformers/all-mpnet-base-v2", "revision": "v1.0"})
    raw["data"]["task_options"]["sst2"] = {"revision": "0123abc"}
    p = parse_params(raw)
    assert p.hub_id("mpnet") == "sentence-transformers/all-mpnet-base-v2"
    assert p.model_spec("mpnet").revision == "v1.0" and p.model_spec("minilm_l3").revision is None
    assert p.data.revision("sst2") == "0123abc" and p.data.revision("sciq") is None

"""Chess puzzles: one validated loader for the Lichess CSV and the generated set, deterministic generation,
the binary rows, bad input (one line naming file and row, exit 2, nothing written) and PGR by difficulty.

The generator tests need Debian's `stockfish` (set-up installs it); without it they fail with the command.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import chess
import numpy as np
import polars as pl
import pytest
import yaml
from lab import copy_lab, dvc, run, small_params, write_params
from test_bad_input import refused

from w2s.config import ChessGeneratorParams, parse_params
from w2s.difficulty import buckets, pgr_by_difficulty
from w2s.errors import InputError
from w2s.puzzles import COLUMNS, Generated, find_stockfish, generate_puzzles, puzzle_rows, rating_of, read_puzzles

FIXTURE = Path(__file__).parent / "fixtures" / "chess" / "lichess_puzzles.csv"
TINY = {"n_puzzles": 24, "nodes": 200, "difficulty_nodes": [1, 16], "per_game": 2}
"""About 400 searches of 200 nodes: ~1.5 s."""


@pytest.fixture(scope="module")
def stockfish() -> str:
    try:
        return find_stockfish()
    except InputError as e:
        pytest.fail(str(e))  # names the package: apt-get install -y stockfish


@pytest.fixture(scope="module")
def generated(stockfish: str) -> Generated:
    return generate_puzzles(ChessGeneratorParams(**TINY), stockfish)


@pytest.fixture
def lab(tmp_path: Path, data_dir: Path) -> Path:
    return copy_lab(tmp_path / "lab", small_params(data_dir), init=False)


def test_lichess_rows_load_and_format() -> None:
    puzzles = read_puzzles(FIXTURE)
    assert puzzles.columns == list(COLUMNS) and puzzles.height == 6 and puzzles["Rating"].dtype == pl.Int64
    for task, start in (("chess", '[FEN "'), ("chess_fen", "FEN: ")):
        rows = puzzle_rows(puzzles, task, seed=0)["train"]
        assert rows.columns == ["text", "label", "group", "difficulty"]
        assert rows["difficulty"].to_list() == puzzles["Rating"].to_list()
        assert rows["group"][0] == "https://lichess.org/yyznGmXs"  # side and ply cut: one game, one group
        for text, label, fen, moves in zip(rows["text"], rows["label"], puzzles["FEN"], puzzles["Moves"], strict=True):
            assert text.startswith(start)
            board = chess.Board(fen)
            board.push_uci(moves.split()[0])
            shown = text.rsplit("\nMove: ", 1)[1]
            assert board.parse_san(shown) in board.legal_moves
            assert (shown == board.san(chess.Move.from_uci(moves.split()[1]))) == bool(label)
        assert rows.equals(puzzle_rows(puzzles, task, seed=0)["train"])
    pgn = puzzle_rows(puzzles, "chess", seed=0)["train"]["text"][4]
    assert pgn.startswith('[FEN "r1bqkbnr/pppp1ppp/2n5/4p2Q/2B1P3/8/PPPP1PPP/RNB1K1NR b KQkq - 3 3"]\n3... Nf6\nMove: ')


def test_generated_puzzles_are_deterministic_and_load(generated: Generated, stockfish: str, tmp_path: Path) -> None:
    again = generate_puzzles(ChessGeneratorParams(**TINY), stockfish)
    assert again.csv == generated.csv and generated.engine.startswith("Stockfish")
    path = tmp_path / "puzzles.csv"
    path.write_bytes(generated.csv)
    puzzles = read_puzzles(path)  # every row validated by the Lichess loader
    assert puzzles.columns == list(COLUMNS) and puzzles.height == TINY["n_puzzles"]
    assert set(puzzles["Rating"]) <= {rating_of(k) for k in range(3)}
    assert puzzles["PuzzleId"].n_unique() == puzzles.height


BAD_ROWS = [
    ("p1,rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNX w KQkq - 0 1,e2e4 e7e5,1000",
     ("line 2", "'p1'", "does not parse")),
    ("p2,rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1,e2e4 e7e4,1000",
     ("line 2", "'p2'", "move 2 'e7e4' is illegal")),
    ("p3,rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1,e2e4,1000", ("line 2", "'p3'", "has 1 move")),
    ("p4,rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1,e2e4 Nf6,1000", ("'p4'", "not a UCI move")),
]


@pytest.mark.parametrize(("row", "needles"), BAD_ROWS, ids=["fen", "illegal", "one-move", "not-uci"])
def test_bad_rows_are_named(tmp_path: Path, row: str, needles: tuple[str, ...]) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("PuzzleId,FEN,Moves,Rating\n" + row + "\n")
    with pytest.raises(InputError) as err:
        read_puzzles(path)
    assert str(path) in str(err.value) and all(n in str(err.value) for n in needles), str(err.value)


def chess_lab(lab: Path, **chess_params: Any) -> None:
    params = yaml.safe_load((lab / "params.yaml").read_text())
    params.update(tasks=["chess"], chess=chess_params)
    params["prepare"].update(n_train=8, n_test=4)
    write_params(lab, params)


def test_prepare_reads_a_file_and_refuses_a_bad_row(lab: Path, generated: Generated) -> None:
    """prepare@chess on a Lichess-format file: the pool carries the difficulty, and one bad row (an
    illegal move on line 5) stops it with one line, exit 2, nothing written."""
    (lab / "data" / "raw").mkdir(parents=True)
    (lab / "data/raw/puzzles.csv").write_bytes(generated.csv)
    chess_lab(lab, source="file", path="data/raw/puzzles.csv")
    run(lab, sys.executable, "stages/prepare.py", "--task", "chess", "--out", "data/prepared/chess.parquet")
    pool = pl.read_parquet(lab / "data/prepared/chess.parquet")
    assert pool.height == 12 and pool["difficulty"].null_count() == 0
    (lab / "data/prepared/chess.parquet").unlink()
    lines = generated.csv.decode().splitlines()
    fields = lines[4].split(",")
    fields[2] = fields[2].split()[0] + " e1e8"
    lines[4] = ",".join(fields)
    (lab / "data/raw/puzzles.csv").write_text("\n".join(lines) + "\n")
    refused(lab, "stages/prepare.py", "--task", "chess", "--out", "data/prepared/chess.parquet",
            needles=("data/raw/puzzles.csv", "line 5", "'e1e8'", "illegal"))


def test_no_stockfish_is_one_line(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chess_lab(lab, generate={"puzzles": {"n_puzzles": 2}})
    monkeypatch.setenv("W2S_STOCKFISH", "stockfish-not-installed")
    refused(lab, "stages/chess_puzzles.py", "--out", "data/chess", "--record", "metrics/chess_puzzles.json",
            needles=("stockfish-not-installed", "apt-get install -y stockfish"))


def test_params_name_the_set_and_path(data_dir: Path) -> None:
    params = small_params(data_dir) | {"tasks": ["chess"]}
    with pytest.raises(InputError, match=r"chess.set: 'puzzles' is not a key of chess.generate"):
        parse_params(params)
    with pytest.raises(InputError, match=r"chess.path: required"):
        parse_params(params | {"chess": {"source": "file"}})
    with pytest.raises(InputError, match=r"difficulty_nodes: must increase and stay below nodes"):
        parse_params(params | {"chess": {"generate": {"puzzles": {"nodes": 100, "difficulty_nodes": [1, 100]}}}})


def test_buckets_keep_ties_together() -> None:
    assert buckets(np.array([800, 800, 800, 1100, 1400, 2000])).tolist() == [0, 0, 0, 1, 2, 2]
    assert buckets(np.array([800] * 5)).tolist() == [0] * 5


def test_pgr_by_difficulty(tmp_path: Path, data_dir: Path) -> None:
    """Each bucket's PGR is the cell's PGR on that bucket's test rows: a student that recovers the whole gap
    on the easy rows and none on the hard ones gets PGR 1 and 0."""
    params = parse_params(small_params(data_dir) | {"tasks": ["chess"],
                                                    "chess": {"source": "file", "path": str(FIXTURE)}})
    rng = np.random.default_rng(0)
    n = 40
    label = np.tile([0, 1], n // 2)
    difficulty = np.repeat([800, 2000], n // 2)
    pool = pl.DataFrame({"id": np.arange(n), "part": ["test"] * n, "label": label, "difficulty": difficulty})
    easy = difficulty == 800
    right, wrong = np.where(label == 1, 0.9, 0.1), np.where(label == 1, 0.1, 0.9)
    weak = np.where(rng.random(n) < 0.5, right, wrong)
    runs = {("gt", "minilm_l3", None): weak, ("gt", "minilm_l6", None): right,
            ("w2s", None, "minilm_l3"): np.where(easy, right, weak)}
    files = []
    for k, ((kind, model, w), p1) in enumerate(runs.items()):
        frame = pl.DataFrame({"kind": kind, "task": "chess", "model": model, "weak": w,
                              "strong": "minilm_l6" if w else None, "method": "xent" if w else None, "seed": 0,
                              "id": np.arange(n), "part": "test", "label": label, "p1": p1}
                             ).with_columns(pl.col(c).cast(pl.Utf8) for c in ("model", "weak", "strong", "method"))
        files.append(tmp_path / f"{k}.parquet")
        frame.write_parquet(files[-1])
    table = pgr_by_difficulty(files, {"chess": pool}, params)
    xent = table.filter(pl.col("method") == "xent").sort("bucket_index")
    assert xent["bucket"].to_list() == ["800-800", "2000-2000"] and xent["n_test"].to_list() == [20, 20]
    assert xent["pgr_accuracy"].to_list() == pytest.approx([1.0, 0.0])


def test_listed_chess_task_joins_the_dag(tmp_path: Path, data_dir: Path) -> None:
    """With `chess` in tasks, sources@chess waits for the generated set, and prepare, the ladder and the
    difficulty analysis follow it."""
    params = small_params(data_dir)
    params.update(tasks=["sst2", "chess"], chess={"generate": {"puzzles": {"n_puzzles": 24}}})
    lab = copy_lab(tmp_path / "lab", params)
    dag = dvc(lab, "dag", "--dot", "difficulty").stdout
    for edge in ('"chess_puzzles" -> "sources@chess"', '"sources@chess" -> "prepare@chess"',
                 '"prepare@chess" -> "embed@chess-minilm_l6"', '"prepare@chess" -> "difficulty"'):
        assert edge in dag, dag

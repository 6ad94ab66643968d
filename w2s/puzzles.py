"""Chess puzzles (the paper's second setting): one validated loader for the Lichess puzzle CSV and for
puzzles generated offline by Stockfish, and their binary multiple-choice rows.

Format (Lichess's puzzle database, CC0): columns PuzzleId, FEN, Moves, Rating, RatingDeviation, Popularity,
NbPlays, Themes, GameUrl, OpeningTags. FEN is the position *before* the opponent's move; `Moves` holds UCI
moves, the first the opponent's, the second the move to find (the rest continue the line; only the first
move to find is used, as in the paper). `read_puzzles` checks every row: the FEN parses, at least two
moves, each legal in sequence; the first bad row is an InputError naming the file, the CSV line and the
PuzzleId. The generated set (`generate_puzzles`) writes exactly these columns, so both go through it.

Sources (`chess.source`): `file` (a Lichess CSV or a slice of it you downloaded; decompress the .zst
first), `generated` (a set of `chess.generate`, made by stage `chess_puzzles@<set>` into
`data/chess/<set>.csv`), `hub` (the Lichess puzzles dataset on the Hugging Face hub, `chess.hub_id`).

Rows (`puzzle_rows`): `w2s.tasks.format_choice` with the position as the prompt and, as candidates, the
move to find and every other legal move in SAN (sorted by UCI), so a wrong row shows a uniformly drawn
legal move. Task `chess` shows the position as PGN (a `[FEN]` tag for the position the puzzle starts from,
then the opponent's move: the Lichess CSV has no game moves, only GameUrl), task `chess_fen` as the FEN
after the opponent's move. `group` is the source game (GameUrl without its side and `#ply`), so rows of one game
never straddle train and test; `difficulty` is the Rating, carried into the pool for the analyses.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from w2s.errors import InputError
from w2s.tasks import CHESS_TASK_NAMES, data_path, format_choice, read_table, stable_rng

if TYPE_CHECKING:
    from w2s.config import ChessGeneratorParams, ChessParams

COLUMNS: tuple[str, ...] = ("PuzzleId", "FEN", "Moves", "Rating", "RatingDeviation", "Popularity", "NbPlays",
                            "Themes", "GameUrl", "OpeningTags")
"""The Lichess puzzle CSV's columns, in its order (the generated set writes the same)."""
REQUIRED: tuple[str, ...] = ("PuzzleId", "FEN", "Moves", "Rating")
CHESS_TASKS: dict[str, str] = dict(zip(CHESS_TASK_NAMES, ("pgn", "fen"), strict=True))
"""Task name -> how the position is shown: `pgn` (the paper's framing) or `fen`."""
GENERATED_DIR = "data/chess"
"""Where stage `chess_puzzles@<set>` writes `<set>.csv` (the path dvc.yaml names too)."""
STOCKFISH_HINT = "install Debian's package: apt-get install -y stockfish"
ENGINE_OPTIONS: Mapping[str, int] = {"Threads": 1, "Hash": 16}
"""Fixed: one thread and a fixed hash, cleared before every search, so a node-limited search depends on
the position alone, never on the machine's speed."""
MATE_SCORE = 100_000
"""Centipawn value of a forced mate (minus its length) when comparing the two best moves."""


# ---------------------------------------------------------------------------------------- loading


def _csv_line(row: int) -> int:
    return row + 2  # the header is line 1


def validate_puzzles(frame: pl.DataFrame, where: str) -> None:
    """InputError naming `where`, the CSV line and the PuzzleId of the first bad row: a required column
    missing, a null field, a FEN that does not parse, fewer than two moves, a move that is not UCI or is
    illegal in its position (the moves are played in sequence from the FEN), a non-integer Rating."""
    import chess

    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InputError(f"{where}: no column {missing[0]!r} (a Lichess puzzle CSV has {', '.join(COLUMNS)})")
    if frame.is_empty():
        raise InputError(f"{where}: no puzzles")
    for i, row in enumerate(frame.select(REQUIRED).iter_rows(named=True)):
        at = f"{where}: line {_csv_line(i)} (PuzzleId {row['PuzzleId']!r})"
        for column in REQUIRED:
            if row[column] is None or str(row[column]).strip() == "":
                raise InputError(f"{at}: {column} is empty")
        try:
            int(str(row["Rating"]))
        except ValueError:
            raise InputError(f"{at}: Rating {row['Rating']!r} is not an integer") from None
        try:
            board = chess.Board(str(row["FEN"]))
        except ValueError as e:
            raise InputError(f"{at}: FEN {row['FEN']!r} does not parse ({e})") from None
        moves = str(row["Moves"]).split()
        if len(moves) < 2:
            raise InputError(f"{at}: Moves {row['Moves']!r} has {len(moves)} move; a puzzle needs the opponent's "
                             "move and the move to find")
        for k, uci in enumerate(moves):
            try:
                move = chess.Move.from_uci(uci)
            except ValueError:
                raise InputError(f"{at}: move {k + 1} {uci!r} is not a UCI move") from None
            if move not in board.legal_moves:
                raise InputError(f"{at}: move {k + 1} {uci!r} is illegal in {board.fen()!r}")
            board.push(move)


def read_puzzles(path: str | Path) -> pl.DataFrame:
    """The puzzles of a Lichess-format CSV (all columns as text, Rating as Int64), every row validated
    (`validate_puzzles`)."""
    where = Path(path)
    if where.suffix.lower() != ".csv":
        raise InputError(f"{path}: a puzzle file is a .csv (decompress lichess_db_puzzle.csv.zst first)")
    frame = read_table(where)
    frame = frame.with_columns(pl.col(c).cast(pl.Utf8) for c in frame.columns)
    validate_puzzles(frame, str(path))
    return frame.with_columns(pl.col("Rating").cast(pl.Int64))


def read_hub_puzzles(hub_id: str) -> pl.DataFrame:
    """The hub dataset's train split as a validated puzzle frame; a load failure is one InputError line."""
    import datasets

    try:
        frame = datasets.load_dataset(hub_id, split="train").to_polars()
    except Exception as e:  # any failure of the hub or its cache: one line
        raise InputError(f"chess.hub_id: cannot load hub dataset {hub_id} ({type(e).__name__}); offline, download "
                         "the Lichess puzzle CSV and set chess.source: file with chess.path") from None
    frame = frame.with_columns(pl.col(c).cast(pl.Utf8) for c in frame.columns)
    validate_puzzles(frame, f"hub {hub_id}")
    return frame.with_columns(pl.col("Rating").cast(pl.Int64))


def puzzle_file(chess: ChessParams) -> str | None:
    """The CSV the chess tasks read, as params give it (None for the hub): `chess.path` for `file`,
    `data/chess/<chess.set>.csv` for `generated`."""
    if chess.source == "file":
        if not chess.path:
            raise InputError("chess.path: required when chess.source is file (a Lichess puzzle CSV or slice)")
        return chess.path
    if chess.source == "generated":
        return f"{GENERATED_DIR}/{chess.set}.csv"
    return None


def load_puzzles(chess: ChessParams) -> pl.DataFrame:
    """The validated puzzles `chess.source` names (`puzzle_file` or the hub)."""
    path = puzzle_file(chess)
    if path is None:
        return read_hub_puzzles(chess.hub_id)
    if chess.source == "generated" and not data_path(path).is_file():
        raise InputError(f"{path}: not generated; list {chess.set!r} in chess.generate and run `dvc repro`")
    return read_puzzles(data_path(path))


# ---------------------------------------------------------------------------------------- rows


def _prompt(board: Any, opponent: Any, framing: str) -> str:
    """The position the player to move faces: the PGN from the puzzle's FEN through the opponent's move,
    or the FEN after it."""
    import chess.pgn

    if framing == "fen":
        after = board.copy()
        after.push(opponent)
        return f"FEN: {after.fen()}"
    game = chess.pgn.Game()
    game.setup(board)
    game.add_variation(opponent)
    movetext = game.accept(chess.pgn.StringExporter(headers=False, comments=False, variations=False))
    return f'[FEN "{board.fen()}"]\n{movetext.removesuffix(" *")}'


def puzzle_row(fen: str, moves: str, framing: str, rng: np.random.Generator) -> tuple[str, int]:
    """One binary row (`format_choice`): the position, then `Move: ` and the move to find (label 1) or
    another legal move (label 0), in SAN; candidates in UCI order."""
    import chess

    board = chess.Board(fen)
    ucis = moves.split()
    opponent = chess.Move.from_uci(ucis[0])
    after = board.copy()
    after.push(opponent)
    right = chess.Move.from_uci(ucis[1])
    legal = sorted(after.legal_moves, key=lambda m: m.uci())
    candidates: list[str | None] = [after.san(m) for m in legal]
    return format_choice(_prompt(board, opponent, framing), candidates, legal.index(right), rng,
                         answer_prefix="Move: ")


def puzzle_rows(puzzles: pl.DataFrame, task: str, seed: int) -> dict[str, pl.DataFrame]:
    """The chess task's rows as {"train": df} (the pool carves the test rows, game groups apart): columns
    text, label (Int8), group (the source game: GameUrl without `/black`, `/white` or `#...`, else the
    PuzzleId) and difficulty (Int64, the Rating), in file order. One draw per row from a generator of
    (seed, task)."""
    framing = CHESS_TASKS[task]
    rng = stable_rng(seed, "format", task, "train")
    rows = []
    urls = puzzles["GameUrl"] if "GameUrl" in puzzles.columns else pl.Series([None] * puzzles.height)
    for (pid, fen, moves, rating), url in zip(puzzles.select("PuzzleId", "FEN", "Moves", "Rating").rows(),
                                              urls, strict=True):
        text, label = puzzle_row(fen, moves, framing, rng)
        group = re.sub(r"(/(black|white))?(#.*)?$", "", url) if url else f"puzzle:{pid}"
        rows.append((text, label, group, rating))
    schema = {"text": pl.Utf8, "label": pl.Int8, "group": pl.Utf8, "difficulty": pl.Int64}
    return {"train": pl.DataFrame(rows, schema=schema, orient="row")}


# ---------------------------------------------------------------------------------------- generating


def find_stockfish() -> str:
    """The Stockfish binary: `$W2S_STOCKFISH` (default `stockfish`, a command name or a path) on PATH, else
    in /usr/games (where Debian's package puts it, off root's PATH); else InputError naming the package."""
    name = os.environ.get("W2S_STOCKFISH", "").strip() or "stockfish"
    found = shutil.which(name) or shutil.which(name, path="/usr/games")
    if not found:
        raise InputError(f"chess_puzzles: no `{name}` on PATH or in /usr/games (W2S_STOCKFISH); {STOCKFISH_HINT}")
    return found


@dataclass(frozen=True)
class Generated:
    csv: bytes
    """The puzzles as a Lichess-format CSV (header + one line per puzzle, LF line ends)."""
    engine: str
    """The engine's UCI name and version, e.g. `Stockfish 15.1`."""
    n_games: int
    n_positions: int
    """Positions searched with MultiPV 2 (the candidates for a puzzle)."""


class Uci:
    """A minimal UCI client of one engine process: a search from the start position and a move list, with
    the hash cleared first (`ucinewgame`), returning each PV's score and first move. (python-chess's
    engine layer parses every info line's PV on a board: slower than the search at these budgets.)"""

    def __init__(self, path: str) -> None:
        try:
            self.proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        except OSError as e:
            raise InputError(f"chess_puzzles: cannot start {path} ({type(e).__name__}); {STOCKFISH_HINT}") from None
        self.name = path
        for line in self._until("uci", "uciok"):
            if line.startswith("id name "):
                self.name = line.removeprefix("id name ").strip()
        for option, value in ENGINE_OPTIONS.items():
            self._send(f"setoption name {option} value {value}")
        self.multipv = 1

    def _send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")

    def _until(self, command: str, last: str) -> list[str]:
        """Send `command`; the engine's lines up to the one starting with `last` (included)."""
        assert self.proc.stdout is not None
        self._send(command)
        lines = []
        while line := self.proc.stdout.readline():
            lines.append(line.rstrip("\n"))
            if line.startswith(last):
                return lines
        raise InputError(f"chess_puzzles: the engine {self.name} exited during {command.split()[0]!r}")

    def search(self, moves: list[str], nodes: int, multipv: int = 1) -> list[tuple[int, str]]:
        """(score in centipawns for the side to move, first move) of each PV, best first, after a search of
        `nodes` nodes from a cleared hash. A mate in n counts MATE_SCORE - n (mated: -MATE_SCORE + n)."""
        if multipv != self.multipv:
            self._send(f"setoption name MultiPV value {multipv}")
            self.multipv = multipv
        self._send("ucinewgame")
        self._until("isready", "readyok")
        self._send("position startpos" + (" moves " + " ".join(moves) if moves else ""))
        pvs: dict[int, tuple[int, str]] = {}
        for line in self._until(f"go nodes {nodes}", "bestmove"):
            words = line.split()
            if words[0] != "info" or "pv" not in words or "score" not in words:
                continue
            k = int(words[words.index("multipv") + 1]) if "multipv" in words else 1
            kind, value = words[words.index("score") + 1], int(words[words.index("score") + 2])
            cp = value if kind == "cp" else (MATE_SCORE - value if value > 0 else -MATE_SCORE - value)
            pvs[k] = (cp, words[words.index("pv") + 1])
        return [pvs[k] for k in sorted(pvs)]

    def close(self) -> None:
        if self.proc.poll() is None:
            self._send("quit")
            self.proc.communicate(timeout=10)


def rating_of(k: int) -> int:
    """The Rating-like difficulty of a puzzle whose move the engine first finds at difficulty budget
    `k` (its index in `difficulty_nodes`; len(difficulty_nodes): only at the full budget): 800 + 300 k."""
    return 800 + 300 * k


def generate_puzzles(g: ChessGeneratorParams, engine_path: str | None = None) -> Generated:
    """Puzzles from Stockfish self-play, deterministic for the same params and engine build.

    Game `i` (0, 1, ...) starts with `random_plies` uniformly drawn legal moves (a generator of (seed, i)),
    then the engine plays both sides: at every position it searches `nodes` nodes with MultiPV 2 (one
    thread, 16 MB hash cleared before every search) and plays its best move. A position after at least
    two engine moves is kept as a puzzle when its best move is not a recapture (a move to the square the
    previous move went to) and beats the second best by at least `margin` centipawns (a mate counts as
    100000 minus its length), at most `per_game` per game: FEN = the position before the previous move
    (the "opponent's"), Moves = that move and the best move. Difficulty: the smallest budget in
    `difficulty_nodes` at which a single-PV search (hash cleared) plays the same best move, as Rating
    `rating_of(k)`. A game ends at mate, a draw, or `max_plies`; generation stops at `n_puzzles` puzzles
    (InputError after `20 * n_puzzles` games without them).
    """
    import chess

    path = engine_path or find_stockfish()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    found = games = positions = 0
    engine = Uci(path)
    try:
        while found < g.n_puzzles:
            if games >= 20 * g.n_puzzles:
                raise InputError(f"chess.generate: {games} games gave {found} of {g.n_puzzles} puzzles; lower "
                                 "margin or raise per_game")
            rng = stable_rng(g.seed, "chess", "game", str(games))
            board = chess.Board()
            for _ in range(g.random_plies):
                legal = sorted(board.legal_moves, key=lambda m: m.uci())
                if not legal:
                    break
                board.push(legal[int(rng.integers(len(legal)))])
            previous: tuple[str, chess.Move] | None = None
            engine_moves = kept = 0
            while not board.is_game_over(claim_draw=True) and board.ply() < g.max_plies:
                history = [m.uci() for m in board.move_stack]
                pvs = engine.search(history, g.nodes, multipv=2)
                positions += 1
                best = chess.Move.from_uci(pvs[0][1])
                if (previous is not None and engine_moves >= 2 and kept < g.per_game and len(pvs) == 2
                        and best.to_square != previous[1].to_square and pvs[0][0] - pvs[1][0] >= g.margin):
                    k = next((k for k, n in enumerate(g.difficulty_nodes)
                              if engine.search(history, n)[0][1] == best.uci()), len(g.difficulty_nodes))
                    fen, opponent = previous
                    writer.writerow((f"g{g.seed}-{games}-{board.ply()}", fen, f"{opponent.uci()} {best.uci()}",
                                     rating_of(k), 0, 0, 0, "generated", f"generated:seed{g.seed}/game{games}"
                                     f"#{board.ply()}", ""))
                    kept += 1
                    found += 1
                    if found == g.n_puzzles:
                        break
                previous = (board.fen(), best)
                board.push(best)
                engine_moves += 1
            games += 1
    finally:
        engine.close()
    name = engine.name
    return Generated(out.getvalue().encode(), name, games, positions)


def generate_sets(chess: ChessParams) -> tuple[dict[str, Generated], dict[str, Any]]:
    """Every set of `chess.generate` (`generate_puzzles`, one Stockfish process each), and the record the
    stage keeps beside them: the engine's name and version, its fixed options, and per set its puzzle,
    game and position counts and the CSV's sha256. No sets: no engine is needed (the default pipeline)."""
    import hashlib

    if not chess.generate:
        return {}, {"engine": None, "options": dict(ENGINE_OPTIONS), "sets": {}}
    path = find_stockfish()
    sets = {name: generate_puzzles(g, path) for name, g in sorted(chess.generate.items())}
    engines = sorted({s.engine for s in sets.values()})
    record = {"engine": engines[0], "options": dict(ENGINE_OPTIONS),
              "sets": {name: {"n_puzzles": chess.generate[name].n_puzzles, "games": s.n_games,
                              "positions": s.n_positions, "sha256": hashlib.sha256(s.csv).hexdigest()}
                       for name, s in sets.items()}}
    return sets, record

"""The generated blocks of README.md: each benchmark script owns the text between its
``<!-- name:begin -->`` and ``<!-- name:end -->`` markers and replaces it atomically."""

from __future__ import annotations

from pathlib import Path

from phenocast.data import atomic_write_text

README = Path(__file__).resolve().parent.parent / "README.md"


def shown(path: Path) -> str:
    """``path`` relative to the repository when inside it (for captions)."""
    try:
        return str(path.resolve().relative_to(README.parent))
    except ValueError:
        return str(path)


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def check_block(name: str, readme: Path = README) -> tuple[str, str]:
    """README's text before and after the block; exits naming the markers if they are missing
    (call it before a long run, so a missing marker fails fast)."""
    begin, end = markers(name)
    text = readme.read_text()
    if begin not in text or end not in text or text.index(begin) > text.index(end):
        raise SystemExit(
            f"{readme} lacks the {begin} / {end} markers (in that order); add them where the "
            f"{name} results should go, then run again."
        )
    head, rest = text.split(begin, 1)
    return head, rest.split(end, 1)[1]


def update_block(name: str, md: str, readme: Path = README) -> Path:
    """Replace the block's text with ``md``, reading README at this moment (atomically)."""
    begin, end = markers(name)
    head, tail = check_block(name, readme)
    return atomic_write_text(readme, f"{head}{begin}\n{md}\n{end}{tail}")

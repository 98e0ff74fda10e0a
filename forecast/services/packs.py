"""Question packs: a YAML (or JSON, which is YAML) file of questions.

Format (see README.md, "Question packs"):

    pack: amazon-tiktok            # an id; with each question's key it makes loading idempotent
    title: Amazon and TikTok
    source: https://...            # default source for every question
    questions:
      - key: deal-closes
        title: Will Amazon complete ...?
        description: ...
        resolution_criteria: ...
        kind: binary               # or multiple_choice with outcomes: [labels]
        close_at: 2027-06-30T23:59:00Z
        liquidity: 100             # b, in points; default: the competition's (DESIGN.md)
        initial_probabilities: [0.2, 0.8]   # optional, one per outcome

Errors name the line and the field, and a bad file creates nothing.  A pack is
plain data: anchors and aliases (``&a`` / ``*a``, YAML's way to repeat a part,
which nested a few levels deep expands a few hundred bytes into gigabytes) are
refused where they first appear, and so is a file over MAX_PACK_BYTES or one of
more than MAX_NODES values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import yaml
from sqlmodel import Session, select

from forecast.models import Competition, Question, utcnow
from forecast.services import access
from forecast.services.errors import DomainError, Invalid, unstorable
from forecast.services.questions import (
    create_question,
    outcomes_of,
    parse_time,
    validate_question,
)
from forecast.services.reads import iso

PACK_DIR = Path(__file__).resolve().parent.parent / "packs"
SEED_PACK = PACK_DIR / "amazon-tiktok.yaml"
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")
QUESTION_FIELDS = {
    "key",
    "title",
    "description",
    "resolution_criteria",
    "source",
    "kind",
    "outcomes",
    "close_at",
    "liquidity",
    "initial_probabilities",
}
MAX_QUESTIONS = 500
MAX_PACK_BYTES = 512 * 1024  # a file of MAX_QUESTIONS full questions is about 300 KB
MAX_NODES = 50_000  # scalars, lists and mappings in one file


class PackError(Invalid):
    """A bad pack file: the message names the line and the field."""

    code = "bad_pack"


@dataclass
class Pack:
    id: str
    title: str
    questions: list[dict] = field(default_factory=list)


def _lines(node: yaml.Node, path: tuple = (), out: dict | None = None) -> dict:
    """Map each path in the document to its 1-based line number."""
    out = {} if out is None else out
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            out[(*path, k.value)] = k.start_mark.line + 1
            _lines(v, (*path, k.value), out)
            out[(*path, k.value)] = k.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _lines(v, (*path, i), out)
    return out


class _PackLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses anchors and aliases and counts the values it
    builds, so what a document expands to is bounded by its length."""

    def compose_node(self, parent, index):  # noqa: ANN001, ANN201
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in a pack", event.start_mark
            )
        if getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "anchors (&name) are not allowed in a pack", event.start_mark
            )
        self._nodes = getattr(self, "_nodes", 0) + 1
        if self._nodes > MAX_NODES:
            raise yaml.composer.ComposerError(
                None, None, f"more than {MAX_NODES} values in one pack", event.start_mark
            )
        return super().compose_node(parent, index)


def _read(text: str) -> tuple[yaml.Node | None, object]:
    """The document's node tree and its data, read once by _PackLoader."""
    loader = _PackLoader(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _unstorable(data: object, path: tuple = ()) -> tuple | None:
    """The path of the first text in ``data`` that no database column can hold."""
    if isinstance(data, str):
        return path if unstorable(data) else None
    items = (
        data.items()
        if isinstance(data, dict)
        else enumerate(data)
        if isinstance(data, list)
        else ()
    )
    for k, v in items:
        if isinstance(k, str) and unstorable(k):
            return (*path, k)
        found = _unstorable(v, (*path, k))
        if found is not None:
            return found
    return None


def parse(text: str, *, now: datetime | None = None) -> Pack:
    """Parse and validate a pack; raises PackError('line N, field F: ...')."""
    if len(text) > MAX_PACK_BYTES or len(text.encode("utf-8", "replace")) > MAX_PACK_BYTES:
        raise PackError(
            f"The pack file is too large ({MAX_PACK_BYTES // 1024} KB at most).", field="file"
        )
    try:
        node, data = _read(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise PackError(
            f"{where}not valid YAML or JSON ({getattr(e, 'problem', e)}).", field="file"
        ) from None
    lines = _lines(node) if node is not None else {}

    def fail(path: tuple, fieldname: str, message: str) -> PackError:
        line = lines.get(path) or lines.get(path[:-1]) or lines.get(path[:1]) or 1
        return PackError(f"line {line}, field {fieldname}: {message}", field="file")

    if not isinstance(data, dict):
        raise fail((), "pack", "the file must be a mapping with 'pack' and 'questions'.")
    bad = _unstorable(data)
    if bad is not None:
        name = next((str(p) for p in reversed(bad) if isinstance(p, str)), "pack")
        raise fail(bad, name, "text may not hold NUL or unpaired surrogate characters.")
    pack_id = data.get("pack")
    if not isinstance(pack_id, str) or not KEY_RE.match(pack_id):
        raise fail(
            ("pack",), "pack", "give the pack an id of lowercase letters, digits and dashes."
        )
    questions = data.get("questions")
    if not isinstance(questions, list) or not questions:
        raise fail(("questions",), "questions", "give a list of questions.")
    if len(questions) > MAX_QUESTIONS:
        raise fail(("questions",), "questions", f"at most {MAX_QUESTIONS} questions a pack.")
    default_source = data.get("source", "")
    seen: set[str] = set()
    clean: list[dict] = []
    for i, q in enumerate(questions):
        path = ("questions", i)
        if not isinstance(q, dict):
            raise fail(path, f"questions[{i}]", "each question is a mapping.")
        unknown = set(q) - QUESTION_FIELDS
        if unknown:
            name = sorted(unknown)[0]
            raise fail((*path, name), name, "unknown field.")
        key = q.get("key")
        if not isinstance(key, str) or not KEY_RE.match(key):
            raise fail(
                (*path, "key"), "key", "each question needs a key (lowercase, digits, dashes)."
            )
        if key in seen:
            raise fail((*path, "key"), "key", f"the key {key!r} is used twice.")
        seen.add(key)
        fields = {k: v for k, v in q.items() if k != "key"}
        fields.setdefault("source", default_source)
        if isinstance(fields.get("close_at"), date):  # YAML reads 2027-06-30 as a date
            fields["close_at"] = fields["close_at"].isoformat()
        try:
            validate_question(**fields, now=now)
        except Invalid as e:
            f = e.field or "question"
            raise fail((*path, f), f, e.message) from None
        except TypeError as e:
            raise fail(path, "question", str(e)) from None
        clean.append({"key": key, **fields})
    return Pack(id=pack_id, title=str(data.get("title") or pack_id), questions=clean)


def load(
    *,
    session: Session,
    text: str,
    competition: Competition,
    user_id: int | None,
    check_moderator: bool = True,
) -> list[Question]:
    """Create the pack's questions that the competition does not have yet.

    Idempotent: each question is keyed by pack id and question key, so a
    second load creates nothing.  Returns the questions created.
    """
    if check_moderator:
        access.require_moderator(session, user_id, competition.id)
    pack = parse(text)
    created = []
    for q in pack.questions:
        pack_key = f"{pack.id}/{q['key']}"
        exists = session.exec(
            select(Question).where(
                Question.competition_id == competition.id, Question.pack_key == pack_key
            )
        ).first()
        if exists is not None:
            continue
        fields = {k: v for k, v in q.items() if k != "key"}
        created.append(
            create_question(
                session=session,
                user_id=user_id,
                competition=competition,
                pack_key=pack_key,
                check_moderator=False,
                **fields,
            )
        )
    return created


def export(*, session: Session, competition: Competition) -> str:
    """The competition's questions as a pack file (YAML) that ``load`` accepts."""
    from forecast.market.lmsr import prices
    from forecast.market.money import to_float

    questions = []
    for q in session.exec(
        select(Question).where(Question.competition_id == competition.id).order_by(Question.id)
    ):
        outs = outcomes_of(session, q.id)
        item = {
            "key": (q.pack_key or f"q{q.id}").split("/")[-1],
            "title": q.title,
            "description": q.description,
            "resolution_criteria": q.resolution_criteria,
            "source": q.source,
            "kind": q.kind,
            "close_at": iso(max(q.close_at, utcnow())),
            "liquidity": to_float(q.liquidity),
        }
        if q.kind == "multiple_choice":
            item["outcomes"] = [o.label for o in outs]
        if any(o.q0 for o in outs):
            item["initial_probabilities"] = [
                round(p, 6) for p in prices([o.q0 for o in outs], q.liquidity)
            ]
        questions.append(item)
    doc = {"pack": competition.slug, "title": competition.name, "questions": questions}
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


_CLOSE_LINE = re.compile(r"^(?P<head>\s*close_at:\s*)(?P<at>\S+)\s*$", re.MULTILINE)


def seed_text(now: datetime | None = None) -> str:
    """The shipped Amazon-TikTok pack (SEED_PACK), its close times in the future.

    They are the article's dates.  Once one has passed, it moves on by whole years
    (the questions ask what happens "before the close time"), so that a new site,
    or a moderator loading the shipped pack, still gets every question open.  A
    pack file anyone writes is held to the future as it is written.
    """
    now = now or utcnow()

    def rolled(m: re.Match) -> str:
        close = parse_time(m["at"].strip("\"'"))
        if close > now:
            return m[0]
        return m["head"] + iso(_rolled(close, now))

    return _CLOSE_LINE.sub(rolled, SEED_PACK.read_text(encoding="utf-8"))


def _rolled(close: datetime, now: datetime) -> datetime:
    """The same day and time as ``close`` in the first later year that is after ``now``
    (29 February becomes the 28th in a year without it)."""
    year = close.year
    while True:
        try:
            moved = close.replace(year=year)
        except ValueError:
            moved = close.replace(year=year, day=28)
        if moved > now:
            return moved
        year += 1


def load_seed(*, session: Session, competition: Competition) -> list[Question]:
    """Load the shipped Amazon-TikTok pack (seed_text; no moderator check: the site does it)."""
    try:
        return load(
            session=session,
            text=seed_text(),
            competition=competition,
            user_id=None,
            check_moderator=False,
        )
    except DomainError:
        raise

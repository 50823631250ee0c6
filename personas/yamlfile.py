"""Persona files: YAML that a person can read, edit and diff.

Reading is strict: a file over ``MAX_FILE_BYTES``, one that is not UTF-8, not YAML, not a mapping,
or that repeats a key is a ``BadInput`` naming the file (PyYAML would silently keep the last of
two equal keys — a hand edit lost without a word). Only plain YAML is accepted (the safe loader).

Writing always gives the same bytes for the same persona: keys in a fixed, readable order (who,
how they talk, rules, modes, questions, then the technical settings), block style, unicode kept,
lists indented under their key, and any text that spans lines or runs long written as a literal
block (``|``). Loading then saving a file written this way gives it back byte for byte, which is
what keeps the shipped examples and their diffs honest. Comments are not kept (PyYAML drops them);
the file starts with a fixed header instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import BadInput

from .model import SLUG_RE, Persona, preview

MAX_FILE_BYTES = 64 * 1024
LITERAL_OVER = 120  # characters; longer text (or any with a line break) is written as a `|` block
HEADER = ("# Avatar Studio persona. Edit freely: every field is checked when the studio loads this file.\n"
          "# Fields: personas/model.py. Rules may carry regex patterns (require / forbid) for the persona check.\n")

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class StrictLoader(_Loader):  # type: ignore[misc, valid-type]
    """The safe loader, refusing a mapping that repeats a key."""


def _mapping_without_repeats(loader: StrictLoader, node: yaml.MappingNode) -> dict:
    loader.flatten_mapping(node)
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            repeated = key in seen
            seen.add(key)
        except TypeError:  # an unhashable key; construct_mapping reports it in its own words
            continue
        if repeated:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {preview(key)} appears twice", key_node.start_mark)
    return loader.construct_mapping(node, deep=True)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_repeats)


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)  # "key:\n  - item", not "key:\n- item"


def _represent_str(dumper: _Dumper, value: str) -> yaml.ScalarNode:
    # Long text as a literal block. The reader strips the final line break again, so this shows
    # "|" rather than "|-". Text a block cannot hold (a tab, say) is left to PyYAML, which quotes it.
    long = "\n" in value or len(value) > LITERAL_OVER
    if long and dumper.analyze_scalar(value + "\n").allow_block:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value + "\n", style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


class _Pattern(str):
    """A regex: always one line (a literal block would only make it harder to read)."""


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_Pattern, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", str(value)))


def dump(persona: Persona) -> str:
    """The persona as the text of its ``persona.yaml``."""
    data = persona.to_data()
    mode_rules = [mode.get(key, []) for mode in data["modes"].values() for key in ("always", "never")]
    for rules in (data["always"], data["never"], *mode_rules):
        for rule in rules:
            for key in ("require", "forbid"):
                if isinstance(rule, dict) and key in rule:
                    rule[key] = [_Pattern(pattern) for pattern in rule[key]]
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, indent=2, width=1000)
    return HEADER + body


def parse(text: str | bytes, *, source: str, origin: str | None = None,
          expected_id: str | None = None) -> Persona:
    """A persona from the text of a file. ``expected_id`` (the folder's name) fills in a missing
    ``id`` and must match a given one."""
    size = len(text.encode() if isinstance(text, str) else text)
    if size > MAX_FILE_BYTES:
        raise BadInput(f"{source} is {size / 1024:.0f} kB; a persona file may be at most "
                       f"{MAX_FILE_BYTES // 1024} kB")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise BadInput(f"{source} is not UTF-8 text (byte {error.start}); save it as UTF-8") from None
    try:
        data: Any = yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError as error:
        raise BadInput(f"{source} is not valid YAML: {_yaml_problem(error)}") from None
    if data is None:
        raise BadInput(f"{source} is empty; a persona needs at least an id, a name and an identity")
    if isinstance(data, dict) and expected_id is not None:
        if data.get("id") is None:
            data["id"] = expected_id
        elif isinstance(data["id"], str) and SLUG_RE.fullmatch(data["id"]) and data["id"] != expected_id:
            # (an id that is not a slug at all is reported by the persona's own check)
            raise BadInput(f"{source}: id {data['id']!r} does not match its folder {expected_id!r}; "
                           "make them the same")
    return Persona.from_dict(data, source=source, origin=origin)


def read(path: Path, *, source: str | None = None, origin: str | None = None,
         expected_id: str | None = None) -> Persona:
    """A persona from a file; the size is checked before anything is read into memory."""
    source = source or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BadInput(f"{source} is {size / 1024:.0f} kB; a persona file may be at most "
                           f"{MAX_FILE_BYTES // 1024} kB")
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise BadInput(f"could not read {source}: {error.strerror or error}") from None
    return parse(raw, source=source, origin=origin, expected_id=expected_id)


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return where + " ".join(str(problem).split())

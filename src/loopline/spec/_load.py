"""Reading ``loopline.yaml`` and turning validation failures into errors that say the fix."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from loopline._errors import LooplineError, SpecError
from loopline.spec._spec import ProblemSpec


def read_yaml(path: Path, *, error: type[LooplineError], missing: str) -> Any:
    """The parsed YAML of ``path``; ``error`` (naming the file, and line and column of a syntax error) when
    it does not exist (``missing`` says what to do) or does not parse. Used for every YAML file loopline reads:
    specs, experiment specs, deployments."""
    if not path.is_file():
        raise error(f"{path}: {missing}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(f"{path}{where}: not valid YAML ({problem}). Check indentation and quoting.") from None


def load_spec(path: Path) -> ProblemSpec:
    data = read_yaml(path, error=SpecError, missing="no such spec file. Write one with 'loopline init --data "
                                                      "YOUR_TABLE' or pass the right path with --spec.")
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping of keys (name, task, data, ...), got {type(data).__name__}.")
    return spec_from_dict(data, base_dir=path.resolve().parent, source=str(path))


def spec_from_dict(data: dict[str, Any], *, base_dir: Path, source: str) -> ProblemSpec:
    try:
        spec = ProblemSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(describe_validation(exc, source=source, root=ProblemSpec)) from None
    return spec.with_base_dir(base_dir, source)


Special = Callable[[Mapping[str, Any], str, str], "str | None"]
"""A caller's own wording for one pydantic error (the error, its dotted path, its message), or None."""


def describe_validation(exc: ValidationError, *, source: str, root: type[BaseModel], add_to: str = " to the spec",
                        special: Special | None = None) -> str:
    """One line per problem in ``exc``, each naming ``source`` and the key path and saying the fix: unknown keys
    with a did-you-mean among the keys allowed there (found by walking ``root``), missing keys, and the rest
    with the value given. Shared by every YAML loopline reads (specs, experiment specs, deployments)."""
    lines = []
    for err in exc.errors():
        loc = [part for part in err["loc"] if not _is_union_tag(part)]
        path = _dotted(loc)
        message = str(err["msg"]).removeprefix("Value error, ")
        custom = special(err, path, message) if special is not None else None
        if custom is not None:
            lines.append(f"{source}, {custom}")
        elif err["type"] == "extra_forbidden":
            key = str(loc[-1])
            allowed = _allowed_keys(root, loc[:-1])
            hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            fix = f"did you mean '{hint[0]}'?" if hint else f"allowed keys here: {', '.join(allowed)}."
            lines.append(f"{source}, {path}: unknown key '{key}'; {fix}")
        elif err["type"] == "missing":
            lines.append(f"{source}, {path}: required key is missing. Add '{loc[-1]}:'{add_to}.")
        elif message.endswith("."):  # already a whole sentence that names the value and the fix
            lines.append(f"{source}, {path}: {message}" if path else f"{source}, {message}")
        elif ":" in message.split(" ")[0]:  # the message names its own key
            lines.append(f"{source}, {message}.")
        else:
            given = err.get("input")
            shown = "" if isinstance(given, dict) or "got " in message else f", got {given!r}"
            lines.append(f"{source}, {path}: {message}{shown}." if path else f"{source}, {message}{shown}.")
    # one message per location; pydantic repeats a location once per union member
    return "\n".join(dict.fromkeys(lines))


def _is_union_tag(part: int | str) -> bool:
    """pydantic's names for a union member or a validator, which are not keys of the YAML."""
    return isinstance(part, str) and ("[" in part or part.startswith("function-")
                                      or part in {"str", "list[str]", "int", "float", "bool"})


def _dotted(loc: list[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _allowed_keys(root: type[BaseModel], loc: list[int | str]) -> list[str]:
    """The keys allowed at ``loc`` under ``root``; list indices and the keys of a mapping of models
    (``arms: {control: ...}``) are stepped over."""
    model: type[BaseModel] | None = root
    keyed = False
    for part in loc:
        if model is None:
            break
        if isinstance(part, int) or keyed:
            keyed = False
            continue
        field = model.model_fields.get(str(part))
        model = _model_of(field.annotation) if field is not None else None
        keyed = field is not None and get_origin(field.annotation) in (dict, Mapping)
    return sorted(model.model_fields) if model is not None else []


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None

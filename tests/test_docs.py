"""The documentation stays true: the command reference matches the parsers, links resolve, the README stays short.

The parsers are read in-process: `starter.py`'s tree from `build_parser()`, `worker.py`'s and `make
run`'s options from their own `--help` (printed by argparse before either does anything else).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest

import starter
from yourmoment.cli.main import USER_HELP, build_parser
from yourmoment.worker_main import parse_args as parse_worker_args

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
CLI_DOC = REPO / "docs" / "cli.md"
README_MAX_LINES = 300
# Every page the README's documentation map leads to; their links are checked like the README's.
DOC_PAGES = [*sorted((REPO / "docs").glob("*.md")), REPO / "bench" / "README.md", REPO / "CHANGELOG.md"]

# docs/cli.md: one `### `command`` heading per command, followed by its synopsis line(s) in backticks.
COMMAND_HEADING = re.compile(r"^### `([^`]+)`\s*$")
ANY_HEADING = re.compile(r"^#{1,6} ")
SYNOPSIS = re.compile(r"^`(?:starter\.py|python worker\.py|python -m \S+) [^`]*`\s*$")
LONG_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]*")
# Entry points other than starter.py that docs/cli.md documents, by heading.
WORKER_HEADING = "worker.py"
MAKE_RUN_HEADING = "make run"


# --- The parsers -------------------------------------------------------------------------------------


def command_parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every command path under `parser` with its parser, groups included (an alias is listed once)."""
    found: dict[tuple[str, ...], argparse.ArgumentParser] = {}
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        seen: set[int] = set()
        for name, sub in action.choices.items():
            if id(sub) in seen:
                continue
            seen.add(id(sub))
            found[(*path, name)] = sub
            found.update(command_parsers(sub, (*path, name)))
    return found


def has_subcommands(parser: argparse.ArgumentParser) -> bool:
    return any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


def own_options(parser: argparse.ArgumentParser) -> set[str]:
    """The long options of one command. The global `--user` (documented once, under Conventions) and
    `--help` are left out; `template add`'s own `--user` (the user prompt) has its own help and stays."""
    options: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.help == USER_HELP:
            continue
        options.update(o for o in action.option_strings if o.startswith("--"))
    return options


def options_from_help(print_help: Callable[[], object]) -> set[str]:
    """The long options an entry point's `--help` lists (it exits after printing)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        print_help()
    # Only the option column ("  --port PORT   the dev server's port"): help texts mention other options.
    invocations = re.findall(r"^ {2}(-\S.*?)(?: {2,}|$)", out.getvalue(), re.MULTILINE)
    return {o for part in invocations for o in LONG_OPTION.findall(part)} - {"--help"}


def make_run_module() -> str:
    """The module `make run` runs, read from the Makefile so that a move of it is followed here."""
    recipe = re.search(r"^run:.*\n((?:\t.*\n)+)", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert recipe, "the Makefile has no `run` target"
    module = re.search(r"-m (\S+)", recipe.group(1))
    assert module, "`make run` runs no `python -m MODULE`"
    return module.group(1)


STARTER = build_parser(starter.command_modules())  # as `starter.py` in a checkout builds it
STARTER_COMMANDS = command_parsers(STARTER)
LEAF_COMMANDS = {path: p for path, p in STARTER_COMMANDS.items() if not has_subcommands(p)}


def entry_point_options() -> dict[str, set[str]]:
    """Each documented command heading → the options its parser defines."""
    expected = {" ".join(path): own_options(p) for path, p in LEAF_COMMANDS.items()}
    expected[WORKER_HEADING] = options_from_help(lambda: parse_worker_args(["--help"]))
    run_local = importlib.import_module(make_run_module())
    expected[MAKE_RUN_HEADING] = options_from_help(lambda: run_local.main(["--help"]))
    return expected


# --- The documents -----------------------------------------------------------------------------------


def without_code(markdown: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def reference_sections(markdown: str) -> dict[str, list[str]]:
    """docs/cli.md: each `### `command`` heading → the synopsis lines of its section."""
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in without_code(markdown):
        heading = COMMAND_HEADING.match(line)
        if heading:
            current = heading.group(1)
            assert current not in sections, f"docs/cli.md documents `{current}` twice"
            sections[current] = []
        elif ANY_HEADING.match(line):
            current = None
        elif current is not None and SYNOPSIS.match(line):
            sections[current].append(line)
    return sections


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation but `-` and `_` dropped, spaces → `-`."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors_of(path: Path) -> set[str]:
    anchors: set[str] = set()
    for line in without_code(path.read_text()):
        match = re.match(r"^#{1,6} (.+?)\s*#*\s*$", line)
        if not match:
            continue
        anchor = base = github_anchor(match.group(1))
        n = 0
        while anchor in anchors:  # GitHub numbers repeated headings: x, x-1, x-2
            n += 1
            anchor = f"{base}-{n}"
        anchors.add(anchor)
    return anchors


LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def relative_links(path: Path) -> list[str]:
    """The relative link targets of a page (code spans and blocks hold examples, not links)."""
    text = "\n".join(re.sub(r"`[^`]*`", "", line) for line in without_code(path.read_text()))
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z][a-z+.-]*:", t)]


def broken_links(path: Path, root: Path = REPO) -> list[str]:
    """Each link of `path` whose file or heading is missing, named relative to `root`."""
    problems = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            problems.append(f"{path.relative_to(root)}: {target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors_of(linked):
            problems.append(f"{path.relative_to(root)}: {target}: no heading #{anchor}")
    return problems


def starter_mentions(markdown: str) -> list[list[str]]:
    """The words after each `starter.py` up to a backtick, a comment or the line's end."""
    mentions = []
    for line in markdown.splitlines():
        for match in re.finditer(r"starter\.py(?= )([^`#|;]*)", line):
            mentions.append([word.rstrip("),.:") for word in match.group(1).split()])
    return mentions


def command_of(words: list[str]) -> tuple[tuple[str, ...], list[str]] | None:
    """The command path a mention names and its remaining words; None for `--help`, COMMAND and the like."""
    while words[:1] == ["--user"]:
        words = words[2:]
    if not words or not re.fullmatch(r"[a-z][a-z-]*", words[0]):
        return None
    path: tuple[str, ...] = (words[0],)
    rest = words[1:]
    parser = STARTER_COMMANDS.get(path)
    if parser is not None and has_subcommands(parser) and rest and re.fullmatch(r"[a-z][a-z-]*", rest[0]):
        path, rest = (*path, rest[0]), rest[1:]
    return path, rest


# --- The tests ---------------------------------------------------------------------------------------


def test_the_walk_finds_the_command_tree() -> None:
    """Guards the tests below against a walk that finds nothing (every check would pass vacuously)."""
    assert ("process", "create") in LEAF_COMMANDS and ("comments", "approve") in LEAF_COMMANDS
    assert ("start",) in LEAF_COMMANDS and ("process",) not in LEAF_COMMANDS
    assert "--max-duration" in own_options(LEAF_COMMANDS[("process", "create")])
    assert "--user" in own_options(LEAF_COMMANDS[("template", "add")])
    assert "--user" not in own_options(LEAF_COMMANDS[("start",)])


def test_cli_doc_documents_every_command_and_no_other() -> None:
    documented = set(reference_sections(CLI_DOC.read_text()))
    expected = set(entry_point_options())
    assert sorted(expected - documented) == [], "commands missing from docs/cli.md"
    assert sorted(documented - expected) == [], "docs/cli.md documents commands that do not exist"


@pytest.mark.parametrize("command", sorted(entry_point_options()))
def test_cli_doc_synopsis_names_every_option_and_no_other(command: str) -> None:
    synopses = reference_sections(CLI_DOC.read_text()).get(command)
    assert synopses, f"docs/cli.md: `{command}` has no synopsis line"
    documented = {option for line in synopses for option in LONG_OPTION.findall(line)}
    expected = entry_point_options()[command]
    assert sorted(expected - documented) == [], f"options of `{command}` missing from its synopsis"
    assert sorted(documented - expected) == [], f"the synopsis of `{command}` names options it does not have"


def test_docs_name_only_existing_commands_and_options() -> None:
    """Every `starter.py …` in the README and the docs names a real command, with options it has."""
    problems = []
    for page in [README, *DOC_PAGES]:
        for words in starter_mentions(page.read_text()):
            found = command_of(words)
            if found is None:
                continue
            path, rest = found
            parser = STARTER_COMMANDS.get(path)
            if parser is None:
                problems.append(f"{page.relative_to(REPO)}: starter.py {' '.join(words)}: no such command")
                continue
            known = own_options(parser) | {"--user", "--help"}
            unknown = [o for w in rest for o in LONG_OPTION.findall(w) if o not in known]
            if unknown:
                problems.append(f"{page.relative_to(REPO)}: starter.py {' '.join(words)}: unknown {unknown}")
    assert problems == []


def test_every_relative_link_reaches_a_file_and_heading() -> None:
    problems = [p for page in [README, *DOC_PAGES] for p in broken_links(page)]
    assert problems == []


def test_code_points_only_at_existing_pages_and_headings() -> None:
    """Comments and docstrings cite `docs/<page>.md#<heading>`; a moved or renamed heading must not strand them."""
    problems = []
    for source in REPO.rglob("*.py"):
        if any(part.startswith(".") for part in source.relative_to(REPO).parts):
            continue  # .venv and other tool folders
        for page, anchor in set(re.findall(r"\b(docs/[\w-]+\.md)(?:#([\w-]+))?", source.read_text())):
            target = REPO / page
            if not target.exists() or (anchor and anchor not in anchors_of(target)):
                problems.append(f"{source.relative_to(REPO)}: {page}#{anchor}")
    assert problems == []


def test_link_check_sees_a_broken_link(tmp_path: Path) -> None:
    """Guards the link check itself: a missing file and a missing heading are both reported."""
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[a](missing.md) [b](#title) [c](#nowhere) `[d](ignored.md)`\n")
    assert broken_links(page, root=tmp_path) == [
        "page.md: missing.md: no such file",
        "page.md: #nowhere: no heading #nowhere",
    ]


def test_readme_is_short_and_links_every_page() -> None:
    readme = README.read_text()
    assert len(readme.splitlines()) <= README_MAX_LINES
    targets = {(README.parent / t.partition("#")[0]).resolve() for t in relative_links(README)}
    unlinked = [str(p.relative_to(REPO)) for p in DOC_PAGES if p.resolve() not in targets]
    assert unlinked == [], "pages the README's documentation map does not lead to"


def test_readme_names_the_test_command_ci_runs() -> None:
    assert "make test" in (REPO / ".ci" / "run").read_text()
    assert "make test" in README.read_text()


def test_every_workflow_patch_has_a_row_in_the_shim_ledger() -> None:
    """Each `workflow.patched` name in workflows/ is in docs/architecture.md's ledger, which says when
    it may go: a patch nobody lists is never removed."""
    source = "\n".join(path.read_text(encoding="utf-8") for path in (REPO / "workflows").glob("*.py"))
    patches = set(re.findall(r'^[A-Z_]+_PATCH = "([a-z0-9-]+)"$', source, re.MULTILINE))
    assert len(patches) >= 7, patches  # the pattern still finds the constants
    ledger = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    listed = set(re.findall(r'^\| `workflow\.patched\("([a-z0-9-]+)"\)` \|', ledger, re.MULTILINE))
    assert patches <= listed, f"patches without a ledger row: {sorted(patches - listed)}"

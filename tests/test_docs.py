"""The README and docs/ stay true to the code: the job-folder listing in ``docs/job-folder.md`` names
the same files as the docstring of ``pipeline/stages.py``, the README stays a short front door, and
every relative link leads to a file that exists."""

from __future__ import annotations

import re

from conftest import ROOT
from pipeline import stages

JOB_FOLDER_DOC = ROOT / "docs" / "job-folder.md"
README_LIMIT_BYTES = 12 * 1024
# Job files the stages write besides their OUTPUTS (inputs, vendor records, logs, side files).
OTHER_JOB_FILES = ("input/portrait.*", "input/audio.*", "inputs.json", "render.json", "remote.json",
                   "enhance.json", "enhanced.mp4", "job.log", "speech.json")
# Pages the lead engineer writes after the refactor; links to them may lead nowhere until then.
NOT_WRITTEN_YET = {ROOT / "docs" / "architecture.md", ROOT / "docs" / "plugins.md"}

FILE_NAME = re.compile(r"[\w/]+\.(?:[a-z]+\d?|\*)")  # speech.wav, render.mp4, input/portrait.*
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def stages_listing() -> str:
    """The block after "Files in a job folder, by the stage that writes them::" in stages.py."""
    after = stages.__doc__.split("by the stage that writes them::", 1)[1]
    return after.strip("\n").split("\n\n", 1)[0]


def docs_listing() -> str:
    """The first fenced block after the "## Files in a job folder" heading of docs/job-folder.md."""
    after = JOB_FOLDER_DOC.read_text(encoding="utf-8").split("## Files in a job folder", 1)[1]
    return after.split("```", 2)[1]


def test_the_job_folder_doc_and_the_stages_docstring_list_the_same_files():
    in_code, in_docs = set(FILE_NAME.findall(stages_listing())), set(FILE_NAME.findall(docs_listing()))
    assert not in_code - in_docs, f"listed in pipeline/stages.py, missing from docs/job-folder.md: {in_code - in_docs}"
    assert not in_docs - in_code, f"listed in docs/job-folder.md, missing from pipeline/stages.py: {in_docs - in_code}"


def test_every_file_a_stage_writes_is_listed_in_both():
    written = {name for names in stages.OUTPUTS.values() for name in names} | set(OTHER_JOB_FILES)
    for where, listing in (("pipeline/stages.py", stages_listing()), ("docs/job-folder.md", docs_listing())):
        missing = written - set(FILE_NAME.findall(listing))
        assert not missing, f"{where} does not list {sorted(missing)}"


def test_the_readme_is_a_short_front_door():
    size = len((ROOT / "README.md").read_bytes())
    assert size < README_LIMIT_BYTES, f"README.md is {size} bytes; move detail into docs/ (limit {README_LIMIT_BYTES})"


def test_relative_links_lead_to_files_that_exist():
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):  # http(s), mailto, an anchor
                continue
            path = (page.parent / target.split("#", 1)[0]).resolve()
            if not path.exists() and path not in NOT_WRITTEN_YET:
                broken.append(f"{page.relative_to(ROOT)} → {target}")
    assert not broken, f"links to files that do not exist: {broken}"

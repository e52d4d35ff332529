"""deploy/Dockerfile, read as instructions (no Docker engine runs on these machines, so
the image is not built here): slim base, non-root numeric user matching the manifests,
``secbot serve`` as entry point, sources that exist and that .dockerignore lets through."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib

from tests.deploy.manifests import ROOT, one, pod_spec, rendered

DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _final_stage() -> list[tuple[str, str]]:
    steps = _instructions()
    last_from = max(i for i, (w, _) in enumerate(steps) if w == "FROM")
    return steps[last_from:]


def test_the_image_runs_secbot_serve_as_a_non_root_user() -> None:
    final = dict(_final_stage())
    assert json.loads(final["ENTRYPOINT"]) == ["secbot"]
    assert json.loads(final["CMD"]) == ["serve"]
    uid, _, gid = final["USER"].partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit()
    # The Deployment runs as the same user, so files the image owns stay writable.
    bot = pod_spec(one(rendered("sqlite"), "Deployment", "secbot"))["securityContext"]
    assert (bot["runAsUser"], bot["runAsGroup"]) == (int(uid), int(gid))
    assert "PYTHONDONTWRITEBYTECODE=1" in final["ENV"]  # a read-only root filesystem


def test_the_base_image_is_slim_python_and_nothing_is_fetched_from_urls() -> None:
    steps = _instructions()
    args = dict(a.split("=", 1) for w, a in steps if w == "ARG" and "=" in a)
    assert re.fullmatch(r"python:3\.1[1-9]-slim-\w+", args["PYTHON_IMAGE"])
    assert all(w != "ADD" for w, _ in steps)
    assert all("curl" not in a and "wget" not in a for _, a in steps)


def test_copied_sources_exist_and_pass_the_dockerignore() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def included(path: str) -> bool:
        keep = True
        for p in patterns:  # later lines win, "!" re-includes (Docker's rules)
            negate = p.startswith("!")
            pattern = p[1:].rstrip("/") if negate else p.rstrip("/")
            if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
                keep = negate
        return keep

    copies = [a for w, a in _instructions() if w == "COPY" and not a.startswith("--from")]
    assert copies
    for copy in copies:
        *sources, _dest = copy.split()
        for src in sources:
            assert (ROOT / src).exists(), src
            assert included(src), f"{src} is excluded by .dockerignore"
    assert not included(".venv") and not included("tests") and not included("secbot.db")


def test_the_install_step_names_extras_the_project_has() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    run = " ".join(a for w, a in _instructions() if w == "RUN" and "pip install" in a)
    extras = re.findall(r"'\.\[([a-z,]+)\]'", run)
    assert extras
    for extra in extras[0].split(","):
        assert extra in project["optional-dependencies"]

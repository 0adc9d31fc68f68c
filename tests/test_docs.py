"""The documentation stays true to the repository: every relative link and image of README.md, docs/ and benchmark/
resolves; every function, class, flag and logged tag that a docs page names exists in the script it names (the
conventions are at the top of docs/index.md); benchmark/render_gif.py renders a GIF from a checkpoint."""

import ast
import csv
import glob
import os
import re
import subprocess
import sys
from urllib.parse import unquote

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPTS = ["vpg", "trpo", "ppo", "ppo_penalty", "ddpg", "td3", "sac"]
MARKDOWN = sorted({os.path.join(ROOT, "README.md"),
                   *glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True),
                   *glob.glob(os.path.join(ROOT, "benchmark", "**", "*.md"), recursive=True)})
PAGES = {script: os.path.join(ROOT, "docs", f"{script}.md") for script in SCRIPTS}
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")  # [text](target), ![alt](target)
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.MULTILINE)  # [label]: target
HTML = re.compile(r"<(?:img|a|source)\b[^>]*?\b(?:src|href)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1", re.MULTILINE | re.DOTALL)
CODE = re.compile(r"`([^`\n]+)`")
IDENT = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?"
NAMED_IN = re.compile(rf"`({IDENT})(?:\(\))?` in `(\w+)\.py`")  # `compute_gae` in `ppo.py`
CALL = re.compile(rf"^({IDENT})\(\)$")  # `compute_gae()` on docs/ppo.md: a function of ppo.py
FLAG = re.compile(r"^--([a-z][a-z0-9-]*)$")  # `--clip-coef` on docs/ppo.md: a field of ppo.py's Args
TAG = re.compile(r"^(?:charts|losses|eval)/\w+$")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def prose(text):
    """The text without fenced code blocks, whose contents are not links."""
    return FENCE.sub("", text)


def relative_targets(text):
    text = prose(text)
    text_without_code = CODE.sub("", text)
    for target in [*LINK.findall(text_without_code), *REFERENCE.findall(text_without_code), *HTML.findall(text)]:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("//"):
            continue  # a URL with a scheme (https:, mailto:)
        yield target


def anchors(path):
    """The anchors GitHub gives the headings of a Markdown file: lower case, punctuation dropped, spaces to hyphens,
    a repeated heading numbered -1, -2, ..."""
    slugs, seen = set(), {}
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", prose(read(path)), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        slugs.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return slugs


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: os.path.relpath(p, ROOT))
def test_relative_links_and_images_resolve(path):
    broken = []
    for target in relative_targets(read(path)):
        file, _, anchor = unquote(target.split("?")[0]).partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path  # "#x": this page
        if file and not os.path.exists(resolved):
            broken.append(target)
        elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{os.path.relpath(path, ROOT)} links to missing files or headings: {broken}"


def definitions(script):
    """Every function and class the script defines (anywhere, e.g. a helper inside the training loop), and
    `Class.method` for the methods; the fields of its Args."""
    tree = ast.parse(read(os.path.join(ROOT, f"{script}.py")))
    names, fields = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            names.update(f"{node.name}.{item.name}" for item in node.body if isinstance(item, ast.FunctionDef))
            if node.name == "Args":
                fields.update(item.target.id for item in node.body if isinstance(item, ast.AnnAssign))
    return names, fields, tree


def logged_tags(tree):
    """The TensorBoard tags a script writes: its string constants shaped like tags, and `losses/{name}` for every key
    of a dict literal bound to `losses` where the script builds tags as f"losses/{name}"."""
    tags = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and TAG.match(node.value)}
    prefixes = {part.value for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values
                if isinstance(part, ast.Constant) and TAG.match(part.value + "x")}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
                and any(isinstance(t, ast.Name) and t.id == "losses" for t in node.targets)):
            keys = [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
            tags.update(f"{prefix}{key}" for prefix in prefixes if prefix == "losses/" for key in keys)
    return tags


def docs_pages():
    return sorted(glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True))


@pytest.mark.parametrize("path", docs_pages(), ids=lambda p: os.path.relpath(p, ROOT))
def test_named_functions_exist_in_their_script(path):
    text = prose(read(path))
    missing = []
    for name, script in NAMED_IN.findall(text):
        if script not in SCRIPTS:
            missing.append(f"{name} in {script}.py (no such script)")
        elif name not in definitions(script)[0]:
            missing.append(f"{name} in {script}.py")
    stem = os.path.splitext(os.path.basename(path))[0]
    if stem in SCRIPTS:  # an algorithm page: `name()` and `--flag` refer to its own script
        names, fields, _ = definitions(stem)
        for span in CODE.findall(text):
            call, flag = CALL.match(span), FLAG.match(span)
            if call and call.group(1) not in names:
                missing.append(f"{call.group(1)}() in {stem}.py")
            if flag and flag.group(1).replace("-", "_") not in fields and \
                    flag.group(1).removeprefix("no-").replace("-", "_") not in fields:
                missing.append(f"--{flag.group(1)}: no field of {stem}.py's Args")
    assert not missing, f"{os.path.relpath(path, ROOT)} names what its script lacks: {missing}"


@pytest.mark.parametrize("script", SCRIPTS)
def test_metrics_table_lists_every_logged_tag(script):
    """The metrics section of docs/{script}.md: a table whose rows start with a tag; the tags are exactly those the
    script writes."""
    rows = re.findall(r"^\|\s*`([^`]+)`", prose(read(PAGES[script])), re.MULTILINE)
    documented = {tag for tag in rows if TAG.match(tag)}
    written = logged_tags(definitions(script)[2])
    assert written - documented == set(), f"docs/{script}.md does not explain {sorted(written - documented)}"
    assert documented - written == set(), f"docs/{script}.md explains tags {script}.py never writes: " \
                                          f"{sorted(documented - written)}"


@pytest.mark.parametrize("script", SCRIPTS)
def test_results_table_holds_the_grid_summary(script):
    """The results rows of docs/{script}.md (| env | seeds | last-100 | anchor | eval | anchor | max eval | ...) hold
    summary.csv's numbers for every environment of the grid: regenerate them when cells are re-run."""
    with open(os.path.join(ROOT, "benchmark", "results", "grid", "summary.csv"), newline="") as f:
        summary = {row["env_id"]: row for row in csv.DictReader(f) if row["algo"] == script}
    rows = {cells[0]: cells for cells in (
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in prose(read(PAGES[script])).splitlines() if re.match(r"^\|\s*[A-Z]\w*-v\d+\s*\|", line))}
    assert set(rows) == set(summary), \
        f"docs/{script}.md has results rows for {sorted(rows)}, the grid for {sorted(summary)}"
    for env_id, row in summary.items():
        cells = rows[env_id]
        max_eval = row.get("max_eval_return_mean") or ""
        if max_eval and row.get("max_eval_return_std"):
            max_eval += f" ± {row['max_eval_return_std']}"
        expected = {1: str(len(row["seeds"].split())), 2: f"{row['final_return_mean']} ± {row['final_return_std']}",
                    4: row["eval_return_mean"], 6: max_eval or "not measured yet"}
        for column, value in expected.items():
            assert cells[column] == value, f"docs/{script}.md, {env_id}, column {column + 1}: {cells[column]!r}, " \
                                           f"summary.csv: {value!r}"


def test_readme_results_round_the_grid_summary():
    """README.md's two results tables (| `ppo.py` | one cell per environment |) hold summary.csv's last-100
    mean +- std and its final evaluation, rounded to integers, for every script and environment of the grid."""
    with open(os.path.join(ROOT, "benchmark", "results", "grid", "summary.csv"), newline="") as f:
        summary = {(row["algo"], row["env_id"]): row for row in csv.DictReader(f)}
    env_ids = sorted({env_id for _, env_id in summary}, key=["HalfCheetah-v4", "Hopper-v4", "Walker2d-v4",
                                                              "Ant-v4"].index)
    tables, header = [], None
    for line in prose(read(os.path.join(ROOT, "README.md"))).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else None
        if cells and cells[1:] == env_ids:
            header, rows = cells, {}
            tables.append(rows)
        elif cells and header and re.fullmatch(r"`\w+\.py`", cells[0]):
            rows[cells[0].strip("`")[: -len(".py")]] = cells[1:]
        elif not cells:
            header = None
    assert len(tables) == 2, f"README.md should hold two results tables over {env_ids}, found {len(tables)}"
    rnd = lambda value: str(int(float(value) + 0.5))  # half up, as a reader rounds (782.5 -> 783); all positive
    for rows, expected in zip(tables, [lambda r: f"{rnd(r['final_return_mean'])} ± {rnd(r['final_return_std'])}",
                                       lambda r: rnd(r["eval_return_mean"])]):
        assert set(rows) == {algo for algo, _ in summary}, f"README.md rows {sorted(rows)}"
        for algo, cells in rows.items():
            for env_id, cell in zip(env_ids, cells):
                assert cell == expected(summary[algo, env_id]), f"README.md, {algo} on {env_id}: {cell!r}"


def run_python(*args, cwd):
    """A Python process from `cwd` at one OpenMP thread (CI has two cores), rendering headless."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MUJOCO_GL": "egl"}
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def test_diagnostics_figure_from_event_files(tmp_path):
    """benchmark/diagnostics.py on two tiny runs written with TensorBoard: one figure, the older SAC tag read."""
    from torch.utils.tensorboard import SummaryWriter

    for seed in (1, 2):
        with SummaryWriter(str(tmp_path / "runs" / f"HalfCheetah-v4__sac__{seed}__0")) as writer:
            for step in range(100, 2100, 100):
                for tag in ("charts/episodic_return", "charts/episodic_length", "charts/alpha", "charts/entropy",
                            "losses/alpha_loss", "losses/qf1_values", "losses/qf2_values", "losses/qf1_loss",
                            "losses/qf2_loss"):
                    writer.add_scalar(tag, 1.0 + seed + step / 1000, step)
    result = run_python(os.path.join(ROOT, "benchmark", "diagnostics.py"), str(tmp_path / "runs"), "--algos", "sac",
                        "--out", str(tmp_path / "img"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "img" / "sac_diagnostics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "charts/alpha" in result.stdout  # the temperature read from the tag older runs wrote


def test_render_gif_from_a_tiny_checkpoint(tmp_path):
    """A checkpoint of a few PPO steps on InvertedPendulum, then a GIF of a few frames of its evaluation episode."""
    trained = run_python(os.path.join(ROOT, "ppo.py"), "--env-id", "InvertedPendulum-v4", "--num-steps", "64",
                         "--total-timesteps", "64", "--num-minibatches", "2", "--update-epochs", "1",
                         "--eval-episodes", "0", "--save-model", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-2000:]
    (checkpoint,) = glob.glob(str(tmp_path / "runs" / "*" / "ppo.pt"))
    gif = tmp_path / "agent.gif"
    rendered = run_python(os.path.join(ROOT, "benchmark", "render_gif.py"), os.path.join(ROOT, "ppo.py"), checkpoint,
                          "--out", str(gif), "--max-frames", "3", "--size", "64", cwd=tmp_path)
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    assert gif.read_bytes()[:6] == b"GIF89a"
    assert "3 frames" in rendered.stdout
    assert not (tmp_path / "videos").exists()  # the frames go to the GIF only

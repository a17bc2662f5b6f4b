"""dvc.yaml and research/dvc.yaml against the code: every stage names the files of
pipeline/paths.py it writes, runs `stance <stage>`, and lists as deps every module of the
package that its command runs, so that editing any of them makes `dvc status` report the stage."""

import ast
from pathlib import Path

import pytest
import yaml

from pipeline import paths

PIPELINES = ["dvc.yaml", "research/dvc.yaml"]


def stages(root: Path) -> dict[str, dict]:
    out = {}
    for name in PIPELINES:
        out.update(yaml.safe_load((root / name).read_text())["stages"])
    return out


def pipeline_imports(source: Path, module_level_only: bool = False) -> set[str]:
    """Modules of the `pipeline` package that `source` imports (anywhere in it, or only at
    module level), as repo-relative file paths."""
    tree = ast.parse(source.read_text())
    nodes = tree.body if module_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pipeline":
            if node.module == "pipeline":
                found |= {f"pipeline/{alias.name}.py" for alias in node.names}
            else:
                found.add(node.module.replace(".", "/") + ".py")
        elif isinstance(node, ast.Import):
            found |= {a.name.replace(".", "/") + ".py" for a in node.names if a.name.startswith("pipeline.")}
    return found


def stage_modules(root: Path, stage: str) -> set[str]:
    """Every package module that `stance <stage>` runs: the CLI's module-level imports, the
    stage's module, and everything they import, transitively."""
    todo = {"pipeline/cli.py", f"pipeline/{stage}.py"} | pipeline_imports(root / "pipeline/cli.py", True)
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen or not (root / module).exists():
            continue
        seen.add(module)
        if module != "pipeline/cli.py":  # its function-level imports belong to the other commands
            todo |= pipeline_imports(root / module)
    return seen | {"pipeline/__init__.py"}


def test_outputs_match_paths(root):
    declared = set()
    for stage in stages(root).values():
        for key in ("outs", "metrics", "plots"):
            for item in stage.get(key, []):
                declared.add(next(iter(item)) if isinstance(item, dict) else item)
    in_code = {str(v) for k, v in vars(paths).items()
               if k.isupper() and k not in ("DATA", "MODELS", "METRICS", "PLOTS", "PARAMS", "CHECKOUT")}
    assert in_code <= declared, in_code - declared


def test_every_stage_runs_its_own_command(root):
    for name, stage in stages(root).items():
        assert stage["cmd"] == f"stance {name}", name
        assert (root / f"pipeline/{name}.py").exists(), name


@pytest.mark.parametrize("name", sorted(yaml.safe_load((Path(__file__).parents[2] / "dvc.yaml").read_text())["stages"])
                         + sorted(yaml.safe_load((Path(__file__).parents[2] / "research/dvc.yaml").read_text())["stages"]))
def test_stage_deps_cover_the_code_it_runs(root, name):
    deps = set(stages(root)[name].get("deps", []))
    missing = stage_modules(root, name) - deps
    assert not missing, f"stage {name}: add to its deps in dvc.yaml: {sorted(missing)}"


def test_every_stage_module_has_one_public_entry(root):
    for name in stages(root):
        tree = ast.parse((root / f"pipeline/{name}.py").read_text())
        public = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")]
        assert public == ["run"], f"pipeline/{name}.py: public {public}"


def test_cli_holds_no_stage_logic(root):
    """The CLI imports stage modules only inside the commands that call their entry point."""
    tree = ast.parse((root / "pipeline/cli.py").read_text())
    top = pipeline_imports(root / "pipeline/cli.py", True)
    assert top <= {"pipeline/paths.py", "pipeline/config.py", "pipeline/io.py"}, top
    assert len((root / "pipeline/cli.py").read_text().splitlines()) < 250
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.For, ast.While)) and n not in tree.body]


def test_stages_that_read_the_corpus_list_its_files(root):
    from pipeline.config import load_params

    corpus = {str(p) for p in load_params(root / "configs/params.yaml").corpus.paths}
    for name in ("corpus", "train", "evaluate", "crossval", "generalize"):
        assert corpus <= set(stages(root)[name]["deps"]), name

"""Every public function, class and method of the package has a docstring, as ``help()`` shows it.

A method that overrides a documented base method inherits its docstring (``inspect.getdoc``), so
documenting ``Module.forward`` or ``Function.backward`` covers every override.
"""

import ast
import importlib
import inspect
import pathlib

import tinygrad_cnn

PACKAGE = pathlib.Path(tinygrad_cnn.__file__).parent
DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _public(node) -> bool:
    return isinstance(node, DEFINITIONS) and not node.name.startswith("_")


def _undocumented(path: pathlib.Path, module) -> list[str]:
    """'file:line name' of the public names defined at the top of ``path`` (and the public
    members of its public classes) that have no docstring."""
    where = path.relative_to(PACKAGE.parent)
    missing = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if not _public(node):
            continue
        obj = getattr(module, node.name, None)
        if obj is None:
            continue
        if not inspect.getdoc(obj):
            missing.append(f"{where}:{node.lineno} {node.name}")
        if isinstance(node, ast.ClassDef):
            for member in node.body:
                if not _public(member) or not hasattr(obj, member.name):
                    continue
                if not inspect.getdoc(getattr(obj, member.name)):
                    missing.append(f"{where}:{member.lineno} {node.name}.{member.name}")
    return missing


def test_every_public_name_has_a_docstring():
    missing, unimportable = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__main__.py":  # runs the command line when imported
            continue
        name = _module_name(path)
        try:
            module = importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - report every module that fails, by name
            unimportable.append(f"{name}: {type(e).__name__}: {e}")
            continue
        missing += _undocumented(path, module)
    assert not unimportable, "modules that fail to import:\n" + "\n".join(unimportable)
    assert not missing, f"{len(missing)} public names without a docstring:\n" + "\n".join(missing)

"""Package discovery, which pyproject.toml cannot express on its own: every folder under graph/
is a package (a folder of assets without __init__.py too, so its files ship), and so is sql/,
installed as graph.sql. The metadata lives in pyproject.toml; the files in MANIFEST.in."""

from setuptools import find_namespace_packages, setup

SKIP = ["*__pycache__*"]


def packages() -> list[str]:
    graph = find_namespace_packages(include=["graph", "graph.*"], exclude=SKIP)
    sql = find_namespace_packages(where="sql", exclude=SKIP)
    return [*graph, "graph.sql", *(f"graph.sql.{name}" for name in sql)]


setup(packages=packages())

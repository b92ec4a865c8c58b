"""docs/architecture.md's module map matches the tree: every module under app/ is named there, and every
module it names exists."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_module_under_app_is_on_the_map_and_the_map_names_no_other():
    tree = {str(path.relative_to(ROOT)) for path in (ROOT / "app").rglob("*.py")}
    named = set(re.findall(r"`(app/[\w/]+\.py)`", (ROOT / "docs" / "architecture.md").read_text()))
    assert not tree - named, f"modules missing from docs/architecture.md: {sorted(tree - named)}"
    assert not named - tree, f"docs/architecture.md names modules that do not exist: {sorted(named - tree)}"

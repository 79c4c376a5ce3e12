"""The README's configuration table is the Settings class, field for field."""

from __future__ import annotations

import re
from pathlib import Path

from app.settings import Settings

README = Path(__file__).parents[3] / "README.md"


def _table_rows() -> dict[str, tuple[str, str]]:
    text = README.read_text()
    table = text.split("<!-- settings-table:start -->")[1].split("<!-- settings-table:end -->")[0]
    rows = {}
    for line in table.splitlines():
        match = re.match(r"\| `(HOTPLUG_[A-Z_]+)` \| (.+?) \| (.+) \|$", line)
        if match:
            rows[match.group(1)] = (match.group(2), match.group(3))
    return rows


def _default(value: object) -> str:
    return "—" if value is None else f"`{value}`"


def test_every_setting_is_documented_with_its_default_and_meaning() -> None:
    """Each Settings field has a README row with the same default and description."""
    rows = _table_rows()
    expected = {
        f"HOTPLUG_{name.upper()}": (_default(field.default), field.description)
        for name, field in Settings.model_fields.items()
    }
    assert rows == expected

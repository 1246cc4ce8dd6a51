"""CrossHair: the spec's PEP 316 contracts hold, and the arithmetic twins behave the same."""

from __future__ import annotations

import pytest

pytest.importorskip("crosshair")

from kmem.proofs import crosshair_check  # noqa: E402


@pytest.mark.proof
def test_crosshair_finds_no_counterexample_in_the_spec():
    report = crosshair_check.run_crosshair(per_condition_timeout=2.0)
    assert report.ok, report.text()
    assert len(report.runs) == len(crosshair_check.CONTRACT_MODULES) + len(crosshair_check.TWINS)


@pytest.mark.proof
def test_crosshair_has_teeth(tmp_path):
    """A wrong contract in the same style is reported (so a clean run means something)."""
    bad = tmp_path / "bad_contract.py"
    bad.write_text('def threshold(mark: int) -> int:\n'
                   '    """\n    pre: mark >= 0\n    post: __return__ <= mark\n    """\n'
                   '    return mark + mark // 2\n')
    rc, out = crosshair_check._crosshair("check", "--analysis_kind", "PEP316",
                                         "--per_condition_timeout", "5", str(bad), timeout_s=120)
    assert rc != 0 and "false" in out.lower()


def test_contract_modules_exist():
    files = crosshair_check.spec_files()
    assert len(files) == len(crosshair_check.CONTRACT_MODULES)
    assert all("pre:" in open(f).read() for f in files)

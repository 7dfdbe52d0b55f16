"""Figures of an executed notebook's section, for the docs."""
import base64

import nbformat

from dsah.cli import figures


def _notebook(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + b"x" * 8
    out = nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(png).decode()})
    cells = [nbformat.v4.new_markdown_cell("# Report"),
             nbformat.v4.new_markdown_cell("## Saliency maps of test queries\n\ntext"),
             nbformat.v4.new_code_cell("plot()", outputs=[out]),
             nbformat.v4.new_markdown_cell("### a sub-heading"),
             nbformat.v4.new_code_cell("plot()", outputs=[out]),
             nbformat.v4.new_markdown_cell("## Next section"),
             nbformat.v4.new_code_cell("plot()", outputs=[out])]
    path = tmp_path / "report.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path, png


def test_the_figures_of_one_section_are_written(tmp_path, capsys):
    path, png = _notebook(tmp_path)
    assert figures.main([str(path), "--section", "Saliency maps", "--out", str(tmp_path / "f" / "sal")]) == 0
    written = sorted((tmp_path / "f").iterdir())
    assert [p.name for p in written] == ["sal-1.png", "sal-2.png"]  # the sub-section's, not the next section's
    assert written[0].read_bytes() == png


def test_a_missing_section_or_figure_is_named(tmp_path, capsys):
    path, _ = _notebook(tmp_path)
    assert figures.main([str(path), "--section", "Pointing game", "--out", str(tmp_path / "x")]) == 1
    assert "no heading contains 'Pointing game'" in capsys.readouterr().err
    assert figures.main([str(path), "--section", "Report", "--out", str(tmp_path / "x")]) == 0  # the whole notebook
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## Empty")]), path)
    assert figures.main([str(path), "--section", "Empty", "--out", str(tmp_path / "x")]) == 1
    assert "no PNG figure under the heading" in capsys.readouterr().err

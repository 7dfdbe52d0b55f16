"""A method is one file: a new deep method, written to a module of its own outside the package, registers
itself on import, declares its constants (validated under params.yaml `method.<name>`), and goes through
the pipeline's training stage, evaluation stage and the report's tables without any other change.
docs/adding-a-method.md walks through the same file."""
import importlib.util
import sys
import textwrap

import pytest

from dsah import config, methods, report
from dsah.data import cub, prepared
from dsah.methods.base import REGISTRY
from dsah.paths import Layout
from dsah.stages import evaluate
from dsah.stages import train as train_stage

PLUGIN = '''
"""`toy_contrastive`: a contrastive loss on tanh codes (a test's method: one file, nothing else)."""
import torch
import torch.nn.functional as F
from pydantic import Field

from dsah.losses import similarity
from dsah.methods.hash_only import HashOnly
from dsah.schema import Float, Section


class ToyContrastive(HashOnly):
    name = "toy_contrastive"
    description = "contrastive loss on tanh codes: similar pairs close, dissimilar beyond a margin"

    class Config(Section):
        margin: Float = Field(2.0, gt=0)  # in code-space distance

    def loss(self, u, y):
        d = torch.cdist(u, u)
        s = similarity(y, y)
        pairs = (s * d.pow(2) + (1 - s) * F.relu(self.config.margin - d).pow(2)).mean()
        return {"loss": pairs, "pairs": pairs}
'''


@pytest.fixture
def plugin(tmp_path):
    path = tmp_path / "toy_contrastive.py"
    path.write_text(textwrap.dedent(PLUGIN))
    spec = importlib.util.spec_from_file_location("toy_contrastive", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["toy_contrastive"] = module
    spec.loader.exec_module(module)  # importing it registers the method
    yield module
    REGISTRY.pop("toy_contrastive", None)
    sys.modules.pop("toy_contrastive", None)


def test_a_new_method_in_one_file_goes_through_the_pipeline(plugin, tiny_synthetic, tmp_path):
    assert "toy_contrastive" in methods.METHODS and methods.stage_of("toy_contrastive") == "methods"
    root, fast = tiny_synthetic
    raw = fast.model_dump(mode="json")
    raw["methods"], raw["fitted_methods"], raw["attention_methods"] = ["hash_only", "toy_contrastive"], [], []
    raw["method"]["toy_contrastive"] = {"margin": 1.5}  # its parameter block
    params = config.parse(raw)
    assert params.method.toy_contrastive.margin == 1.5
    bad = {**raw, "method": {**raw["method"], "toy_contrastive": {"margin": -1}}}
    with pytest.raises(config.ConfigError, match="method.toy_contrastive.margin = -1.0: Input should be greater than 0"):
        config.parse(bad)

    layout = Layout(tmp_path / "work")
    data = prepared.from_records(cub.load(root), params.data.image_size, "synthetic")
    prepared.save(data, layout.tensors)
    rows = []
    for name in params.methods:
        result = train_stage.run(params, layout, name, 12)
        assert result.history[-1]["loss"] > 0
        rows.append(evaluate.run(params, layout, name, 12, data))
    toy = next(r for r in rows if r["method"] == "toy_contrastive")
    assert 0 <= toy["map_tie_aware"] <= 1 and layout.metrics("toy_contrastive", 12, 0).is_file()
    m, _ = train_stage.load_method(params, layout, "toy_contrastive", 12, "cpu")
    assert m.config.margin == 1.5  # the checkpoint keeps the parameters it was trained with

    runs, missing = report.collect(layout, params.all_methods, params.bits, params.seeds)
    assert not missing
    table = report.seed_table(runs, params.all_methods, params.bits)
    assert f"| toy_contrastive | {100 * toy['map_tie_aware']:.1f} (1) |" in table
    assert "| toy_contrastive minus | 12 bits |" in report.paired_table(runs, "toy_contrastive", ["hash_only"], params.bits)
    assert "toy_contrastive" in report.map_table(report.aggregate(runs), params.all_methods, params.bits)

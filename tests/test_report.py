"""The report's statistics over seeds: means, standard deviations, paired differences, verdicts."""
import math

import pytest

from dsah import report


def _rows():
    out = []
    for seed, (d, h, q) in enumerate([(0.50, 0.49, 0.40), (0.62, 0.60, 0.41), (0.74, 0.70, 0.42)]):
        for method, v in (("dsah", d), ("hash_only", h), ("dtq", q)):
            out.append({"method": method, "bits": 12, "seed": seed, "map_tie_aware": v, "train_seconds": 10.0 * (seed + 1),
                        "chance_map": 0.1})
    return out


def test_aggregate_means_and_sample_std():
    agg = {r["method"]: r for r in report.aggregate(_rows())}
    assert agg["dsah"]["map_tie_aware"] == pytest.approx(0.62) and agg["dsah"]["seeds"] == 3
    assert agg["dsah"]["map_tie_aware_std"] == pytest.approx(0.12)
    assert agg["dtq"]["train_seconds"] == pytest.approx(20.0) and "seed" not in agg["dtq"]


def test_paired_difference_with_t_interval_by_hand():
    mean, half, sd, n = report.paired_difference(_rows(), "dsah", "hash_only", 12)
    sd_by_hand = math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2)  # differences 1, 2, 4 points
    assert (mean, sd, n) == (pytest.approx(7 / 3), pytest.approx(sd_by_hand), 3)
    assert half == pytest.approx(4.302653 * sd_by_hand / math.sqrt(3), rel=1e-5)  # t(0.975, 2) sd / sqrt(3)
    assert report.verdict(mean, sd, n) == "inconclusive"  # 2.33 < 2 sd = 3.06
    assert report.verdict(21.0, 1.0, 3) == "better" and report.verdict(-5, 1.0, 3) == "worse"
    assert report.verdict(5.0, float("nan"), 1) == "fewer than 3 seeds"
    assert report.paired_difference(_rows(), "dsah", "csq", 12) is None
    table = report.paired_table(_rows(), "dsah", ["hash_only", "dtq", "dpsh"], [12])
    assert "+2.3 [" in report.paired_table(_rows(), "dsah", ["hash_only"], [12]) and "missing" in table


def test_relative_gains_against_dpsh_and_dtq_beside_the_claims():
    rows = _rows() + [{**r, "method": "dpsh"} for r in _rows() if r["method"] == "hash_only"]
    text = report.relative_gains(rows, "dsah", [12])  # dpsh and dtq: the methods declaring those paper names
    assert "| dpsh |" in text and f"{100 * (0.62 - 0.59667) / 0.59667:+.1f} %" in text
    assert "dtq (PQ, asymmetric search)" in text and "≈ +10 %" in text and "≈ +12 %" in text
    assert "dpsh" not in report.relative_gains(_rows(), "dsah", [12])  # no dpsh runs: no DPSH row


def test_headroom_share_reads_the_reference_and_its_oracle_from_the_methods():
    rows = [{"method": m, "bits": 12, "map_all": v} for m, v in (("dsah", 0.6), ("hash_only", 0.5), ("oracle_mask", 0.9))]
    assert report.headroom_share(rows, [12], "dsah") == {12: (pytest.approx(10.0), pytest.approx(0.25))}


def test_seed_table_shows_mean_std_and_count():
    assert "62.0 ± 12.0 (3)" in report.seed_table(_rows(), ["dsah"], [12])


def test_published_numbers_only_where_the_dataset_matches_and_marked_as_theirs():
    rows = [{"method": "csq", "bits": b, "seed": 0, "map_all": 0.5} for b in (12, 48)]
    assert "every number in this report is ours" in report.published_table("synthetic", rows, [12, 48])
    text = report.published_table("cub200", rows, [12, 24, 48])
    assert "theirs, a different protocol" in text and "seen@seen" in text
    assert "| csq | 68.8 · 50.0 | 79.5 · — | 81.7 · 50.0 |" in text
    assert "| orthohash | 73.2 · — |" in text
    assert "80.2 ·" in report.published_table("stanford_dogs", rows, [12])


def test_summary_is_generated_from_the_metrics():
    runs = [{**r, "dataset": "synthetic", "profile": "full", "epochs": 10, "map_all": r["map_tie_aware"]}
            for r in _rows()]
    runs += [{"method": "oracle_mask", "bits": 12, "seed": s, "map_tie_aware": 0.99, "map_all": 0.99, "dataset": "synthetic",
              "profile": "full", "epochs": 10} for s in range(3)]
    text = report.summary(runs, ["hash_only", "oracle_mask", "dtq", "dsah"], [12])
    assert text.startswith("**synthetic**, profile `full`, 3 training seed(s), 10 epochs")
    assert "12 bits: `dsah` 62.0" in text  # the oracle (99.0) is never the winner
    assert "`dsah` against `hash_only`" in text and "12 bits +2.3 (6 % of the oracle's headroom)" in text
    assert "inconclusive over 3 seeds" in text
    one = report.summary([r for r in runs if r["seed"] == 0], ["hash_only", "dsah"], [12])
    assert "one seed is one draw" in one and "over 1 seeds" not in one


def test_one_seed_shows_no_spread():
    one = [r for r in _rows() if r["seed"] == 0]
    assert "| dsah | 50.0 (1) |" in report.seed_table(one, ["dsah"], [12])


def test_no_ground_truth_says_so_instead_of_an_empty_table():
    assert "no pointing game" in report.saliency_table([{"method": "dsah", "bits": 12}], ["dsah"], [12])


def test_the_engagement_table_reads_a_flat_map_and_a_hinge_at_its_margin():
    from dsah import config
    from tests.conftest import ROOT

    params = config.load(ROOT / "params.yaml")  # distance form, margin 4
    last = {"map_std": 0.12, "saliency": 3.5, "bits_equal_uv": 0.88}
    hist = {"dsah-12": [last],                                               # below the margin: engaged
            "dsah-24": [{**last, "saliency": 3.99}],                          # at the margin
            "dsah-48": [{**last, "map_std": 0.005}],                         # flat, whatever the hinge
            "dsah_nosal-12": [{**last, "saliency": 0.6}],                     # no hinge to read
            "hash_only-12": [{"loss": 1.0}]}                                  # no attention: no row
    lines = report.engagement_table(hist, params).splitlines()
    assert len(lines) == 2 + 4
    assert "| dsah-12 | 0.120 | 0.88 | 0.88 | engaged" in lines[2]
    assert "| 1.00 |" in lines[3] and "hinge at its margin" in lines[3]
    assert "flat map" in lines[4]
    assert "| — |" in lines[5] and "not flat (no hinge to read)" in lines[5]
    scaled = params.model_copy(update={"attention": params.attention.model_copy(update={"margin_bits": 12})})
    assert "| 0.50 |" in report.engagement_table({"dsah-24": [{**last, "saliency": 4.0}]}, scaled)  # margin 8 at 24

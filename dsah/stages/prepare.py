"""Prepare stage: generate (synthetic) or read (real) a dataset and store its decoded splits."""
from __future__ import annotations

from dsah.data import cub, prepared, sources, synthetic
from dsah.data.records import readable_class, select_classes
from dsah.paths import Layout, resolve


def run(params, layout: Layout, log=print) -> prepared.Prepared:
    d = params.data
    part_size = None
    if d.name == "synthetic":
        log(f"generating the synthetic dataset into {layout.synthetic}")
        root = synthetic.generate(layout.synthetic, d.synthetic)
        part_size = d.synthetic.part_size - d.synthetic.part_size % synthetic.GRID
        records = cub.load(root)
    else:  # checks official files, extracts archives; never downloads
        records = sources.load(d.name, resolve(d.source), d)
    records = select_classes(records, d.classes)
    log(f"read {len(records)} images of {len(records.class_names)} classes from {records.root}")
    if d.classes is not None:
        log(f"classes (data.classes = {d.classes!r}): {', '.join(readable_class(c) for c in records.class_names)}")
    log(f"protocol: {records.protocol}: {records.train.sum()} training, {records.query.sum()} query, "
        f"{records.database.sum()} database images")
    prep = prepared.build(records, d.stored_size, d.name, layout.tensors, part_size, view=d.image_size,
                          data_params=d.model_dump(mode="json"), hires=d.hires_size)
    log(f"wrote {layout.tensors}: {len(prep.train)} train/database, {len(prep.test)} test/query images, "
        f"stored at {d.stored_size} px (shorter side, centre crop), seen at {d.image_size} px"
        + (f", that view also at {d.hires_size} px (data.hires_size)" if d.hires_size else ""))
    return prep

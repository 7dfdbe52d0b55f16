"""`python -m dsah.cli.import_tflite SRC --out PTH [--images DIR]`: convert a TFLite ImageNet MobileNetV2
into a torchvision state dict (dsah.models.import_tflite says how) and check it against the interpreter."""
from __future__ import annotations

import argparse
import sys

from dsah.models.import_tflite import ConversionError, check, convert, load_images, save


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dsah.cli.import_tflite", description=__doc__.split("\n\n")[0])
    ap.add_argument("src", help="the .tflite file")
    ap.add_argument("--out", required=True, help="where to write the state dict (.pth)")
    ap.add_argument("--images", help="a folder of real images to check the agreement on (recursive)")
    ap.add_argument("--max-images", type=int, default=60)
    args = ap.parse_args(argv)
    try:
        state, meta = convert(args.src)
        if args.images:
            meta["agreement"] = check(args.src, state, meta, load_images(args.images, args.max_images))
    except ConversionError as err:
        print(err, file=sys.stderr)
        return 2
    save(state, meta, args.out)
    print(f"{args.src} -> {args.out}: MobileNetV2-1.0, {meta['num_classes']} classes, TF 'SAME' padding, "
          f"input (x - 0.5) / 0.5")
    if "agreement" in meta:
        a = meta["agreement"]
        print(f"agreement with the TFLite interpreter on {a['images']} images of {args.images}: "
              f"top-1 {100 * a['top1_agreement']:.1f} %, top-5 overlap {a['top5_overlap']:.3f}, logit Pearson "
              f"{a['logit_pearson_mean']:.4f} (min {a['logit_pearson_min']:.4f}), pooled-feature cosine "
              f"{a['feature_cosine_mean']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

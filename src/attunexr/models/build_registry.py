"""Regenerate the shipped models: ``python -m attunexr.models.build_registry [NAME ...]``.

Each registered variant is evaluated leave-one-subject-out (for its card) and then fitted on its full dataset.
The head-motion models (``cybersickness-motion``, ``tolerance``) are evaluated with participant-grouped 10-fold
cross-validation on ``vr-fms-motion`` and saved as ``motion.joblib`` beside their cards.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys

from attunexr.models._motion_registry import MOTION_MODELS, build_motion_models
from attunexr.models._registry import REGISTRY_DIR
from attunexr.models._workflows import VARIANTS, train_model

logger = logging.getLogger(__name__)


def build(
    names: list[str] | None = None, n_boot: int = 500, n_jobs: int = 2, motion_results: str | None = None
) -> list[str]:
    """Train and save the named variants (default: all) into the package registry; return their names."""
    chosen = names or [*VARIANTS, *MOTION_MODELS]
    motion = [n for n in chosen if n in MOTION_MODELS]
    if motion:
        build_motion_models(motion, n_boot=n_boot, results_dir=motion_results)
    for name in (n for n in chosen if n not in MOTION_MODELS):
        task, overrides, signals = VARIANTS[name]
        folder = REGISTRY_DIR / name
        tmp = REGISTRY_DIR / f".{name}.building"
        if tmp.exists():
            shutil.rmtree(tmp)
        train_model(
            task,
            name=name,
            signals=signals,
            out=tmp,
            n_boot=n_boot,
            n_jobs=n_jobs,
            other_normalizations=name == "stress",  # the default model's card lists the secondary results
            **overrides,
        )
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
        logger.info("registered %s", name)
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    known = [*VARIANTS, *MOTION_MODELS]
    parser.add_argument("names", nargs="*", help=f"variants to build (default: all of {', '.join(known)})")
    parser.add_argument("--n-boot", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=2, help="LOSO folds in parallel processes")
    parser.add_argument(
        "--motion-results",
        default=None,
        help="folder of <task>.json files from `attunexr evaluate --dataset vr-fms-motion` to use for the "
        "head-motion cards instead of evaluating again",
    )
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(known)}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    build(args.names or None, n_boot=args.n_boot, n_jobs=args.jobs, motion_results=args.motion_results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

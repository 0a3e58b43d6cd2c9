"""Regenerate the shipped models: ``python -m attunexr.models.build_registry [NAME ...]``.

Each registered variant is evaluated leave-one-subject-out (for its card) and then fitted on its full dataset.
The head-motion models (``cybersickness-motion``, ``tolerance``) are evaluated with participant-grouped 10-fold
cross-validation on ``vr-fms-motion`` and saved as ``motion.joblib`` beside their cards.
A variant with candidate sites (:data:`CANDIDATE_SITES`) is first evaluated leave-site-out over them; it is then
trained on the sites that the nested site decision keeps (:func:`attunexr.models._workflows.site_decision`: a site
stays when adding it does not lower the held-out-person AUROC of any other site), and its card shows the sites,
the decision and every held-out site's figures.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from typing import Any

from attunexr.models._motion_registry import MOTION_MODELS, build_motion_models
from attunexr.models._registry import REGISTRY_DIR
from attunexr.models._workflows import VARIANTS, evaluate_leave_site_out, train_model

logger = logging.getLogger(__name__)

#: Variants trained on several sites when the site decision allows; the first site is the task's own dataset.
CANDIDATE_SITES: dict[str, tuple[str, ...]] = {"stress": ("stress-predict", "nurse-stress")}
#: Numbers of local people for the site-recalibration figures in the card.
RECALIBRATE_K = (1, 3, 5)


def decide_sites(name: str, n_boot: int = 500, n_jobs: int = 2) -> tuple[list[str], dict[str, Any] | None]:
    """The sites variant ``name`` is trained on and the leave-site-out result behind the choice (``None`` when
    the variant has a single dataset)."""
    task, overrides, signals = VARIANTS[name]
    sites = CANDIDATE_SITES.get(name)
    if not sites:
        return [], None
    run = evaluate_leave_site_out(
        task,
        list(sites),
        signals=signals,
        n_boot=n_boot,
        n_jobs=n_jobs,
        recalibrate=RECALIBRATE_K,
        decide_sites=True,
        **{k: v for k, v in overrides.items() if k in ("normalize", "model")},
    )
    keep = list(run.result["site_decision"]["train_on"]) or [sites[0]]
    if sites[0] not in keep:
        keep.insert(0, sites[0])  # the task's own dataset always stays (it defines the task)
    logger.info("%s: candidate sites %s, trained on %s", name, list(sites), keep)
    return keep, run.result


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
        sites, site_result = decide_sites(name, n_boot=n_boot, n_jobs=n_jobs)
        train_model(
            task,
            sites if len(sites) > 1 else (sites[0] if sites else None),
            name=name,
            signals=signals,
            out=tmp,
            n_boot=n_boot,
            n_jobs=n_jobs,
            other_normalizations=name == "stress",  # the default model's card lists the secondary results
            sites=site_result,
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

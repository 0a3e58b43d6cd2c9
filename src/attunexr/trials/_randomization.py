"""Concealed randomization: stratified permuted blocks of random size, sealed one allocation at a time.

The whole allocation sequence is generated up front from a recorded seed (so an auditor holding the seed can
regenerate and check it after the trial), then every slot is encrypted (AES-256-GCM, :mod:`attunexr.privacy`) with
associated data naming the study, protocol version, stratum and slot index, so a ciphertext cannot be moved to
another slot. The plaintext sequence is discarded. :class:`AllocationConcealer` reveals exactly one slot, the next
unused one of the participant's stratum, and only for an enrolled participant who has no allocation yet; nothing
else can decrypt a slot. Each reveal is reported to an audit callback.

Blocks: a block holds every arm ``ratio x m`` times where ``m`` is drawn from the protocol's ``block_sizes``
(random block size keeps the next allocation unpredictable even at the end of a block; Schulz & Grimes 2002).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from attunexr.errors import AuthorizationError, ConfigurationError
from attunexr.privacy import decrypt, encrypt
from attunexr.trials._protocol import Protocol

__all__ = [
    "Allocation",
    "AllocationConcealer",
    "SealedSlot",
    "generate_sealed_sequence",
    "reveal_slot",
    "seed_fingerprint",
    "stratum_key",
    "strata",
]


@dataclass(frozen=True)
class SealedSlot:
    """One encrypted slot of the allocation sequence (what the database stores)."""

    stratum: str
    index: int
    block: int
    ciphertext: bytes


@dataclass(frozen=True)
class Allocation:
    """A revealed allocation."""

    participant: str
    stratum: str
    index: int
    arm: str
    revealed_at: str


def stratum_key(protocol: Protocol, site: str, factors: Mapping[str, str]) -> str:
    """``site|factor=level|...`` after checking the site and every stratification factor level."""
    if site not in {s.id for s in protocol.sites}:
        raise ConfigurationError(f"unknown site {site!r}; protocol sites: {[s.id for s in protocol.sites]}")
    parts = [site]
    for f in protocol.stratification:
        level = factors.get(f.id)
        if level not in f.levels:
            raise ConfigurationError(f"stratification factor {f.id!r} must be one of {list(f.levels)}, got {level!r}")
        parts.append(f"{f.id}={level}")
    extra = sorted(set(factors) - {f.id for f in protocol.stratification})
    if extra:
        raise ConfigurationError(f"unknown stratification factors {extra}")
    return "|".join(parts)


def strata(protocol: Protocol) -> list[str]:
    """Every stratum of the protocol (sites x factor levels), in a fixed order."""
    out = []
    combos: list[dict[str, str]] = [{}]
    for f in protocol.stratification:
        combos = [{**c, f.id: lv} for c in combos for lv in f.levels]
    for s in protocol.sites:
        for c in combos:
            out.append(stratum_key(protocol, s.id, c))
    return out


def _aad(protocol: Protocol, stratum: str, index: int) -> bytes:
    return f"attunexr-allocation|{protocol.id}|v{protocol.version}|{stratum}|{index}".encode()


def seed_fingerprint(seed: int) -> str:
    """SHA-256 of the seed: recorded openly so the seed, disclosed after the trial, can be checked."""
    return hashlib.sha256(f"attunexr-seed:{seed}".encode()).hexdigest()


def generate_sealed_sequence(protocol: Protocol, seed: int, key: bytes,
                             slots_per_stratum: int | None = None) -> list[SealedSlot]:
    """Generate the stratified permuted-block sequence for every stratum and seal it.

    Parameters
    ----------
    protocol
        Arms with ratios, sites, stratification factors and block sizes.
    seed
        Recorded seed (keep it sealed with the trial statistician; its fingerprint is public).
    key
        32-byte allocation key (derive it from the master key, ``MasterKey.derive("trials/allocation")``).
    slots_per_stratum
        Length of each stratum's list; default the target sample size (a stratum can never run out).
    """
    if len(key) != 32:
        raise ConfigurationError("the allocation key must be 32 bytes")
    n = slots_per_stratum or protocol.target_sample_size
    if n < 1:
        raise ConfigurationError("slots_per_stratum must be positive")
    arms = [a.id for a in protocol.arms for _ in range(a.ratio)]
    rng = np.random.default_rng(seed)
    out: list[SealedSlot] = []
    for st in strata(protocol):
        seq: list[tuple[str, int]] = []
        block = 0
        while len(seq) < n:
            m = int(rng.choice(protocol.block_sizes))
            items = arms * m
            order = rng.permutation(len(items))
            seq.extend((items[i], block) for i in order)
            block += 1
        for i, (arm, blk) in enumerate(seq[:n]):
            out.append(SealedSlot(st, i, blk, encrypt(key, arm.encode(), _aad(protocol, st, i))))
    return out


AuditHook = Callable[[str, dict[str, object]], None]


class AllocationConcealer:
    """Reveal allocations one at a time from a sealed sequence.

    Parameters
    ----------
    protocol
        The registered protocol the sequence belongs to.
    slots
        Sealed slots (from :func:`generate_sealed_sequence` or the database).
    key
        The allocation key.
    audit
        Called as ``audit(action, detail)`` for every reveal (the detail never holds a future allocation).
    used
        ``{stratum: number of slots already used}`` when resuming from the database.
    """

    def __init__(self, protocol: Protocol, slots: Sequence[SealedSlot], key: bytes, audit: AuditHook | None = None,
                 used: Mapping[str, int] | None = None) -> None:
        self._protocol = protocol
        self._slots: dict[str, list[SealedSlot]] = {}
        for s in sorted(slots, key=lambda x: (x.stratum, x.index)):
            self._slots.setdefault(s.stratum, []).append(s)
        self._key = key
        self._audit = audit
        self._next: dict[str, int] = dict(used or {})
        self._allocated: dict[str, Allocation] = {}

    def __repr__(self) -> str:  # never show slots
        return f"AllocationConcealer({self._protocol.id} v{self._protocol.version}, {len(self._allocated)} revealed)"

    def allocate(self, participant: str, stratum: str, *, enrolled: bool, actor: str = "system") -> Allocation:
        """Reveal the next allocation of ``stratum`` for an enrolled participant (once per participant)."""
        if not enrolled:
            raise AuthorizationError(f"participant {participant} is not enrolled: consent and eligibility must be "
                                     "recorded before randomization")
        if participant in self._allocated:
            raise ConfigurationError(f"participant {participant} is already randomized")
        slots = self._slots.get(stratum)
        if slots is None:
            raise ConfigurationError(f"no allocation sequence for stratum {stratum!r}")
        i = self._next.get(stratum, 0)
        if i >= len(slots):
            raise ConfigurationError(f"the allocation sequence of stratum {stratum!r} is used up")
        slot = slots[i]
        arm = decrypt(self._key, slot.ciphertext, _aad(self._protocol, stratum, slot.index)).decode()
        self._next[stratum] = i + 1
        alloc = Allocation(participant, stratum, slot.index, arm, datetime.now(UTC).isoformat())
        self._allocated[participant] = alloc
        if self._audit is not None:
            self._audit("trial.randomize", {"participant": participant, "stratum": stratum, "slot": slot.index,
                                            "actor": actor})
        return alloc


def reveal_slot(protocol: Protocol, slot: SealedSlot, key: bytes) -> str:
    """Decrypt one slot (used by the store when the slot has just been bound to an enrolled participant)."""
    return decrypt(key, slot.ciphertext, _aad(protocol, slot.stratum, slot.index)).decode()

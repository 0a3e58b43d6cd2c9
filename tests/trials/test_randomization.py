"""Stratified permuted blocks: balance within strata, concealment, one reveal per enrolled participant."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from attunexr.errors import AuthorizationError, ConfigurationError, IntegrityError
from attunexr.trials import (
    AllocationConcealer,
    SealedSlot,
    default_protocol,
    generate_sealed_sequence,
    reveal_slot,
    strata,
)


def _arms(slots: list[SealedSlot], key: bytes) -> dict[str, list[str]]:
    p = default_protocol()
    out: dict[str, list[str]] = {}
    for s in sorted(slots, key=lambda x: (x.stratum, x.index)):
        out.setdefault(s.stratum, []).append(reveal_slot(p, s, key))
    return out


def test_balance_within_every_stratum() -> None:
    p = default_protocol()
    key = os.urandom(32)
    slots = generate_sealed_sequence(p, seed=123, key=key, slots_per_stratum=120)
    seqs = _arms(slots, key)
    assert set(seqs) == set(strata(p)) and len(seqs) == 6
    max_block = 3 * max(p.block_sizes)
    for st, seq in seqs.items():
        blocks = Counter(s.block for s in slots if s.stratum == st)
        assert set(blocks.values()) <= {3, 6}, "block sizes are 1x or 2x the arm-ratio sum"
        for n in range(1, len(seq) + 1):
            c = Counter(seq[:n])
            spread = max(c.get(a.id, 0) for a in p.arms) - min(c.get(a.id, 0) for a in p.arms)
            assert spread <= max_block // 3, (st, n, c)
        # at the end of every complete block the arms are exactly equal
        ends = 0
        for b in sorted(blocks)[:-1]:
            ends += blocks[b]
            c = Counter(seq[:ends])
            assert len(set(c.values())) == 1, (st, ends, c)


def test_same_seed_same_sequence_different_seed_different() -> None:
    p = default_protocol()
    key = os.urandom(32)
    a = _arms(generate_sealed_sequence(p, 5, key, 30), key)
    b = _arms(generate_sealed_sequence(p, 5, key, 30), key)
    c = _arms(generate_sealed_sequence(p, 6, key, 30), key)
    assert a == b and a != c


def test_sealed_slots_do_not_show_the_arm_and_cannot_be_moved() -> None:
    p = default_protocol()
    key = os.urandom(32)
    slots = generate_sealed_sequence(p, 1, key, 10)
    for s in slots:
        for arm in p.arms:
            assert arm.id.encode() not in s.ciphertext
    moved = SealedSlot(slots[0].stratum, slots[1].index, slots[1].block, slots[0].ciphertext)
    with pytest.raises(IntegrityError):
        reveal_slot(p, moved, key)
    with pytest.raises(IntegrityError):
        reveal_slot(p, slots[0], os.urandom(32))


def test_reveal_only_after_enrolment_once_and_audited() -> None:
    p = default_protocol()
    key = os.urandom(32)
    slots = generate_sealed_sequence(p, 2, key, 12)
    audit: list[tuple[str, dict[str, object]]] = []
    conc = AllocationConcealer(p, slots, key, audit=lambda a, d: audit.append((a, d)))
    st = strata(p)[0]
    with pytest.raises(AuthorizationError, match="not enrolled"):
        conc.allocate("P1", st, enrolled=False)
    assert audit == []
    first = conc.allocate("P1", st, enrolled=True)
    assert first.index == 0 and first.arm in {a.id for a in p.arms}
    with pytest.raises(ConfigurationError, match="already randomized"):
        conc.allocate("P1", st, enrolled=True)
    second = conc.allocate("P2", st, enrolled=True)
    assert second.index == 1
    assert [a for a, _ in audit] == ["trial.randomize", "trial.randomize"]
    for _, detail in audit:  # the audit detail names the slot, never an arm
        assert not any(arm.id in str(detail) for arm in p.arms)
    assert "ai_adaptive" not in repr(conc) and "standard_vr" not in repr(conc)

"""The live virtual patient: the simulator's own dynamics, driven by level and pause, as a sensor source."""

from __future__ import annotations

import asyncio
import math
import time

import numpy as np
import pytest

from attunexr.errors import ConfigurationError
from attunexr.sensors import Source
from attunexr.session import LiveSession
from attunexr.simulation import (
    PhysiologyState,
    VirtualPatientSource,
    draw_population,
    latent_step,
    load_calibration,
    physiology_step,
    suds_report,
)


def test_its_fear_is_the_simulators_latent_model() -> None:
    """Second by second the source's fear is :func:`latent_step` on the same person and draws (one model)."""
    seed, levels = 4, 8
    src = VirtualPatientSource(levels, seed=seed, block_s=10)
    cal = load_calibration()
    pop = draw_population(1, seed=seed, calibration=cal)
    rng = np.random.default_rng(seed + 1)
    phys = PhysiologyState.at_rest(pop, (1,))
    fear, hab, sick = np.zeros(1), np.zeros(1), np.zeros(1)
    schedule = [(0, False)] * 3 + [(7, False)] * 6 + [(7, True)] * 3  # 10 s blocks: rest, top level, paused
    for block, (level, paused) in enumerate(schedule):
        src.next_second(float(10 * block), level, paused)
        for _ in range(10):
            fear, hab, sick = latent_step(fear, hab, sick, np.array([0.0 if paused else level / (levels - 1)]),
                                          np.array([paused]), pop.threshold, pop, rng.standard_normal(1))
            z = rng.standard_normal((2, 1))
            physiology_step(phys, fear, pop, cal, 1.0, z[0], z[1])
        assert src.fear == pytest.approx(float(fear[0]), abs=1e-12)
    np.testing.assert_allclose(src.state.hr_lag, phys.hr_lag, rtol=1e-12)


def test_fear_follows_level_and_pause_and_signals_look_like_sensors() -> None:
    src = VirtualPatientSource(8, seed=2)
    src.set_level(0)
    for s in range(60):
        chunks = src.next_second(float(s))
    rest = src.fear
    kinds = {c.kind for c in chunks}
    assert {"ecg", "ppg", "eda", "resp", "head_pose"} <= kinds
    assert all(c.t_first >= 59.0 and c.t_last < 60.0 for c in chunks)  # second [59, 60) on the session clock
    src.set_level(7)
    for s in range(60, 240):
        src.next_second(float(s))
    exposed = src.fear
    src.set_paused(True)
    for s in range(240, 420):
        src.next_second(float(s))
    assert exposed > rest + 0.2 and src.fear < exposed / 2
    with pytest.raises(ConfigurationError, match="outside the hierarchy"):
        src.set_level(8)


def test_it_acts_on_the_session_commands_a_vr_client_gets() -> None:
    from attunexr.session import Command

    src = VirtualPatientSource(8, seed=6)
    assert src.handle_command(Command("set_level", level=4).to_message()) is None and src.level == 4
    src.handle_command(Command("pause").to_message())
    assert src.paused
    src.handle_command(Command("resume").to_message())
    assert not src.paused
    for s in range(0, 300, 10):
        src.next_second(float(s))
    answers = [src.handle_command(Command("prompt_suds").to_message()) for _ in range(20)]
    assert any(a is not None for a in answers)
    assert all(a is None or (a % 5 == 0 and 0 <= a <= 100) for a in answers)
    src.handle_command(Command("end").to_message())
    assert src.level == 4 and not src.paused


def test_suds_answers_are_the_models_report() -> None:
    """Answers follow :func:`suds_report` on the current fear, in steps of 5; some prompts go unanswered."""
    src = VirtualPatientSource(8, seed=1, level=7)
    for s in range(0, 200, 10):
        src.next_second(float(s))
    answers = []
    for _ in range(200):
        rng = np.random.default_rng()
        rng.bit_generator.state = src.rng.bit_generator.state  # a twin of the patient's draws
        got = src.answer_suds()
        u = rng.random()
        if u < float(src.pop.unanswered_p[0]):
            assert got is None
            continue
        answered, want = suds_report(np.array([src.fear]), src.pop, u, rng.random())
        assert bool(answered[0]) and got == float(want[0])
        answers.append(got)
    assert answers and all(a % 5 == 0 and 0 <= a <= 100 for a in answers)
    assert np.mean(answers) > 100 * src.fear - 20  # exposed at the top level: high SUDS


def test_pushed_chunks_equal_pulled_seconds_and_a_session_attaches_it() -> None:
    async def run() -> None:
        pushed = VirtualPatientSource(8, seed=3, duration_s=25, level=2)
        assert isinstance(pushed, Source)
        got = [c async for c in pushed.chunks()]
        pulled = VirtualPatientSource(8, seed=3, level=2)
        want = [c for s in range(25) for c in pulled.next_second(float(s))]
        assert [(c.stream, len(c)) for c in got] == [(c.stream, len(c)) for c in want]
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a.timestamps, b.timestamps)
            np.testing.assert_array_equal(a.values, b.values)

        # paced: 6 session seconds at 60x take at least 0.1 s of wall clock
        paced = VirtualPatientSource(8, seed=3, duration_s=6, speed=60.0)
        t0 = time.perf_counter()
        n = len([c async for c in paced.chunks()])
        assert n > 0 and time.perf_counter() - t0 >= 0.09

        # a LiveSession attaches it like any sensor; the session's level reaches the patient
        patient = VirtualPatientSource(8, seed=3, duration_s=130, speed=math.inf)
        session = LiveSession("virtual", window=60.0, hop=10.0)
        await session.start()
        patient.set_level(5)
        await session.attach(patient)
        await session.stop()
        assert session.rows_emitted == 8  # windows ending at 60, 70, ..., 130 s
        assert {b.kind for b in session.buffers.values()} >= {"ecg", "eda", "ppg"}
        assert patient.level == 5 and patient.fear > 0.03

    asyncio.run(run())

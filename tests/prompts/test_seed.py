from io import StringIO

from django.core.management import call_command

from prompts.models import EngineType
from prompts.selectors import engine_type_list
from prompts.services import engine_type_update


def seed():
    out = StringIO()
    call_command("seed", stdout=out)
    return out.getvalue()


def test_seed_creates_the_demo_engine_types_11_and_22():
    output = seed()

    assert "engine type 11: created" in output and "engine type 22: created" in output
    engine_types = {e.engine_type: e for e in engine_type_list()}
    assert set(engine_types) == {"11", "22"}
    assert engine_types["11"].name == "금융 보도자료"
    assert engine_types["22"].name == "기업 보도자료"
    for engine_type in engine_types.values():
        assert engine_type.description and engine_type.instruction
        assert (engine_type.version, engine_type.active, engine_type.updated_by) == (1, True, "seed")


def test_seed_again_changes_nothing_and_keeps_staff_edits():
    seed()
    engine_type_update(engine_type="11", instruction="Edited by staff", updated_by="staff")
    before = {p.engine_type: (p.revision, p.version, p.updated_at, p.instruction) for p in engine_type_list()}

    output = seed()

    assert output.count("exists, left unchanged") == 2
    after = {p.engine_type: (p.revision, p.version, p.updated_at, p.instruction) for p in engine_type_list()}
    assert after == before
    assert EngineType.get("11").instruction == "Edited by staff"
    assert EngineType.count() == 2

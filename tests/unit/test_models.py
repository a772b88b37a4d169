"""Operation values parsed tolerantly from the wire."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eemw import (
    InvalidNameError,
    Notification,
    Operation,
    OperationMetadata,
    OperationName,
    OperationStage,
    State,
    Status,
)
from eemw._lazyops import lazy_operation
from eemw._models import is_operation_name, parse_duration, parse_timestamp

NAME = "projects/demo/operations/ABC123"


def full_wire() -> dict[str, Any]:
    return {
        "name": NAME,
        "metadata": {
            "@type": "type.googleapis.com/google.earthengine.v1.OperationMetadata",
            "state": "RUNNING",
            "description": "export of a map",
            "type": "EXPORT_IMAGE",
            "priority": 42,
            "createTime": "2024-05-01T10:00:00Z",
            "updateTime": "2024-05-01T10:05:00.123Z",
            "startTime": "2024-05-01T10:01:00.123456Z",
            "endTime": "2024-05-01T10:09:00.123456789Z",
            "progress": 0.25,
            "stages": [
                {"displayName": "Create Local Files", "description": "compute",
                 "completeWorkUnits": "3", "totalWorkUnits": 10},
            ],
            "attempt": 2,
            "scriptUri": "https://code.earthengine.google.com/xyz",
            "destinationUris": ["https://drive.google.com/a", "https://drive.google.com/b"],
            "notifications": [{"severity": "WARNING", "topic": "quota", "detail": "slow"}],
            "batchEecuUsageSeconds": 12.5,
            "futureField": {"nested": True},
        },
        "done": False,
        "futureTopLevel": [1, 2, 3],
    }


class TestFullOperation:
    def test_every_known_field_is_read(self) -> None:
        op = Operation.from_wire(full_wire())
        md = op.metadata
        assert op.name == NAME
        assert op.done is False
        assert op.error is None
        assert op.response is None
        assert md.state is State.RUNNING
        assert md.description == "export of a map"
        assert md.type == "EXPORT_IMAGE"
        assert md.priority == 42
        assert md.create_time == datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
        assert md.progress == 0.25
        assert md.stages == (OperationStage("Create Local Files", "compute", 3, 10),)
        assert md.attempt == 2
        assert md.script_uri == "https://code.earthengine.google.com/xyz"
        assert md.destination_uris == ("https://drive.google.com/a", "https://drive.google.com/b")
        assert md.notifications == (Notification("WARNING", "quota", "slow"),)
        assert md.batch_eecu_usage_seconds == 12.5

    def test_unknown_fields_are_kept_in_raw(self) -> None:
        op = Operation.from_wire(full_wire())
        assert op.raw["futureTopLevel"] == [1, 2, 3]
        assert op.metadata.raw["futureField"] == {"nested": True}
        assert op.metadata.raw["@type"].endswith("OperationMetadata")

    def test_raw_round_trips_to_the_wire_json(self) -> None:
        wire = full_wire()
        op = Operation.from_wire(wire)
        assert json.loads(json.dumps(dict(op.raw))) == wire

    def test_changing_the_input_afterwards_does_not_change_the_operation(self) -> None:
        wire = full_wire()
        wire["response"] = {"ok": 1}
        op = Operation.from_wire(wire)
        wire["name"] = "other"
        wire["metadata"]["state"] = "FAILED"
        wire["metadata"]["extra"] = 1
        wire["response"]["ok"] = 2
        assert op.raw["name"] == NAME
        assert op.metadata.raw["state"] == "RUNNING"
        assert "extra" not in op.metadata.raw
        assert op.response == {"ok": 1}


class TestMissingAndWrongFields:
    def test_empty_object(self) -> None:
        op = Operation.from_wire({})
        assert op.name == ""
        assert op.done is False
        assert op.error is None
        assert op.response is None
        assert op.metadata == OperationMetadata()
        assert op.state is State.STATE_UNSPECIFIED

    def test_empty_metadata_has_defaults(self) -> None:
        md = OperationMetadata.from_wire({})
        assert md.state is State.STATE_UNSPECIFIED
        assert md.priority == 100
        assert md.description is None
        assert md.create_time is None
        assert md.progress is None
        assert md.stages == ()
        assert md.destination_uris == ()
        assert md.notifications == ()

    @pytest.mark.parametrize("metadata", [None, "RUNNING", 3, [], True])
    def test_metadata_of_the_wrong_type_reads_as_empty(self, metadata: object) -> None:
        op = Operation.from_wire({"name": NAME, "metadata": metadata})
        assert op.metadata == OperationMetadata()
        assert op.raw["metadata"] == metadata

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("description", 5),
            ("type", ["EXPORT"]),
            ("createTime", 1714557600),
            ("createTime", "yesterday"),
            ("progress", "a lot"),
            ("progress", True),
            ("attempt", {"n": 1}),
            ("attempt", 1.5),
            ("scriptUri", False),
            ("batchEecuUsageSeconds", "NaN"),
        ],
    )
    def test_field_of_the_wrong_type_reads_as_absent(self, field: str, value: object) -> None:
        md = OperationMetadata.from_wire({field: value, "state": "PENDING"})
        assert md == OperationMetadata(state=State.PENDING)
        assert md.raw[field] == value

    @pytest.mark.parametrize("value", [None, "high", True, 1.5, [], "1e3", " 7"])
    def test_priority_defaults_to_100_when_missing_or_wrong(self, value: object) -> None:
        assert OperationMetadata.from_wire({"priority": value}).priority == 100

    def test_priority_zero_is_kept(self) -> None:
        assert OperationMetadata.from_wire({"priority": 0}).priority == 0

    def test_lists_with_wrong_items_keep_the_good_ones(self) -> None:
        md = OperationMetadata.from_wire({
            "stages": [{"displayName": "a"}, "b", None, {"totalWorkUnits": "x"}],
            "destinationUris": ["gs://a", 1, None, "gs://b"],
            "notifications": "none",
        })
        assert md.stages == (OperationStage("a"), OperationStage())
        assert md.destination_uris == ("gs://a", "gs://b")
        assert md.notifications == ()

    @pytest.mark.parametrize("name", [None, 7, ["projects/a/operations/b"]])
    def test_name_of_the_wrong_type_reads_as_empty(self, name: object) -> None:
        assert Operation.from_wire({"name": name}).name == ""

    @pytest.mark.parametrize("done", ["true", 1, None, "yes"])
    def test_done_is_true_only_for_json_true(self, done: object) -> None:
        assert Operation.from_wire({"name": NAME, "done": done}).done is False

    @pytest.mark.parametrize("response", ["ok", [1], 3])
    def test_response_of_the_wrong_type_reads_as_absent(self, response: object) -> None:
        assert Operation.from_wire({"name": NAME, "response": response}).response is None

    def test_unknown_state_reads_as_unspecified(self) -> None:
        md = OperationMetadata.from_wire({"state": "PAUSED"})
        assert md.state is State.STATE_UNSPECIFIED
        assert md.raw["state"] == "PAUSED"


class TestNumbers:
    @pytest.mark.parametrize(
        ("wire", "expected"),
        [
            ("12", 12),
            ("-3", -3),
            (12, 12),
            (12.0, 12),
            ("9007199254740993", 9007199254740993),  # 2**53 + 1: lost if read via float
            ("9223372036854775807", 2**63 - 1),
        ],
    )
    def test_int64_as_number_or_string(self, wire: object, expected: int) -> None:
        md = OperationMetadata.from_wire({"stages": [{"completeWorkUnits": wire}]})
        assert md.stages[0].complete_work_units == expected

    @pytest.mark.parametrize(
        "wire", ["9223372036854775808", 2**64, "1.5", "", " 1", "1_000", "0x10", "١٢", True]
    )
    def test_not_an_int64_reads_as_absent(self, wire: object) -> None:
        md = OperationMetadata.from_wire({"stages": [{"totalWorkUnits": wire}]})
        assert md.stages[0].total_work_units is None

    @pytest.mark.parametrize(
        ("wire", "expected"), [("12.5", 12.5), (3, 3.0), ("1e2", 100.0), (0, 0.0)]
    )
    def test_doubles_as_number_or_string(self, wire: object, expected: float) -> None:
        assert OperationMetadata.from_wire({"progress": wire}).progress == expected

    @pytest.mark.parametrize(
        "wire", [float("nan"), float("inf"), "Infinity", "nan", "1e999", False]
    )
    def test_non_finite_doubles_read_as_absent(self, wire: object) -> None:
        assert OperationMetadata.from_wire({"progress": wire}).progress is None


UTC = timezone.utc


class TestTimestamps:
    @pytest.mark.parametrize(
        ("text", "micros"),
        [
            ("2024-05-01T10:00:00Z", 0),
            ("2024-05-01T10:00:00.123Z", 123000),
            ("2024-05-01T10:00:00.123456Z", 123456),
            ("2024-05-01T10:00:00.123456789Z", 123456),  # nanoseconds are truncated
            ("2024-05-01T10:00:00.5Z", 500000),
        ],
    )
    def test_fractional_digits(self, text: str, micros: int) -> None:
        assert parse_timestamp(text) == datetime(2024, 5, 1, 10, 0, 0, micros, UTC)

    @pytest.mark.parametrize(
        ("text", "offset"),
        [
            ("2024-05-01T10:00:00Z", timedelta(0)),
            ("2024-05-01T10:00:00z", timedelta(0)),
            ("2024-05-01T10:00:00+00:00", timedelta(0)),
            ("2024-05-01T10:00:00+05:30", timedelta(hours=5, minutes=30)),
            ("2024-05-01T10:00:00.25-08:00", timedelta(hours=-8)),
        ],
    )
    def test_zones_give_aware_datetimes(self, text: str, offset: timedelta) -> None:
        parsed = parse_timestamp(text)
        assert parsed is not None
        assert parsed.utcoffset() == offset

    def test_offsets_denote_the_same_instant(self) -> None:
        assert parse_timestamp("2024-05-01T15:30:00+05:30") == parse_timestamp(
            "2024-05-01T10:00:00Z"
        )

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "2024-05-01",
            "2024-05-01T10:00:00",  # no zone: would be a naive datetime
            "2024-05-01T10:00:00.Z",
            "2024-05-01T10:00:00.1234567890Z",
            "2024-13-01T10:00:00Z",
            "2024-02-30T10:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T10:00:00+24:00",
            "2024-05-01T10:00:00+99:00",
            "2024-05-01T10:00:00+05:60",
            "٢٠٢٤-05-01T10:00:00Z",
            " 2024-05-01T10:00:00Z",
            "2024-05-01T10:00:00Z\n",
        ],
    )
    def test_invalid_timestamps_read_as_absent(self, text: str) -> None:
        assert parse_timestamp(text) is None
        md = OperationMetadata.from_wire({"endTime": text})
        assert md.end_time is None

    @pytest.mark.parametrize("value", [None, 0, 1714557600.0, ["2024-05-01T10:00:00Z"]])
    def test_non_strings_read_as_absent(self, value: object) -> None:
        assert parse_timestamp(value) is None

    def test_metadata_times_are_aware(self) -> None:
        md = Operation.from_wire(full_wire()).metadata
        for t in (md.create_time, md.update_time, md.start_time, md.end_time):
            assert t is not None
            assert t.tzinfo is not None
        assert md.end_time == datetime(2024, 5, 1, 10, 9, 0, 123456, UTC)


class TestDuration:
    @pytest.mark.parametrize(("text", "seconds"), [("2.5s", 2.5), ("0s", 0.0), ("30s", 30.0)])
    def test_valid(self, text: str, seconds: float) -> None:
        assert parse_duration(text) == seconds

    @pytest.mark.parametrize("text", ["", "2.5", "-1s", "1ms", "s", "٢s", 2.5, None])
    def test_invalid_reads_as_absent(self, text: object) -> None:
        assert parse_duration(text) is None


def op_with(done: bool, error: dict[str, Any] | None = None, state: str | None = None) -> Operation:
    wire: dict[str, Any] = {"name": NAME, "done": done}
    if error is not None:
        wire["error"] = error
    if state is not None:
        wire["metadata"] = {"state": state}
    return Operation.from_wire(wire)


class TestStateHelpers:
    @pytest.mark.parametrize(
        ("done", "error", "state"),
        [
            (False, None, State.STATE_UNSPECIFIED),
            (True, None, State.SUCCEEDED),
            (True, {"code": 1, "message": "cancelled"}, State.CANCELLED),
            (True, {"code": "1"}, State.CANCELLED),
            (True, {"code": 13, "message": "boom"}, State.FAILED),
            (True, {"code": 3}, State.FAILED),
        ],
    )
    def test_state_derived_from_done_and_error(
        self, done: bool, error: dict[str, Any] | None, state: State
    ) -> None:
        op = op_with(done, error)
        assert op.state is state
        assert op.succeeded is (state is State.SUCCEEDED)
        assert op.cancelled is (state is State.CANCELLED)
        assert op.failed is (state is State.FAILED)

    @pytest.mark.parametrize("state", [s.value for s in State])
    def test_metadata_state_wins_when_present(self, state: str) -> None:
        op = op_with(True, {"code": 13}, state=state)
        expected = State.FAILED if state == "STATE_UNSPECIFIED" else State(state)
        assert op.state is expected

    def test_running_operation_has_no_outcome(self) -> None:
        op = op_with(False, state="RUNNING")
        assert op.state is State.RUNNING
        assert not (op.succeeded or op.cancelled or op.failed)

    def test_error_is_a_status(self) -> None:
        detail = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "X"}
        op = op_with(True, {"code": 13, "message": "boom", "details": [detail, "junk"]})
        assert op.error == Status(13, "boom", (detail,))

    @pytest.mark.parametrize("error", [None, "failed", 13, ["x"]])
    def test_error_of_the_wrong_type_reads_as_absent(self, error: object) -> None:
        op = Operation.from_wire({"name": NAME, "done": True, "error": error})
        assert op.error is None
        assert op.succeeded

    def test_terminal_states(self) -> None:
        assert {s for s in State if s.terminal} == {
            State.SUCCEEDED, State.CANCELLED, State.FAILED
        }

    def test_state_is_a_string(self) -> None:
        assert State.RUNNING == "RUNNING"
        assert State.parse("RUNNING") is State.RUNNING
        assert State.parse(None) is State.STATE_UNSPECIFIED
        assert State.parse(["RUNNING"]) is State.STATE_UNSPECIFIED


class TestNameHelpers:
    def test_id_and_project(self) -> None:
        op = Operation.from_wire({"name": NAME})
        assert op.id == "ABC123"
        assert op.project == "demo"

    def test_empty_name(self) -> None:
        op = Operation.from_wire({})
        assert op.id == ""
        assert op.project == ""


class TestFrozen:
    @pytest.mark.parametrize(
        "value",
        [
            Operation.from_wire(full_wire()),
            OperationMetadata.from_wire(full_wire()["metadata"]),
            Status(1, "x"),
            OperationStage("a"),
            Notification("INFO"),
        ],
        ids=lambda v: type(v).__name__,
    )
    def test_assignment_raises(self, value: object) -> None:
        field = dataclasses.fields(value)[0].name  # type: ignore[arg-type]
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, field, None)

    def test_raw_cannot_be_edited(self) -> None:
        op = Operation.from_wire(full_wire())
        with pytest.raises(TypeError):
            op.raw["name"] = "x"  # type: ignore[index]
        with pytest.raises(TypeError):
            op.metadata.raw["state"] = "x"  # type: ignore[index]

    def test_response_cannot_be_edited(self) -> None:
        op = Operation.from_wire({"name": NAME, "done": True, "response": {"a": 1}})
        with pytest.raises(TypeError):
            op.response["a"] = 2  # type: ignore[index]

    def test_every_parsed_operation_is_hashable(self) -> None:
        wire = full_wire()
        wire.update(done=True, response={"a": 1}, error={"code": 2, "details": [{"x": 1}]})
        op = Operation.from_wire(wire)
        assert hash(op) == hash(Operation.from_wire(wire))
        assert len({op, Operation.from_wire(wire)}) == 1

    def test_equal_when_parsed_from_equal_json(self) -> None:
        assert Operation.from_wire(full_wire()) == Operation.from_wire(full_wire())
        other = full_wire()
        other["metadata"]["state"] = "SUCCEEDED"
        assert Operation.from_wire(full_wire()) != Operation.from_wire(other)

    def test_replace_gives_a_changed_copy(self) -> None:
        op = Operation.from_wire(full_wire())
        done = dataclasses.replace(op, done=True)
        assert done.done and not op.done


class TestRepr:
    def test_concise(self) -> None:
        op = Operation.from_wire(full_wire())
        assert repr(op) == f"Operation(name={NAME!r}, state=RUNNING, done=False)"

    def test_shows_derived_state_and_error_code(self) -> None:
        op = op_with(True, {"code": 1, "message": "cancelled by user"})
        assert repr(op) == f"Operation(name={NAME!r}, state=CANCELLED, done=True, error=1)"

    def test_leaves_out_metadata_and_raw(self) -> None:
        text = repr(Operation.from_wire(full_wire()))
        assert "export of a map" not in text
        assert "futureTopLevel" not in text


class TestCopyAndPickle:
    @pytest.mark.parametrize(
        "clone", [lambda o: pickle.loads(pickle.dumps(o)), copy.deepcopy, copy.copy],
        ids=["pickle", "deepcopy", "copy"],
    )
    def test_round_trip_keeps_everything(self, clone: Any) -> None:
        wire = full_wire()
        wire.update(done=True, response={"r": 1}, error={"code": 2, "details": [{"a": 1}]})
        op = Operation.from_wire(wire)
        again = clone(op)
        assert again == op
        assert again.raw == op.raw
        assert again.metadata.raw == op.metadata.raw
        assert again.error is not None and again.error.details == ({"a": 1},)
        assert repr(again) == repr(op)

    def test_round_trip_stays_read_only(self) -> None:
        op = Operation.from_wire({"name": NAME, "done": True, "response": {"a": 1}})
        again = pickle.loads(pickle.dumps(op))
        with pytest.raises(TypeError):
            again.response["a"] = 2
        with pytest.raises(TypeError):
            again.raw["name"] = "x"


def wires() -> list[dict[str, Any]]:
    """Wire operations of every shape a page may hold, tolerated ones included."""
    done_ok = {**full_wire(), "done": True, "response": {"@type": "x", "uri": "gs://b/o"}}
    failed = {**full_wire(), "done": True,
              "error": {"code": 3, "message": "bad", "details": [{"reason": "R"}]}}
    odd = {"name": NAME, "metadata": {"state": 7, "priority": "x", "stages": "no"},
           "done": "yes", "error": [], "response": 5}
    return [full_wire(), done_ok, failed, odd, {"name": NAME}, {"name": 12}, {}]


class TestLazyOperation:
    """Listed operations are built on first access; users see the same values."""

    @pytest.mark.parametrize("wire", wires(), ids=range(len(wires())))
    def test_same_value_as_from_wire(self, wire: dict[str, Any]) -> None:
        eager = Operation.from_wire(copy.deepcopy(wire))
        lazy = lazy_operation(copy.deepcopy(wire))
        assert type(lazy) is Operation
        for f in dataclasses.fields(Operation):
            assert getattr(lazy, f.name) == getattr(eager, f.name), f.name
        assert lazy == eager
        assert hash(lazy) == hash(eager)
        assert repr(lazy) == repr(eager)
        assert lazy.state is eager.state

    @pytest.mark.parametrize("wire", wires(), ids=range(len(wires())))
    def test_equal_and_hashable_before_any_field_is_read(self, wire: dict[str, Any]) -> None:
        assert lazy_operation(copy.deepcopy(wire)) == lazy_operation(copy.deepcopy(wire))
        assert len({lazy_operation(copy.deepcopy(wire)), Operation.from_wire(wire)}) == 1

    def test_typed_fields(self) -> None:
        op = lazy_operation(wires()[2])
        assert isinstance(op.metadata, OperationMetadata)
        assert op.metadata.create_time == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
        assert op.error == Status(3, "bad", ({"reason": "R"},))
        assert op.done and op.state is State.RUNNING  # the metadata says so, not the error

    def test_a_field_is_built_once(self) -> None:
        op = lazy_operation(full_wire())
        assert op.metadata is op.metadata
        assert op.raw is op.raw

    @pytest.mark.parametrize("touch", [False, True], ids=["untouched", "touched"])
    def test_frozen(self, touch: bool) -> None:
        op = lazy_operation(full_wire())
        if touch:
            assert op.metadata.state is State.RUNNING
        for f in dataclasses.fields(Operation):
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(op, f.name, None)
        with pytest.raises(TypeError):
            op.raw["name"] = "x"  # type: ignore[index]
        assert op.metadata.state is State.RUNNING

    def test_raw_keeps_every_field(self) -> None:
        op = lazy_operation(full_wire())
        assert dict(op.raw) == full_wire()
        assert op.metadata.raw["futureField"] == {"nested": True}

    @pytest.mark.parametrize(
        "clone", [lambda o: pickle.loads(pickle.dumps(o)), copy.deepcopy, copy.copy],
        ids=["pickle", "deepcopy", "copy"],
    )
    def test_copies_are_equal_operations(self, clone: Any) -> None:
        op = lazy_operation(wires()[1])
        copied = clone(op)
        assert copied == op == Operation.from_wire(wires()[1])
        assert copied.response == {"@type": "x", "uri": "gs://b/o"}
        assert dict(copied.raw) == dict(op.raw)

    def test_replace_gives_a_changed_copy(self) -> None:
        op = lazy_operation(full_wire())
        done = dataclasses.replace(op, done=True)
        assert done.done and not op.done
        assert done.metadata == op.metadata

    def test_constructed_operations_keep_what_they_are_given(self) -> None:
        # A dict passed to the constructor is a value, never mistaken for wire data.
        op = Operation(NAME, response={"metadata": {"state": "FAILED"}})
        assert op.response == {"metadata": {"state": "FAILED"}}
        assert op.metadata == OperationMetadata()


class TestIsOperationName:
    @pytest.mark.parametrize("text", [
        NAME, "projects/my-proj.x:y/operations/a_b-C", "projects/1/operations/" + "a" * 256,
        "projects/" + "p" * 128 + "/operations/x",
    ])
    def test_accepts_what_parse_accepts(self, text: str) -> None:
        assert is_operation_name(text)
        assert OperationName.parse(text).name == text

    @pytest.mark.parametrize("text", [
        "", "ABC123", "projects/demo/operations/", "projects//operations/x",
        "projects/a..b/operations/x", "projects/demo/operations/a/b",
        "projects/demo/operations/a%2F", "projects/demo/operations/a?x",
        "projects/demo/operations/a#x", "projects/demo/operations/a b",
        "projects/demo/operations/a\n", "projects/demo/operations/\u0661",
        "projects/demo/operations/" + "a" * 257, "projects/" + "p" * 129 + "/operations/x",
        "projects/-demo/operations/x", "/projects/demo/operations/x",
    ])
    def test_refuses_what_parse_refuses(self, text: str) -> None:
        assert not is_operation_name(text)
        with pytest.raises(InvalidNameError):
            OperationName.parse(text)

    @given(st.text(alphabet="projects/demo.-_:a%?#\\ \n\x00\u0661", max_size=40))
    def test_agrees_with_parse_on_any_text(self, text: str) -> None:
        try:
            parsed = OperationName.parse(text)
        except InvalidNameError:
            assert not is_operation_name(text)
        else:
            assert is_operation_name(text) == (parsed.name == text)

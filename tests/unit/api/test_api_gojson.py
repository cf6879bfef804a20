"""Go's encoding/json text for wire dicts (kaito.api.gojson) and Go's canonical quantities.

The expected texts are what Go 1.26 writes for k8s.io/api v0.35 and upstream Kaito's v1beta1
types; the quantity tables are apimachinery's own (``TestQuantityString``,
``TestQuantityParseEmit``, the invalid inputs of ``TestQuantityParse``).
"""

from __future__ import annotations

import re

import pytest

from kaito.api import gojson
from kaito.api.quantity import QuantityError, canonical_quantity

SCALARS = {"string", "int", "bool", "bytes", "quantity", "intorstring", "time", "raw"}


def test_every_type_in_the_struct_table_is_known() -> None:
    table = gojson.struct_table()
    assert {"v1beta1.ResourceSpec", "v1beta1.InferenceSpec", "v1beta1.TuningSpec"} <= set(table)
    for name, fields in table.items():
        for field in fields:
            base = re.sub(r"^(\*|\[\]|map\[string\])+", "", field.type)
            assert base in SCALARS or base in table, f"{name}.{field.name}: {field.type}"


def test_struct_fields_in_go_order_with_omitempty() -> None:
    resource = {"labelSelector": {"matchLabels": {"b": "2", "a": "1"}}, "instanceType": "x"}
    assert (
        gojson.encode(resource, "v1beta1.ResourceSpec")
        == '{"instanceType":"x","labelSelector":{"matchLabels":{"a":"1","b":"2"}}}'
    )
    # labelSelector has no omitempty: a nil pointer is written as null
    assert gojson.encode({}, "v1beta1.ResourceSpec") == '{"labelSelector":null}'
    assert gojson.encode(None, "*v1beta1.TuningSpec") == "null"


def test_a_non_pointer_struct_is_always_written() -> None:
    assert gojson.encode({"name": "m"}, "v1beta1.PresetSpec") == '{"name":"m","presetOptions":{}}'


def test_tuning_input_and_output_are_written_even_when_nil() -> None:
    text = gojson.encode({"method": "lora"}, "*v1beta1.TuningSpec")
    assert text == '{"method":"lora","input":null,"output":null}'


def test_unknown_keys_are_dropped_and_empty_values_omitted() -> None:
    text = gojson.encode(
        {"name": "d", "urls": [], "image": "", "bogus": 1, "imagePullSecrets": None},
        "v1beta1.DataSource",
    )
    assert text == '{"name":"d"}'


def test_an_empty_list_without_omitempty_is_not_null() -> None:
    pod = {"containers": []}
    assert gojson.encode(pod, "v1.PodSpec") == '{"containers":[]}'
    assert gojson.encode({}, "v1.PodSpec") == '{"containers":null}'


def test_strings_are_escaped_like_go() -> None:
    assert gojson.go_string('a<b>&"\\\n\t\x01\u2028é') == (
        '"a\\u003cb\\u003e\\u0026\\"\\\\\\n\\t\\u0001\\u2028é"'
    )
    assert gojson.go_string("\ud800") == '"\ufffd"'


def test_embedded_structs_are_inlined() -> None:
    probe = {"httpGet": {"port": "http", "path": "/health"}, "periodSeconds": 10}
    assert (
        gojson.encode(probe, "v1.Probe")
        == '{"httpGet":{"path":"/health","port":"http"},"periodSeconds":10}'
    )
    volume = {"emptyDir": {}, "name": "v"}
    assert gojson.encode(volume, "v1.Volume") == '{"name":"v","emptyDir":{}}'


def test_object_meta_omits_a_zero_creation_timestamp() -> None:
    assert gojson.encode({}, "metav1.ObjectMeta") == "{}"
    meta = {"creationTimestamp": "2024-05-01T12:00:00.5+02:00", "labels": {"a": "b"}}
    assert (
        gojson.encode(meta, "metav1.ObjectMeta")
        == '{"creationTimestamp":"2024-05-01T10:00:00Z","labels":{"a":"b"}}'
    )


def test_quantities_and_int_or_strings() -> None:
    resources = {"limits": {"cpu": 1.5, "memory": "1024Mi", "nvidia.com/gpu": 1}}
    assert (
        gojson.encode(resources, "v1.ResourceRequirements")
        == '{"limits":{"cpu":"1500m","memory":"1Gi","nvidia.com/gpu":"1"}}'
    )
    assert gojson.encode({"port": 80}, "v1.TCPSocketAction") == '{"port":80}'
    assert gojson.encode({}, "v1.TCPSocketAction") == '{"port":0}'


def test_a_value_of_the_wrong_type_still_counts() -> None:
    assert gojson.encode({"name": 5}, "v1beta1.PresetSpec") == '{"name":5,"presetOptions":{}}'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.5, "0.5"),
        (1e-7, "1e-7"),
        (1e21, "1e+21"),
        (123456.789, "123456.789"),
        (1e16, "1" + "0" * 16),
    ],
)
def test_floats_as_go_writes_them(value: float, text: str) -> None:
    assert gojson.go_float(value) == text


# -- resource.Quantity ------------------------------------------------------------------------
CANONICAL = [  # (canonical, another spelling of it), from apimachinery's TestQuantityString
    ("1Gi", "1024Mi"),
    ("300Mi", "307200Ki"),
    ("6Ki", ""),
    ("1001Gi", "1025024Mi"),
    ("1Ti", "1024Gi"),
    ("5", "5000m"),
    ("500m", "0.5"),
    ("1G", "1000M"),
    ("1G", "0.001T"),
    ("1m", "1000u"),
    ("80m", ""),
    ("1080m", "1.08"),
    ("1080m", "1080000000n"),
    ("300M", ""),
    ("1T", ""),
    ("1234567M", ""),
    ("1234567m", ""),
    ("3k", ""),
    ("1025", ""),
    ("1e9", ".001e12"),
    ("1e-3", "0.001e0"),
    ("1e-9", "1000e-12"),
    ("80e-3", ""),
    ("300e6", ""),
    ("1e12", ""),
    ("1e3", ""),
    ("0", "00"),
    ("1n", ""),
    ("1080n", ""),
    ("1080u", ""),
]


@pytest.mark.parametrize(("canonical", "alternate"), CANONICAL)
def test_canonical_quantities(canonical: str, alternate: str) -> None:
    for text in filter(None, (canonical, alternate)):
        assert canonical_quantity(text) == canonical
        assert canonical_quantity("-" + text) == ("0" if canonical == "0" else "-" + canonical)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("1024Mi", "1Gi"),
        ("1000M", "1G"),
        (".001Ki", "1024m"),
        (".000001Ki", "1024u"),
        (".000000001Ki", "1024n"),
        (".000000000001Ki", "2n"),  # rounded up to 1n units
        ("1.5Gi", "1536Mi"),
        ("0.5Ki", "512"),
        ("1000", "1k"),
        (" 1 ", "1"),  # UnmarshalJSON trims
        ("+1Gi", "+1Gi"),  # Go keeps text that parsed on its fast path
        ("8Ei", "9223372036854775807"),  # capped at the largest int64
    ],
)
def test_quantities_parsed_and_emitted(text: str, canonical: str) -> None:
    assert canonical_quantity(text) == canonical


@pytest.mark.parametrize(
    "text", ["", "1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i", "-3.01e-"]
)
def test_invalid_quantities(text: str) -> None:
    with pytest.raises(QuantityError):
        canonical_quantity(text)

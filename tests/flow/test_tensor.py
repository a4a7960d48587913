"""AI.TENSORSET / AI.TENSORGET: round trips of every dtype, formats, reply types,
value ranges, STRING and BOOL tensors, keyspace behaviour, memory, MULTI and Lua.
Error replies are in test_tensor_errors.py, persistence in test_tensor_persistence.py."""

import math

import numpy as np
from error_texts import (
    BOOL_BLOB,
    CSTRING,
    INVALID_DTYPE,
    INVALID_VALUE,
    MODULE_KEY_COPY,
    OOM,
    STRING_BLOB,
    TENSOR_EMPTY,
)
from includes import (
    ALL_DTYPES,
    NUMERIC_DTYPES,
    RawConnection,
    bf16_to_float,
    connection,
    error_text,
    meta_dict,
    parse_reply_values,
    python_values,
    random_array,
    run_checks,
    string_blob,
    tensor_data,
    tensorset_blob,
    values_args,
    wait_replica,
)

SHAPES = [(1,), (5,), (2, 3), (2, 1, 3), (1, 2, 2, 1, 2)]
ELEMENT_SIZE = {
    **{name: np.dtype(t).itemsize for name, t in NUMERIC_DTYPES.items()},
    "BFLOAT16": 2,
    "STRING": 1,  # a byte of the blob: an empty string is its NUL
}


def check_module_list(env):
    con = connection(env)
    modules = [
        {k.decode(): v for k, v in zip(m[::2], m[1::2])}
        for m in con.execute_command("MODULE", "LIST")
    ]
    ai = [m for m in modules if m["name"] == b"ai"]
    env.assertEqual(len(ai), 1)
    env.assertEqual(ai[0]["ver"], 10207)


def assert_all_formats(env, con, key, dtype, shape, blob, values):
    """Every TENSORGET format of one tensor against the expected blob and values."""
    meta = [b"dtype", dtype.encode(), b"shape", list(shape)]
    env.assertEqual(con.execute_command("AI.TENSORGET", key, "META"), meta, message=key)
    env.assertEqual(con.execute_command("AI.TENSORGET", key, "BLOB"), blob, message=key)
    got = con.execute_command("AI.TENSORGET", key, "VALUES")
    env.assertEqual(parse_reply_values(dtype, got), values, message=key)
    env.assertEqual(
        con.execute_command("AI.TENSORGET", key, "META", "BLOB"), meta + [b"blob", blob]
    )
    env.assertEqual(con.execute_command("AI.TENSORGET", key), meta + [b"blob", blob])
    reply = con.execute_command("AI.TENSORGET", key, "META", "VALUES")
    env.assertEqual(reply[:5], meta + [b"values"])
    env.assertEqual(parse_reply_values(dtype, reply[5]), values, message=key)


def check_blob_roundtrip_every_dtype(env):
    con = connection(env)
    rng = np.random.default_rng(1)
    for dtype in [*NUMERIC_DTYPES, "BFLOAT16"]:
        for shape in SHAPES:
            arr = tensor_data(rng, dtype, shape)
            key = f"blob:{dtype}:{shape}"
            env.assertEqual(tensorset_blob(con, key, dtype, arr), b"OK")
            assert_all_formats(
                env, con, key, dtype, shape, arr.tobytes(), python_values(dtype, arr)
            )


def check_values_roundtrip_every_dtype(env):
    con = connection(env)
    rng = np.random.default_rng(2)
    for dtype in [*NUMERIC_DTYPES, "BFLOAT16"]:
        for shape in SHAPES:
            arr = tensor_data(rng, dtype, shape)
            key = f"values:{dtype}:{shape}"
            reply = con.execute_command(
                "AI.TENSORSET", key, dtype, *shape, "VALUES", *values_args(dtype, arr)
            )
            env.assertEqual(reply, b"OK")
            assert_all_formats(
                env, con, key, dtype, shape, arr.tobytes(), python_values(dtype, arr)
            )


def check_values_extremes_every_dtype(env):
    """The ends of each integer range and special floats survive VALUES exactly."""
    con = connection(env)
    for dtype, np_type in NUMERIC_DTYPES.items():
        if np.dtype(np_type).kind in "iu":
            info = np.iinfo(np_type)
            arr = np.array([info.min, info.max, 0, 1], dtype=np_type)
        elif np_type is np.bool_:
            arr = np.array([True, False, False, True])
        else:
            info = np.finfo(np_type)
            arr = np.array([info.min, info.max, info.tiny, -0.0, np.inf, -np.inf], dtype=np_type)
        con.execute_command(
            "AI.TENSORSET", "x", dtype, len(arr), "VALUES", *values_args(dtype, arr)
        )
        env.assertEqual(
            con.execute_command("AI.TENSORGET", "x", "BLOB"),
            arr.tobytes(),
            message=dtype,
        )
        got = parse_reply_values(dtype, con.execute_command("AI.TENSORGET", "x", "VALUES"))
        env.assertEqual(got, python_values(dtype, arr), message=dtype)


def check_format_tokens(env):
    """Tokens in any order, repeated, any case; the reply always puts META first."""
    con = connection(env)
    con.execute_command("AI.TENSORSET", "t", "INT32", 2, 2, "VALUES", 1, 2, 3, 4)
    blob = np.array([1, 2, 3, 4], dtype=np.int32).tobytes()
    meta = [b"dtype", b"INT32", b"shape", [2, 2]]

    def get(*fmt):
        return con.execute_command("AI.TENSORGET", "t", *fmt)

    env.assertEqual(get("META", "META"), meta)
    env.assertEqual(get("meta"), meta)
    env.assertEqual(get("BLOB", "BLOB"), blob)
    env.assertEqual(get("bLoB"), blob)
    env.assertEqual(get("VALUES", "VALUES"), [1, 2, 3, 4])
    env.assertEqual(get("values"), [1, 2, 3, 4])
    env.assertEqual(get("BLOB", "META"), meta + [b"blob", blob])
    env.assertEqual(get("VALUES", "META"), meta + [b"values", [1, 2, 3, 4]])
    env.assertEqual(get("Meta", "Values"), meta + [b"values", [1, 2, 3, 4]])
    env.assertEqual(get("BLOB", "bLoB"), blob)
    env.assertEqual(get(), meta + [b"blob", blob])


def check_case_insensitive_dtype_and_keywords(env):
    con = connection(env)
    for typed in ["float", "Float", "fLoAt"]:
        env.assertEqual(con.execute_command("AI.TENSORSET", "t", typed, 2, "values", 1, 2), b"OK")
        env.assertEqual(
            con.execute_command("AI.TENSORGET", "t", "meta"),
            [b"dtype", b"FLOAT", b"shape", [2]],
        )
    for typed in [
        "int32",
        "Int32",
        "uint16",
        "bool",
        "string",
        "bfloat16",
        "Float16",
        "uint64",
    ]:
        env.assertEqual(con.execute_command("AI.TENSORSET", "t", typed, 1), b"OK")
        meta = meta_dict(con.execute_command("AI.TENSORGET", "t", "META"))
        env.assertEqual(meta["dtype"], typed.upper().encode())
    env.assertEqual(
        con.execute_command("ai.tensorset", "t", "int8", 3, "Blob", b"\x01\x02\x03"),
        b"OK",
    )
    env.assertEqual(con.execute_command("Ai.TensorGet", "t", "VaLuEs"), [1, 2, 3])


def check_scalar_tensors(env):
    """No shape tokens: a 0-dim tensor of one element, shape []."""
    con = connection(env)
    env.assertEqual(con.execute_command("AI.TENSORSET", "s", "FLOAT", "VALUES", 5), b"OK")
    env.assertEqual(
        con.execute_command("AI.TENSORGET", "s", "META", "VALUES"),
        [b"dtype", b"FLOAT", b"shape", [], b"values", [b"5"]],
    )
    env.assertEqual(con.execute_command("AI.TENSORGET", "s", "BLOB"), np.float32(5).tobytes())
    rng = np.random.default_rng(3)
    for dtype in [*NUMERIC_DTYPES, "BFLOAT16"]:
        arr = tensor_data(rng, dtype, ())
        env.assertEqual(
            con.execute_command("AI.TENSORSET", "s", dtype, "BLOB", arr.tobytes()),
            b"OK",
        )
        assert_all_formats(env, con, "s", dtype, [], arr.tobytes(), python_values(dtype, arr))
    env.assertEqual(con.execute_command("AI.TENSORSET", "s", "STRING", "VALUES", "one"), b"OK")
    assert_all_formats(env, con, "s", "STRING", [], b"one\0", [b"one"])


def check_zero_filled_tensors(env):
    """Neither BLOB nor VALUES: zeros, or empty strings for STRING."""
    con = connection(env)
    for dtype in ALL_DTYPES:
        env.assertEqual(con.execute_command("AI.TENSORSET", "z", dtype, 2, 3), b"OK")
        size = ELEMENT_SIZE[dtype]
        if dtype == "STRING":
            values = [b""] * 6
        elif dtype in ("FLOAT", "DOUBLE", "FLOAT16", "BFLOAT16"):
            values = [0.0] * 6
        else:
            values = [0] * 6
        assert_all_formats(env, con, "z", dtype, [2, 3], bytes(6 * size), values)


def check_reply_types_resp2(env):
    """Field names and dtype are bulk strings, shape and ints integers, float values
    doubles (bulk strings in RESP2), STRING values bulk strings, OK a simple string."""
    con = connection(env)
    with RawConnection(con) as raw:
        env.assertEqual(
            raw.call("AI.TENSORSET", "f", "FLOAT", 2, "VALUES", "0.1", "4"),
            ("+", b"OK"),
        )
        reply = raw.call("AI.TENSORGET", "f", "META", "VALUES")
        env.assertEqual(reply[0], "*")
        env.assertEqual(
            reply[1][:4],
            [("$", b"dtype"), ("$", b"FLOAT"), ("$", b"shape"), ("*", [(":", 2)])],
        )
        env.assertEqual(reply[1][4], ("$", b"values"))
        _, vals = reply[1][5]
        env.assertEqual([v[0] for v in vals], ["$", "$"])
        env.assertEqual(float(vals[0][1]), float(np.float32(0.1)))
        env.assertEqual(vals[0][1], b"0.10000000149011612")
        env.assertEqual(vals[1][1], b"4")
        reply = raw.call("AI.TENSORGET", "f", "META", "BLOB")
        env.assertEqual(reply[1][4:], [("$", b"blob"), ("$", np.float32([0.1, 4]).tobytes())])

        raw.call("AI.TENSORSET", "i", "INT64", 3, "VALUES", -5, 0, 2**62)
        env.assertEqual(
            raw.call("AI.TENSORGET", "i", "VALUES"),
            ("*", [(":", -5), (":", 0), (":", 2**62)]),
        )
        raw.call("AI.TENSORSET", "s", "STRING", 2, "VALUES", "ab", "c")
        env.assertEqual(raw.call("AI.TENSORGET", "s", "VALUES"), ("*", [("$", b"ab"), ("$", b"c")]))
        env.assertEqual(raw.call("AI.TENSORGET", "s", "BLOB"), ("$", b"ab\0c\0"))
        raw.call("AI.TENSORSET", "u", "UINT64", 2, "VALUES", 2**64 - 1, 7)
        env.assertEqual(
            raw.call("AI.TENSORGET", "u", "VALUES"),
            ("*", [("$", b"18446744073709551615"), (":", 7)]),
        )
        raw.call("AI.TENSORSET", "z", "DOUBLE", "VALUES", 3)
        env.assertEqual(
            raw.call("AI.TENSORGET", "z", "META"),
            ("*", [("$", b"dtype"), ("$", b"DOUBLE"), ("$", b"shape"), ("*", [])]),
        )


def check_reply_types_resp3(env):
    """RESP3: doubles as ',' and UINT64 above 2^63 as a big number."""
    con = connection(env)
    with RawConnection(con) as raw:
        env.assertEqual(raw.call("HELLO", 3)[0], "%")
        raw.call("AI.TENSORSET", "f", "DOUBLE", 2, "VALUES", "1.5", "-2")
        env.assertEqual(
            raw.call("AI.TENSORGET", "f", "VALUES"),
            ("*", [(",", b"1.5"), (",", b"-2")]),
        )
        raw.call("AI.TENSORSET", "u", "UINT64", 2, "VALUES", 2**63, 2**63 - 1)
        env.assertEqual(
            raw.call("AI.TENSORGET", "u", "VALUES"),
            ("*", [("(", b"9223372036854775808"), (":", 2**63 - 1)]),
        )
        reply = raw.call("AI.TENSORGET", "u", "META")
        env.assertEqual(
            reply,
            (
                "*",
                [("$", b"dtype"), ("$", b"UINT64"), ("$", b"shape"), ("*", [(":", 2)])],
            ),
        )


def check_float_values(env):
    """FLOAT VALUES are doubles narrowed to float; inf and exponents are accepted."""
    con = connection(env)
    args = ["0.1", "1e3", "-2.5E-3", "inf", "-inf", "1e300", "3", "-0"]
    con.execute_command("AI.TENSORSET", "f", "FLOAT", len(args), "VALUES", *args)
    expected = np.array([float(a) for a in args]).astype(np.float32)
    env.assertEqual(con.execute_command("AI.TENSORGET", "f", "BLOB"), expected.tobytes())
    got = [float(v) for v in con.execute_command("AI.TENSORGET", "f", "VALUES")]
    env.assertEqual(
        got[:5],
        [
            float(np.float32(0.1)),
            1000.0,
            float(np.float32(-2.5e-3)),
            math.inf,
            -math.inf,
        ],
    )
    env.assertEqual(got[5], math.inf)  # no range check when narrowing
    con.execute_command("AI.TENSORSET", "d", "DOUBLE", 2, "VALUES", "0.1", "1e300")
    env.assertEqual(
        [float(v) for v in con.execute_command("AI.TENSORGET", "d", "VALUES")],
        [0.1, 1e300],
    )


def check_float16_and_bfloat16(env):
    con = connection(env)
    con.execute_command("AI.TENSORSET", "h", "FLOAT16", 4, "VALUES", "0.1", "65504", "1e6", "-2")
    expected = np.array([0.1, 65504, 1e6, -2]).astype(np.float16)
    env.assertEqual(con.execute_command("AI.TENSORGET", "h", "BLOB"), expected.tobytes())
    env.assertEqual(
        [float(v) for v in con.execute_command("AI.TENSORGET", "h", "VALUES")],
        [float(v) for v in expected],
    )
    # bfloat16 keeps the upper half of a float32, rounded to nearest even.
    con.execute_command(
        "AI.TENSORSET",
        "b",
        "BFLOAT16",
        4,
        "VALUES",
        "1",
        "1.00390625",
        "1.01171875",
        "-3.5",
    )
    bits = np.array([0x3F80, 0x3F80, 0x3F82, 0xC060], dtype=np.uint16)
    env.assertEqual(con.execute_command("AI.TENSORGET", "b", "BLOB"), bits.tobytes())
    env.assertEqual(
        [float(v) for v in con.execute_command("AI.TENSORGET", "b", "VALUES")],
        [float(v) for v in bf16_to_float(bits)],
    )


def check_unsigned_extras(env):
    con = connection(env)
    con.execute_command("AI.TENSORSET", "u32", "UINT32", 3, "VALUES", 0, 2**31, 2**32 - 1)
    env.assertEqual(con.execute_command("AI.TENSORGET", "u32", "VALUES"), [0, 2**31, 2**32 - 1])
    con.execute_command(
        "AI.TENSORSET", "u64", "UINT64", 4, "VALUES", 0, 2**63 - 1, 2**63, 2**64 - 1
    )
    # Above 2^63 a RESP2 client gets a bulk string of the number.
    env.assertEqual(
        con.execute_command("AI.TENSORGET", "u64", "VALUES"),
        [0, 2**63 - 1, b"9223372036854775808", b"18446744073709551615"],
    )
    env.assertEqual(
        con.execute_command("AI.TENSORGET", "u64", "BLOB"),
        np.array([0, 2**63 - 1, 2**63, 2**64 - 1], dtype=np.uint64).tobytes(),
    )


def check_signed_values_full_range(env):
    """cyrai accepts negative VALUES for signed types (RedisAI rejected them)."""
    con = connection(env)
    for bits in (8, 16, 32, 64):
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        dtype = f"INT{bits}"
        env.assertEqual(
            con.execute_command("AI.TENSORSET", "z", dtype, 4, "VALUES", lo, -1, 0, hi),
            b"OK",
        )
        env.assertEqual(con.execute_command("AI.TENSORGET", "z", "VALUES"), [lo, -1, 0, hi])
        env.assertEqual(
            con.execute_command("AI.TENSORGET", "z", "BLOB"),
            np.array([lo, -1, 0, hi], dtype=f"int{bits}").tobytes(),
        )
        for bad in (lo - 1, hi + 1):
            env.assertEqual(
                error_text(env, "AI.TENSORSET", "z", dtype, 1, "VALUES", bad),
                INVALID_VALUE,
            )
    env.assertEqual(con.execute_command("AI.TENSORSET", "z", "INT8", 2, "VALUES", -1, -128), b"OK")
    env.assertEqual(con.execute_command("AI.TENSORGET", "z", "VALUES"), [-1, -128])


def check_unsigned_and_bool_ranges(env):
    con = connection(env)
    for dtype, hi in (
        ("UINT8", 255),
        ("UINT16", 65535),
        ("UINT32", 2**32 - 1),
        ("UINT64", 2**64 - 1),
        ("BOOL", 1),
    ):
        env.assertEqual(con.execute_command("AI.TENSORSET", "u", dtype, 2, "VALUES", 0, hi), b"OK")
        for bad in (-1, hi + 1):
            env.assertEqual(
                error_text(env, "AI.TENSORSET", "u", dtype, 1, "VALUES", bad),
                INVALID_VALUE,
            )
    for bad in ("1.0", "1.87", "A", "", "0x1", "1e2"):
        env.assertEqual(
            error_text(env, "AI.TENSORSET", "u", "INT32", 1, "VALUES", bad),
            INVALID_VALUE,
        )


def check_string_tensors(env):
    con = connection(env)
    elements = [b"first", b"second", b"", b"\xff\x01 \xc3\xa9 bytes"]
    blob = string_blob(elements)
    env.assertEqual(con.execute_command("AI.TENSORSET", "s", "STRING", 2, 2, "BLOB", blob), b"OK")
    env.assertEqual(con.execute_command("AI.TENSORGET", "s", "BLOB"), blob)
    env.assertEqual(con.execute_command("AI.TENSORGET", "s", "VALUES"), elements)
    env.assertEqual(
        con.execute_command("AI.TENSORGET", "s", "META"),
        [b"dtype", b"STRING", b"shape", [2, 2]],
    )
    # VALUES: each argument one element, stored NUL-terminated; one trailing NUL is allowed.
    env.assertEqual(
        con.execute_command("AI.TENSORSET", "v", "STRING", 3, "VALUES", "a", b"b\0", "ccc"),
        b"OK",
    )
    env.assertEqual(con.execute_command("AI.TENSORGET", "v", "BLOB"), b"a\0b\0ccc\0")
    env.assertEqual(
        con.execute_command("AI.TENSORGET", "v", "META", "VALUES"),
        [b"dtype", b"STRING", b"shape", [3], b"values", [b"a", b"b", b"ccc"]],
    )
    err = CSTRING
    env.assertEqual(error_text(env, "AI.TENSORSET", "v", "STRING", 1, "VALUES", b"a\0b"), err)
    env.assertEqual(error_text(env, "AI.TENSORSET", "v", "STRING", 1, "VALUES", b"ab\0\0"), err)
    env.assertEqual(error_text(env, "AI.TENSORSET", "v", "STRING", 1, "VALUES", b""), err)
    env.assertEqual(con.execute_command("AI.TENSORGET", "v", "VALUES"), [b"a", b"b", b"ccc"])
    # A large string tensor round trips.
    many = [("x" * (i % 17)).encode() for i in range(1000)]
    con.execute_command("AI.TENSORSET", "m", "STRING", 10, 100, "BLOB", string_blob(many))
    env.assertEqual(con.execute_command("AI.TENSORGET", "m", "VALUES"), many)
    con.execute_command("AI.TENSORSET", "m2", "STRING", 1000, "VALUES", *[m + b"." for m in many])
    env.assertEqual(con.execute_command("AI.TENSORGET", "m2", "VALUES"), [m + b"." for m in many])


def check_string_blob_mismatch(env):
    con = connection(env)
    err = STRING_BLOB
    for shape, blob in (
        ([2], b"one\0"),
        ([2], b"one\0two\0three\0"),
        ([2], b"a\0b"),
        ([1], b"abc"),
        ([1], b""),
        ([], b"a\0b\0"),
        ([3], b"\0\0"),
    ):
        env.assertEqual(error_text(env, "AI.TENSORSET", "s", "STRING", *shape, "BLOB", blob), err)
    env.assertEqual(con.exists("s"), 0)
    env.assertEqual(con.execute_command("AI.TENSORSET", "s", "STRING", 2, "BLOB", b"\0\0"), b"OK")
    env.assertEqual(con.execute_command("AI.TENSORGET", "s", "VALUES"), [b"", b""])


def test_bool_tensors(env):
    con = connection(env)
    env.assertEqual(
        con.execute_command("AI.TENSORSET", "b", "BOOL", 4, "BLOB", b"\x01\x00\x00\x01"),
        b"OK",
    )
    env.assertEqual(con.execute_command("AI.TENSORGET", "b", "VALUES"), [1, 0, 0, 1])
    err = BOOL_BLOB
    for blob in (
        b"\x02\x00\x00\x00",
        b"\x00\x02\x00\x00",
        b"\x00\x00\x00\x02",
        b"\x01\x01\x01\xff",
    ):
        env.assertEqual(error_text(env, "AI.TENSORSET", "b", "BOOL", 4, "BLOB", blob), err)
    # RedisAI never checked the last byte; cyrai checks every byte.
    env.assertEqual(error_text(env, "AI.TENSORSET", "b", "BOOL", 2, "BLOB", b"\x01\x02"), err)
    env.assertEqual(con.execute_command("AI.TENSORGET", "b", "VALUES"), [1, 0, 0, 1])
    env.assertEqual(error_text(env, "AI.TENSORSET", "b", "BOOL", 2, "VALUES", 1, 2), INVALID_VALUE)


def check_type_del_exists_overwrite(env):
    con = connection(env)
    con.execute_command("AI.TENSORSET", "t", "FLOAT", 2, "VALUES", 1, 2)
    env.assertEqual(con.type("t"), b"AI_TENSOR")
    env.assertEqual(con.exists("t"), 1)
    # Overwrite with another dtype and shape.
    con.execute_command("AI.TENSORSET", "t", "INT8", 3, "VALUES", 7, 8, 9)
    env.assertEqual(
        con.execute_command("AI.TENSORGET", "t", "META", "VALUES"),
        [b"dtype", b"INT8", b"shape", [3], b"values", [7, 8, 9]],
    )
    env.assertEqual(con.delete("t"), 1)
    env.assertEqual(con.exists("t"), 0)
    env.assertEqual(con.type("t"), b"none")
    env.assertEqual(
        error_text(env, "AI.TENSORGET", "t"),
        TENSOR_EMPTY,
    )
    con.execute_command("AI.TENSORSET", "t", "FLOAT", 1)
    env.assertEqual(con.unlink("t"), 1)
    env.assertEqual(con.exists("t"), 0)


def check_generic_key_commands(env):
    """Writing a tensor clears a TTL (like SET); RENAME, MOVE and SCAN TYPE work; COPY is
    refused (no copy callback, as in RedisAI)."""
    con = connection(env)
    con.execute_command("AI.TENSORSET", "t", "INT32", 2, "VALUES", 1, 2)
    env.assertTrue(con.expire("t", 100))
    env.assertGreater(con.ttl("t"), 0)
    con.execute_command("AI.TENSORSET", "t", "INT32", 2, "VALUES", 3, 4)
    env.assertEqual(con.ttl("t"), -1)
    env.assertTrue(con.rename("t", "t2"))
    env.assertEqual(con.execute_command("AI.TENSORGET", "t2", "VALUES"), [3, 4])
    env.assertEqual(error_text(env, "COPY", "t2", "t3"), MODULE_KEY_COPY)
    env.assertEqual(con.exists("t3"), 0)
    # Tensors move between databases like any value.
    env.assertTrue(con.move("t2", 1))
    with RawConnection(con) as raw:
        raw.call("SELECT", 1)
        env.assertEqual(raw.call("AI.TENSORGET", "t2", "VALUES"), ("*", [(":", 3), (":", 4)]))
        raw.call("MOVE", "t2", 0)
    # SCAN filters on the type name.
    con.set("plain", "x")
    con.execute_command("AI.TENSORSET", "t3", "INT8", 1)
    env.assertEqual(sorted(con.scan(0, count=1000, _type="AI_TENSOR")[1]), [b"t2", b"t3"])
    # SET replaces a tensor like any value.
    con.set("t2", "plain")
    env.assertEqual(con.type("t2"), b"string")


def check_command_table(env):
    """Flags and key positions as RedisAI registers them (spec 1.3)."""
    con = connection(env)
    with RawConnection(con) as raw:
        for name, flags in (
            ("ai.tensorset", {b"write", b"denyoom"}),
            ("ai.tensorget", {b"readonly"}),
        ):
            info = raw.call("COMMAND", "INFO", name)[1][0][1]
            env.assertEqual(info[0], ("$", name.encode()))
            env.assertEqual(info[1], (":", -1))
            got = {f[1] for f in info[2][1]}
            env.assertTrue(flags <= got, message=f"{name}: {got}")
            env.assertEqual(bool(got & {b"write", b"denyoom"}), name == "ai.tensorset")
            env.assertEqual(info[3:6], [(":", 1), (":", 1), (":", 1)])
        # (redis-py's COMMAND reply parser cannot read GETKEYS replies, hence raw.)
        env.assertEqual(
            raw.call("COMMAND", "GETKEYS", "AI.TENSORSET", "k", "FLOAT", 2, "VALUES", 1, 2),
            ("*", [("$", b"k")]),
        )
        env.assertEqual(
            raw.call("COMMAND", "GETKEYS", "AI.TENSORGET", "k", "META"),
            ("*", [("$", b"k")]),
        )


def test_deny_oom(env):
    """Over maxmemory (noeviction) TENSORSET is refused; reads and DEL still work."""
    con = connection(env)
    con.execute_command("AI.TENSORSET", "t", "INT8", 2, "VALUES", 1, 2)
    con.config_set("maxmemory-policy", "noeviction")
    con.config_set("maxmemory", 1)
    try:
        env.assertEqual(
            error_text(env, "AI.TENSORSET", "u", "INT8", 1),
            OOM,
        )  # OOM stripped
        env.assertEqual(con.execute_command("AI.TENSORGET", "t", "VALUES"), [1, 2])
        env.assertEqual(con.delete("t"), 1)
    finally:
        con.config_set("maxmemory", 0)
    env.assertEqual(con.execute_command("AI.TENSORSET", "u", "INT8", 1), b"OK")


def check_watch(env):
    """A TENSORSET on a watched key aborts the transaction."""
    con = connection(env)
    con.execute_command("AI.TENSORSET", "t", "INT8", 1)
    with RawConnection(con) as raw:
        raw.call("WATCH", "t")
        con.execute_command("AI.TENSORSET", "t", "INT8", 1, "VALUES", 5)
        raw.call("MULTI")
        env.assertEqual(raw.call("AI.TENSORGET", "t", "VALUES"), ("+", b"QUEUED"))
        env.assertEqual(raw.call("EXEC"), ("*", None))
        raw.call("WATCH", "t")
        raw.call("MULTI")
        raw.call("AI.TENSORGET", "t", "VALUES")
        env.assertEqual(raw.call("EXEC"), ("*", [("*", [(":", 5)])]))


def test_keyspace_notifications(env):
    """AI.TENSORSET emits no event of its own (spec 8.3); generic commands on tensor keys
    notify as usual."""
    con = connection(env)
    con.config_set("notify-keyspace-events", "KEA")
    sub = con.pubsub()
    sub.psubscribe("__keyevent@0__:*")
    sub.subscribe("done")
    con.execute_command("AI.TENSORSET", "t", "FLOAT", 1)
    con.execute_command("AI.TENSORSET", "t", "FLOAT", 2, "VALUES", 1, 2)
    con.expire("t", 100)
    con.delete("t")
    con.publish("done", "")
    events = []
    while True:
        msg = sub.get_message(timeout=5)
        if msg is None or (msg["type"] == "message" and msg["channel"] == b"done"):
            break
        if msg["type"] == "pmessage":
            events.append((msg["channel"].split(b":")[-1], msg["data"]))
    sub.close()
    env.assertEqual(events, [(b"expire", b"t"), (b"del", b"t")])


def check_memory_usage(env):
    con = connection(env)
    rng = np.random.default_rng(4)
    sizes = {}
    for n in (1, 1000, 100000):
        tensorset_blob(con, f"m{n}", "DOUBLE", random_array(rng, np.float64, (n,)))
        sizes[n] = con.memory_usage(f"m{n}")
    env.assertGreater(sizes[1000], sizes[1])
    env.assertGreaterEqual(sizes[1000] - sizes[1], 999 * 8)
    env.assertGreaterEqual(sizes[100000] - sizes[1000], 99000 * 8)
    env.assertLess(sizes[100000], 100000 * 8 * 1.1 + 1024)
    con.execute_command("AI.TENSORSET", "s", "STRING", 1000, "VALUES", *["abcdefgh"] * 1000)
    env.assertGreaterEqual(con.memory_usage("s"), 9000)


def dataset_memory(con):
    """used_memory less the buffers a write also grows: replication backlog, replica and
    client output buffers and the AOF buffer (all outside the dataset)."""
    m = con.info("memory")
    return m["used_memory"] - sum(
        m.get(f, 0)
        for f in (
            "mem_replication_backlog",
            "mem_clients_slaves",
            "mem_clients_normal",
            "mem_aof_buffer",
        )
    )


def check_info_used_memory(env):
    """An 8 MB tensor adds about 8 MB to used_memory, and DEL gives it back."""
    con = connection(env)
    size = 8 << 20
    arr = np.random.default_rng(5).standard_normal(size // 4).astype(np.float32)
    before = dataset_memory(con)
    # Set it from a connection of its own and close that, so the query buffer that held
    # the 8 MB argument is gone before measuring.
    writer = env.getConnection()
    tensorset_blob(writer, "big", "FLOAT", arr)
    wait_replica(env, writer)
    writer.close()
    grown = dataset_memory(con) - before
    # Other small allocations come and go meanwhile (tens of KB either way). The data may
    # stay in the argument Redis read it into, whose allocation (8 MiB plus CRLF and a
    # header) lands in jemalloc's next size class, 10 MiB; a copy would take 8 MiB.
    env.assertGreater(grown, size * 0.95)
    env.assertLess(grown, size * 1.3)
    env.assertEqual(con.execute_command("AI.TENSORGET", "big", "BLOB"), arr.tobytes())
    env.assertEqual(con.delete("big"), 1)
    env.assertLess(dataset_memory(con) - before, size * 0.1)


def check_multi_exec(env):
    con = connection(env)
    pipe = con.pipeline(transaction=True)
    pipe.execute_command("AI.TENSORSET", "a", "FLOAT", 2, "VALUES", 1, 2)
    pipe.execute_command("AI.TENSORGET", "a", "VALUES")
    pipe.execute_command("AI.TENSORSET", "b", "INT8", 2, "BLOB", b"\x01\x02")
    pipe.execute_command("AI.TENSORGET", "b", "META", "VALUES")
    pipe.execute_command("AI.TENSORSET", "c", "BOGUS", 1)
    res = pipe.execute(raise_on_error=False)
    env.assertEqual(res[0], b"OK")
    env.assertEqual(res[1], [b"1", b"2"])
    env.assertEqual(res[2], b"OK")
    env.assertEqual(res[3], [b"dtype", b"INT8", b"shape", [2], b"values", [1, 2]])
    env.assertEqual(str(res[4]), INVALID_DTYPE)
    env.assertEqual(con.exists("c"), 0)
    wait_replica(env, con)
    if env.useSlaves:
        replica = env.getSlaveConnection()
        env.assertEqual(replica.execute_command("AI.TENSORGET", "b", "VALUES"), [1, 2])


def test_lua(env):
    con = connection(env)
    script = "return redis.call('AI.TENSORSET', KEYS[1], 'FLOAT', 2, 'VALUES', ARGV[1], ARGV[2])"
    env.assertEqual(con.eval(script, 1, "l", "1.5", "2"), b"OK")
    env.assertEqual(
        con.eval("return redis.call('AI.TENSORGET', KEYS[1], 'META', 'VALUES')", 1, "l"),
        [b"dtype", b"FLOAT", b"shape", [2], b"values", [b"1.5", b"2"]],
    )
    blob = con.eval("return redis.call('AI.TENSORGET', KEYS[1], 'BLOB')", 1, "l")
    env.assertEqual(blob, np.float32([1.5, 2]).tobytes())
    # Errors surface as Lua errors; pcall hands them to the script.
    env.assertEqual(
        con.eval("return redis.pcall('AI.TENSORSET', KEYS[1], 'FLOAT', 0)['err']", 1, "l"),
        b"ERR invalid or negative value found in tensor shape",
    )
    env.assertContains(
        INVALID_DTYPE,
        error_text(env, "EVAL", "return redis.call('AI.TENSORSET', KEYS[1], 'NOPE', 1)", 1, "l"),
    )
    env.assertEqual(con.execute_command("AI.TENSORGET", "l", "VALUES"), [b"1.5", b"2"])
    wait_replica(env, con)
    if env.useSlaves:
        env.assertEqual(env.getSlaveConnection().execute_command("AI.TENSORGET", "l", "BLOB"), blob)


def check_many_dims(env):
    con = connection(env)
    shape = [1] * 10 + [2, 1, 3]
    env.assertEqual(
        con.execute_command("AI.TENSORSET", "d", "INT16", *shape, "VALUES", *range(6)),
        b"OK",
    )
    env.assertEqual(
        con.execute_command("AI.TENSORGET", "d", "META"),
        [b"dtype", b"INT16", b"shape", shape],
    )
    env.assertEqual(con.execute_command("AI.TENSORGET", "d", "VALUES"), list(range(6)))


# --- Tests: each runs the checks above on a fresh keyspace.


def test_module_identity(env):
    """MODULE LIST, command flags and key positions."""
    run_checks(env, check_module_list, check_command_table)


def test_roundtrip_every_dtype(env):
    """BLOB and VALUES round trips of every dtype."""
    run_checks(
        env,
        check_blob_roundtrip_every_dtype,
        check_values_roundtrip_every_dtype,
        check_values_extremes_every_dtype,
    )


def test_formats_and_case(env):
    """TENSORGET formats; case-insensitive names."""
    run_checks(env, check_format_tokens, check_case_insensitive_dtype_and_keywords)


def test_shapes(env):
    """0-dim, zero-filled and many-dim tensors."""
    run_checks(env, check_scalar_tensors, check_zero_filled_tensors, check_many_dims)


def test_reply_types(env):
    """RESP2 and RESP3 reply types."""
    run_checks(env, check_reply_types_resp2, check_reply_types_resp3)


def test_float_types(env):
    """FLOAT, DOUBLE, FLOAT16 and BFLOAT16 values."""
    run_checks(env, check_float_values, check_float16_and_bfloat16)


def test_integer_ranges(env):
    """Integer and BOOL value ranges."""
    run_checks(
        env,
        check_signed_values_full_range,
        check_unsigned_and_bool_ranges,
        check_unsigned_extras,
    )


def test_string_tensors(env):
    """STRING tensors through BLOB and VALUES."""
    run_checks(env, check_string_tensors, check_string_blob_mismatch)


def test_keyspace_commands(env):
    """TYPE, DEL, EXISTS, overwrite, TTL, RENAME, COPY, MOVE, SCAN."""
    run_checks(env, check_type_del_exists_overwrite, check_generic_key_commands)


def test_transactions(env):
    """MULTI/EXEC and WATCH."""
    run_checks(env, check_multi_exec, check_watch)


def test_memory(env):
    """MEMORY USAGE and INFO used_memory."""
    run_checks(env, check_memory_usage, check_info_used_memory)

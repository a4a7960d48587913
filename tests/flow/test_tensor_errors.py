"""Error replies of AI.TENSORSET and AI.TENSORGET (spec 2.2, 2.3): exact texts, the
order of the checks, and a table of malformed commands that must leave the keyspace as it
was and the server answering."""

import numpy as np
from error_texts import (
    ARITY,
    BLOB_AND_VALUES,
    BLOB_ARITY,
    BOOL_BLOB,
    CSTRING,
    DATA_LENGTH,
    INVALID_DTYPE,
    INVALID_VALUE,
    STRING_BLOB,
    TENSOR_EMPTY,
    TENSOR_FORMAT,
    TENSOR_SHAPE,
    TENSOR_TOO_LARGE,
    VALUES_COUNT,
    WRONGTYPE,
)
from includes import RawConnection, check_refused, connection, error_text


SET = "AI.TENSORSET"
GET = "AI.TENSORGET"

# (command, expected error text as redis-py gives it). Keys: t (FLOAT tensor), b (BOOL
# tensor), str (string), lst (list), new and missing (absent).
MALFORMED = [
    # arity, named as typed, checked before the key
    ((SET,), ARITY % SET),
    ((SET, "new"), ARITY % SET),
    ((SET, "new", "FLOAT"), ARITY % SET),
    (("ai.tensorset", "t", "FLOAT"), ARITY % "ai.tensorset"),
    (("Ai.TensorSet", "str", "INT32"), ARITY % "Ai.TensorSet"),
    ((GET,), ARITY % GET),
    ((GET, "t", "META", "BLOB", "META"), ARITY % GET),
    (
        ("ai.tensorGET", "missing", "META", "VALUES", "META", "BLOB"),
        ARITY % "ai.tensorGET",
    ),
    # WRONGTYPE, before any argument is parsed
    ((SET, "str", "INT32", 2, "junk", 2, 3), WRONGTYPE),
    ((SET, "str", "FLOAT", 1, "VALUES", 1), WRONGTYPE),
    ((SET, "lst", "NOTATYPE", 1), WRONGTYPE),
    ((GET, "str"), WRONGTYPE),
    ((GET, "lst", "BADFORMAT"), WRONGTYPE),
    ((GET, "str", "BLOB", "VALUES"), WRONGTYPE),
    (("GET", "t"), WRONGTYPE),
    (("LPUSH", "t", "x"), WRONGTYPE),
    (("HSET", "t", "f", "v"), WRONGTYPE),
    (("INCR", "t"), WRONGTYPE),
    (("APPEND", "t", "x"), WRONGTYPE),
    (("SADD", "b", "x"), WRONGTYPE),
    # dtype
    ((SET, "new", "INT128", 1), INVALID_DTYPE),
    ((SET, "new", "HALF", 1), INVALID_DTYPE),
    ((SET, "new", "FLOAT32", 1), INVALID_DTYPE),
    ((SET, "new", "", 1), INVALID_DTYPE),
    ((SET, "new", "INT 8", 1), INVALID_DTYPE),
    ((SET, "new", 2, "FLOAT", "VALUES", 1, 1), INVALID_DTYPE),
    ((SET, "t", "FLOATX", "VALUES", 1), INVALID_DTYPE),
    ((SET, "t", "BLOB", 1, "BLOB", b"\0"), INVALID_DTYPE),
    # shape
    ((SET, "new", "FLOAT", 0), TENSOR_SHAPE),
    ((SET, "new", "FLOAT", -1), TENSOR_SHAPE),
    ((SET, "new", "FLOAT", "abc"), TENSOR_SHAPE),
    ((SET, "new", "FLOAT", 1.5), TENSOR_SHAPE),
    ((SET, "new", "FLOAT", ""), TENSOR_SHAPE),
    ((SET, "new", "FLOAT", "2 "), TENSOR_SHAPE),
    ((SET, "new", "FLOAT", "99999999999999999999"), TENSOR_SHAPE),
    ((SET, "new", "FLOAT", 2, 0, "VALUES", 1), TENSOR_SHAPE),
    ((SET, "t", "FLOAT", 2, "BLOBS", b"\0" * 8), TENSOR_SHAPE),
    ((SET, "t", "FLOAT", 2, "VALUE", 1, 2), TENSOR_SHAPE),
    ((SET, "new", "INT8", 2, "META", 1, 2), TENSOR_SHAPE),
    # BLOB takes exactly one argument
    ((SET, "new", "FLOAT", "BLOB"), BLOB_ARITY),
    ((SET, "new", "FLOAT", 1, "BLOB"), BLOB_ARITY),
    ((SET, "t", "FLOAT", 1, "BLOB", b"\0" * 4, b"\0" * 4), BLOB_ARITY),
    ((SET, "new", "INT8", 1, "BLOB", b"\0", "VALUES", 1), BLOB_ARITY),
    # VALUES count
    ((SET, "new", "FLOAT", "VALUES"), VALUES_COUNT),
    ((SET, "new", "FLOAT", "VALUES", 1, 2), VALUES_COUNT),
    ((SET, "new", "FLOAT", 2, "VALUES", 1), VALUES_COUNT),
    ((SET, "t", "FLOAT", 2, "VALUES", 1, 2, 3), VALUES_COUNT),
    ((SET, "new", "FLOAT", 2, "VALUES", 1, "BLOB", b"x"), VALUES_COUNT),
    ((SET, "new", "STRING", 2, "VALUES", "a"), VALUES_COUNT),
    ((SET, "new", "INT8", 2, 3, "VALUES", *range(5)), VALUES_COUNT),
    # BLOB length
    ((SET, "new", "FLOAT", 2, "BLOB", b"\0" * 7), DATA_LENGTH),
    ((SET, "t", "FLOAT", 2, "BLOB", b"\0" * 9), DATA_LENGTH),
    ((SET, "new", "DOUBLE", "BLOB", b"\0" * 4), DATA_LENGTH),
    ((SET, "new", "INT8", 3, "BLOB", b""), DATA_LENGTH),
    ((SET, "new", "UINT64", 2, "BLOB", b"\0" * 17), DATA_LENGTH),
    ((SET, "new", "FLOAT16", 2, "BLOB", b"\0" * 8), DATA_LENGTH),
    ((SET, "new", "BFLOAT16", 3, "BLOB", b"\0" * 4), DATA_LENGTH),
    ((SET, "new", "BOOL", 2, "BLOB", b"\0\0\0"), DATA_LENGTH),
    # BOOL BLOB bytes, every one of them checked
    ((SET, "new", "BOOL", 3, "BLOB", b"\x02\x00\x00"), BOOL_BLOB),
    ((SET, "b", "BOOL", 3, "BLOB", b"\x00\x02\x00"), BOOL_BLOB),
    ((SET, "new", "BOOL", 3, "BLOB", b"\x00\x01\x02"), BOOL_BLOB),
    ((SET, "new", "BOOL", "BLOB", b"\xff"), BOOL_BLOB),
    # STRING BLOB elements
    ((SET, "new", "STRING", 2, "BLOB", b"one\0"), STRING_BLOB),
    ((SET, "new", "STRING", 2, "BLOB", b"one\0two\0three\0"), STRING_BLOB),
    ((SET, "new", "STRING", 2, "BLOB", b"a\0b"), STRING_BLOB),
    ((SET, "new", "STRING", "BLOB", b""), STRING_BLOB),
    ((SET, "new", "STRING", 1, "BLOB", b"abc"), STRING_BLOB),
    # a huge shape with a short blob must not allocate per element
    ((SET, "new", "STRING", 2**46, "BLOB", b"a\0"), STRING_BLOB),
    ((SET, "new", "STRING", 2**61, "BLOB", b"\0" * 100), STRING_BLOB),
    ((SET, "new", "STRING", 2**32, 2**32, 2**32, "BLOB", b"abc"), STRING_BLOB),
    ((SET, "t", "STRING", 2**32, 2**32, 2**32, "BLOB", b"a\0"), STRING_BLOB),
    # VALUES elements
    ((SET, "new", "FLOAT", "VALUES", "nan"), INVALID_VALUE),
    ((SET, "new", "FLOAT", "VALUES", "1.5x"), INVALID_VALUE),
    ((SET, "new", "FLOAT", "VALUES", " 1"), INVALID_VALUE),
    ((SET, "new", "DOUBLE", "VALUES", "abc"), INVALID_VALUE),
    ((SET, "new", "DOUBLE", "VALUES", ""), INVALID_VALUE),
    ((SET, "new", "FLOAT16", "VALUES", "x"), INVALID_VALUE),
    ((SET, "new", "BFLOAT16", "VALUES", ""), INVALID_VALUE),
    ((SET, "new", "INT32", "VALUES", "1.87"), INVALID_VALUE),
    ((SET, "new", "INT32", "VALUES", "1.0"), INVALID_VALUE),
    ((SET, "new", "INT8", "VALUES", "A"), INVALID_VALUE),
    ((SET, "new", "INT8", "VALUES", 128), INVALID_VALUE),
    ((SET, "new", "INT8", "VALUES", -129), INVALID_VALUE),
    ((SET, "new", "INT16", "VALUES", 32768), INVALID_VALUE),
    ((SET, "new", "INT16", "VALUES", -32769), INVALID_VALUE),
    ((SET, "new", "INT32", "VALUES", 2**31), INVALID_VALUE),
    ((SET, "new", "INT32", "VALUES", -(2**31) - 1), INVALID_VALUE),
    ((SET, "new", "INT64", "VALUES", 2**63), INVALID_VALUE),
    ((SET, "new", "INT64", "VALUES", -(2**63) - 1), INVALID_VALUE),
    ((SET, "new", "UINT8", "VALUES", 256), INVALID_VALUE),
    ((SET, "new", "UINT8", "VALUES", -1), INVALID_VALUE),
    ((SET, "new", "UINT16", "VALUES", 65536), INVALID_VALUE),
    ((SET, "new", "UINT32", "VALUES", 2**32), INVALID_VALUE),
    ((SET, "new", "UINT64", "VALUES", 2**64), INVALID_VALUE),
    ((SET, "new", "UINT64", "VALUES", -1), INVALID_VALUE),
    ((SET, "new", "BOOL", "VALUES", 2), INVALID_VALUE),
    ((SET, "new", "BOOL", "VALUES", -1), INVALID_VALUE),
    ((SET, "t", "INT32", 3, "VALUES", 1, 2, "x"), INVALID_VALUE),
    # integers are read strictly: no blanks, signs on unsigned, or leading zeros
    ((SET, "new", "INT8", "VALUES", "+5"), INVALID_VALUE),
    ((SET, "new", "INT16", "VALUES", " 5"), INVALID_VALUE),
    ((SET, "new", "INT32", "VALUES", "05"), INVALID_VALUE),
    ((SET, "new", "UINT8", "VALUES", "+5"), INVALID_VALUE),
    ((SET, "new", "UINT16", "VALUES", " 5"), INVALID_VALUE),
    ((SET, "new", "UINT32", "VALUES", "007"), INVALID_VALUE),
    ((SET, "new", "UINT64", "VALUES", "-0"), INVALID_VALUE),
    ((SET, "new", "UINT64", "VALUES", "+9223372036854775808"), INVALID_VALUE),
    ((SET, "new", "UINT64", "VALUES", " 9223372036854775808"), INVALID_VALUE),
    ((SET, "new", "UINT64", "VALUES", "9223372036854775808 "), INVALID_VALUE),
    ((SET, "new", "UINT64", "VALUES", "-9223372036854775809"), INVALID_VALUE),
    ((SET, "new", "UINT64", "VALUES", "-18446744073709551615"), INVALID_VALUE),
    ((SET, "new", "UINT64", "VALUES", "99999999999999999999"), INVALID_VALUE),
    ((SET, "new", "BOOL", "VALUES", "01"), INVALID_VALUE),
    ((SET, "new", "BOOL", "VALUES", "+1"), INVALID_VALUE),
    # STRING VALUES elements
    ((SET, "new", "STRING", "VALUES", b"a\0b"), CSTRING),
    ((SET, "new", "STRING", "VALUES", b""), CSTRING),
    ((SET, "new", "STRING", "VALUES", b"\0"), CSTRING),
    ((SET, "new", "STRING", 2, "VALUES", "ok", b"x\0\0"), CSTRING),
    # absurd sizes get a clean error instead of an allocation
    ((SET, "new", "FLOAT", 100000, 100000, 100000), TENSOR_TOO_LARGE),
    ((SET, "new", "STRING", 100000, 100000, 100000), TENSOR_TOO_LARGE),
    ((SET, "new", "INT8", 2**32, 2**32, 2**32), TENSOR_TOO_LARGE),
    ((SET, "new", "INT8", 2**32, 2**32, 2**32, "VALUES", 1), VALUES_COUNT),
    # TENSORGET: the key first, then the format tokens
    ((GET, "missing"), TENSOR_EMPTY),
    ((GET, "missing", "BADFORMAT"), TENSOR_EMPTY),
    ((GET, "missing", "BLOB", "VALUES"), TENSOR_EMPTY),
    ((GET, "t", "BLOBS"), TENSOR_FORMAT),
    ((GET, "t", "META", "JSON"), TENSOR_FORMAT),
    ((GET, "t", ""), TENSOR_FORMAT),
    ((GET, "t", "VALUES", "META "), TENSOR_FORMAT),
    ((GET, "t", "BLOB", "VALUES"), BLOB_AND_VALUES),
    ((GET, "t", "values", "blob"), BLOB_AND_VALUES),
    ((GET, "t", "META", "BLOB", "VALUES"), ARITY % GET),
]


def setup_keys(con):
    con.execute_command(SET, "t", "FLOAT", 2, 2, "VALUES", 1, 2, 3, 4)
    con.execute_command(SET, "b", "BOOL", 3, "VALUES", 1, 0, 1)
    con.set("str", "value")
    con.rpush("lst", "a", "b")


def test_malformed_commands_table(env):
    """Every row fails with its exact text, changes nothing, and the server answers."""
    con = connection(env)
    setup_keys(con)
    env.assertGreaterEqual(len(MALFORMED), 50)
    check_refused(env, con, MALFORMED)


def test_error_prefixes(env):
    """On the wire the texts carry RedisAI's ERR prefix; WRONGTYPE has its own."""
    con = connection(env)
    con.set("str", "x")
    con.execute_command(SET, "t", "FLOAT", 1)
    with RawConnection(con) as raw:
        env.assertEqual(raw.call(SET, "t", "FLOAT"), ("-", b"ERR " + (ARITY % SET).encode()))
        env.assertEqual(
            raw.call("ai.tensorget"), ("-", b"ERR " + (ARITY % "ai.tensorget").encode())
        )
        env.assertEqual(raw.call(SET, "str", "FLOAT", 1), ("-", WRONGTYPE.encode()))
        env.assertEqual(raw.call(GET, "str"), ("-", WRONGTYPE.encode()))
        env.assertEqual(raw.call(SET, "t", "X", 1), ("-", b"ERR " + INVALID_DTYPE.encode()))
        env.assertEqual(raw.call(SET, "t", "FLOAT", 0), ("-", b"ERR " + TENSOR_SHAPE.encode()))
        env.assertEqual(raw.call(SET, "t", "FLOAT", "BLOB"), ("-", b"ERR " + BLOB_ARITY.encode()))
        env.assertEqual(
            raw.call(SET, "t", "FLOAT", 2, "VALUES", 1),
            ("-", b"ERR " + VALUES_COUNT.encode()),
        )
        env.assertEqual(
            raw.call(SET, "t", "FLOAT", "BLOB", b"x"),
            ("-", b"ERR " + DATA_LENGTH.encode()),
        )
        env.assertEqual(
            raw.call(SET, "t", "BOOL", "BLOB", b"\x02"),
            ("-", b"ERR " + BOOL_BLOB.encode()),
        )
        env.assertEqual(
            raw.call(SET, "t", "STRING", 2, "BLOB", b"a\0"),
            ("-", b"ERR " + STRING_BLOB.encode()),
        )
        env.assertEqual(
            raw.call(SET, "t", "INT8", "VALUES", "x"),
            ("-", b"ERR " + INVALID_VALUE.encode()),
        )
        env.assertEqual(
            raw.call(SET, "t", "STRING", "VALUES", b"a\0b"),
            ("-", b"ERR " + CSTRING.encode()),
        )
        env.assertEqual(raw.call(GET, "nokey"), ("-", b"ERR " + TENSOR_EMPTY.encode()))
        env.assertEqual(raw.call(GET, "t", "X"), ("-", b"ERR " + TENSOR_FORMAT.encode()))
        env.assertEqual(
            raw.call(GET, "t", "BLOB", "VALUES"), ("-", b"ERR " + BLOB_AND_VALUES.encode())
        )
    env.assertEqual(con.execute_command(GET, "t", "VALUES"), [b"0"])


def test_wrongtype_both_ways(env):
    """A tensor command on another type and another type's command on a tensor."""
    con = connection(env)
    con.set("s", "x")
    con.hset("h", "f", "v")
    con.execute_command(SET, "t", "INT32", 2, "VALUES", 1, 2)
    for key in ("s", "h"):
        env.assertEqual(error_text(env, SET, key, "INT32", 2, "junk", 2, 3), WRONGTYPE)
        env.assertEqual(error_text(env, SET, key, "FLOAT", 1), WRONGTYPE)
        env.assertEqual(error_text(env, GET, key, "META"), WRONGTYPE)
    for cmd in (
        ("GET", "t"),
        ("LPUSH", "t", "a"),
        ("HGET", "t", "f"),
        ("STRLEN", "t"),
        ("ZADD", "t", 1, "m"),
        ("XADD", "t", "*", "f", "v"),
        ("PFADD", "t", "a"),
    ):
        env.assertEqual(error_text(env, *cmd), WRONGTYPE, message=cmd[0])
    env.assertEqual(con.get("s"), b"x")
    env.assertEqual(con.execute_command(GET, "t", "VALUES"), [1, 2])


def test_failed_overwrite_keeps_tensor(env):
    """A TENSORSET that fails on an existing tensor key leaves the old tensor intact."""
    con = connection(env)
    arr = np.arange(6, dtype=np.float64).reshape(2, 3)
    con.execute_command(SET, "t", "DOUBLE", 2, 3, "BLOB", arr.tobytes())
    con.expire("t", 1000)
    for args in (
        ("DOUBLE", 2, 3, "BLOB", b"short"),
        ("DOUBLE", 2, "VALUES", 1),
        ("INT8", 1, "VALUES", 999),
        ("NOPE", 1),
        ("DOUBLE", 0),
    ):
        env.assertTrue(error_text(env, SET, "t", *args))
        env.assertEqual(con.execute_command(GET, "t", "BLOB"), arr.tobytes())
    env.assertGreater(con.ttl("t"), 0)


def test_errors_in_transaction_and_lua(env):
    """Parse errors inside MULTI are per-command replies; EXEC still runs the rest."""
    con = connection(env)
    pipe = con.pipeline(transaction=True)
    pipe.execute_command(SET, "a", "FLOAT", 0)
    pipe.execute_command(GET, "missing")
    pipe.execute_command(SET, "a", "INT8", 1, "VALUES", 5)
    res = pipe.execute(raise_on_error=False)
    env.assertEqual([str(r) for r in res[:2]], [TENSOR_SHAPE, TENSOR_EMPTY])
    env.assertEqual(res[2], b"OK")
    err = con.eval(f"return redis.pcall('{GET}', KEYS[1], 'BLOB', 'VALUES')['err']", 1, "a")
    env.assertEqual(err, b"ERR " + BLOB_AND_VALUES.encode())
    env.assertEqual(con.execute_command(GET, "a", "VALUES"), [5])

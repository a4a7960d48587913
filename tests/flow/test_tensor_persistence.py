"""Tensors across DEBUG RELOAD, restarts (RDB or AOF), AOF rewrite, DUMP/RESTORE
(including corrupt payloads), and replication (spec 8.1-8.3)."""

import struct
import time

import numpy as np
from error_texts import BAD_DATA_FORMAT, BUSYKEY, READONLY
from includes import (
    rewrite_aof,
    check_tensors,
    connection,
    digests,
    error_text,
    keyspace,
    meta_dict,
    run_checks,
    sample_tensors,
    store_tensors,
    wait_replica,
)


def servers(env):
    """The master's connection, and the replica's when the env has one."""
    cons = [env.getConnection()]
    if env.useSlaves:
        cons.append(env.getSlaveConnection())
    return cons


def check_everywhere(env, tensors, expected_digests):
    con = connection(env)
    wait_replica(env, con)
    for c in servers(env):
        check_tensors(env, c, tensors)
        env.assertEqual(digests(c, list(tensors)), expected_digests)


def check_debug_reload_every_dtype(env):
    con = connection(env)
    tensors = sample_tensors(np.random.default_rng(10))
    store_tensors(con, tensors)
    before = digests(con, list(tensors))
    env.assertEqual(len(set(before)), len(before))  # distinct tensors, distinct digests
    check_everywhere(env, tensors, before)
    for _ in range(2):
        env.dumpAndReload()
        check_everywhere(env, tensors, before)
    env.assertEqual(con.execute_command("DEBUG", "RELOAD"), b"OK")
    check_tensors(env, con, tensors)


def test_restart(env):
    """SAVE, stop, start: tensors come back from the RDB (from the AOF in the AOF env)."""
    con = connection(env)
    tensors = sample_tensors(np.random.default_rng(11))
    store_tensors(con, tensors)
    before = digests(con, list(tensors))
    wait_replica(env, con)
    env.assertTrue(con.save())
    env.stop()
    env.start()
    check_everywhere(env, tensors, before)
    env.restartAndReload()
    check_everywhere(env, tensors, before)


def test_aof_rewrite(env):
    """Without the RDB preamble, BGREWRITEAOF writes one AI.TENSORSET ... BLOB per tensor,
    and a restart replays them."""
    if not env.useAof:
        env.skip()
    con = connection(env)
    tensors = sample_tensors(np.random.default_rng(12))
    store_tensors(con, tensors)
    before = digests(con, list(tensors))
    # Replaying the appended commands.
    env.stop()
    env.start()
    con = connection(env)
    check_tensors(env, con, tensors)
    # Replaying the rewritten ones.
    con.config_set("aof-use-rdb-preamble", "no")
    base = rewrite_aof(con)
    env.assertTrue(base.startswith(b"*"))
    env.assertEqual(base.count(b"\r\nAI.TENSORSET\r\n"), len(tensors))
    _, shape, blob = tensors["{t}:INT32"]
    emitted = [
        b"AI.TENSORSET",
        b"{t}:INT32",
        b"INT32",
        *[str(d).encode() for d in shape],
        b"BLOB",
        blob,
    ]
    env.assertContains(b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in emitted), base)
    env.stop()
    env.start()
    con = connection(env)
    check_tensors(env, con, tensors)
    env.assertEqual(digests(con, list(tensors)), before)


def test_dump_restore(env):
    con = connection(env)
    tensors = sample_tensors(np.random.default_rng(13))
    store_tensors(con, tensors)
    for key in tensors:
        payload = con.dump(key)
        env.assertTrue(con.restore(key + ":copy", 0, payload))
        env.assertEqual(
            con.execute_command("AI.TENSORGET", key + ":copy"),
            con.execute_command("AI.TENSORGET", key),
            message=key,
        )
        env.assertEqual(digests(con, [key + ":copy"]), digests(con, [key]), message=key)
    payload = con.dump("{t}:FLOAT")
    env.assertEqual(
        error_text(env, "RESTORE", "{t}:DOUBLE", 0, payload),
        BUSYKEY,
    )
    env.assertTrue(con.restore("{t}:DOUBLE", 0, payload, replace=True))
    env.assertEqual(
        con.execute_command("AI.TENSORGET", "{t}:DOUBLE", "BLOB"),
        tensors["{t}:FLOAT"][2],
    )
    env.assertTrue(con.restore("ttl", 50000, payload))
    env.assertGreater(con.pttl("ttl"), 0)
    wait_replica(env, con)
    if env.useSlaves:
        replica = env.getSlaveConnection()
        env.assertEqual(
            digests(replica, ["{t}:DOUBLE", "{t}:STRING:copy"]),
            digests(con, ["{t}:DOUBLE", "{t}:STRING:copy"]),
        )


# --- Corrupt RESTORE payloads: the value body is rebuilt with chosen fields and sealed
# with a valid CRC, so Redis hands it to the module's rdb_load, which must refuse it.

CRC64_POLY = 0x95AC9329AC4BC9B5  # Jones polynomial, reflected, as Redis' crc64


def crc64(data):
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (CRC64_POLY if crc & 1 else 0)
    return crc


def rdb_len(v):
    v &= (1 << 64) - 1
    if v < 64:
        return bytes([v])
    if v < 16384:
        return bytes([0x40 | (v >> 8), v & 0xFF])
    if v < 1 << 32:
        return b"\x80" + struct.pack(">I", v)
    return b"\x81" + struct.pack(">Q", v)


def module_uint(v):
    return b"\x02" + rdb_len(v)  # SaveSigned is SaveUnsigned of the same bits


def module_string(s):
    return b"\x05" + rdb_len(len(s)) + s


def tensor_payload(template, fields, encver=None):
    """A DUMP payload for the module type of template (a real DUMP) holding fields."""
    module_id = struct.unpack(">Q", template[2:10])[0]
    if encver is not None:
        module_id = (module_id & ~1023) | encver
    body = b"\x07\x81" + struct.pack(">Q", module_id) + b"".join(fields) + b"\x00"
    body += template[-10:-8]  # RDB version
    return body + struct.pack("<Q", crc64(body))


def tensor_fields(code, bits, dims, blob, offsets=()):
    return [
        module_uint(code),
        module_uint(bits),
        module_uint(len(dims)),
        *[module_uint(d) for d in dims],
        module_string(blob),
        *[module_uint(o) for o in offsets],
    ]


GOOD_INT8 = tensor_fields(0, 8, [2], b"\x01\xfe")
CORRUPT = {
    "unknown dtype code": tensor_fields(3, 8, [2], b"\x01\x02"),
    "unknown dtype bits": tensor_fields(0, 17, [2], b"\x01\x02"),
    "BOOL with 16 bits": tensor_fields(6, 16, [1], b"\x01\x00"),
    "negative ndims": tensor_fields(0, 8, [], b"\x01")[:2] + [module_uint(-1)],
    "too many dims": tensor_fields(0, 8, [1] * 1000, b"\x01"),
    "negative dim": tensor_fields(0, 8, [-2], b"\x01\x02"),
    "huge dims": tensor_fields(2, 32, [2**40, 2**40], b"\0" * 4),
    "blob shorter than shape": tensor_fields(2, 32, [3], b"\0" * 8),
    "blob longer than shape": tensor_fields(0, 8, [2], b"\0" * 3),
    "BOOL byte 2": tensor_fields(6, 8, [3], b"\x01\x00\x02"),
    "STRING count mismatch": tensor_fields(7, 8, [2], b"a\0", [0]),
    "STRING without final NUL": tensor_fields(7, 8, [2], b"a\0b", [0, 2]),
    "STRING wrong offsets": tensor_fields(7, 8, [2], b"ab\0c\0", [0, 2]),
    "STRING missing offsets": tensor_fields(7, 8, [2], b"ab\0c\0", [0]),
    "STRING huge shape": tensor_fields(7, 8, [2**46], b"a\0", [0]),
    "STRING shape overflow": tensor_fields(7, 8, [2**32] * 3, b"abc", [0]),
    "truncated before blob": tensor_fields(0, 8, [2], b"")[:4],
    "truncated in dims": tensor_fields(0, 8, [2, 2], b"")[:4],
    "number instead of blob": tensor_fields(0, 8, [1], b"")[:4] + [module_uint(1)],
}


def check_restore_corrupt_payloads(env):
    con = connection(env)
    con.execute_command("AI.TENSORSET", "good", "INT8", 2, "VALUES", 1, -2)
    template = con.dump("good")
    # The crafted encoding reproduces a real one, so the corrupt ones differ only where
    # intended.
    env.assertTrue(con.restore("crafted", 0, tensor_payload(template, GOOD_INT8)))
    env.assertEqual(con.execute_command("AI.TENSORGET", "crafted", "VALUES"), [1, -2])
    strings = tensor_fields(7, 8, [2], b"ab\0c\0", [0, 3])
    env.assertTrue(con.restore("strings", 0, tensor_payload(template, strings)))
    env.assertEqual(con.execute_command("AI.TENSORGET", "strings", "VALUES"), [b"ab", b"c"])
    snapshot = keyspace(con)
    cases = [(name, tensor_payload(template, fields)) for name, fields in CORRUPT.items()]
    cases += [
        (f"encoding version {v}", tensor_payload(template, GOOD_INT8, encver=v)) for v in (5, 1023)
    ]
    for name, payload in cases:
        env.assertEqual(
            error_text(env, "RESTORE", "bad", 0, payload),
            BAD_DATA_FORMAT,
            message=name,
        )
        env.assertEqual(keyspace(con), snapshot, message=name)
        env.assertTrue(con.ping())


def check_digest(env):
    """DEBUG DIGEST-VALUE follows dtype, shape and data, not the key or how it was set."""
    con = connection(env)
    con.execute_command("AI.TENSORSET", "a", "INT8", 2, 2, "VALUES", 1, 2, 3, 4)
    con.execute_command("AI.TENSORSET", "b", "INT8", 2, 2, "BLOB", b"\x01\x02\x03\x04")
    con.execute_command("AI.TENSORSET", "c", "INT8", 4, "BLOB", b"\x01\x02\x03\x04")
    con.execute_command("AI.TENSORSET", "d", "UINT8", 2, 2, "BLOB", b"\x01\x02\x03\x04")
    con.execute_command("AI.TENSORSET", "e", "INT8", 2, 2, "BLOB", b"\x01\x02\x03\x05")
    con.execute_command("AI.TENSORSET", "f", "BOOL", 2, 2, "BLOB", b"\x01\x01\x00\x00")
    a, b, c, d, e, f = digests(con, "abcdef")
    env.assertEqual(a, b)
    env.assertEqual(len({a, c, d, e, f}), 5)
    whole = con.execute_command("DEBUG", "DIGEST")
    env.dumpAndReload()
    env.assertEqual(digests(con, "abcdef"), [a, b, c, d, e, f])
    env.assertEqual(con.execute_command("DEBUG", "DIGEST"), whole)


def check_replication(env):
    """Tensors written on the master are identical on the replica, which is read-only."""
    if not env.useSlaves:
        env.skip()
    con = connection(env)
    replica = env.getSlaveConnection()
    tensors = sample_tensors(np.random.default_rng(14))
    store_tensors(con, tensors)
    # VALUES are replicated verbatim; the replica parses them to the same bytes.
    con.execute_command("AI.TENSORSET", "v", "FLOAT", 3, "VALUES", "0.1", "-1e-3", "inf")
    con.execute_command("AI.TENSORSET", "i", "INT64", 2, "VALUES", -(2**63), 2**63 - 1)
    con.execute_command("AI.TENSORSET", "z", "STRING", 2, 2)
    keys = [*tensors, "v", "i", "z"]
    wait_replica(env, con)
    check_tensors(env, replica, tensors)
    env.assertEqual(digests(replica, keys), digests(con, keys))
    for key in ("v", "i", "z"):
        env.assertEqual(
            replica.execute_command("AI.TENSORGET", key, "META", "BLOB"),
            con.execute_command("AI.TENSORGET", key, "META", "BLOB"),
        )
    # Overwrite, delete, expire.
    con.execute_command("AI.TENSORSET", "v", "DOUBLE", 1, "VALUES", 7)
    con.delete("i")
    con.pexpire("z", 100000)
    wait_replica(env, con)
    env.assertEqual(meta_dict(replica.execute_command("AI.TENSORGET", "v"))["dtype"], b"DOUBLE")
    env.assertEqual(replica.exists("i"), 0)
    env.assertGreater(replica.pttl("z"), 0)
    env.assertEqual(
        error_text(env, "AI.TENSORSET", "r", "FLOAT", 1, conn=replica),
        READONLY,
    )
    env.assertEqual(replica.exists("r"), 0)
    env.assertEqual(
        con.execute_command("DEBUG", "DIGEST"),
        replica.execute_command("DEBUG", "DIGEST"),
    )


def check_replica_full_sync(env):
    """A replica that resynchronises from scratch gets the tensors through an RDB."""
    if not env.useSlaves:
        env.skip()
    con = connection(env)
    replica = env.getSlaveConnection()
    tensors = sample_tensors(np.random.default_rng(15))
    store_tensors(con, tensors)
    wait_replica(env, con)
    full_syncs = con.info("stats")["sync_full"]
    # A new replication id makes the replica's partial resync impossible.
    con.execute_command("DEBUG", "CHANGE-REPL-ID")
    con.client_kill_filter(_type="replica")
    deadline = time.monotonic() + 10
    while con.info("stats")["sync_full"] == full_syncs and time.monotonic() < deadline:
        time.sleep(0.01)
    env.assertGreater(con.info("stats")["sync_full"], full_syncs)
    wait_replica(env, con)
    check_tensors(env, replica, tensors)
    env.assertEqual(digests(replica, list(tensors)), digests(con, list(tensors)))


def old_tensor_fields(bits, code, dims, blob, lanes=1, byte_offset=0, device=(1, 0)):
    """Encoding versions 0-3 of older RedisAI: device, dtype bits/code/lanes, ndims, dims,
    strides, byte offset, blob."""
    strides = [int(np.prod(dims[i + 1 :])) for i in range(len(dims))]
    return [
        *[
            module_uint(v)
            for v in (
                *device,
                bits,
                code,
                lanes,
                len(dims),
                *dims,
                *strides,
                byte_offset,
            )
        ],
        module_string(blob),
    ]


def check_restore_older_encodings(env):
    """Tensors saved by older RedisAI releases (encoding versions 0-3) load."""
    con = connection(env)
    con.execute_command("AI.TENSORSET", "template", "INT8", 1)
    template = con.dump("template")
    floats = np.arange(6, dtype=np.float32).reshape(2, 3)
    longs = np.array([-(2**63), 2**63 - 1], dtype=np.int64)
    for encver in range(4):
        key = f"v{encver}"
        payload = tensor_payload(
            template, old_tensor_fields(32, 2, [2, 3], floats.tobytes()), encver
        )
        env.assertTrue(con.restore(key, 0, payload), message=key)
        env.assertEqual(
            con.execute_command("AI.TENSORGET", key),
            [b"dtype", b"FLOAT", b"shape", [2, 3], b"blob", floats.tobytes()],
        )
        payload = tensor_payload(template, old_tensor_fields(64, 0, [2], longs.tobytes()), encver)
        env.assertTrue(con.restore(key + ":i", 0, payload), message=key)
        env.assertEqual(
            con.execute_command("AI.TENSORGET", key + ":i", "VALUES"),
            [-(2**63), 2**63 - 1],
        )
    # Loaded tensors are saved in the current encoding.
    env.assertEqual(con.dump("v0:i")[1:10], template[1:10])
    snapshot = keyspace(con)
    for name, fields in {
        "lanes 2": old_tensor_fields(32, 2, [2], b"\0" * 8, lanes=2),
        "byte offset": old_tensor_fields(32, 2, [2], b"\0" * 12, byte_offset=4),
        "STRING": old_tensor_fields(8, 7, [1], b"a\0"),
        "short blob": old_tensor_fields(32, 2, [2, 3], b"\0" * 20),
        "unknown dtype": old_tensor_fields(24, 2, [1], b"\0" * 3),
    }.items():
        env.assertEqual(
            error_text(env, "RESTORE", "bad", 0, tensor_payload(template, fields, 3)),
            BAD_DATA_FORMAT,
            message=name,
        )
    env.assertEqual(keyspace(con), snapshot)


# --- Tests: each runs the checks above on a fresh keyspace.


def test_debug_reload_and_digest(env):
    """DEBUG RELOAD keeps every dtype; digests are stable."""
    run_checks(env, check_debug_reload_every_dtype, check_digest)


def test_restore_crafted_payloads(env):
    """RESTORE of corrupt payloads and of older encodings."""
    run_checks(env, check_restore_corrupt_payloads, check_restore_older_encodings)


def test_replication(env):
    """Replication of tensors, incremental and full."""
    run_checks(env, check_replication, check_replica_full_sync)

"""A TF model stored from an archive that holds no SavedModel (a TorchScript archive, a
plain zip, a tar with or without compression, bytes that only look like an archive) is
refused with RedisAI's text for a blob TF cannot parse, and nothing is written; a real
SavedModel archive still stores."""

import io
import tarfile
import zipfile

from includes import error_text
from model_zoo import connect, torch_blob
from tf_zoo import saved_model_zip

INVALID_GRAPHDEF = "Invalid GraphDef"


def store_args(key, blob):
    """AI.MODELSTORE of blob as a TF model with the test SavedModel's names."""
    names = ["INPUTS", 2, "a", "b", "OUTPUTS", 1, "sum"]
    return ["AI.MODELSTORE", key, "TF", "CPU", *names, "BLOB", blob]


def plain_zip():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("model/readme.txt", "no model here")
        archive.writestr("model/saved_model.pbtxt", "not the binary one")
    return out.getvalue()


def plain_tar(mode="w"):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as archive:
        data = b"no model here"
        member = tarfile.TarInfo("model/variables/readme.txt")
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    return out.getvalue()


def test_archives_without_saved_model(env):
    con = connect(env)
    blobs = {
        "torchscript": torch_blob("mlp"),
        "zip": plain_zip(),
        "tar": plain_tar(),
        "tar.gz": plain_tar("w:gz"),
        "gzip magic only": b"\x1f\x8b" + b"\x00" * 64,
        "zip magic only": b"PK\x03\x04" + b"\x00" * 40,
    }
    for name, blob in blobs.items():
        env.assertEqual(error_text(env, *store_args(name, blob)), INVALID_GRAPHDEF, message=name)
    env.assertEqual(con.keys("*"), [])
    env.assertEqual(con.execute_command(*store_args("saved", saved_model_zip())), b"OK")

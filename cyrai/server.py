"""cyrai-server [redis-server arguments] [-- module arguments]: runs redis-server with the
module of this installation loaded, replacing this process (signals reach Redis itself).

    cyrai-server --port 6380
    cyrai-server /etc/redis/redis.conf -- THREADS_PER_QUEUE 2

The redis-server is the one on PATH, or $REDIS_SERVER.
"""

import os
import shutil
import sys

from . import module_path


def command(argv, redis_server):
    """The redis-server command line for cyrai-server's arguments."""
    redis_args, module_args = argv, []
    if "--" in argv:
        cut = argv.index("--")
        redis_args, module_args = argv[:cut], argv[cut + 1 :]
    # After the user's arguments: a configuration file must come first.
    return [redis_server, *redis_args, "--loadmodule", module_path(), *module_args]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    binary = os.environ.get("REDIS_SERVER", "redis-server")
    redis_server = shutil.which(binary)
    if redis_server is None:
        sys.exit(
            f"cyrai-server: {binary} not found (install Redis 6 or later, or set REDIS_SERVER)"
        )
    if not os.path.exists(module_path()):
        sys.exit(f"cyrai-server: the module {module_path()} is missing")
    args = command(argv, redis_server)
    os.execv(redis_server, args)


if __name__ == "__main__":
    main()
